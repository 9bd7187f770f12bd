"""The tuner's choices against real Wormhole measurements, beside tt-mlir's rule; and how long tuning takes.

1. Where the real data measured one op under several placements (the same shapes, dtypes and
   attributes; only memory configs, shard core counts or the matmul program differ), each such set is a
   choice: opcast takes the alternative of least price (``Choice.price``: the prediction, leaning to the
   narrower interval, as ``opcast tune`` does), tt-mlir's rule the one of best LayoutScore
   (``opcast.tune.ttmlir.layout_score``; ties, which tt-mlir breaks arbitrarily, count as the mean over
   the tied alternatives). Regret: measured(chosen) / measured(best) - 1; top-1: the chosen one is the
   measured best. Cases: TORP's matmul core counts, tt-mlir's decode matmuls under 1D-multicast and
   DRAM-sharded configs, GEMM_FLOPS's DRAM vs L1 and sharded vs interleaved, TORP's exp with input and
   output in DRAM or L1, binary add's placements. The models of --models were trained on this data:
   the "held out" columns keep the sets whose shape group is in the test split (seed 0, 15% of each
   op's groups, as `opcast train` splits them), which no model saw.
2. `opcast tune` end to end (a fresh process: imports, tracing, pricing, the three planners, the
   check that the plan reproduces the choice) for both models at batch 1 and 32, rules legality.

    .venv/bin/python benchmarks/tune_validation.py --models artifacts/models [--data ../shared/data] [--out artifacts/bench]

Writes tune_validation.json and tune_validation.md to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from opcast import Predictor, vocabulary
from opcast.train import dataset
from opcast.tune.legality import RuleLegality
from opcast.tune.ttmlir import layout_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import add_data_arguments, records_and_out  # noqa: E402

RISK = 0.05  # opcast tune's default
CASES = [  # (name, whether a source (file stem) is of the case)
    ("TORP matmul core counts", lambda src: src.startswith("matmul_height_sharded")),
    # matmul/ttmlir_decode/<model>__{nods,ds,guard}: the same matmuls compiled with and without DRAM sharding
    ("tt-mlir decode matmuls: 1D mcast vs DRAM-sharded", lambda src: "__" in src),
    ("GEMM_FLOPS: DRAM vs L1, sharded vs not", lambda src: src.startswith("gemm_flops")),
    ("exp: input and output in DRAM or L1", lambda src: src.startswith("exp_wormhole")),
    ("binary add placements", lambda src: src.startswith("binary_add")),
]
PLACEMENT_KEYS = ("memory", "grid", "core_count")


def choice_key(query: str) -> str:
    """The query without what a plan chooses (placements, shard cores, the matmul program config)."""
    q = json.loads(query)
    q["inputs"] = [{k: v for k, v in t.items() if k not in PLACEMENT_KEYS} for t in q["inputs"]]
    q["output"] = {k: v for k, v in (q.get("output") or {}).items() if k not in PLACEMENT_KEYS}
    q["attributes"] = {k: v for k, v in (q.get("attributes") or {}).items() if k != "program_config"}
    return vocabulary.canonical_json(q)


def choice_sets(configs: pd.DataFrame, of_case) -> pd.DataFrame:
    """The configurations of a case that have at least one alternative, with their set key."""
    mine = configs[configs["sources"].map(lambda s: any(of_case(src) for src in s.split(";")))].copy()
    mine["set"] = mine["query"].map(choice_key)
    sizes = mine.groupby("set")["query"].transform("nunique")
    return mine[sizes >= 2]


def tt_mlir_scores(queries: list[str]) -> list[tuple]:
    rules = RuleLegality()
    scores = []
    for query in queries:
        full = vocabulary.normalized(query)
        inputs = [vocabulary.Tensor.from_dict(t) for t in full["inputs"]]
        l1 = rules.legal(json.loads(query)).l1_per_core
        scores.append(layout_score(inputs, vocabulary.Tensor.from_dict(full["output"]), l1 or 0))
    return scores


def judge(sets: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    """One row per choice set: the regret and top-1 of opcast's and tt-mlir's choices."""
    answers = predictor.predict_batch(sets["query"].tolist(), errors="collect")
    ns, lo, hi = (answers[c].astype(float).to_numpy() for c in ("predicted_ns", "lo_ns", "hi_ns"))
    sets = sets.assign(price=ns * (hi / np.maximum(lo, 1e-9)) ** RISK, score=tt_mlir_scores(sets["query"].tolist()))
    rows = []
    for key, s in sets.groupby("set", sort=True):
        measured = s["kernel_ns"].to_numpy(float)
        best = measured.min()
        if np.isnan(s["price"]).any():
            continue  # some alternative got no prediction
        ours = measured[int(np.argmin(s["price"].to_numpy()))]
        top = max(s["score"])
        tied = measured[[sc == top for sc in s["score"]]]
        rows.append({"set": key, "group": s["group"].iloc[0], "op": s["op"].iloc[0], "split": s["split"].iloc[0],
                     "alternatives": len(s), "opcast_regret": ours / best - 1, "opcast_top1": float(ours == best),
                     "ttmlir_regret": float(np.mean(tied / best - 1)), "ttmlir_top1": float(np.mean(tied == best)),
                     "ttmlir_ties": len(tied)})
    return pd.DataFrame(rows, columns=["set", "group", "op", "split", "alternatives", "opcast_regret", "opcast_top1",
                                       "ttmlir_regret", "ttmlir_top1", "ttmlir_ties"])


def summarise(name: str, judged: pd.DataFrame) -> dict:
    out = {"case": name}
    for label, part in (("all", judged), ("held out", judged[judged["split"] == "test"])):
        out[f"{label}: sets"] = len(part)
        for who in ("opcast", "ttmlir"):
            out[f"{label}: {who} mean regret"] = float(part[f"{who}_regret"].mean()) if len(part) else None
            out[f"{label}: {who} top-1"] = float(part[f"{who}_top1"].mean()) if len(part) else None
    return out


def tune_times(models: str) -> list[dict]:
    """`opcast tune` wall time in a fresh process per model and batch (rules legality)."""
    opcast_cli = Path(sys.executable).with_name("opcast")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("patchtsmixer", "ttm"):
            for batch in (1, 32):
                out = Path(tmp) / f"{model}_{batch}.json"
                start = time.perf_counter()
                subprocess.run([str(opcast_cli), "tune", model, "--batch", str(batch), "--models", models,
                                "--out", str(out), "--quiet"], check=True, capture_output=True, text=True)
                wall = time.perf_counter() - start
                tuning = json.loads(out.read_text())["tuning"]
                rows.append({"model": model, "batch": batch, "wall s": round(wall, 2),
                             "in-process s": tuning["seconds"], "exact": tuning["planners"]["opcast"]["search"]["exact"],
                             **{f"{p} us": round(r["ns"] / 1e3, 1) for p, r in tuning["planners"].items()}})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(ap)
    ap.add_argument("--models", required=True, help="models trained on --data (opcast train)")
    args = ap.parse_args()
    found = records_and_out(args)
    if found is None:
        return 0
    records, out = found
    configs = dataset.aggregate(records)
    configs["split"] = dataset.split_groups(configs, 0.15, seed=0)
    predictor = Predictor(args.models)
    summaries, judged_all = [], []
    for name, of_case in CASES:
        judged = judge(choice_sets(configs, of_case), predictor)
        judged_all.append(judged.assign(case=name))
        summaries.append(summarise(name, judged))
    table = pd.DataFrame(summaries)
    times = pd.DataFrame(tune_times(args.models))
    pd.concat(judged_all).to_csv(out / "tune_validation_sets.csv", index=False)
    (out / "tune_validation.json").write_text(json.dumps({"cases": summaries, "tune_times": times.to_dict("records")},
                                                         indent=1) + "\n")
    text = ("# Tuner validation on real Wormhole data\n\n" + table.to_markdown(index=False, floatfmt=".3f")
            + "\n\n# opcast tune time\n\n" + times.to_markdown(index=False) + "\n")
    (out / "tune_validation.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
