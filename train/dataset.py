"""Dataset stage: records (one row per measurement, see ``opcast.train.importers``) -> configurations.

* ``aggregate(records)``: one row per (op, query): median ``kernel_ns`` of the repeats, each moved to
  its op's reference build by its build's factor (``opcast.train.builds``), ``n_repeats``,
  ``spread`` (max/min of the repeats), ``suspect`` (spread above ``factor``); suspect configurations
  are dropped unless ``keep_suspect=True``; so are the records of superseded sources
  (``SUPERSEDED_SOURCES``) unless ``keep_superseded=True``.
* ``suspect_report(records)``: rows, configurations and suspect counts per op and source.
* ``split_groups(df)``: "train"/"test" per row by whole shape groups, deterministic.
* ``fold_groups(df, folds)``: the cross-fitting fold of each row, by whole shape groups.
* ``dataset_hash(df)``: sha256 over the canonical rows, for manifests.
"""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

import numpy as np
import pandas as pd

from . import builds

KEY = ["op", "query"]
DEFAULT_FACTOR = 2.0
SPLITS = ("train", "test")

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
_PER_MEASUREMENT = {"kernel_ns", "file", "row", "config_key", "source", "build", "build_date", "op_to_op_ns",
                    "on_reference"}


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
              keep_superseded: bool = False, build_factors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (op, query).

    Columns: ``op, query, kernel_ns`` (median of the repeats), ``n_repeats``, ``kernel_ns_min``,
    ``kernel_ns_max``, ``spread`` (max/min; 1.0 for a single measurement), ``suspect``
    (``spread > factor``: repeats of one configuration that disagree by more than ``factor`` are
    inconsistent), ``sources`` (the sorted distinct sources, ``;``-joined), then the first value of every
    other per-configuration column of the records (``group``, ``in0_shape``, ...). Rows are sorted by
    (op, query). Suspect configurations are dropped unless ``keep_suspect``; records of superseded
    sources are left out before aggregating unless ``keep_superseded``.

    A configuration measured on several builds (the daily dashboard: hundreds of tt-metal builds,
    over which ttnn.sinh on one tile went from 16.7 to 3.3 us) has one time per build: each record
    is first moved to its op's reference build (its newest) by its build's factor,
    ``build_factors`` (``builds.fit_factors`` of the records kept, where not given), so that every
    build's measurements count and the median answers for one build. A configuration measured only
    on builds no shared configuration ties to the reference is moved to the level of the newest of
    those, and says so: ``on_reference`` false.
    """
    _check_records(records)
    if factor < 1.0:
        raise ValueError(f"factor must be >= 1, got {factor}")
    df = records[records["kernel_ns"].notna()]
    if not keep_superseded:
        df = df[~superseded(df)]
    if "build" in df.columns and len(df):
        df = builds.normalised(df, builds.fit_factors(df) if build_factors is None else build_factors)
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
    if "on_reference" in df.columns:
        out["on_reference"] = g["on_reference"].any()
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


def _rank_key(seed: int, purpose: str, group: str) -> str:
    # The test split keeps the key it always had, so a seed holds out the same groups as before.
    text = f"{seed}\x00{group}" if purpose == "test" else f"{seed}\x00{purpose}\x00{group}"
    return hashlib.sha256(text.encode()).hexdigest()


def split_groups(df: pd.DataFrame, test_fraction: float = 0.15, seed: int = 0) -> pd.Series:
    """A Series (index of ``df``) of "train"/"test", assigned by whole ``group``.

    Per op, the op's groups are ranked by ``sha256(seed, group)`` (so the assignment depends only on
    the seed and the group names: not on row order, and mostly stable when data is added); the first
    ``round(n * test_fraction)`` go to test, at least one from 2 groups on where ``test_fraction`` > 0
    and never the last one. A group name that appears under two ops is split per (op, group).
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    assignment: dict[tuple[str, str], str] = {}
    for key, rank, n in _ranked_groups(df, seed, "test"):
        n_test = min(n - 1, max(1, round(n * test_fraction))) if test_fraction > 0 else 0
        assignment[key] = "test" if rank < n_test else "train"
    return _per_row(df, assignment, "split", object)


def fold_groups(df: pd.DataFrame, folds: int, seed: int = 0) -> pd.Series:
    """A Series (index of ``df``) of the cross-fitting fold 0..k-1 of each row, k = min(folds, the
    op's groups): per op, groups ranked by ``sha256(seed, "fold", group)`` are dealt round the folds,
    so folds hold whole groups, as equal in number as they can be."""
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    assignment = {key: rank % min(folds, n) for key, rank, n in _ranked_groups(df, seed, "fold")}
    return _per_row(df, assignment, "fold", int)


def _ranked_groups(df: pd.DataFrame, seed: int, purpose: str):
    """((op, group), rank of the group among the op's groups, the op's group count) per group."""
    for c in ("op", "group"):
        if c not in df.columns:
            raise ValueError(f"df lacks the column {c!r}")
    pairs = df[["op", "group"]].astype(str).drop_duplicates()
    for op, groups in pairs.groupby("op", sort=True)["group"]:
        ranked = sorted(groups.unique(), key=lambda g: (_rank_key(seed, purpose, g), g))
        for rank, grp in enumerate(ranked):
            yield (op, grp), rank, len(ranked)


def _per_row(df: pd.DataFrame, assignment: dict, name: str, dtype) -> pd.Series:
    keys = zip(df["op"].astype(str), df["group"].astype(str))
    return pd.Series([assignment[k] for k in keys], index=df.index, name=name, dtype=dtype)


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
