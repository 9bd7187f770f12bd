"""opcast.sweeps: time and check every TTNN op of TTM-R1 and PatchTSMixer across shapes, dtypes,
layouts and shardings, on a Wormhole (``--device-perf``), on ttnn's mock device and on the host, and
never lose a result. ``opcast sweep list | run | status | export`` (:mod:`.cli`); README.md beside
this file says how to use them and what was measured.

One file per idea:

``ops``        the ops swept (those the models' traces execute, then the memory moves) and what a
               sweep needs to know of each
``suites``     every op's suites, built from the models' traces
``vectors``    a vector: its id, what it resolves to (the op's trace record: its query), whether it
               can run, which backends run it
``calls``      issuing a vector's op: through the model backends, on a device, on the host
``module``     what each generated sweep module is (tt-metal's parameters / invalidate_vector / run)
``modules/``   the sweep modules, one per op (``python -m opcast.sweeps.generate``)
``backends``   mock, wormhole and host, as a worker runs them
``worker``     the process that runs vectors; ``harness`` the one harness that feeds it and records
``store``      the SQLite store; ``statuses`` tt-metal's statuses; ``export`` the dataset and tt-metal's
               result JSON; ``oracle`` the legality and L1 oracle the tuner asks
"""
