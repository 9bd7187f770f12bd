"""The one harness of every backend: which vectors to run, a worker process to run them, the store.

``run_sweep`` plans the vectors (the ops' suites, the vectors the backend runs, none the store has
for it, in the order of their ids: a sha224 spreads them over shapes and suites, so ``limit`` takes an
even sample and a re-run continues with the next), records invalid ones as NOT_RUN with their reason,
sends the rest one at a time to a worker (:mod:`.worker`) and writes each result to the store as
soon as it arrives. A worker that gives no result within ``timeout`` seconds is killed, or one that
dies is buried: the vector is FAIL_CRASH_HANG with what happened, and a new worker takes the next.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from .. import QueryError
from ..plans import OpRecord
from . import module, ops, statuses, vectors
from .store import Store
from .worker import PROTOCOL

DEFAULT_TIMEOUT = 30.0  # seconds per vector, tt-metal's default
START_TIMEOUT = 300.0  # seconds for a worker to open its device (the first JIT build of the mock is slow)
TTNN_PYTHON_VARIABLE = "OPCAST_TTNN_PYTHON"
# A native backtrace's frame line (tt-metal's " --- lib(+0x..)", the signal handler's "[host:pid] [n] ...").
_BACKTRACE_FRAME = re.compile(r"^(--- |\[[^]]*:\d+\] \[\s*\d+\] )")


@dataclasses.dataclass
class Work:
    """One vector to record: its identity, its trace record (None when it resolves to none) and why it
    cannot run (None when it can)."""

    vector_id: str
    op: str
    sweep: str
    suite: str
    vector: dict[str, Any]
    record: OpRecord | None
    reason: str | None

    def row(self, **fields: Any) -> dict[str, Any]:
        query = vectors.query_json(self.record) if self.record is not None else None
        return {"vector_id": self.vector_id, "op": self.op, "sweep": self.sweep, "suite": self.suite,
                "vector": self.vector, "query": query, "query_key": vectors.query_key(query) if query else None,
                "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **fields}


def suite_vectors(op: str, suites: Iterable[str] | None = None) -> Iterable[tuple[str, dict[str, Any]]]:
    """(suite, vector) of the op's sweep module, suite by suite; ValueError for an unknown suite."""
    parameters = module.load(op).parameters
    wanted = list(parameters) if suites is None else list(suites)
    unknown = [s for s in wanted if s not in parameters]
    if unknown:
        raise ValueError(f"{op} has no suite {unknown}; its suites are {', '.join(parameters)}")
    for suite in wanted:
        for vector in vectors.permutations(parameters[suite]):
            yield suite, vector


def resolved(op: str, sweep: str, suite: str, vector: dict[str, Any], vector_id: str | None = None) -> Work:
    """A vector resolved to its trace record and checked (CPU only)."""
    vector_id = vector_id or vectors.vector_id(sweep, suite, vector)
    try:
        record = vectors.resolve(op, vector)
    except (ValueError, QueryError) as exc:
        return Work(vector_id, op, sweep, suite, vector, None, f"the vector resolves to no op: {exc}")
    return Work(vector_id, op, sweep, suite, vector, record, vectors.invalid_reason(record))


def plan(backend: str, op_names: Iterable[str], suites: Iterable[str] | None = None,
         finished: set[str] = frozenset(), limit: int | None = None) -> list[Work]:
    """The vectors of ``op_names`` (and ``suites``) that ``backend`` runs and ``finished`` lacks, in
    the order of their ids, at most ``limit`` (only those are resolved: ids need no resolving)."""
    candidates = []
    for op in op_names:
        sweep = ops.sweep_name(op)
        for suite, vector in suite_vectors(op, suites):
            vector_id = vectors.vector_id(sweep, suite, vector)
            if vector_id not in finished:
                candidates.append((vector_id, op, sweep, suite, vector))
    candidates.sort(key=lambda c: c[0])
    todo: list[Work] = []
    for vector_id, op, sweep, suite, vector in candidates:
        if limit is not None and len(todo) >= limit:
            break
        work = resolved(op, sweep, suite, vector, vector_id)
        if work.record is None or vectors.runs_on(backend, work.record, vector):
            todo.append(work)
    return todo


