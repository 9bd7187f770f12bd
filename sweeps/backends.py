"""The three backends, as they run inside a worker process (:mod:`.worker`): each takes a trace record
(one op, every tensor placed) and gives its :class:`Outcome`.

``mock``      ttnn's mock Wormhole n150: the op inside a NO_DISPATCH graph capture (its inputs made
              before, so that they count as resident): ttnn's verdict and message, the op's L1 peak
              per core (circular buffers and tensors), whether it fits beside its inputs, the output's
              spec. No timing.
``wormhole``  ttnn on a real device: warm-up runs, then ``repeats`` timed runs, every one kept. With
              ``device_perf``, the device profiler's DEVICE KERNEL DURATION per run (the programs of
              one run summed, each program's slowest chip), read once per vector after all its runs;
              without, host wall-clock of replays of a captured trace. ``device_kind="mock"`` runs
              the same code on the mock device, as far as the mock goes (it has no profiler data, and
              a trace capture crashes it).
``host``      the op in torch on the CPU, with a fixed number of threads, warm-up and timed repeats;
              a repeat is the mean of as many back-to-back calls as fill ``HOST_REPEAT_NS`` (at least
              one), so that a 10 us op is not timed by one reading of the clock.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import subprocess
import time
from typing import Any

from ..plans import OpRecord
from . import calls, statuses

# The device profiler, read in process (tt-metal's sweep_utils/perf_utils.py): set before ttnn starts.
PROFILER_ENVIRONMENT = {"TT_METAL_DEVICE_PROFILER": "1", "TT_METAL_PROFILER_MID_RUN_DUMP": "1",
                        "TT_METAL_PROFILER_CPP_POST_PROCESS": "1"}
KERNEL_DURATION = "DEVICE KERNEL DURATION [ns]"
NO_PROFILER = ("the device profiler returned no programs: this ttnn was built without it (the PyPI wheel "
               "is; build tt-metal from source with the profiler, ./build_metal.sh --enable-profiler, and "
               "run with TT_METAL_DEVICE_PROFILER=1 TT_METAL_PROFILER_MID_RUN_DUMP=1 "
               "TT_METAL_PROFILER_CPP_POST_PROCESS=1, which opcast sets)")
TRACE_REGION_BYTES = 64 << 20
HOST_REPEAT_NS = 1_000_000  # room for one op's trace on the device, for the replay timing


@dataclasses.dataclass
class Outcome:
    """What a backend made of one vector (the store's columns of the same names)."""

    status: str
    message: str | None = None
    timing: str | None = None
    repeats_ns: list[float] | None = None
    l1: dict[str, Any] | None = None
    output: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["median_ns"] = statistics.median(self.repeats_ns) if self.repeats_ns else None
        return out


def tt_metal_commit() -> str | None:
    """The tt-metal commit of a source build ($TT_METAL_HOME's git HEAD); None for the PyPI wheel,
    which records none."""
    home = os.environ.get("TT_METAL_HOME")
    if not home:
        return None
    try:
        found = subprocess.run(["git", "-C", home, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def _ttnn_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ttnn")
    except PackageNotFoundError:
        return None


class MockBackend:
    name = "mock"

    def __init__(self, **_: Any):
        from ..device.session import open_device

        self._session = open_device("mock")
        self.device = self._session.__enter__()

    def environment(self) -> dict[str, Any]:
        from ..device.session import device_info

        info = device_info(self.device)
        return {"device": f"{info['arch']} n150 {info['compute_grid'][0]}x{info['compute_grid'][1]} (ttnn mock device)",
                "ttnn_version": _ttnn_version(), "tt_metal_commit": tt_metal_commit()}

    def run(self, record: OpRecord) -> Outcome:
        from ..device.capture import REJECTIONS, capture_on, clean_error

        try:
            call = calls.device_call(record, self.device)
        except REJECTIONS as exc:
            message = clean_error(exc)
            return Outcome(statuses.of_error(message), f"making the inputs: {message}")
        result = capture_on(self.device, call)  # the inputs are freed on return: the next vector starts afresh
        l1 = {"l1_peak_per_core": result.l1_peak_per_core, "l1_resident_per_core": result.l1_resident_per_core,
              "l1_total_per_core": result.l1_total_per_core, "l1_limit_per_core": result.l1_limit_per_core,
              "fits_l1": result.fits_l1}
        if not result.ok:
            return Outcome(statuses.of_error(result.error), result.error, l1=l1)
        if not result.fits_l1:
            message = (f"{statuses.OUT_OF_MEMORY} (ttnn mock device: {result.l1_total_per_core} B per core, "
                       f"{result.l1_resident_per_core} B of inputs + {result.l1_peak_per_core} B for the op, "
                       f"in an L1 bank of {result.l1_limit_per_core} B)")
            return Outcome(statuses.FAIL_L1_OUT_OF_MEM, message, l1=l1, output=result.outputs)
        return Outcome(statuses.PASS, None, l1=l1, output=result.outputs)

    def close(self) -> None:
        self._session.__exit__(None, None, None)


class WormholeBackend:
    name = "wormhole"

    def __init__(self, *, device_kind: str = "wormhole", device_id: int = 0, device_perf: bool = False,
                 warmup: int = 2, repeats: int = 10, **_: Any):
        if device_perf:
            os.environ.update(PROFILER_ENVIRONMENT)
        from ..device.environment import import_ttnn
        from ..device.session import open_device

        self.device_perf, self.warmup, self.repeats, self.device_kind = device_perf, warmup, repeats, device_kind
        self._session = open_device(device_kind, device_id, trace_region_size=TRACE_REGION_BYTES)
        self.device = self._session.__enter__()
        self.ttnn = import_ttnn()

    def environment(self) -> dict[str, Any]:
        from ..device.session import device_info

        info = device_info(self.device)
        where = " (ttnn mock device)" if self.device_kind == "mock" else ""
        return {"device": f"{info['arch']} {info['compute_grid'][0]}x{info['compute_grid'][1]}{where}",
                "ttnn_version": _ttnn_version(), "tt_metal_commit": tt_metal_commit()}

    def run(self, record: OpRecord) -> Outcome:
        from ..device.capture import REJECTIONS, clean_error

        ttnn = self.ttnn
        try:
            call = calls.device_call(record, self.device)
            for _ in range(self.warmup):
                call()
            ttnn.synchronize_device(self.device)
            if self.device_perf:
                return self._device_kernel(call)
            return self._trace_replay(call)
        except REJECTIONS as exc:
            message = clean_error(exc)
            return Outcome(statuses.of_error(message), message)

    def _device_kernel(self, call) -> Outcome:
        ttnn = self.ttnn
        ttnn.ReadDeviceProfiler(self.device)  # drain what the warm-up runs left
        for _ in range(self.repeats):
            call()
        ttnn.synchronize_device(self.device)
        durations = self._read_kernel_durations()
        if durations is None:
            return Outcome(statuses.FAIL_UNSUPPORTED_DEVICE_PERF, NO_PROFILER)
        return Outcome(statuses.PASS, None, "device_kernel", durations)

    def _read_kernel_durations(self) -> list[float] | None:
        """Per run, the sum over its programs of each program's DEVICE KERNEL DURATION on its slowest
        chip; None when the profiler gave nothing (a build without it)."""
        ttnn = self.ttnn
        ttnn.ReadDeviceProfiler(self.device)
        per_program: dict[int, float] = {}
        for programs in (ttnn.get_latest_programs_perf_data() or {}).values():
            for program in programs:
                found = (program.program_analyses_results or {}).get(KERNEL_DURATION)
                if found is not None:
                    uid = program.program_execution_uid.runtime_id
                    per_program[uid] = max(per_program.get(uid, 0.0), float(found.duration))
        if not per_program:
            return None
        durations = [per_program[uid] for uid in sorted(per_program)]
        if len(durations) % self.repeats:
            raise RuntimeError(f"the profiler read {len(durations)} programs for {self.repeats} runs of one op")
        size = len(durations) // self.repeats
        return [sum(durations[i * size:(i + 1) * size]) for i in range(self.repeats)]

    def _trace_replay(self, call) -> Outcome:
        ttnn = self.ttnn
        trace_id = ttnn.begin_trace_capture(self.device, cq_id=0)
        output = call()
        ttnn.end_trace_capture(self.device, trace_id, cq_id=0)
        ttnn.execute_trace(self.device, trace_id, cq_id=0, blocking=True)  # the first replay is not timed
        repeats = []
        for _ in range(self.repeats):
            start = time.perf_counter_ns()
            ttnn.execute_trace(self.device, trace_id, cq_id=0, blocking=True)
            repeats.append(float(time.perf_counter_ns() - start))
        ttnn.release_trace(self.device, trace_id)
        del output
        return Outcome(statuses.PASS, None, "trace_replay", repeats)

    def close(self) -> None:
        self._session.__exit__(None, None, None)


class HostBackend:
    name = "host"

    def __init__(self, *, warmup: int = 2, repeats: int = 10, threads: int = 1, **_: Any):
        import torch

        torch.set_num_threads(threads)
        self.torch, self.warmup, self.repeats, self.threads = torch, warmup, repeats, threads

    def environment(self) -> dict[str, Any]:
        cpu = platform.processor() or platform.machine()
        return {"device": f"host CPU {cpu}, torch {self.torch.__version__}, {self.threads} thread(s)",
                "ttnn_version": None, "tt_metal_commit": None}

    def run(self, record: OpRecord) -> Outcome:
        try:
            call = calls.host_call(record)
            with self.torch.inference_mode():
                start = time.perf_counter_ns()
                for _ in range(max(1, self.warmup)):
                    call()
                once = (time.perf_counter_ns() - start) / max(1, self.warmup)
                calls_per_repeat = max(1, int(HOST_REPEAT_NS // max(once, 1.0)))
                repeats = []
                for _ in range(self.repeats):
                    start = time.perf_counter_ns()
                    for _ in range(calls_per_repeat):
                        call()
                    repeats.append((time.perf_counter_ns() - start) / calls_per_repeat)
        except (RuntimeError, ValueError, TypeError) as exc:
            return Outcome(statuses.FAIL_ASSERT_EXCEPTION, f"{type(exc).__name__}: {exc}")
        return Outcome(statuses.PASS, None, "host_torch", repeats)

    def close(self) -> None:
        pass


BACKEND_CLASSES = {"mock": MockBackend, "wormhole": WormholeBackend, "host": HostBackend}
