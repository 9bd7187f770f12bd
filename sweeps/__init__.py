"""opcast.sweeps: sweeps: time and check TTNN ops across shapes, dtypes, layouts and memory configs."""
