"""Sweep throughput per backend: vectors recorded per second, from planning to the last commit.

    python benchmarks/sweep_throughput.py                    # host and mock, 60 vectors of 4 ops each
    python benchmarks/sweep_throughput.py --backends mock --per-op 200

Each backend sweeps the same vectors (the ``space_filling`` suites of gelu, add, linear and
layer_norm, an even sample by vector id) into a fresh store. "whole run" counts everything
(planning, starting the worker, invalid vectors recorded as NOT_RUN); "in the worker" is the vectors
run per second of the worker's own time. The Wormhole backend needs a Wormhole: none here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from opcast.sweeps import harness, statuses
from opcast.sweeps.store import Store

OPS = ("ttnn.gelu", "ttnn.add", "ttnn.linear", "ttnn.layer_norm")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["host", "mock"], choices=["host", "mock"])
    ap.add_argument("--per-op", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=10, help="timed runs per vector (host)")
    args = ap.parse_args(argv)

    print("| backend | vectors | run | whole run, vectors/s | in the worker, vectors/s |")
    print("|---|---|---|---|---|")
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "s.sqlite") as store:
            recorded = ran = 0
            seconds = 0.0
            for op in OPS:
                summary = harness.run_sweep(store, backend, [op], ["space_filling"], limit=args.per_op,
                                            repeats=args.repeats, progress=False)
                recorded += sum(summary.recorded.values())
                seconds += summary.seconds
            rows = [r for r in store.rows() if r["status"] != statuses.NOT_RUN]
            ran = len(rows)
            worker_seconds = sum(r["seconds"] for r in rows)
        print(f"| {backend} | {recorded} | {ran} | {recorded / seconds:.1f} | {ran / worker_seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
