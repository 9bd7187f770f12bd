"""Accuracy on unseen shapes, opcast against TORP's recipe trained on the same split.

For each benchmark case (an op and the sweep it comes from) the configurations are split by whole
shape groups (70/15/15, seed 0). opcast trains its mlpack ensemble on train (early stopping on
val) for both targets, ln(ns) and ln(ns / roofline); TORP's recipe (3x128 ReLU MLP, raw features,
raw ns) trains on the same train rows. Everything is scored on the test groups: share within ±10%,
median absolute percentage error, interval coverage, and for matmul the regret of choosing
num_cores by the predicted minimum.

    .venv/bin/python benchmarks/accuracy.py [--data ../shared/data] [--out artifacts/bench]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from opcast.train import dataset, fit, importers
from opcast.train.baselines import TorpRecipe

# (name, op, source prefix, test-row filter, target share within ±10%)
CASES = [
    ("exp rank<=3", "ttnn.exp", "exp_wormhole_n150", lambda q: len(q["inputs"][0]["shape"]) <= 3, 0.95),
    ("exp all ranks", "ttnn.exp", "exp_wormhole_n150", None, None),
    ("matmul height-sharded", "ttnn.matmul", "matmul_height_sharded_wormhole_n150", None, 0.97),
    ("add", "ttnn.add", "binary_add_wormhole", None, 0.995),
    ("relu", "ttnn.relu", "relu_wormhole", None, 0.95),
]
TORP_SETTINGS = {"ttnn.exp": {"learning_rate": 1e-3, "batch_size": 512}}


def configs_for(records: pd.DataFrame, op: str, source: str) -> pd.DataFrame:
    rows = records[(records["op"] == op) & records["source"].str.startswith(source)]
    return dataset.aggregate(rows).reset_index(drop=True)


def matmul_regret(configs: pd.DataFrame, predicted: np.ndarray) -> float:
    """Mean over test (m, k, n) groups of measured(chosen by prediction) / measured best - 1."""
    regrets = []
    for _, idx in configs[configs["split"] == "test"].groupby("group").groups.items():
        meas = configs.loc[idx, "kernel_ns"].to_numpy(float)
        chosen = int(np.argmin(predicted[idx]))
        regrets.append(meas[chosen] / meas.min() - 1)
    return float(np.mean(regrets))


def train_case(op: str, configs: pd.DataFrame, members: int) -> dict:
    """opcast with both targets and TORP's recipe on one op's configurations, split alike."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="opcast_bench_") as work:
        for target in fit.TARGETS:
            t0 = time.perf_counter()
            _, used = fit.fit_op(op, configs, Path(work) / target, fit.TrainConfig(target=target, members=members),
                                 verbose=False)
            out[f"opcast {target}"] = (used, time.perf_counter() - t0, len(configs) - len(used))
    # TORP's recipe trains on the very rows opcast trained on and is scored on the same test rows.
    t0 = time.perf_counter()
    train_rows = used["split"] == "train"
    torp = TorpRecipe(**TORP_SETTINGS.get(op, {})).fit(used.loc[train_rows, "query"], used.loc[train_rows, "kernel_ns"])
    baseline = used[["query", "kernel_ns", "group", "split"]].assign(predicted_ns=torp.predict(used["query"]))
    out["TORP recipe"] = (baseline, time.perf_counter() - t0, len(configs) - len(used))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--out", default="artifacts/bench")
    ap.add_argument("--members", type=int, default=5)
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        print(f"no measurement data at {args.data}: run `opcast data fetch` and pass --data", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = importers.load(args.data)
    rows, trained = [], {}
    for name, op, source, test_filter, goal in CASES:
        key = (op, source)
        if key not in trained:
            trained[key] = train_case(op, configs_for(records, op, source), args.members)
        for model, (used, seconds, left_out) in trained[key].items():
            test = (used["split"] == "test").to_numpy()
            if test_filter is not None:
                test = test & used["query"].map(lambda s: test_filter(json.loads(s))).to_numpy()
            meas, pred = used["kernel_ns"].to_numpy(float), used["predicted_ns"].to_numpy(float)
            interval = (used["lo_ns"].to_numpy(float)[test], used["hi_ns"].to_numpy(float)[test]) if "lo_ns" in used else ()
            m = fit.accuracy(meas[test], pred[test], *interval)
            row = {"case": name, "model": model, "test configs": m["n"], "outliers left out": left_out,
                   "within ±10%": m["within_10pct"], "median APE": m["mape_median"],
                   "coverage": m.get("coverage", np.nan), "goal": goal, "train s": round(seconds, 1)}
            if op == "ttnn.matmul":
                row["num_cores regret"] = matmul_regret(used, pred)
            rows.append(row)
        print(pd.DataFrame(rows[-3:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    table["meets goal"] = np.where(table["goal"].isna(), "", np.where(table["within ±10%"] >= table["goal"], "yes", "no"))
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    table.to_csv(out / "accuracy.csv", index=False)
    print(f"\nwritten {out / 'accuracy.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
