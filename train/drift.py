"""``opcast drift``: per op and configuration, its time against the build date, and the builds where
it moved by more than its build-to-build noise: a regression or an improvement.

Each configuration's series is one ln time per build (the median of the build's records), in date
order. Its noise is the scatter of neighbouring builds, sigma = MAD(first differences) / sqrt(2) *
1.4826, floored at ``MIN_NOISE`` (a build's repeats themselves scatter by about 1%). Change points
come from PELT (ruptures, an L2 cost on the ln times, penalty ``PENALTY`` * sigma^2 * ln n, segments
of at least ``MIN_SEGMENT`` builds); one is flagged where the medians of the segments on either side
differ by more than ``SIGMAS`` sigmas and ``MIN_CHANGE``. Written: ``changes.csv`` (every flagged
change: op, shape, the build and date it appeared with, before and after in us, the change in %),
``series.csv`` (every point), one PNG per op with a change (``plots/<op>.png``: each configuration's
time over the build dates, the changes marked), and ``drift.png``, the ops that moved most.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import importers

MIN_SEGMENT = 3
PENALTY = 3.0
SIGMAS = 5.0
MIN_CHANGE = 0.03  # a move of less than 3% is no news from a daily sweep
MIN_NOISE = 0.01
MIN_BUILDS = 2 * MIN_SEGMENT
OVERVIEW_OPS = 12


def series(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (op, query, build) of the dated records: ``date``, ``ns`` (median), ordered by date."""
    dated = records.assign(date=pd.to_datetime(records.get("build_date"), errors="coerce"))
    dated = dated[dated["date"].notna() & dated["kernel_ns"].notna()]
    if dated.empty:
        raise ValueError("no dated measurements: drift needs records whose source gives the build date "
                         "(the daily dashboard, profiler reports with dates)")
    dated = dated.assign(build=dated["build"].fillna(dated["source"]).astype(str))
    g = dated.groupby(["op", "query", "build"], sort=False)
    out = g.agg(date=("date", "max"), ns=("kernel_ns", "median"), shape=("in0_shape", "first")).reset_index()
    return out.sort_values(["op", "query", "date", "build"]).reset_index(drop=True)


def noise(log_ns: np.ndarray) -> float:
    """Build-to-build noise of one configuration (ln units), robust to the steps themselves."""
    d = np.diff(log_ns)
    if len(d) == 0:
        return MIN_NOISE
    return max(float(np.median(np.abs(d - np.median(d)))) * 1.4826 / math.sqrt(2), MIN_NOISE)


def changes(one: pd.DataFrame) -> list[dict]:
    """The flagged change points of one configuration's series (date-ordered rows of ``series``)."""
    import ruptures

    y = np.log(one["ns"].to_numpy(dtype=float))
    if len(y) < MIN_BUILDS:
        return []
    sigma = noise(y)
    ends = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(y.reshape(-1, 1)).predict(
        pen=PENALTY * sigma**2 * math.log(len(y)))
    bounds = [0] + ends
    out = []
    for i in range(1, len(bounds) - 1):
        before, after = y[bounds[i - 1]:bounds[i]], y[bounds[i]:bounds[i + 1]]
        step = float(np.median(after) - np.median(before))
        if abs(step) > SIGMAS * sigma and abs(math.expm1(step)) > MIN_CHANGE:
            at = one.iloc[bounds[i]]
            out.append({"op": at["op"], "shape": at["shape"], "query": at["query"], "build": at["build"],
                        "date": at["date"].date().isoformat(), "before_us": math.exp(np.median(before)) / 1e3,
                        "after_us": math.exp(np.median(after)) / 1e3, "change_pct": 100 * math.expm1(step),
                        "noise_pct": 100 * sigma, "builds_before": len(before), "builds_after": len(after),
                        "kind": "regression" if step > 0 else "improvement"})
    return out


def drift(paths, out: str | os.PathLike, *, ops: list[str] | None = None, plots: bool = True) -> pd.DataFrame:
    """Writes ``out`` (see the module doc) for the records under ``paths``; returns the changes."""
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = importers.load(paths)
    records.attrs.clear()  # the import report: pandas compares attrs on every concat
    if ops:
        records = records[records["op"].isin(ops)]
    s = series(records)
    s.to_csv(out / "series.csv", index=False)
    found = []
    groups = list(s.groupby(["op", "query"], sort=True))
    for _, one in tqdm(groups, desc="change points", unit="configuration"):
        found += changes(one.reset_index(drop=True))
    columns = ["op", "shape", "query", "build", "date", "before_us", "after_us", "change_pct", "noise_pct",
               "builds_before", "builds_after", "kind"]
    table = pd.DataFrame(found, columns=columns).sort_values(["op", "date"]).reset_index(drop=True)
    table.to_csv(out / "changes.csv", index=False)
    if plots:
        _plot(s, table, out)
    return table


def _plot(s: pd.DataFrame, table: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(exist_ok=True)

    def draw(ax, op: str) -> None:
        mine = s[s["op"] == op]
        for (query, shape), one in mine.groupby(["query", "shape"], sort=True):
            ax.plot(one["date"], one["ns"] / 1e3, ".-", ms=3, lw=0.8, label=shape)
            for _, c in table[(table["op"] == op) & (table["query"] == query)].iterrows():
                ax.axvline(pd.Timestamp(c["date"]), color="red" if c["kind"] == "regression" else "green", lw=0.8,
                           ls="--")
                ax.annotate(f"{c['change_pct']:+.0f}%", (pd.Timestamp(c["date"]), c["after_us"]), fontsize=7)
        ax.set_yscale("log")
        ax.set_title(op, fontsize=9)
        ax.set_ylabel("µs")
        ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)

    for op in sorted(table["op"].unique()):
        fig, ax = plt.subplots(figsize=(8, 4))
        draw(ax, op)
        fig.tight_layout()
        fig.savefig(folder / f"{op.removeprefix('ttnn.')}.png", dpi=90)
        plt.close(fig)
    top = (table.assign(size=table["change_pct"].abs()).groupby("op")["size"].max().sort_values(ascending=False)
           .index[:OVERVIEW_OPS].tolist())
    if top:
        cols = 3
        rows = math.ceil(len(top) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(15, 3.2 * rows), squeeze=False)
        for ax, op in zip(axes.flat, top):
            draw(ax, op)
        for ax in axes.flat[len(top):]:
            ax.axis("off")
        fig.suptitle("opcast drift: the ops that moved most across tt-metal builds (red: slower, green: faster)")
        fig.tight_layout()
        fig.savefig(out / "drift.png", dpi=90)
        plt.close(fig)
