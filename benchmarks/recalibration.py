"""Recalibration to a new tt-metal build from k of its measurements, as `opcast recalibrate` does it.

1. Dashboard (the daily eltwise sweep, hundreds of builds): train on the builds before --cutoff, then
   for each of --builds later builds recalibrate with k = 0, 1, 3, 10, 30 of its measurements (drawn at
   random, --repeats draws) and score the answers on the rest of that build: within ±10%, median error,
   interval coverage. Beside it, the ceiling of any one-factor recalibration: each configuration's
   time on the reference build (the newest before the cutoff), as measured, times the best single
   factor for the later build; of one factor per op kind; of one factor and one fixed cost; and how
   low-rank the training builds' drift is (principal components of their build-to-build changes).
2. relu's sweep sources (each its own build): leave one source out, train on the rest, recalibrate
   with k configurations of it, score the rest of it.
3. k chosen by `opcast recalibrate --suggest` against k at random, same budget (dashboard builds).
4. Training builds named in the query (dashboard): every configuration a build measured, answered for
   that build with each op's own move on it against the kind's median move.

Writes recalibration.csv and recalibration.png (within ±10% and coverage against k) to --out.

    .venv/bin/python benchmarks/recalibration.py [--data /work/shared/data] [--out artifacts/recalibration]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import add_data_arguments, data_and_out  # noqa: E402

from opcast import Predictor, catalogue  # noqa: E402
from opcast.train import dataset, fit, importers, recalibrate  # noqa: E402

KS = (0, 1, 3, 10, 30)
GOAL_K, GOAL = 10, 0.95


def score(measured: np.ndarray, answers: pd.DataFrame) -> dict:
    m = fit.accuracy(measured, answers["predicted_ns"].to_numpy(float), answers["lo_ns"].to_numpy(float),
                     answers["hi_ns"].to_numpy(float))
    return {"n": m["n"], "within_10pct": m["within_10pct"], "median_ape": m["mape_median"], "coverage": m["coverage"],
            "median_hi_lo": float(np.median(answers["hi_ns"].to_numpy(float) / answers["lo_ns"].to_numpy(float)))}


def per_configuration(records: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration of one build: the median of its repeats, with its op and query."""
    g = records.groupby(["op", "query"], sort=True)
    return g.agg(kernel_ns=("kernel_ns", "median"), build=("build", "first"), source=("source", "first"),
                 build_date=("build_date", "first")).reset_index()


def recalibrated_scores(models: Path, chosen: pd.DataFrame, rest: pd.DataFrame, work: Path) -> dict:
    """Recalibrate ``models`` with ``chosen`` (none: as trained) and score the answers on ``rest``."""
    folder = models
    if len(chosen):
        folder = work / "recalibrated"
        recalibrate.recalibrate(models, chosen, folder, build=str(chosen["build"].iloc[0]))
    answers = Predictor(folder).predict_batch(rest["query"].tolist())
    out = score(rest["kernel_ns"].to_numpy(float), answers)
    if not len(chosen):
        # The best any one factor on these answers could do: the factor fitted on every row of the build.
        r = np.log(rest["kernel_ns"].to_numpy(float) / answers["predicted_ns"].to_numpy(float))
        out["model_one_factor_ceiling"] = float(np.mean(np.abs(np.expm1(r - np.median(r))) <= 0.10))
    return out


def drift_rank(before: pd.DataFrame) -> list[float]:
    """The share of the variance of the training builds' build-to-build changes (ln time per
    configuration, builds in date order) held by each of the three largest principal components: if a
    few components held most, k rows could say which other ops a new build moved."""
    cells = before.assign(y=np.log(before["kernel_ns"].to_numpy(float)),
                          _date=pd.to_datetime(before["build_date"], errors="coerce"))
    order = cells.groupby("build")["_date"].max().sort_values().index
    table = cells.pivot_table(index="build", columns=["op", "query"], values="y", aggfunc="median").loc[order]
    # The configurations of the newest build only (the 1024x1024 runs of 2025 hold one mislabelled run
    # whose jump and return would be the largest "component").
    table = table.loc[:, table.iloc[-1].notna()]
    changes = table.diff().iloc[1:].fillna(0.0).to_numpy()
    s = np.linalg.svd(changes - changes.mean(axis=0), compute_uv=False)
    return (s[:3] ** 2 / np.sum(s**2)).tolist()


