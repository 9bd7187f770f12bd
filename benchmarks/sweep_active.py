"""Active selection (opcast sweep run --budget) against the plain sweep and the full grid, on the host.

Every host vector of the ops is measured once (the full grid, ``full.sqlite``). A quarter of their
distinct queries, drawn with a fixed seed, is held out (every vector asking one of them leaves the
pool) and measured a second time (``repeat.sqlite``): two measurements of the same vector set the
floor no model can beat on this machine. The rest is the pool. Three ways spend it, a round of
``--round-size`` vectors at a time over all the ops together, retraining (``opcast train``, as the
budgeted sweep does) after each round and answering the held-out vectors:

* active: ``opcast.sweeps.active.run_budget``, the budgeted sweep itself, its vectors "measured" by
  copying their rows from the full grid (the same measurement either way, and every strategy is
  scored against the same labels);
* id order: the vectors in the order of their ids, as ``opcast sweep run --limit N`` takes them (a
  sha224 order: a uniform random sample);
* full grid: the whole pool.

Per op: the held-out vectors' median absolute percentage error and share within ±10% against the
vectors of that op measured; the PNG draws both, with the full grid and the floor as lines.

    python benchmarks/sweep_active.py --out artifacts/sweep_active          # about 15 minutes
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from opcast.sweeps import active, harness, statuses
from opcast.sweeps.store import Store

OPS = ("ttnn.gelu", "ttnn.softmax", "ttnn.linear", "ttnn.tilize")  # eltwise, normalization, matmul, data movement
WITHIN = 0.10


def _errors(models: Path, held: list[dict]) -> dict[str, dict[str, float]]:
    """Per op: median APE and share within ±10% of the held-out vectors (no answer: nan)."""
    from opcast import ModelError, Predictor

    try:
        answers = Predictor(models).predict_batch([r["query"] for r in held], errors="collect")
        predicted = answers["predicted_ns"].to_numpy(dtype=float, na_value=np.nan)
    except ModelError:
        predicted = np.full(len(held), np.nan)
    by_op = defaultdict(list)
    for r, p in zip(held, predicted):
        by_op[r["op"]].append(abs(p / r["median_ns"] - 1) if math.isfinite(p) else math.nan)
    out = {}
    for op, e in by_op.items():
        answered = [x for x in e if math.isfinite(x)]
        out[op] = {"mape": statistics.median(answered) if len(answered) == len(e) else math.nan,
                   "within": sum(x <= WITHIN for x in answered) / len(e)}
    return out


def _replay(full: dict[str, dict], store: Store):
    """A ``measure`` for run_budget: the full grid's rows of the vectors, written to ``store``."""
    def measure(todo):
        recorded = Counter()
        for w in todo:
            if store.record(full[w.vector_id]):
                recorded[full[w.vector_id]["status"]] += 1
        return harness.Summary("host", len(todo), recorded, 0.0, None)
    return measure


