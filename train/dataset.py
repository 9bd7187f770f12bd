"""Dataset stage: records (one row per measurement, see ``opcast.train.importers``) -> configurations.

* ``aggregate(records)``: one row per (op, query): median ``kernel_ns`` of the repeats, ``n_repeats``,
  ``spread`` (max/min of the repeats), ``suspect`` (spread above ``factor``); suspect configurations
  are dropped unless ``keep_suspect=True``; so are the records of superseded sources
  (``SUPERSEDED_SOURCES``) unless ``keep_superseded=True``.
* ``suspect_report(records)``: rows, configurations and suspect counts per op and source.
* ``split_groups(df)``: "train"/"val"/"test" per row by whole shape groups, deterministic.
* ``dataset_hash(df)``: sha256 over the canonical rows, for manifests.
"""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

import numpy as np
import pandas as pd

KEY = ["op", "query"]
DEFAULT_FACTOR = 2.0
SPLITS = ("train", "val", "test")

# Sources whose sweep was measured again, later, on a newer tt-metal build: the later run is kept.
# The relu sweeps of October / November 2024 (ssinghalTT/tt-metal 0d530432 "all machine stats",
# e9116fdb "new data", f7374d9c sharded) take about 0.5 us longer per op than the December re-run of
# the same sweeps (e30693a5): 1,708 against 2,237 ns for one bfloat16 tile in L1, equal from ~5,000
# tiles on. Mixed, one configuration has two answers up to 30% apart and its median is neither.
SUPERSEDED_SOURCES = {
    "relu_wormhole/perfmodel_relu_allmachines_numtiles": "relu_wormhole/perfmodel_relu_interleaved_numtiles",
    "relu_wormhole/perfmodel_relu_newdata_numtiles": "relu_wormhole/perfmodel_relu_interleaved_numtiles",
    "relu_wormhole/perfmodel_relu_sharded_numtiles_v2": "relu_wormhole/perfmodel_relu_sharded_numtiles",
}

# Columns that vary between the repeats of one configuration and are not carried into the aggregate.
_PER_MEASUREMENT = {"kernel_ns", "file", "row", "config_key", "source"}


def _check_records(records: pd.DataFrame) -> None:
    missing = [c for c in KEY + ["kernel_ns"] if c not in records.columns]
    if missing:
        raise ValueError(f"records lack columns {missing}")


def superseded(records: pd.DataFrame) -> pd.Series:
    """True for the records of a source listed in ``SUPERSEDED_SOURCES``."""
    if "source" not in records.columns:
        return pd.Series(False, index=records.index)
    return records["source"].isin(list(SUPERSEDED_SOURCES))


def aggregate(records: pd.DataFrame, *, factor: float = DEFAULT_FACTOR, keep_suspect: bool = False,
              keep_superseded: bool = False) -> pd.DataFrame:
    """One row per (op, query).

    Columns: ``op, query, kernel_ns`` (median of the repeats), ``n_repeats``, ``kernel_ns_min``,
    ``kernel_ns_max``, ``spread`` (max/min; 1.0 for a single measurement), ``suspect``
    (``spread > factor``: repeats of one configuration that disagree by more than ``factor`` are
    inconsistent), ``sources`` (the sorted distinct sources, ``;``-joined), then the first value of every
    other per-configuration column of the records (``group``, ``in0_shape``, ...). Rows are sorted by
    (op, query). Suspect configurations are dropped unless ``keep_suspect``; records of superseded
    sources are left out before aggregating unless ``keep_superseded``.
    """
    _check_records(records)
    if factor < 1.0:
        raise ValueError(f"factor must be >= 1, got {factor}")
    df = records[records["kernel_ns"].notna()]
    if not keep_superseded:
        df = df[~superseded(df)]
    if df.empty:
        cols = KEY + ["kernel_ns", "n_repeats", "kernel_ns_min", "kernel_ns_max", "spread", "suspect", "sources"]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    g = df.groupby(KEY, sort=True, dropna=False)
    out = g["kernel_ns"].agg(kernel_ns="median", n_repeats="size", kernel_ns_min="min", kernel_ns_max="max")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["spread"] = out["kernel_ns_max"] / out["kernel_ns_min"]
    out["spread"] = out["spread"].replace([np.inf], np.nan)
    out["suspect"] = ~(out["spread"] <= factor)  # NaN spread (non-positive min) counts as suspect
    if "source" in df.columns:
        out["sources"] = g["source"].agg(lambda s: ";".join(sorted({str(v) for v in s.dropna()})))
    extra = [c for c in df.columns if c not in KEY and c not in _PER_MEASUREMENT]
    if extra:
        out = out.join(g[extra].first())
    out = out.reset_index()
    out["n_repeats"] = out["n_repeats"].astype(int)
    if not keep_suspect:
        out = out[~out["suspect"]].reset_index(drop=True)
    return out


