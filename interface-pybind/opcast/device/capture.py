"""Capture: whether ttnn accepts a call, and the L1 it needs per core, without running it.

The call runs inside ``ttnn.graph.begin_graph_capture(RunMode.NO_DISPATCH)`` (with Python I/O
recording disabled: it would import torch); ttnn validates the call and builds its program (compiling
kernels, with the sfpi stand-in on the mock), nothing is dispatched, outputs hold no data. The
per-core L1 peak is ``ttnn.graph.extract_resource_usage_per_core(trace).peak_total`` (circular /
dataflow buffers, L1 buffers and scratchpads; buffers that borrow an existing tensor's memory are
not counted twice). NO_DISPATCH allocations are not checked against the allocator, so ``fits_l1``
compares the peak, plus the L1 already allocated per bank before the call (tensors made outside
``fn``), with the allocator's L1 bank size (session.l1_limits). Make inputs inside ``fn`` to count
them in the peak, or outside to count them as resident; the total is the same.

Measured here (2 cores): one capture 1-10 ms when the op's program was built before in the
process, 10-50 ms when its placeholder kernels are in TT_METAL_CACHE from an earlier process,
0.1-0.7 s the first time ever (the JIT build runs the stand-in compiler a few times per kernel).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from typing import Any, Callable, Iterator, Sequence

from .environment import import_ttnn
from .session import current_device, l1_allocated_per_bank, l1_limits
from .tensors import tensor_spec_json

# Exceptions that mean "ttnn rejected this call" (TT_FATAL/TT_THROW surface as RuntimeError; ttnn's
# Python helpers raise RuntimeError/ValueError, and so does the vocabulary for an unknown word;
# nanobind raises TypeError for arguments it cannot bind). Anything else (NameError,
# AttributeError, ...) is a bug in the caller and propagates.
REJECTIONS = (RuntimeError, ValueError, TypeError)


@dataclasses.dataclass
class CaptureResult:
    """What one call did on the device.

    ok / error / error_type: whether ttnn accepted the call; ttnn's message (backtrace cut) if not.
    l1_peak_per_core: peak L1 bytes per core the call used (ttnn's peak_total; breakdown in
    peak_cb, peak_dataflow_buffer, peak_l1_buffers, peak_scratchpad).
    l1_resident_per_core: L1 bytes per bank held by live tensors before the call.
    l1_limit_per_core: the allocator's L1 bank size. fits_l1: resident + peak <= limit.
    ops: device operations issued, in order (e.g. "BinaryNgDeviceOperation"); program_factories:
    the program factory each one picked (None where none was recorded); calls: every function the
    trace recorded. cores_used: distinct cores holding the call's circular/dataflow buffers (some
    ops, e.g. binary_ng, put them on the whole grid however few cores have work).
    outputs: tensor_spec_json() of the tensors fn returned. seconds: wall time of the call.
    trace: the raw graph trace (capture_on(..., keep_trace=True) only).
    """

    ok: bool
    error: str | None
    error_type: str | None
    l1_peak_per_core: int
    l1_limit_per_core: int
    l1_resident_per_core: int
    fits_l1: bool
    ops: list[str]
    program_factories: list[str | None]
    calls: list[str]
    peak_cb: int
    peak_dataflow_buffer: int
    peak_l1_buffers: int
    peak_scratchpad: int
    cores_used: int
    outputs: list[dict[str, Any]]
    seconds: float
    trace: list[dict[str, Any]] | None = None

    @property
    def legal(self) -> bool:
        """ttnn accepted the call and it fits in L1."""
        return self.ok and self.fits_l1

    @property
    def l1_total_per_core(self) -> int:
        return self.l1_resident_per_core + self.l1_peak_per_core

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("trace")
        return out


def capture(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> CaptureResult:
    """Run fn(*args, **kwargs) under a NO_DISPATCH graph capture on the current device."""
    return capture_on(current_device(), fn, args, kwargs)


def capture_on(device: Any, fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None,
               *, keep_trace: bool = False) -> CaptureResult:
    """capture() with an explicit device, and optionally keeping the raw trace."""
    ttnn = import_ttnn()
    limit = l1_limits(device)["l1_bank_size"]
    resident = l1_allocated_per_bank(device)
    error = error_type = None
    value = None
    start = time.perf_counter()
    with _quiet_logger("ttnn.graph"):  # its per-capture note about fast runtime mode
        ttnn.graph.begin_graph_capture(ttnn.graph.RunMode.NO_DISPATCH)
    ttnn.graph.disable_python_io_recording()  # recording would import torch
    try:
        value = fn(*args, **(kwargs or {}))
    except REJECTIONS as exc:
        error, error_type = clean_error(exc), type(exc).__name__
    finally:
        trace = ttnn.graph.end_graph_capture()
    seconds = time.perf_counter() - start
    usage = ttnn.graph.extract_resource_usage_per_core(trace)
    peak = int(usage.peak_total)
    ops, factories, calls = _trace_calls(trace)
    return CaptureResult(
        ok=error is None, error=error, error_type=error_type,
        l1_peak_per_core=peak, l1_limit_per_core=limit, l1_resident_per_core=resident,
        fits_l1=resident + peak <= limit,
        ops=ops, program_factories=factories, calls=calls,
        peak_cb=int(usage.peak_cb), peak_dataflow_buffer=int(getattr(usage, "peak_dataflow_buffer", 0)),
        peak_l1_buffers=int(usage.peak_l1), peak_scratchpad=int(getattr(usage, "peak_scratchpad", 0)),
        cores_used=_cores_used(trace), outputs=_output_specs(value) if error is None else [],
        seconds=seconds, trace=trace if keep_trace else None,
    )


def clean_error(exc: BaseException) -> str:
    """ttnn's message without the C++ backtrace it appends."""
    text = str(exc)
    cut = text.find("\nbacktrace:")
    return (text[:cut] if cut >= 0 else text).strip()


