"""``opcast sweep run --ray ADDRESS``: one sweep over many devices, on a Ray cluster.

The driver (the ``opcast sweep run`` process) plans the vectors as a plain run does, cuts them into
batches and hands one batch at a time to each Ray actor. An actor owns one device: a Wormhole card (each
host advertises its cards as the Ray resource ``wormhole``, ``ray start --resources '{"wormhole": 4}'``,
and the driver pins one actor per card to its host, opening that card's device id), the mock device,
or one host CPU; it runs its batch in the same worker process a
plain run uses (:mod:`.worker`, in the interpreter the backend needs on that node), so a crash or a
hang there costs one vector, as always. The batch's rows come back to the driver, which alone writes
the store, a batch at a time, as each arrives. An actor that dies (its process killed, its node
lost) loses only the batch it held: Ray raises it in the driver, which puts the batch back at the
head of the queue for the next free actor, and Ray restarts the actor. Nothing is recorded before
it comes back, and the store ignores a second write of a vector, so nothing is recorded twice.

``ADDRESS`` is a running cluster's (``auto``, ``ray://head:10001``, ``head:6379``), or ``local[:N]``:
a Ray instance started here with N actors (default: this machine's CPUs), stopped at the end.
"""

from __future__ import annotations

import collections
import os
import time
from typing import Any

from . import harness, statuses
from .store import Store

DEFAULT_BATCH = 8  # vectors per batch: what a dead actor can lose, against Ray's per-task cost
MAX_BATCH_LOSSES = 3  # a batch whose actor died this often stops the sweep (something kills them all)
DEVICE_RESOURCE = {"wormhole": "wormhole"}  # a custom Ray resource per card; mock and host take a CPU


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'opcast[ray]'") from None
    return ray


def parse_address(address: str) -> tuple[str | None, int | None]:
    """(address for ray.init, None) for a cluster; (None, actors or None) for ``local[:N]``."""
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2]
        if count and (not count.isdigit() or int(count) < 1):
            raise ValueError(f"--ray local:N takes a number of workers N >= 1, got {address!r}")
        return None, int(count) if count else None
    if not address:
        raise ValueError("--ray takes a cluster address (auto, ray://host:10001, host:6379) or local[:N]")
    return address, None


def card_slots(nodes: list[dict[str, Any]], resource: str) -> list[tuple[str, int]]:
    """(node id, card number) for every card the cluster's live nodes advertise as ``resource``
    (``ray.nodes()``), the nodes taking turns so that a shorter list still spreads over hosts."""
    per_node = [(n["NodeID"], int(n.get("Resources", {}).get(resource, 0))) for n in nodes if n.get("Alive")]
    most = max((cards for _, cards in per_node), default=0)
    return [(node, card) for card in range(most) for node, cards in per_node if card < cards]


class DeviceActor:
    """Ray actor: one device, one worker process on it, batches of vectors in, rows out."""

    def __init__(self, backend: str, arguments: list[str], device_perf: bool):
        self.backend, self.arguments, self.device_perf = backend, arguments, device_perf
        self.python: str | None = None  # this node's interpreter for the backend, found by the first batch
        self.worker: harness.Worker | None = None

    def pid(self) -> int:
        return os.getpid()

    def run(self, batch: list[harness.Work], timeout: float) -> list[dict[str, Any]]:
        rows = []
        if self.python is None:  # a node without the backend's Python: the driver gets the ValueError
            self.python = harness.worker_python(self.backend)
        for work in batch:
            if self.worker is None:
                self.worker = harness._start(self.python, self.arguments, self.device_perf)
            row = harness._run_one(self.worker, work, self.backend, timeout)
            if row["status"] == statuses.FAIL_CRASH_HANG:
                self.worker.stop()
                self.worker = None
            rows.append(row)
        return rows