def factor_and_shift_ceiling(measured: np.ndarray, reference: np.ndarray) -> float:
    """Within ±10% of the best one factor and one fixed cost (-2 to +2 us) on every configuration."""
    best = 0.0
    for shift in np.linspace(-2000, 2000, 401):
        moved = np.maximum(reference + shift, reference / 2)
        r = np.log(measured / moved)
        best = max(best, float(np.mean(np.abs(np.expm1(r - np.median(r))) <= 0.10)))
    return best


def ks_for(n: int) -> list[int]:
    return [k for k in KS if k < n]


def load(path: Path) -> pd.DataFrame:
    records = importers.load(path)
    records.attrs.clear()  # the import report: pandas compares attrs on every concat
    return records


def dashboard(records: pd.DataFrame, cutoff: str, n_builds: int, repeats: int, work: Path,
              n_named: int = 12) -> list[dict]:
    date = pd.to_datetime(records["build_date"], errors="coerce")
    before = records[date < cutoff]
    after = records[date >= cutoff].assign(_date=date[date >= cutoff])
    print(f"dashboard: training on {before['build'].nunique()} builds before {cutoff} ({len(before)} rows)",
          file=sys.stderr, flush=True)
    models = work / "dashboard_models"
    fit.train_records(before, models, config=fit.TrainConfig(test_fraction=0.0), verbose=False)
    rows = named_builds(before, models, n_named, work)
    shares = drift_rank(before)
    print("training builds' build-to-build changes: the three largest principal components hold "
          + ", ".join(f"{v:.1%}" for v in shares) + " of their variance", file=sys.stderr, flush=True)
    reference_configs = dataset.aggregate(before)  # every configuration's time on the reference build
    kinds = catalogue.op_entries()
    later = after.groupby("build")["_date"].max().sort_values()
    # The first build after the cutoff, and later ones spread over the rest of the period.
    picks = later.iloc[np.unique(np.linspace(0, len(later) - 1, n_builds).round().astype(int))]
    for build, when in picks.items():
        configs = per_configuration(after[after["build"] == build])
        ref = configs.merge(reference_configs[["op", "query", "kernel_ns"]], on=["op", "query"], suffixes=("", "_ref"))
        ratio = np.log(ref["kernel_ns"] / ref["kernel_ns_ref"])
        ceiling = float(np.mean(np.abs(np.expm1(ratio - np.median(ratio))) <= 0.10))
        # One factor per op kind (unary, binary, reduction) instead: do builds move a kind's ops together?
        kind = ref["op"].map(lambda op: kinds[op]["kind"])
        per_kind = float(np.mean(np.abs(np.expm1(ratio - ratio.groupby(kind).transform("median"))) <= 0.10))
        stay = float(np.mean(np.abs(np.expm1(ratio)) <= 0.10))
        shifted = factor_and_shift_ceiling(ref["kernel_ns"].to_numpy(float), ref["kernel_ns_ref"].to_numpy(float))
        base = {"case": "dashboard", "build": build[:10], "date": when.date().isoformat(), "configs": len(configs),
                "ceiling_one_factor": ceiling, "ceiling_factor_per_kind": per_kind,
                "ceiling_factor_and_shift": shifted, "reference_as_is": stay,
                "drift_top_component_share": shares[0]}
        print(f"  build {build[:10]} ({when.date()}, {len(configs)} configurations): one-factor ceiling {ceiling:.1%}, "
              f"a factor per kind {per_kind:.1%}, reference times as they are {stay:.1%}", file=sys.stderr, flush=True)
        for k in ks_for(len(configs)):
            for seed in range(repeats if k else 1):
                chosen = configs.sample(n=k, random_state=seed) if k else configs.iloc[:0]
                rest = configs.drop(index=chosen.index)
                rows.append({**base, "k": k, "choice": "random", "seed": seed,
                             **recalibrated_scores(models, chosen, rest, work)})
            for_suggest = configs.assign(kind=None)
            if k:
                picked = recalibrate.suggest(models, k, for_suggest[["op", "query"]])
                chosen = configs[configs["query"].isin(picked["query"]) & configs["op"].isin(picked["op"])]
                rows.append({**base, "k": k, "choice": "suggest", "seed": 0,
                             **recalibrated_scores(models, chosen, configs.drop(index=chosen.index), work)})
            print(pd.DataFrame([r for r in rows if r["build"] == build[:10] and r["k"] == k])
                  .groupby("choice")[["within_10pct", "median_ape", "coverage"]].mean().assign(k=k).to_string(),
                  file=sys.stderr, flush=True)
    return rows


