"""``opcast sweep list | run | status | merge | export``: the sweep stage's commands.

    opcast sweep list                                        # ops, suites, vectors per backend
    opcast sweep run --op ttnn.gelu --backend mock --limit 200
    opcast sweep run --op all --backend wormhole --device-perf --db wormhole.sqlite
    opcast sweep run --op all --suite space_filling --backend host --limit 60
    opcast sweep status --db opcast_sweeps.sqlite [--json]
    opcast sweep merge --db all.sqlite host1.sqlite host2.sqlite        # one store per host, merged
    opcast sweep export --db opcast_sweeps.sqlite --out sweep_export   # then opcast train --data sweep_export/dataset/host_torch.csv

The main ``opcast`` CLI calls :func:`register_cli` with its argparse sub-parsers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections import Counter, defaultdict
from typing import Any

from . import harness, ops, statuses, vectors
from .store import DEFAULT_DB


def _ops(names: list[str] | None) -> list[str]:
    if not names or names == ["all"]:
        return list(ops.sweep_ops())
    return [ops.op_of_sweep(name) for name in names]


def vector_counts(op_names: list[str]) -> list[dict[str, Any]]:
    """Per op and suite: vectors, invalid ones, and the valid vectors each backend runs."""
    rows = []
    for op in op_names:
        counts: dict[str, Counter] = defaultdict(Counter)
        for suite, vector in harness.suite_vectors(op):
            work = harness.resolved(op, ops.sweep_name(op), suite, vector)
            count = counts[suite]
            count["vectors"] += 1
            if work.reason is not None:
                count["invalid"] += 1
                continue
            for backend in vectors.BACKENDS:
                count[backend] += vectors.runs_on(backend, work.record, vector)
        for suite, count in counts.items():
            rows.append({"op": op, "suite": suite, "vectors": count["vectors"], "invalid": count["invalid"],
                         **{backend: count[backend] for backend in vectors.BACKENDS}})
    return rows


def _cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    rows = vector_counts(_ops(args.op))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    totals = {"op": "total", "suite": "", **{k: sum(r[k] for r in rows) for k in ("vectors", "invalid", *vectors.BACKENDS)}}
    print(tabulate(rows + [totals], headers="keys", tablefmt="github"))
    print("\nbackend columns: the valid vectors each backend runs (every backend records the invalid ones as NOT_RUN)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .store import Store

    if args.device == "mock" and args.backend != "wormhole":
        raise ValueError("--device mock runs the wormhole backend's code on the mock device: it goes with "
                         "--backend wormhole (--backend mock is the mock legality sweep)")
    if bool(args.op) == bool(args.vectors):
        raise ValueError("opcast sweep run takes the ops' suites (--op) or a file of vectors (--vectors), one of them")
    if args.budget is not None and args.vectors:
        raise ValueError("--budget ranks the ops' suites, --vectors runs a file's vectors as they are: give one")
    if args.budget is not None and args.limit is not None:
        raise ValueError("--budget picks which vectors to measure, --limit takes the next ones by id: give one")
    if args.budget is None and (args.round_size is not None or args.models is not None):
        raise ValueError("--round-size and --models go with --budget")
    worker_options = dict(device=args.device, device_perf=args.device_perf, warmup=args.warmup,
                          repeats=args.repeats, threads=args.threads)
    fleet = None
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(Store(args.db))
        if args.ray is not None:
            from .fleet import Fleet

            fleet = stack.enter_context(Fleet(args.ray, args.backend, **worker_options))

        def measure(todo):
            if fleet is not None:
                return fleet.record_work(store, todo, batch=args.ray_batch, timeout=args.timeout,
                                         progress=not args.quiet)
            return harness.record_work(store, args.backend, todo, timeout=args.timeout, progress=not args.quiet,
                                       **worker_options)

        if args.budget is not None:
            from .active import run_budget

            budget = run_budget(store, args.backend, _ops(args.op), args.suite, args.budget,
                                round_size=args.round_size, models=args.models, device_perf=args.device_perf,
                                measure=measure)
            for number, r in enumerate(budget.rounds):
                trained = ", ".join(r.trained) or "nothing yet"
                print(f"round {number}: {r.picked} vectors picked after {r.measured_before} measured (median "
                      f"ln(hi/lo) of the picks {r.median_width:.2f}; trained: {trained})")
            print(budget.line())
            if not budget.summaries:
                return 0
            summary = budget.summaries[-1]
        else:
            if args.vectors:
                todo = harness.plan_file(args.backend, args.vectors, store.finished(args.backend), args.limit)
            else:
                todo = harness.plan(args.backend, _ops(args.op), args.suite, store.finished(args.backend), args.limit)
            summary = measure(todo)
            print(summary.line())
    if summary.environment:
        env = summary.environment
        print(f"device: {env.get('device')}; ttnn {env.get('ttnn_version') or '-'}; tt-metal commit "
              f"{env.get('tt_metal_commit') or 'not recorded'}")
    if summary.recorded.get(statuses.FAIL_UNSUPPORTED_DEVICE_PERF):
        from .backends import NO_PROFILER

        print(f"--device-perf: {NO_PROFILER}")
    return 0


def status_rows(db: str) -> list[dict[str, Any]]:
    """Per backend, op and suite: rows per status and the worker's vectors per second."""
    from .store import Store

    with Store(db) as store:
        counts = store.counts()
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in counts:
        row = table.setdefault((c["backend"], c["op"], c["suite"]),
                               {"backend": c["backend"], "op": c["op"], "suite": c["suite"],
                                **{s: 0 for s in statuses.STATUSES}, "seconds": 0.0})
        row[c["status"]] += c["n"]
        row["seconds"] += c["seconds"] or 0.0
    return list(table.values())


