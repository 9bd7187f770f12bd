"""The generated sweep modules, one per op (``python -m opcast.sweeps.generate``; do not edit)."""