def plan_file(backend: str, path: str | Path, finished: set[str] = frozenset(), limit: int | None = None) -> list[Work]:
    """The vectors of a JSON file (a list of ``{"op", "suite", "vector"}``, as ``opcast recalibrate
    --suggest`` writes) that ``backend`` runs and ``finished`` lacks, in the file's order."""
    entries = json.loads(Path(path).read_text())
    if not isinstance(entries, list) or not all(isinstance(e, dict) and {"op", "suite", "vector"} <= set(e)
                                                for e in entries):
        raise ValueError(f"{path}: expected a JSON list of {{\"op\", \"suite\", \"vector\"}} objects")
    todo: list[Work] = []
    for e in entries:
        op = ops.op_of_sweep(e["op"])
        work = resolved(op, ops.sweep_name(op), e["suite"], e["vector"])
        if work.vector_id in finished or (work.record is not None and not vectors.runs_on(backend, work.record, e["vector"])):
            continue
        if limit is not None and len(todo) >= limit:
            break
        todo.append(work)
    return todo


# --------------------------------------------------------------------------------------------- workers

def repository_root() -> Path:
    """The source checkout opcast runs from (an editable install), where scripts/setup_mock.sh puts
    .venv-mock."""
    return Path(__file__).resolve().parents[1]


def worker_python(backend: str) -> str:
    """The interpreter a backend's worker runs in: this one when it has what the backend needs,
    else ttnn's (``$OPCAST_TTNN_PYTHON``, else the checkout's ``.venv-mock``)."""
    import importlib.util

    if backend == "host":
        if importlib.util.find_spec("torch") is None:
            raise ValueError("the host backend runs the ops in torch, which this Python lacks "
                             "(pip install 'opcast[models]')")
        return sys.executable
    if importlib.util.find_spec("ttnn") is not None:
        return sys.executable
    if os.environ.get(TTNN_PYTHON_VARIABLE):
        return os.environ[TTNN_PYTHON_VARIABLE]
    mock_venv = repository_root() / ".venv-mock" / "bin" / "python"
    if mock_venv.is_file():
        return str(mock_venv)
    raise ValueError(f"the {backend} backend runs ttnn, which this Python lacks: run scripts/setup_mock.sh "
                     f"(it makes .venv-mock) or set {TTNN_PYTHON_VARIABLE} to a Python with ttnn and opcast")


class WorkerDied(Exception):
    """The worker gave no answer: ``message`` says how (killed at the timeout, or died)."""


class WorkerFailed(OSError):
    """A worker could not start its backend: no vector can run (the message says why)."""