def without_op_moves(models: Path, out: Path) -> Path:
    """A copy of ``models`` whose build tables keep only the kind's factor per build (no ``ops``)."""
    shutil.copytree(models, out)
    for manifest_file in out.glob(f"*/{fit.MANIFEST}"):
        manifest = json.loads(manifest_file.read_text())
        if manifest.get("builds", {}).pop("ops", None) is not None:
            fit.write_manifest(manifest_file.parent, manifest)
    return out


def named_builds(before: pd.DataFrame, models: Path, n_builds: int, work: Path) -> list[dict]:
    """Training builds named in the query: each configuration measured on the build, answered for it,
    with each op's own move on the build against the kind's median move."""
    date = pd.to_datetime(before["build_date"], errors="coerce")
    dated = before.assign(_date=date).groupby("build")["_date"].max().sort_values()
    picks = dated.iloc[np.unique(np.linspace(0, len(dated) - 2, n_builds).round().astype(int))]
    kind_only = Predictor(without_op_moves(models, work / "kind_moves_only"))
    own = Predictor(models)
    rows = []
    for build, when in picks.items():
        configs = per_configuration(before[before["build"] == build])
        queries = [{**json.loads(q), "build": build} for q in configs["query"]]
        measured = configs["kernel_ns"].to_numpy(float)
        for moves, predictor in (("each op's own", own), ("the kind's median", kind_only)):
            answers = predictor.predict_batch(queries, errors="collect")
            ok = answers["error"].isna().to_numpy()
            rows.append({"case": "named training build", "build": build[:10], "date": when.date().isoformat(),
                         "configs": int(ok.sum()), "moves": moves,
                         **score(measured[ok], answers[ok])})
    table = pd.DataFrame(rows)
    print(table.groupby("moves")[["within_10pct", "median_ape", "coverage"]].mean().to_string(), file=sys.stderr,
          flush=True)
    return rows


def relu_sources(records: pd.DataFrame, repeats: int, work: Path) -> list[dict]:
    relu = records[records["op"] == "ttnn.relu"]
    rows = []
    for held_out in sorted(relu["source"].unique()):
        train = relu[relu["source"] != held_out]
        configs = per_configuration(relu[relu["source"] == held_out])
        models = work / "relu_models"
        fit.train_records(train, models, config=fit.TrainConfig(test_fraction=0.0, keep_superseded=True),
                          verbose=False)
        base = {"case": "relu source", "build": held_out.split("/")[-1], "date": None, "configs": len(configs)}
        print(f"relu: {held_out} held out ({len(configs)} configurations)", file=sys.stderr, flush=True)
        for k in ks_for(len(configs)):
            for seed in range(repeats if k else 1):
                chosen = configs.sample(n=k, random_state=seed) if k else configs.iloc[:0]
                rows.append({**base, "k": k, "choice": "random", "seed": seed,
                             **recalibrated_scores(models, chosen, configs.drop(index=chosen.index), work)})
        print(pd.DataFrame([r for r in rows if r["build"] == base["build"]]).groupby("k")[
            ["within_10pct", "median_ape", "coverage"]].mean().to_string(), file=sys.stderr, flush=True)
    return rows


