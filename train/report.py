"""``opcast report``: predicted against measured for every op with a model, as plots and Markdown.

Per op: a log-log scatter of predicted vs measured (held-out test groups highlighted, intervals
drawn), a histogram of percentage errors per split, and a summary table. Splits are recomputed
with the seed and test fraction the manifest recorded, so "test" means the groups the model never saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..predictor import Predictor  # noqa: E402
from . import dataset, fit, importers  # noqa: E402

SPLIT_COLORS = {"train": "#9ecae1", "test": "#d62728"}
MIN_CLASS_TEST_ROWS = 10  # fewer test configurations say little about a class's interval coverage


def evaluate(models_dir: str | Path, data) -> pd.DataFrame:
    """Every configuration in ``data`` whose op has a model: measured, predicted, interval, split."""
    predictor = Predictor(models_dir)
    records = importers.load(data)
    frames = []
    for info in predictor.models():
        manifest = json.loads((Path(info["dir"]) / "manifest.json").read_text())
        cfg = manifest["training"]["config"]
        op_records = records[records["op"] == info["op"]]
        if op_records.empty:
            continue
        configs = dataset.aggregate(op_records, factor=cfg["suspect_factor"], keep_suspect=cfg["keep_suspect"],
                                    keep_superseded=cfg.get("keep_superseded", False))
        configs = configs.reset_index(drop=True)
        # Model folders trained before cross-fitting name their held-out share in split_fractions.
        test_fraction = cfg["test_fraction"] if "test_fraction" in cfg else cfg["split_fractions"][2]
        configs["split"] = dataset.split_groups(configs, test_fraction, seed=cfg["seed"]).to_numpy()
        pred = predictor.predict_batch(configs["query"].tolist(), errors="collect")
        configs = pd.concat([configs, pred.set_index(configs.index)], axis=1)
        frames.append(configs)
    if not frames:
        raise ValueError(f"no configuration in {data} belongs to an op with a model in {models_dir}")
    out = pd.concat(frames, ignore_index=True)
    out["ape"] = (out["predicted_ns"].astype(float) - out["kernel_ns"]).abs() / out["kernel_ns"]
    return out


def _scatter(ax, df: pd.DataFrame, op: str) -> None:
    for split in dataset.SPLITS:
        d = df[df["split"] == split]
        if d.empty:
            continue
        meas, pred = d["kernel_ns"].to_numpy(float), d["predicted_ns"].to_numpy(float)
        if split == "test":
            lo, hi = d["lo_ns"].to_numpy(float), d["hi_ns"].to_numpy(float)
            ax.errorbar(meas, pred, yerr=[pred - lo, hi - pred], fmt="none", ecolor=SPLIT_COLORS[split],
                        alpha=0.25, lw=0.8)
        ax.scatter(meas, pred, s=8 if split != "test" else 14, c=SPLIT_COLORS[split], label=f"{split} ({len(d)})",
                   alpha=0.8, edgecolors="none")
    lim = [df["kernel_ns"].min() * 0.7, df["kernel_ns"].max() * 1.4]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.fill_between(lim, [v * 0.9 for v in lim], [v * 1.1 for v in lim], color="k", alpha=0.08, label="±10%")
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="measured [ns]", ylabel="predicted [ns]",
           title=f"{op}: predicted vs measured")
    ax.legend(loc="upper left", fontsize=8)


def _histogram(ax, df: pd.DataFrame, op: str) -> None:
    err = 100 * (df["predicted_ns"].astype(float) / df["kernel_ns"] - 1)
    bins = np.linspace(-50, 50, 51)
    for split in dataset.SPLITS:
        e = err[df["split"] == split].clip(-50, 50)
        if len(e):
            ax.hist(e, bins=bins, alpha=0.55, color=SPLIT_COLORS[split], label=split, density=True)
    ax.axvspan(-10, 10, color="k", alpha=0.08)
    ax.set(xlabel="prediction error [%] (clipped at ±50)", ylabel="density", title=f"{op}: error distribution")
    ax.legend(fontsize=8)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (op, split), d in df.groupby(["op", "split"], sort=True):
        meas, pred = d["kernel_ns"].to_numpy(float), d["predicted_ns"].to_numpy(float)
        m = fit.accuracy(meas, pred, d["lo_ns"].to_numpy(float), d["hi_ns"].to_numpy(float))
        inside = d["in_domain"].astype(bool).to_numpy()
        rows.append({"op": op, "split": split, "configurations": m["n"], "within ±10%": m["within_10pct"],
                     "median APE": m["mape_median"], "interval coverage": m["coverage"],
                     "in domain": float(inside.mean()),
                     "in-domain within ±10%": (fit.accuracy(meas[inside], pred[inside])["within_10pct"]
                                               if inside.any() else np.nan),
                     # answered from the program memo rather than the ensemble
                     "measured program": float(d["source"].fillna("").str.startswith("measured-program:").mean())})
    return pd.DataFrame(rows)


def interval_by_class(d: pd.DataFrame) -> pd.DataFrame:
    """Interval coverage and median width (hi / lo) on the test configurations, per class of the
    first input's rank, dtype and placement (the classes the interval is calibrated on), for classes
    with at least ``MIN_CLASS_TEST_ROWS`` of them."""
    test = d[(d["split"] == "test") & d["predicted_ns"].notna()]
    test = test.assign(rank=test["in0_shape"].str.count("x") + 1)
    rows = []
    for (op, rank, dtype, memory), c in test.groupby(["op", "rank", "in0_dtype", "in0_memory"], sort=True):
        if len(c) < MIN_CLASS_TEST_ROWS:
            continue
        meas, pred, lo, hi = (c[col].to_numpy(float) for col in ("kernel_ns", "predicted_ns", "lo_ns", "hi_ns"))
        rows.append({"op": op, "rank": rank, "dtype": dtype, "memory": memory, "test configurations": len(c),
                     "interval coverage": fit.accuracy(meas, pred, lo, hi)["coverage"],
                     "median hi/lo": float(np.median(hi / lo))})
    return pd.DataFrame(rows)


def write_report(models_dir, data, out_dir) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = evaluate(models_dir, data)
    table = summary_table(df)
    lines = ["# opcast accuracy report", "",
             f"Models: `{models_dir}`. Data: {', '.join(f'`{d}`' for d in data)}. "
             "Each op's configurations are split by whole shape groups with the seed its manifest records; "
             "**test** rows are shape groups the model never saw.", "",
             table.to_markdown(index=False, floatfmt=".3f"), ""]
    for op, d in df.groupby("op", sort=True):
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        _scatter(axes[0], d, op)
        _histogram(axes[1], d, op)
        fig.tight_layout()
        name = f"{fit.op_folder_name(op)}.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        lines += [f"## {op}", "", f"![{op}]({name})", ""]
        classes = interval_by_class(d)
        if not classes.empty:
            lines += [f"Interval on the test groups by class of the first input (classes with at least "
                      f"{MIN_CLASS_TEST_ROWS} test configurations):", "",
                      classes.drop(columns="op").to_markdown(index=False, floatfmt=".3f"), ""]
    df.drop(columns=[c for c in ("query",) if c in df.columns]).to_csv(out_dir / "predictions.csv", index=False)
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path

