"""The whole loop on real measurements, on any machine: host sweep -> dataset -> opcast train -> query.

Every op of the sweeps is timed in torch on this CPU (``--budget`` vectors each, an even sample by
vector id), exported, and trained with ``opcast train`` on all of it; then the next ``--held-out``
vectors of every op (never exported, and none whose query the training set has) are measured and
predicted. Reported per op: configurations trained, held-out vectors, the share predicted within
±10% of the measured median, the median absolute error; and the floor the machine sets: how often two
measurements of the same query (vectors of different suites that ask the same) agree within ±10%.

    python benchmarks/sweep_host_loop.py --out artifacts/sweep_host_loop          # about 10 minutes
    python benchmarks/sweep_host_loop.py --ops ttnn.gelu ttnn.linear --budget 60 --held-out 20

Run it on an otherwise idle machine: host timings follow the load of the other core.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from opcast.sweeps import export, harness, ops, statuses
from opcast.sweeps.store import Store

WITHIN = 0.10


def _within(a: float, b: float) -> bool:
    return abs(a / b - 1) <= WITHIN


def _answered(answer) -> bool:
    """A row of predict_batch(errors="collect") that holds an answer (its error is None or NaN)."""
    error = answer["error"]
    return error is None or (isinstance(error, float) and math.isnan(error))


def measurement_floor(rows: list[dict]) -> tuple[int, float]:
    """(pairs, share within ±10%) of two PASS vectors that measured the same query."""
    by_query = defaultdict(list)
    for r in rows:
        if r["status"] == statuses.PASS:
            by_query[r["query_key"]].append(r["median_ns"])
    pairs = [(a, b) for medians in by_query.values() for a, b in combinations(medians, 2)]
    return len(pairs), (sum(_within(a, b) for a, b in pairs) / len(pairs) if pairs else float("nan"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="artifacts/sweep_host_loop", help="store, export and models go here")
    ap.add_argument("--ops", nargs="+", help="ops (default: every op of the sweeps)")
    ap.add_argument("--budget", type=int, default=150, help="training vectors per op")
    ap.add_argument("--held-out", type=int, default=30, help="held-out vectors per op")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    from opcast import Predictor
    from opcast.cli import main as opcast

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    op_names = [ops.op_of_sweep(o) for o in args.ops] if args.ops else list(ops.sweep_ops())
    rate = []
    with Store(out / "host.sqlite") as store:
        for op in op_names:
            rate.append(harness.run_sweep(store, "host", [op], limit=args.budget, repeats=args.repeats,
                                          progress=False))
        export.export(store, out / "export")
        trained_keys = {r["query_key"] for r in store.rows(backend="host")}
        if opcast(["train", "--data", str(out / "export" / "dataset" / "host_torch.csv"), "--out",
                   str(out / "models"), "--test-fraction", "0", "--quiet"]) != 0:
            return 1
        before = {r["vector_id"] for r in store.rows(backend="host")}
        for op in op_names:
            rate.append(harness.run_sweep(store, "host", [op], limit=args.held_out, repeats=args.repeats,
                                          progress=False))
        rows = store.rows(backend="host")
    held = [r for r in rows if r["vector_id"] not in before and r["status"] == statuses.PASS
            and r["query_key"] not in trained_keys]
    predictor = Predictor(str(out / "models"))
    answers = predictor.predict_batch([r["query"] for r in held], errors="collect")

    table = []
    print("| op | trained configurations | held-out vectors | within ±10% | median abs error |")
    print("|---|---|---|---|---|")
    errors_all = []
    for op in op_names:
        mine = [(r, a) for r, (_, a) in zip(held, answers.iterrows()) if r["op"] == op and _answered(a)]
        errors = [abs(a["predicted_ns"] / r["median_ns"] - 1) for r, a in mine]
        errors_all += errors
        trained = len({r["query_key"] for r in rows if r["op"] == op and r["vector_id"] in before})
        row = {"op": op, "trained": trained, "held_out": len(errors),
               "within_10pct": sum(e <= WITHIN for e in errors) / len(errors) if errors else None,
               "median_abs_error": statistics.median(errors) if errors else None}
        table.append(row)
        if errors:
            print(f"| {op} | {trained} | {len(errors)} | {row['within_10pct']:.0%} | {row['median_abs_error']:.1%} |")
        else:
            print(f"| {op} | {trained} | 0 | - | - |")
    pairs, floor = measurement_floor(rows)
    overall = sum(e <= WITHIN for e in errors_all) / len(errors_all)
    recorded = sum(sum(s.recorded.values()) for s in rate)
    seconds = sum(s.seconds for s in rate)
    print(f"\nall ops: {len(errors_all)} held-out vectors, {overall:.1%} within ±10%, median abs error "
          f"{statistics.median(errors_all):.1%}")
    print(f"measurement floor: {pairs} pairs of vectors measuring the same query agree within ±10% in {floor:.1%}")
    print(f"host sweep: {recorded} vectors in {seconds:.0f} s, {recorded / seconds:.1f} vectors/s (planning included)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ops": table, "overall_within_10pct": overall, "floor_pairs": pairs, "floor_within_10pct": floor,
                       "vectors_per_second": recorded / seconds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