def plot(table: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    # Each dashboard build its own colour (how far after training it is decides what k can do), relu's
    # sources as one mean.
    series = table.assign(series=np.where(table["case"] == "dashboard", "dashboard " + table["date"].fillna(""),
                                          table["case"]))
    mean = series.groupby(["series", "choice", "k"])[["within_10pct", "coverage", "median_ape"]].mean().reset_index()
    colours = dict(zip(sorted(mean["series"].unique()), plt.get_cmap("tab10").colors))
    for (name, choice), g in mean.groupby(["series", "choice"]):
        style = "o-" if choice == "random" else "s--"
        label = f"{name}, {choice} k"
        for ax, column in zip(axes, ("within_10pct", "coverage", "median_ape")):
            ax.plot(g["k"], 100 * g[column], style, color=colours[name], label=label)
    dash = series[series["case"] == "dashboard"]
    if len(dash):  # --cases relu has no dashboard builds, nor their ceilings
        for name, ceiling in dash.groupby("series")["ceiling_one_factor"].first().items():
            axes[0].axhline(100 * ceiling, color=colours[name], ls=":", lw=1)
        axes[0].plot([], [], "k:", lw=1, label="one-factor ceiling (build's colour)")
    axes[0].axhline(100 * GOAL, color="red", lw=0.8, label=f"goal at k = {GOAL_K}")
    axes[1].axhline(90, color="red", lw=0.8, label="nominal 90%")
    for ax, title in zip(axes, ("within ±10% (%)", "interval coverage (%)", "median error (%)")):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(KS)
        ax.set_xticklabels([str(k) for k in KS])
        ax.set_xlabel("k measurements of the new build")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("opcast recalibrate: accuracy on a later build against the measurements it was given")
    fig.tight_layout()
    fig.savefig(out / "recalibration.png", dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(ap)
    ap.set_defaults(out="artifacts/recalibration")
    ap.add_argument("--cutoff", default="2026-04-01", help="train on dashboard builds before this date")
    ap.add_argument("--builds", type=int, default=4, help="later dashboard builds to recalibrate to")
    ap.add_argument("--repeats", type=int, default=5, help="random draws of the k measurements")
    ap.add_argument("--cases", nargs="+", default=["dashboard", "relu"], choices=["dashboard", "relu"])
    args = ap.parse_args()
    found = data_and_out(args)
    if found is None:
        return 2
    data, out = found
    rows = []
    with tempfile.TemporaryDirectory(prefix="opcast_recal_bench_") as work:
        if "dashboard" in args.cases:
            rows += dashboard(load(data / "dashboard"), args.cutoff, args.builds, args.repeats, Path(work))
        if "relu" in args.cases:
            rows += relu_sources(load(data / "sweeps" / "relu_wormhole.csv"), args.repeats, Path(work))
    table = pd.DataFrame(rows)
    table.to_csv(out / "recalibration.csv", index=False)
    summary = table.groupby(["case", "choice", "k"])[["within_10pct", "median_ape", "coverage", "median_hi_lo",
                                                      "model_one_factor_ceiling"]].mean()
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    named = table[table["case"] == "named training build"]
    if len(named):
        print("\ntraining builds named in the query (mean over builds):")
        print(named.groupby("moves")[["configs", "within_10pct", "median_ape", "coverage"]].mean()
              .to_string(float_format=lambda v: f"{v:.4f}"))
    if "ceiling_one_factor" in table:
        print("\none-factor ceiling per dashboard build:")
        print(table.groupby("build")[["date", "configs", "ceiling_one_factor", "ceiling_factor_per_kind",
                                      "ceiling_factor_and_shift", "reference_as_is", "model_one_factor_ceiling"]]
              .first()
              .to_string(float_format=lambda v: f"{v:.4f}"))
    plot(table, out)
    print(f"\nwritten {out / 'recalibration.csv'} and {out / 'recalibration.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
