"""opcast.sweeps: sweeps that time and check TTNN ops across shapes, dtypes, layouts and memory configs.

Empty for now: the sweep modules come with a later issue. They run on the device layer
(:mod:`opcast.device`: the ttnn mock Wormhole n150 or a real Wormhole), build their queries with
:mod:`opcast.vocabulary` and read workloads' op traces from :mod:`opcast.plans`.
"""