def is_device_op(name: str, params: dict[str, Any]) -> bool:
    """Whether a graph-trace function node is a device operation (rather than a host-side call)."""
    return "program_factory_type" in params or (name.endswith("Operation") and "::" not in name)


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - loguru comes with ttnn
        yield
        return
    logger.disable(name)
    try:
        yield
    finally:
        logger.enable(name)


def _trace_calls(trace: list[dict[str, Any]]) -> tuple[list[str], list[str | None], list[str]]:
    ops, factories, calls = [], [], []
    for node in trace:
        if node.get("node_type") != "function_start":
            continue
        params = node.get("params") or {}
        name = str(params.get("name", ""))
        calls.append(name)
        if is_device_op(name, params):
            ops.append(name)
            factories.append(params.get("program_factory_type"))
    return ops, factories, calls


_CORE_RANGE = re.compile(r"\[(\d+)-(\d+) - (\d+)-(\d+)\]")


def _cores_used(trace: list[dict[str, Any]]) -> int:
    cores: set[tuple[int, int]] = set()
    for node in trace:
        if node.get("node_type") not in ("circular_buffer_allocate", "dataflow_buffer_allocate"):
            continue
        for x0, y0, x1, y1 in _CORE_RANGE.findall(str((node.get("params") or {}).get("core_range_set", ""))):
            cores.update((x, y) for x in range(int(x0), int(x1) + 1) for y in range(int(y0), int(y1) + 1))
    return len(cores)


def _output_specs(value: Any) -> list[dict[str, Any]]:
    ttnn = import_ttnn()
    items = value if isinstance(value, (list, tuple)) else [value]
    specs = []
    for item in items:
        if isinstance(item, ttnn.Tensor):
            try:
                specs.append(tensor_spec_json(item))
            except Exception as exc:  # a description must never fail a capture
                specs.append({"error": f"{type(exc).__name__}: {exc}"})
    return specs