def _cmd_status(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    rows = status_rows(args.db)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"{args.db}: no vectors recorded")
        return 0
    shown = [s for s in statuses.STATUSES if any(r[s] for r in rows)]
    print(tabulate([{k: r[k] for k in ("backend", "op", "suite", *shown)} for r in rows], headers="keys",
                   tablefmt="github"))
    for backend in sorted({r["backend"] for r in rows}):
        mine = [r for r in rows if r["backend"] == backend]
        ran = sum(r[s] for r in mine for s in statuses.STATUSES if s != statuses.NOT_RUN)
        seconds = sum(r["seconds"] for r in mine)
        rate = f", {ran / seconds:.1f} vectors/s in the worker" if seconds > 0 else ""
        print(f"{backend}: {sum(r[s] for r in mine for s in statuses.STATUSES)} vectors, {ran} run{rate}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .store import Store

    with Store(args.db) as store:
        written = export(store, args.out)
    for path in written:
        print(path)
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from .store import Store

    with Store(args.db) as store:
        for other in args.stores:
            added, had = store.merge(other)
            print(f"{other}: {added} rows added, {had} already in {args.db} (kept as they were)")
    return 0


def register_cli(subparsers) -> None:
    """Add ``sweep`` (list, run, status, merge, export) to an argparse sub-parsers object."""
    sweep = subparsers.add_parser("sweep", help="time and check TTNN ops across shapes, dtypes and shardings",
                                  description=__doc__.split("\n\n")[0])
    sub = sweep.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the ops, their suites and vector counts per backend")
    p.add_argument("--op", action="append", metavar="OP", help="an op (ttnn.gelu, gelu) or all (default); repeatable")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="run an op's vectors on a backend and record them in the store",
                       description="Runs the vectors the store lacks, in the order of their ids (an even sample "
                                   "under --limit), each in a worker process: a crash or a hang past --timeout "
                                   "is that vector's FAIL_CRASH_HANG and the sweep goes on. Safe to kill and re-run.")
    p.add_argument("--op", action="append", metavar="OP", help="an op (ttnn.gelu, gelu) or all; repeatable")
    p.add_argument("--vectors", metavar="FILE",
                   help="instead of --op: a JSON list of {op, suite, vector} (opcast recalibrate --suggest writes one)")
    p.add_argument("--suite", action="append", metavar="S", help="only these suites (default: all); repeatable")
    p.add_argument("--backend", required=True, choices=vectors.BACKENDS,
                   help="wormhole: ttnn on a Wormhole, timed; mock: ttnn's mock device, legality and L1; "
                        "host: the op in torch on this CPU, timed")
    p.add_argument("--device-perf", action="store_true",
                   help="wormhole: DEVICE KERNEL DURATION from the device profiler (a tt-metal build with the "
                        "profiler); without it, host wall-clock of trace replays")
    p.add_argument("--device", choices=("wormhole", "mock"), default="wormhole",
                   help="wormhole backend only: mock runs its code on the mock device, as far as the mock goes")
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"the sweep store (default {DEFAULT_DB})")
    p.add_argument("--limit", type=int, metavar="N", help="record at most N vectors")
    p.add_argument("--timeout", type=float, default=harness.DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds per vector before the worker is killed (default {harness.DEFAULT_TIMEOUT:g})")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs per vector (default 2)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per vector, every one kept (default 10)")
    p.add_argument("--threads", type=int, default=1, help="host: torch threads (default 1)")
    p.add_argument("--budget", type=int, metavar="N",
                   help="measure N vectors, the ones the models are least sure of first, in rounds, retraining "
                        "between rounds (timed backends); the rest stay for later runs")
    p.add_argument("--round-size", type=int, metavar="N", help="--budget: vectors per round (default: a fifth)")
    p.add_argument("--models", metavar="DIR",
                   help="--budget: train each round's models here and keep the last (default: a temporary folder)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on a Ray cluster, one worker per device: auto, ray://host:10001, host:6379, or "
                        "local[:N] (a local Ray instance with N workers)")
    p.add_argument("--ray-batch", type=int, default=8, metavar="N",
                   help="--ray: vectors per batch, what a dead worker can lose and re-queue (default 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("status", help="vectors recorded per backend, op, suite and status")
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"the sweep store (SQLite; default {DEFAULT_DB})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("merge", help="copy other stores' rows (one per host) into this one",
                       description="Adds every row of each STORE that this store lacks (same backend and vector "
                                   "id); a row it has is kept as it was.")
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help="the store merged into")
    p.add_argument("stores", nargs="+", metavar="STORE", help="the stores whose rows are copied (SQLite files)")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("export", help="a dataset opcast train reads, and tt-metal's result JSON")
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"the sweep store (SQLite; default {DEFAULT_DB})")
    p.add_argument("--out", required=True, metavar="DIR", help="where the dataset and tt-metal result JSON go")
    p.set_defaults(func=_cmd_export)
