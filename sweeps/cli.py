"""``opcast sweep list | run | status | export``: the sweep stage's commands.

    opcast sweep list                                        # ops, suites, vectors per backend
    opcast sweep run --op ttnn.gelu --backend mock --limit 200
    opcast sweep run --op all --backend wormhole --device-perf --db wormhole.sqlite
    opcast sweep run --op all --suite space_filling --backend host --limit 60
    opcast sweep status --db opcast_sweeps.sqlite [--json]
    opcast sweep export --db opcast_sweeps.sqlite --out sweep_export   # then opcast train --data sweep_export/dataset/host_torch.csv

The main ``opcast`` CLI calls :func:`register_cli` with its argparse sub-parsers.
"""

from __future__ import annotations

import argparse
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
    with Store(args.db) as store:
        summary = harness.run_sweep(store, args.backend, _ops(args.op), args.suite, limit=args.limit,
                                    timeout=args.timeout, device=args.device, device_perf=args.device_perf,
                                    warmup=args.warmup, repeats=args.repeats, threads=args.threads,
                                    progress=not args.quiet)
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


def register_cli(subparsers) -> None:
    """Add ``sweep`` (list, run, status, export) to an argparse sub-parsers object."""
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
    p.add_argument("--op", action="append", required=True, metavar="OP", help="an op (ttnn.gelu, gelu) or all; repeatable")
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("status", help="vectors recorded per backend, op, suite and status")
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"the sweep store (SQLite; default {DEFAULT_DB})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("export", help="a dataset opcast train reads, and tt-metal's result JSON")
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"the sweep store (SQLite; default {DEFAULT_DB})")
    p.add_argument("--out", required=True, metavar="DIR", help="where the dataset and tt-metal result JSON go")
    p.set_defaults(func=_cmd_export)