def _curve_point(store: Store, op_names, scores) -> dict:
    counts = Counter(r["op"] for r in store.rows(backend="host"))
    return {"measured": {op: counts.get(op, 0) for op in op_names}, "scores": scores}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="artifacts/sweep_active")
    ap.add_argument("--ops", nargs="+", default=list(OPS))
    ap.add_argument("--round-size", type=int, default=32, help="vectors per round, over all ops")
    ap.add_argument("--max-vectors", type=int, help="stop the curves here (default: the whole pool)")
    ap.add_argument("--held-out", type=float, default=0.25, help="share of distinct queries held out")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    op_names = list(args.ops)

    # The full grid, measured once (a re-run reuses it).
    with Store(out / "full.sqlite") as store:
        harness.run_sweep(store, "host", op_names, repeats=args.repeats, progress=True)
        rows = [r for r in store.rows(backend="host", ops=op_names) if r["status"] == statuses.PASS]
    full = {r["vector_id"]: r for r in rows}
    keys = sorted({r["query_key"] for r in rows})
    rng = random.Random(args.seed)
    held_keys = set(rng.sample(keys, round(len(keys) * args.held_out)))
    held, seen = [], set()
    for r in sorted(rows, key=lambda r: r["vector_id"]):
        if r["query_key"] in held_keys and r["query_key"] not in seen:
            held.append(r)
            seen.add(r["query_key"])
    pool_ids = sorted(r["vector_id"] for r in rows if r["query_key"] not in held_keys)
    limit = min(args.max_vectors or len(pool_ids), len(pool_ids))
    print(f"full grid: {len(rows)} vectors, {len(keys)} distinct queries; held out {len(held)}; pool {len(pool_ids)}")

    # The floor: the held-out vectors measured again.
    todo_by_id = {w.vector_id: w for w in harness.plan("host", op_names)}
    with Store(out / "repeat.sqlite") as store:
        harness.record_work(store, "host", [todo_by_id[r["vector_id"]] for r in held
                                            if r["vector_id"] not in store.finished("host")],
                            repeats=args.repeats, progress=True)
        again = {r["vector_id"]: r["median_ns"] for r in store.rows(backend="host") if r["status"] == statuses.PASS}
    floor = {}
    for op in op_names:
        e = [abs(again[r["vector_id"]] / r["median_ns"] - 1) for r in held if r["op"] == op and r["vector_id"] in again]
        floor[op] = {"pairs": len(e), "mape": statistics.median(e), "within": sum(x <= WITHIN for x in e) / len(e)}
        print(f"floor {op}: {len(e)} held-out vectors measured twice: median APE {floor[op]['mape']:.1%}, "
              f"within ±10% {floor[op]['within']:.1%}")

    curves = {}
    # Active: the budgeted sweep itself.
    path = out / "active.sqlite"
    path.unlink(missing_ok=True)
    points = []
    with Store(path) as store:
        def on_round(number, models, trained):
            points.append(_curve_point(store, op_names, _errors(models, held)))
            p = points[-1]
            print(f"active round {number}: {sum(p['measured'].values())} measured; " + ", ".join(
                f"{op} {p['measured'][op]}: {p['scores'][op]['mape']:.1%}" for op in op_names), flush=True)
        active.run_budget(store, "host", op_names, None, limit, round_size=args.round_size,
                          candidates=[todo_by_id[i] for i in pool_ids], measure=_replay(full, store),
                          models=out / "models_active", on_round=on_round)
    curves["active"] = points

    # Id order (what --limit takes) and the full grid: the same rounds, trained by the same function.
    points = []
    path = out / "id_order.sqlite"
    path.unlink(missing_ok=True)
    with Store(path) as store:
        measure = _replay(full, store)
        for start in range(0, limit + 1, args.round_size):
            if start:
                measure([todo_by_id[i] for i in pool_ids[start - args.round_size:start]])
            active.train_models(store.rows(backend="host"), "host_torch", op_names, out / "models_id_order",
                                keep_suspect=True)
            points.append(_curve_point(store, op_names, _errors(out / "models_id_order", held)))
            print(f"id order {start}: " + ", ".join(f"{op} {points[-1]['measured'][op]}: "
                                                     f"{points[-1]['scores'][op]['mape']:.1%}" for op in op_names),
                  flush=True)
    curves["id_order"] = points
    active.train_models([full[i] for i in pool_ids], "host_torch", op_names, out / "models_full", keep_suspect=True)
    full_scores = _errors(out / "models_full", held)
    pool_counts = Counter(full[i]["op"] for i in pool_ids)

    summary = {"ops": op_names, "held_out": Counter(r["op"] for r in held), "pool": pool_counts, "floor": floor,
               "full_grid": full_scores, "curves": curves, "round_size": args.round_size}
    summary["reach"] = reach(curves, full_scores, op_names)
    (out / "sweep_active.json").write_text(json.dumps(summary, indent=1))
    plot(summary, out / "sweep_active.png")
    print("\n| op | held out | pool | floor: repeat median APE / within ±10% | full grid median APE / within ±10% | "
          "active reaches full-grid median APE at | id order reaches it at |")
    print("|---|---|---|---|---|---|---|")
    for op in op_names:
        f, g, r = floor[op], full_scores[op], summary["reach"][op]
        print(f"| {op} | {summary['held_out'][op]} | {pool_counts[op]} | {f['mape']:.1%} / {f['within']:.0%} | "
              f"{g['mape']:.1%} / {g['within']:.0%} | {r['active'] or 'not reached'} | {r['id_order'] or 'not reached'} |")
    r = summary["reach"]["all"]
    print(f"\nevery op within 1 point of its full-grid median APE (for three rounds running) after: active "
          f"{r['active'] or 'not reached'}, id order {r['id_order'] or 'not reached'} vectors of the "
          f"{sum(pool_counts.values())} in the pool")
    print(f"written: {out / 'sweep_active.png'}, {out / 'sweep_active.json'}")
    return 0


def _at_full_grid(point: dict, op: str, full_scores: dict, slack: float) -> bool:
    mape = point["scores"][op]["mape"]
    return math.isfinite(mape) and mape <= full_scores[op]["mape"] + slack


def reach(curves: dict, full_scores: dict, op_names: list[str], slack: float = 0.01) -> dict:
    """Per op and strategy: the op's vectors measured when the held-out median APE first comes within
    ``slack`` (1 point) of the full grid's and stays there for the next two rounds (None: never); and
    under ``all``, the vectors measured in total when every op does so at once."""
    out: dict = {op: {} for op in op_names}
    out["all"] = {}
    for name, points in curves.items():
        for op in op_names + ["all"]:
            ops = op_names if op == "all" else [op]
            ok = [all(_at_full_grid(p, o, full_scores, slack) for o in ops) for p in points]
            hit = next((i for i in range(len(points)) if all(ok[i:i + 3])), None)
            measured = None if hit is None else points[hit]["measured"]
            out[op][name] = None if measured is None else (sum(measured.values()) if op == "all" else measured[op])
    return out


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = summary["ops"]
    fig, axes = plt.subplots(2, len(ops), figsize=(4.2 * len(ops), 7), squeeze=False)
    styles = {"active": ("active (--budget)", "tab:red"), "id_order": ("id order (--limit)", "tab:blue")}
    for col, op in enumerate(ops):
        for row, (metric, label) in enumerate((("mape", "median abs. error"), ("within", "within ±10%"))):
            ax = axes[row][col]
            for name, points in summary["curves"].items():
                xs = [p["measured"][op] for p in points]
                ys = [p["scores"][op][metric] for p in points]
                ax.plot(xs, ys, marker=".", label=styles[name][0], color=styles[name][1])
            ax.axhline(summary["full_grid"][op][metric], color="black", linestyle="--",
                       label=f"full grid ({summary['pool'][op]} vectors)")
            ax.axhline(summary["floor"][op][metric], color="gray", linestyle=":", label="floor: the same vector twice")
            ax.set_xlabel(f"{op} vectors measured")
            ax.set_ylabel(label)
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
            if metric == "mape":
                ax.set_ylim(0, min(1.0, max(0.05, 2.5 * summary["full_grid"][op]["mape"])))
            if row == 0:
                ax.set_title(f"{op}: {summary['held_out'][op]} held-out vectors")
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Host backend: held-out accuracy against vectors measured (models retrained every round)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