class Worker:
    """A worker process (see :mod:`.worker`), in its own session so that a terminal's Ctrl-C stops
    the harness, which stops it."""

    def __init__(self, python: str, arguments: list[str]):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([python, "-m", "opcast.sweeps.worker", *arguments], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1,
                                        start_new_session=True)
        try:
            hello = self._read(START_TIMEOUT, "starting")
        except WorkerDied as exc:
            raise WorkerFailed(f"the {arguments[1]} worker ({python}) did not start: {exc}") from None
        if "error" in hello:
            self.stop()
            raise WorkerFailed(f"the {arguments[1]} backend cannot start here: {hello['error']}")
        if "hello" not in hello or hello["hello"].get("protocol") != PROTOCOL:
            self.stop()
            raise ValueError(f"{python}: its opcast speaks another worker protocol ({hello}); "
                             "re-run scripts/setup_mock.sh to install this opcast there")
        self.hello = hello["hello"]

    def run(self, work: Work, timeout: float) -> dict[str, Any]:
        """The worker's answer for one vector; WorkerDied when it dies or hangs."""
        try:
            self.process.stdin.write(json.dumps({"vector_id": work.vector_id, "record": work.record.to_dict()}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise WorkerDied(self._death("before taking the vector")) from None
        return self._read(timeout, "running the vector")

    def _read(self, timeout: float, doing: str) -> dict[str, Any]:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            tail = self._stderr_tail()
            self.stop()
            raise WorkerDied(f"no result within {timeout:g} s {doing}: the worker was killed{tail}")
        line = self.process.stdout.readline()
        if not line:
            raise WorkerDied(self._death(doing))
        return json.loads(line)

    def _death(self, doing: str) -> str:
        code = self.process.wait()
        how = f"signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exit code {code}"
        return f"the worker died ({how}) {doing}{self._stderr_tail()}"

    def _stderr_tail(self, lines: int = 12) -> str:
        """The last lines the worker wrote to stderr, without the frames of native backtraces."""
        self.stderr.seek(0)
        text = [line.strip() for line in self.stderr.read().decode("utf-8", "replace").splitlines()]
        text = [line for line in text if line and not _BACKTRACE_FRAME.match(line)]
        return (": " + " | ".join(text[-lines:])) if text else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass
        self.stderr.close()


# --------------------------------------------------------------------------------------------- a sweep

@dataclasses.dataclass
class Summary:
    """What a run of ``run_sweep`` did: the vectors recorded per status, the time, the rate."""

    backend: str
    planned: int
    recorded: Counter
    seconds: float
    environment: dict[str, Any] | None

    @property
    def rate(self) -> float:
        """Vectors recorded per second of the whole run (worker start-up included)."""
        total = sum(self.recorded.values())
        return total / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        counts = ", ".join(f"{s} {n}" for s, n in sorted(self.recorded.items())) or "nothing"
        return (f"{self.backend}: {sum(self.recorded.values())} of {self.planned} planned vectors recorded "
                f"({counts}) in {self.seconds:.1f} s, {self.rate:.1f} vectors/s")


def run_sweep(store: Store, backend: str, op_names: Iterable[str], suites: Iterable[str] | None = None, *,
              limit: int | None = None, **options: Any) -> Summary:
    """Plan the vectors of ``op_names`` (and ``suites``) that ``backend`` runs and the store lacks, at
    most ``limit``, and record each (``record_work``; ``options`` are its)."""
    start = time.perf_counter()
    todo = plan(backend, list(op_names), suites, store.finished(backend), limit)
    summary = record_work(store, backend, todo, **options)
    summary.seconds = time.perf_counter() - start
    return summary


def record_work(store: Store, backend: str, todo: list[Work], *, timeout: float = DEFAULT_TIMEOUT,
                device: str = "wormhole", device_perf: bool = False, warmup: int = 2, repeats: int = 10,
                threads: int = 1, progress: bool = True) -> Summary:
    """Record every vector of ``todo`` in ``store``: invalid ones as NOT_RUN, the rest run by a worker
    of ``backend`` (see the module doc).

    device: the wormhole backend's device (``mock``: its code path on the mock device). device_perf:
    the wormhole backend reads the device profiler. warmup / repeats: untimed and timed runs per
    vector (wormhole, host). threads: torch's threads on the host."""
    from tqdm.auto import tqdm

    if device_perf and backend != "wormhole":
        raise ValueError("--device-perf reads a Wormhole's device profiler: it goes with --backend wormhole")
    if warmup < 0 or repeats < 1 or threads < 1 or timeout <= 0:
        raise ValueError(f"expected warmup >= 0, repeats >= 1, threads >= 1, timeout > 0; got {warmup}, "
                         f"{repeats}, {threads}, {timeout}")
    start = time.perf_counter()
    arguments = ["--backend", backend, "--device", device, "--warmup", str(warmup), "--repeats", str(repeats),
                 "--threads", str(threads)] + (["--device-perf"] if device_perf else [])
    python = worker_python(backend) if any(w.reason is None for w in todo) else None
    recorded: Counter = Counter()
    worker: Worker | None = None
    environment: dict[str, Any] | None = None
    bar = tqdm(total=len(todo), unit="vector", desc=f"sweep {backend}", disable=not progress)
    try:
        for work in todo:
            if work.reason is not None:
                row = work.row(backend=backend, status=statuses.NOT_RUN, message=work.reason)
            else:
                if worker is None:
                    worker = _start(python, arguments, device_perf)
                    environment = worker.hello
                row = _run_one(worker, work, backend, timeout)
                if row["status"] == statuses.FAIL_CRASH_HANG:
                    worker.stop()
                    worker = None
            if store.record(row):
                recorded[row["status"]] += 1
            bar.update()
            bar.set_postfix_str(", ".join(f"{s} {n}" for s, n in sorted(recorded.items())), refresh=False)
    finally:
        bar.close()
        if worker is not None:
            worker.stop()
    return Summary(backend, len(todo), recorded, time.perf_counter() - start, environment)


def _start(python: str, arguments: list[str], device_perf: bool) -> Worker:
    try:
        return Worker(python, arguments)
    except WorkerFailed as exc:
        if device_perf:
            raise WorkerFailed(f"{exc}\n--device-perf needs a tt-metal build with the device profiler; the PyPI "
                               "ttnn wheel has none (without --device-perf the Wormhole backend times trace "
                               "replays on the host)") from None
        raise


def _run_one(worker: Worker, work: Work, backend: str, timeout: float) -> dict[str, Any]:
    versions = {k: worker.hello.get(k) for k in ("device", "ttnn_version", "tt_metal_commit", "opcast_version")}
    start = time.perf_counter()
    try:
        answer = worker.run(work, timeout)
    except WorkerDied as exc:
        return work.row(backend=backend, status=statuses.FAIL_CRASH_HANG, message=str(exc),
                        seconds=time.perf_counter() - start, **versions)
    outcome = answer["outcome"]
    l1 = outcome.pop("l1") or {}
    return work.row(backend=backend, seconds=answer["seconds"], **versions, **outcome, **l1)
