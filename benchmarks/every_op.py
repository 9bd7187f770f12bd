"""Every op gets an honest answer: how far the three tiers (op model, kind model, calibrated roofline)
land on measurements they never saw.

1. Leave one profile out: for each tt-metal profiler report in --data/profiler, train on everything
   else and predict the report as `opcast predict --input` does: rows answered (of the device-op rows
   whose op code the catalogue maps), device time answered, within ±10% per op code and overall, the
   error of the report's total device time; beside it tt-metal's own PM IDEAL on the same rows.
2. Leave one op out within each kind: the kind model's out-of-fold answers (whole ops held out) and
   the calibrated roofline fitted without the op, per op (from the models trained on everything).
3. Leave one LLM out for tt-mlir's decode matmuls: train the matmul and linear models on every other
   LLM's decode steps (and the other matmul data), predict this LLM's.
4. Both models' traces at batch 1 and 32: ops answered, the mix of tiers, the predicted device time.

    .venv/bin/python benchmarks/every_op.py [--data ../shared/data] [--out artifacts/bench] [--quick]

Writes every_op.json and every_op.md to --out.
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

from opcast import Predictor
from opcast.plans import default_plan
from opcast.predict_file import predict_file
from opcast.train import fit, importers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import add_data_arguments, data_and_out  # noqa: E402

PM_IDEAL = "PM IDEAL [ns]"
QUICK = fit.TrainConfig(members=3, max_epochs=600, patience=60)


def train(data_files: list[Path], out: Path, cfg: fit.TrainConfig, ops: list[str] | None = None) -> Path:
    fit.train(data_files, out, config=cfg, ops=ops, verbose=False)
    return out


def all_files(data: Path) -> list[Path]:
    return [f for f, _ in importers.find_measurement_files(data)]


def tier(source: str | float) -> str:
    return source.split(":", 1)[0] if isinstance(source, str) else "none"


# ----------------------------------------------------------------------------------------------
def leave_one_profile_out(data: Path, cfg: fit.TrainConfig, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per report: its rows predicted by models trained without it; and the per-op-code table."""
    files = all_files(data)
    reports, per_code = [], []
    for report in sorted((data / "profiler").glob("*.csv")):
        started = time.perf_counter()
        models = train([f for f in files if f != report], work / f"lopo_{report.stem}" / "models", cfg)
        out = work / f"lopo_{report.stem}" / "predicted.csv"
        counts = predict_file(Predictor(models), report, out)
        rows = pd.read_csv(out, low_memory=False)
        measured = pd.to_numeric(rows["DEVICE KERNEL DURATION [ns]"], errors="coerce")
        device = measured.notna() & ~rows["OP CODE"].astype(str).str.startswith("(")
        catalogued = device & ~rows["error"].fillna("").str.contains("unknown_op_code|unknown_op_type|host_op")
        answered = catalogued & rows["error"].isna()
        predicted = pd.to_numeric(rows["predicted_ns"], errors="coerce")
        within = answered & ((predicted - measured).abs() <= 0.10 * measured)
        scale_bound, recalibrated = scale_errors(rows["OP CODE"][answered], measured[answered], predicted[answered])
        pm = pd.to_numeric(rows.get(PM_IDEAL, pd.Series(np.nan, index=rows.index)), errors="coerce")
        pm_rows = answered & (pm > 1)  # 1 means "no ideal model for this op"
        reports.append({
            "report": report.stem, "device_rows": int(device.sum()), "catalogued_rows": int(catalogued.sum()),
            "answered_of_catalogued": answered.sum() / max(1, catalogued.sum()),
            "device_time_answered": measured[answered].sum() / measured[device].sum(),
            "within_10pct": within.sum() / max(1, answered.sum()),
            "total_device_time_error": predicted[answered].sum() / measured[answered].sum() - 1,
            "within_10pct_best_factor_per_op_code": scale_bound,
            "within_10pct_factor_from_3_rows_per_op_code": recalibrated,
            "pm_ideal_rows": int(pm_rows.sum()),
            "pm_ideal_within_10pct": float(((pm - measured).abs() <= 0.10 * measured)[pm_rows].mean()) if pm_rows.any() else None,
            "opcast_within_10pct_on_pm_rows": float(within[pm_rows].mean()) if pm_rows.any() else None,
            "tiers": rows.loc[answered, "source"].map(tier).value_counts().to_dict(),
            "seconds": round(time.perf_counter() - started, 1)})
        if counts["summary"] is not None:
            per_code.append(counts["summary"].assign(report=report.stem))
        print(f"[lopo] {report.stem}: {reports[-1]['answered_of_catalogued']:.1%} of catalogued rows answered, "
              f"{reports[-1]['within_10pct']:.1%} within ±10%", file=sys.stderr, flush=True)
    return pd.DataFrame(reports), pd.concat(per_code, ignore_index=True)


