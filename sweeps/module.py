"""What every sweep module is: tt-metal's ``parameters``, ``invalidate_vector`` and ``run`` for one op.

The modules in ``opcast/sweeps/modules/`` are generated (``python -m opcast.sweeps.generate``), one per
op, and each binds these three to its op. tt-metal's runner imports a module, calls
``invalidate_vector(vector)`` on every vector it generates and ``run(**vector, device=device)`` on the
valid ones; it reads the device profiler itself with ``--device-perf``.
"""

from __future__ import annotations

import importlib
import sys
import time
from types import ModuleType
from typing import Any

from . import calls, ops, suites, vectors


def parameters(op: str) -> dict[str, dict[str, list[Any]]]:
    return suites.parameters(op)


def invalidate_vector(op: str, vector: dict[str, Any]) -> tuple[bool, str | None]:
    """(True, reason) for a vector the op cannot run (CPU-only checks), else (False, None)."""
    try:
        reason = vectors.invalid_reason(vectors.resolve(op, vector))
    except ValueError as exc:  # the vector itself cannot be placed
        reason = str(exc)
    return (reason is not None, reason)


def run(op: str, vector: dict[str, Any], device: Any) -> list[Any]:
    """One run of the op on ``device``: ``[(True, message), e2e_ns]`` as tt-metal's runner expects.

    The inputs are made first and not timed; e2e is the host time of issuing the op and waiting for
    the device to finish it. Under tt-metal's runner ttnn is already imported for the real device, so
    opcast's device layer is told to leave its environment alone."""
    from ..device import environment

    if "ttnn" in sys.modules and not environment.mock_environment_applied():
        environment.use_hardware()
    ttnn = environment.import_ttnn()
    record = vectors.resolve(op, vector)
    call = calls.device_call(record, device)
    start = time.perf_counter_ns()
    call()
    ttnn.synchronize_device(device)
    e2e_ns = time.perf_counter_ns() - start
    return [(True, f"{op} {vectors.query_json(record)}"), e2e_ns]


def load(op: str) -> ModuleType:
    """The op's generated sweep module; ValueError when the op has none."""
    if op not in ops.sweep_ops():
        raise ValueError(f"no sweep module for {op}; the sweeps cover {', '.join(ops.sweep_ops())}")
    return importlib.import_module(f"{__package__}.modules.{ops.module_name(op)}")
