"""Which of each model's configurations a plan can place in each memory layout, and the L1 they take:
the ``<model>_layouts`` suites of every op the models issue, swept on ttnn's mock Wormhole n150.

    python benchmarks/sweep_legality.py                       # every vector of those suites (a few minutes)
    python benchmarks/sweep_legality.py --limit 40 --db l.sqlite --json legality.json

Legal means PASS on the mock: ttnn accepts the op and it fits in L1 beside its inputs. A vector that
is invalid before any device sees it (NOT_RUN: a shard that is not tile-aligned, more shards than
tiles) counts as not legal. Run from the main environment: the mock runs in .venv-mock's workers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter, defaultdict

from opcast.sweeps import harness, ops, statuses, suites
from opcast.sweeps.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="sweep_legality.sqlite", help="the sweep store (re-runs skip what it has)")
    ap.add_argument("--limit", type=int, help="vectors per op and model (default: all)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    with Store(args.db) as store:
        for model in ops.TRACED_MODELS:
            for op in ops.traced_ops():
                harness.run_sweep(store, "mock", [op], [f"{model}_layouts"], limit=args.limit, progress=False)
        rows = [r for r in store.rows(backend="mock") if r["suite"].endswith("_layouts") and not ops.is_move(r["op"])]

    shares: dict[tuple[str, str], Counter] = defaultdict(Counter)
    l1: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_op: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for r in rows:
        key = (r["suite"].removesuffix("_layouts"), r["vector"]["input_memory"]["memory"])
        shares[key][r["status"]] += 1
        by_op[(*key, r["op"])][r["status"] == statuses.PASS] += 1
        if r["status"] == statuses.PASS and r["l1_total_per_core"] is not None:
            l1[key].append(r["l1_total_per_core"])

    table = []
    print("| model | memory layout | configurations | legal | share | NOT_RUN | FAIL_ASSERT | FAIL_L1_OOM | "
          "L1/core of legal ones, median / max KiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (model, memory) in sorted(shares, key=lambda k: (k[0], suites.LAYOUT_MEMORIES.index(k[1]))):
        c = shares[(model, memory)]
        total = sum(c.values())
        kib = l1[(model, memory)]
        row = {"model": model, "memory": memory, "configurations": total, "legal": c[statuses.PASS],
               "share": c[statuses.PASS] / total, "not_run": c[statuses.NOT_RUN],
               "fail_assert": c[statuses.FAIL_ASSERT_EXCEPTION], "fail_l1": c[statuses.FAIL_L1_OUT_OF_MEM],
               "crash": c[statuses.FAIL_CRASH_HANG],
               "l1_median_kib": statistics.median(kib) / 1024 if kib else None,
               "l1_max_kib": max(kib) / 1024 if kib else None,
               "legal_by_op": {op: f"{n[True]}/{n[True] + n[False]}" for (m, mem, op), n in sorted(by_op.items())
                               if (m, mem) == (model, memory)}}
        table.append(row)
        l1_text = f"{row['l1_median_kib']:.1f} / {row['l1_max_kib']:.1f}" if kib else "-"
        print(f"| {model} | {memory} | {total} | {row['legal']} | {row['share']:.1%} | {row['not_run']} | "
              f"{row['fail_assert']} | {row['fail_l1']} | {l1_text} |")
    print()
    for row in table:
        print(f"{row['model']} {row['memory']}: " + ", ".join(f"{op.removeprefix('ttnn.')} {n}"
                                                             for op, n in row["legal_by_op"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