def suspect_report(records: pd.DataFrame, *, factor: float = DEFAULT_FACTOR, by: str = "source") -> pd.DataFrame:
    """Per (op, ``by``): ``rows``, ``configurations``, ``suspect_configurations``, ``suspect_rows``.

    Suspicion is decided on the whole data set (a configuration measured by two sources is judged on
    all its repeats); each source is then charged with its own rows of suspect configurations.
    ``by`` is any records column (``source``, or e.g. ``format``). A total row per op is not added.
    """
    _check_records(records)
    if by not in records.columns:
        raise ValueError(f"records lack the column {by!r}")
    agg = aggregate(records, factor=factor, keep_suspect=True, keep_superseded=True)[KEY + ["suspect"]]
    df = records[records["kernel_ns"].notna()].merge(agg, on=KEY, how="left")
    g = df.groupby(["op", by], sort=True, dropna=False)
    rep = pd.DataFrame({"rows": g.size(), "configurations": g["query"].nunique()})
    sus = df[df["suspect"]].groupby(["op", by], sort=True, dropna=False)
    rep["suspect_configurations"] = sus["query"].nunique().reindex(rep.index, fill_value=0).astype(int)
    rep["suspect_rows"] = sus.size().reindex(rep.index, fill_value=0).astype(int)
    return rep.reset_index()


def _rank_key(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}\x00{group}".encode()).hexdigest()


def _split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """(train, val, test) group counts for n groups: at least one of each from 3 groups on."""
    f_train, f_val, f_test = fractions
    if n <= 0:
        return 0, 0, 0
    if n == 1:
        return 1, 0, 0
    if n == 2:
        return 1, 0, 1
    n_test = max(1, int(round(n * f_test)))
    n_val = max(1, int(round(n * f_val)))
    while n - n_test - n_val < 1:  # keep at least one training group
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        elif n_test > 1:
            n_test -= 1
        else:
            break
    return n - n_val - n_test, n_val, n_test


def split_groups(df: pd.DataFrame, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0) -> pd.Series:
    """A Series (index of ``df``) of "train"/"val"/"test", assigned by whole ``group``.

    Per op, the op's groups are ranked by ``sha256(seed, group)`` (so the assignment depends only on
    the seed and the group names: not on row order, and mostly stable when data is added); the first
    ``round(n*test)`` go to test, the next ``round(n*val)`` to val, the rest to train. Every op with
    >= 3 groups gets at least one group in each split; 2 groups -> train + test; 1 -> train.
    A group name that appears under two ops is split per (op, group).
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    for c in ("op", "group"):
        if c not in df.columns:
            raise ValueError(f"df lacks the column {c!r}")
    assignment: dict[tuple[str, str], str] = {}
    pairs = df[["op", "group"]].astype(str).drop_duplicates()
    for op, groups in pairs.groupby("op", sort=True)["group"]:
        ranked = sorted(groups.unique(), key=lambda g: (_rank_key(seed, g), g))
        n_train, n_val, n_test = _split_counts(len(ranked), fractions)
        for i, grp in enumerate(ranked):
            assignment[(op, grp)] = "test" if i < n_test else ("val" if i < n_test + n_val else "train")
    keys = list(zip(df["op"].astype(str), df["group"].astype(str)))
    return pd.Series([assignment[k] for k in keys], index=df.index, name="split", dtype=object)


def dataset_hash(df: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """sha256 (hex) over the canonical rows: the ``columns`` (default ``op, query, kernel_ns`` plus
    ``n_repeats`` and ``split`` when present) rendered one row per line, tab-separated, floats by
    ``repr``, rows sorted. Row order and extra columns do not change the hash."""
    if columns is None:
        columns = [c for c in ("op", "query", "kernel_ns", "n_repeats", "split") if c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}")

    def render(v: object) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        if isinstance(v, (np.integer,)):
            return str(int(v))
        return str(v)

    lines = sorted("\t".join(render(v) for v in row) for row in df[list(columns)].itertuples(index=False, name=None))
    h = hashlib.sha256()
    h.update(("\t".join(columns) + "\n").encode())
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()