def scale_errors(codes: pd.Series, measured: pd.Series, predicted: pd.Series, k: int = 3, seed: int = 0
                 ) -> tuple[float, float]:
    """How much of a report's error is one factor per op code, which a few measurements of the new
    report could fix, and how much is shape: the share within ±10% after scaling each op code's answers
    by its best factor (the median of measured/predicted over the report itself: a bound no scale beats),
    and after scaling by the median of ``k`` of its rows drawn at random, scored on the others (op codes
    with k rows or fewer are scored unscaled)."""
    ratio = measured / predicted
    best = ratio.groupby(codes).transform("median")
    bound = float(((predicted * best - measured).abs() <= 0.10 * measured).mean())
    rng = np.random.default_rng(seed)
    hits, scored = 0, 0
    for _, index in codes.groupby(codes).groups.items():
        index = rng.permutation(np.asarray(index))
        calibration, rest = (index[:k], index[k:]) if len(index) > k else (index[:0], index)
        factor = float(ratio[calibration].median()) if len(calibration) else 1.0
        hits += int(((predicted[rest] * factor - measured[rest]).abs() <= 0.10 * measured[rest]).sum())
        scored += len(rest)
    return bound, hits / max(1, scored)


def leave_one_op_out(models: Path) -> pd.DataFrame:
    """Per measured op of a kind: the kind model's answer with the op held out (median APE, within
    ±10%) beside the calibrated roofline fitted without the op."""
    roofline = json.loads((models / "roofline" / "manifest.json").read_text())
    rows = []
    for folder in sorted(models.glob("kind-*")):
        m = json.loads((folder / "manifest.json").read_text())
        for op, mape in m["metrics"]["unseen_op_per_op"].items():
            rows.append({"kind": m["kind"], "op": op, "configurations": m["ops"][op]["rows"],
                         "kind_model_mape_median": mape})
    table = pd.DataFrame(rows)
    loo = {k: f["leave_one_op_out"]["mape_median"] for k, f in roofline["kinds"].items()}
    table["roofline_kind_mape_median_all_ops"] = table["kind"].map(loo)
    return table


def leave_one_llm_out(data: Path, cfg: fit.TrainConfig, work: Path) -> pd.DataFrame:
    decode = sorted((data / "matmul" / "ttmlir_decode").glob("*.csv"))
    llms = sorted({f.name.split("__")[0] for f in decode})
    others = [f for f in all_files(data) if f not in decode]
    rows = []
    for llm in llms:
        mine = [f for f in decode if f.name.startswith(llm + "__")]
        models = train(others + [f for f in decode if f not in mine], work / f"llm_{llm}",
                       cfg, ops=["ttnn.matmul", "ttnn.linear"])
        records = importers.load(mine, progress=False)
        answers = Predictor(models).predict_batch(records["query"].tolist(), errors="collect")
        ok = answers["error"].isna().to_numpy()
        ape = np.abs(answers["predicted_ns"].to_numpy(dtype=float, na_value=np.nan) / records["kernel_ns"].to_numpy() - 1)
        rows.append({"llm": llm, "matmuls": len(records), "answered": ok.mean(), "within_10pct": float(np.mean(ape[ok] <= 0.10)),
                     "mape_median": float(np.median(ape[ok])), "tiers": answers.loc[ok, "source"].map(tier).value_counts().to_dict()})
        print(f"[llm] {llm}: {rows[-1]['within_10pct']:.1%} within ±10%", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def traces(models: Path) -> pd.DataFrame:
    from opcast.models.cli import spec_for
    from opcast.models.validate import MODEL_CLASSES

    predictor = Predictor(models)
    rows = []
    for model in ("ttm", "patchtsmixer"):
        _, spec = spec_for(model, None, None)  # the default mode, as `opcast trace` runs it
        for batch in (1, 32):
            trace = MODEL_CLASSES[model](spec).trace(batch, channels=7, plan=default_plan(model)).predict(predictor)
            t = trace.predicted_total()
            rows.append({"model": model, "batch": batch, "ops": t["ops"], "priced": t["priced"],
                         "in_domain": t["in_domain"], "predicted_us": t["ns"] / 1e3, "by_source": t["by_source"]})
    return pd.DataFrame(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(ap)
    ap.add_argument("--quick", action="store_true", help="3 members, 600 epochs: for a smoke run")
    ap.add_argument("--parts", nargs="+", default=["profiles", "ops", "llms", "traces"],
                    choices=["profiles", "ops", "llms", "traces"])
    args = ap.parse_args()
    found = data_and_out(args)
    if found is None:
        return 2
    data, out = found
    cfg = QUICK if args.quick else fit.TrainConfig()
    results: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="opcast_every_op_") as tmp:
        work = Path(tmp)
        if "profiles" in args.parts:
            results["leave_one_profile_out"], results["per_op_code"] = leave_one_profile_out(data, cfg, work)
        if {"ops", "traces"} & set(args.parts):
            models = train(all_files(data), work / "all", cfg)
            if "ops" in args.parts:
                results["leave_one_op_out"] = leave_one_op_out(models)
            if "traces" in args.parts:
                results["traces"] = traces(models)
        if "llms" in args.parts:
            results["leave_one_llm_out"] = leave_one_llm_out(data, cfg, work)
    text = []
    for name, frame in results.items():
        text += [f"## {name}", "", frame.to_markdown(index=False, floatfmt=".3g"), ""]
    (out / "every_op.md").write_text("\n".join(text))
    (out / "every_op.json").write_text(json.dumps({k: v.to_dict(orient="records") for k, v in results.items()},
                                                   indent=1, default=str))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