class Fleet:
    """A Ray cluster's actors for one backend (a context manager: stops what it started)."""

    def __init__(self, address: str, backend: str, *, workers: int | None = None, device: str = "wormhole",
                 device_perf: bool = False, warmup: int = 2, repeats: int = 10, threads: int = 1):
        ray = _ray()
        self.ray, self.backend = ray, backend
        cluster, local_workers = parse_address(address)
        resource = DEVICE_RESOURCE.get(backend) if device != "mock" else None
        self.started = False
        if not ray.is_initialized():
            if cluster is None:
                count = local_workers or os.cpu_count() or 1
                ray.init(num_cpus=count * threads, resources={resource: count} if resource else None,
                         include_dashboard=False, log_to_driver=False, configure_logging=False,
                         object_store_memory=100 << 20)
            else:
                ray.init(address=cluster, log_to_driver=False, configure_logging=False)
            self.started = True
        self.actors: list[Any] = []
        try:
            self.actors = self._start_actors(backend, resource, workers or local_workers, device=device,
                                             device_perf=device_perf, warmup=warmup, repeats=repeats, threads=threads)
        except BaseException:
            self.close()
            raise

    def _start_actors(self, backend: str, resource: str | None, count: int | None, *, device: str, device_perf: bool,
                      warmup: int, repeats: int, threads: int) -> list[Any]:
        ray = self.ray
        arguments = ["--backend", backend, "--device", device, "--warmup", str(warmup), "--repeats", str(repeats),
                     "--threads", str(threads)] + (["--device-perf"] if device_perf else [])
        # Ray restarts a dead actor; the driver re-queues its batch itself (no task retries: one place decides).
        remote = ray.remote(max_restarts=-1, max_task_retries=0)(DeviceActor)
        if resource:
            # One actor per card, pinned to its host, opening that card (ttnn's device id): a custom
            # resource has no ids of its own, so the driver numbers each host's cards.
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            slots = card_slots(ray.nodes(), resource)
            if not slots:
                raise ValueError(f"the Ray cluster advertises no {resource!r} resource: start each host's Ray "
                                 f"with --resources '{{\"{resource}\": <cards>}}'")
            slots = slots[:count or len(slots)]
            return [remote.options(resources={resource: 1}, num_cpus=1,
                                   scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                    .remote(backend, arguments + ["--device-id", str(card)], device_perf)
                    for node, card in slots]
        total = ray.cluster_resources()
        count = count or int(total.get("CPU", 0)) // threads
        if count < 1:
            raise ValueError(f"the Ray cluster has room for no {backend} worker ({total})")
        return [remote.options(num_cpus=threads).remote(backend, arguments, device_perf) for _ in range(count)]

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def pids(self) -> list[int]:
        """Each actor's process id (waits for them to start, or restart)."""
        return self.ray.get([a.pid.options(max_task_retries=-1).remote() for a in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()

    def record_work(self, store: Store, todo: list[harness.Work], *, batch: int = DEFAULT_BATCH,
                    timeout: float = harness.DEFAULT_TIMEOUT, progress: bool = True) -> "FleetSummary":
        """Record every vector of ``todo`` in ``store``: invalid ones as NOT_RUN here, the rest in batches
        on the actors (see the module doc)."""
        from ray.exceptions import RayActorError, RayTaskError
        from tqdm.auto import tqdm

        if batch < 1:
            raise ValueError(f"--ray-batch must be at least 1, got {batch}")
        start = time.perf_counter()
        summary = FleetSummary(self.backend, len(todo), collections.Counter(), 0.0, None, len(self.actors))
        bar = tqdm(total=len(todo), unit="vector", desc=f"sweep {self.backend} on {len(self.actors)} Ray workers",
                   disable=not progress)

        def record(row: dict[str, Any]) -> None:
            if store.record(row):
                summary.recorded[row["status"]] += 1
            else:
                summary.duplicates += 1
            bar.update()

        try:
            valid = []
            for work in todo:
                if work.reason is None:
                    valid.append(work)
                else:
                    record(work.row(backend=self.backend, status=statuses.NOT_RUN, message=work.reason))
            queue = collections.deque(valid[i:i + batch] for i in range(0, len(valid), batch))
            losses: collections.Counter = collections.Counter()
            idle = list(self.actors)
            running: dict[Any, tuple[Any, list[harness.Work]]] = {}
            restarting: dict[Any, Any] = {}  # a probe of a dead actor (answers once Ray has restarted it) -> actor
            while queue or running:
                while queue and idle:
                    actor, chunk = idle.pop(), queue.popleft()
                    running[actor.run.remote(chunk, timeout)] = (actor, chunk)
                if not running and not idle and not restarting:
                    raise harness.WorkerFailed("every Ray worker is gone; the vectors finished so far are in the store")
                done, _ = self.ray.wait(list(running) + list(restarting), num_returns=1)
                for ref in done:
                    if ref in restarting:
                        actor = restarting.pop(ref)
                        try:
                            self.ray.get(ref)
                            idle.append(actor)
                        except RayActorError:  # not coming back (its node is gone): the others go on
                            pass
                        continue
                    actor, chunk = running.pop(ref)
                    try:
                        rows = self.ray.get(ref)
                    except RayTaskError as exc:  # the actor's own error (no backend on its node, a device that
                        cause = getattr(exc, "cause", None)  # cannot open): the driver says it as plainly
                        raise (cause if isinstance(cause, Exception) else exc) from None
                    except RayActorError as exc:
                        queue.appendleft(chunk)
                        summary.requeued += len(chunk)
                        summary.deaths.append(str(exc).splitlines()[0])
                        losses[chunk[0].vector_id] += 1
                        if losses[chunk[0].vector_id] >= MAX_BATCH_LOSSES:
                            raise harness.WorkerFailed(f"a batch's Ray worker died {MAX_BATCH_LOSSES} times; stopping the "
                                               f"sweep (the vectors finished so far are in the store): {exc}") from None
                        # Ray restarts the actor; it takes work again once it answers (the probe may retry).
                        restarting[actor.pid.options(max_task_retries=-1).remote()] = actor
                        continue
                    idle.append(actor)
                    for row in rows:
                        record(row)
                    if summary.environment is None and rows:
                        summary.environment = {k: rows[0].get(k) for k in ("device", "ttnn_version",
                                                                            "tt_metal_commit")}
        finally:
            bar.close()
        summary.seconds = time.perf_counter() - start
        return summary


class FleetSummary(harness.Summary):
    """A Ray run's summary: besides ``harness.Summary``, the actors, the vectors re-queued when an actor
    died (and how each died), and writes the store ignored (it had the vector: should stay 0)."""

    def __init__(self, backend, planned, recorded, seconds, environment, workers):
        super().__init__(backend, planned, recorded, seconds, environment)
        self.workers, self.requeued, self.duplicates, self.deaths = workers, 0, 0, []

    def line(self) -> str:
        extra = f" on {self.workers} Ray workers"
        if self.deaths:
            extra += f"; {len(self.deaths)} worker(s) died, {self.requeued} vectors re-queued"
        return super().line() + extra
