"""Builds: tt-metal moves from build to build, and every measurement says which build made it.

A record's ``build`` is the tt-metal commit where its source recorded one, else the source itself;
``build_date`` the day it was measured, where the source says. One shared model learns the op; each
build gets a factor on its answers:

    ln t(configuration, build) = a(configuration) + f(op, build),    f(op, reference) = 0

fitted per op by alternating least squares over the (configuration, build) medians. Only builds that
share configurations with the reference (directly or through other builds) have a factor the data
fixes (``identified``); the rest keep 0 in the table, and their measurements are moved to the level of
the newest builds they do share configurations with (``component_factor``): the dashboard's 1024x1024 runs of
July-August 2025 share none with its 32x32 runs, yet among themselves moved up to 300x (atan2, fmod),
and their median over 94 builds answered for none of them. Builds the source did not record (named
by the source alone, undated) keep their measurements as they are. The reference is the op's newest
dated build, else (no dates) the build with the most configurations.

* ``fit_factors(records)``: one row per (op, build) (``FACTOR_COLUMNS``).
* ``normalised(records, factors)``: every record's time on its op's reference build.
* ``table(factors, coverage)``: a model folder's ``builds`` section (the C++ predictor reads
  ``default`` and each build's ``log_factor`` and ``half_width``), for one op or for a kind's ops.
* ``recalibrated(...)``: the factor of a new build from a few of its measurements (``opcast recalibrate``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

FACTOR_COLUMNS = ["op", "build", "date", "rows", "configurations", "log_factor", "se", "reference", "identified",
                  "component_factor"]
ITERATIONS = 100
# The largest move a build table records (cpp/src/build_table.cpp, kMaxLogFactor): ttnn.prod on one
# tile took 300x (e^5.7) longer on a 2025 build than on its newest; past e^8 is no build moving an op.
MAX_LOG_FACTOR = 8.0
# A component of builds the reference shares no configuration with is moved to the level of this many
# of its newest builds.
COMPONENT_LEVEL_BUILDS = 5
# The spread of one build's factor over the ops of a kind, where a kind has fewer than two ops to tell:
# dashboard builds move single ops by 5-15% (relu 1.80 -> 1.90 us, gelu 3.96 -> 4.62 us).
DEFAULT_BETWEEN_OPS_SD = 0.1
# What one measurement of a new build says of its factor where nothing better is known: the
# scatter of a configuration's measurements around the model (ln units).
DEFAULT_ROW_SD = 0.1
# How far a build may move an op where no table of builds tells (ttnn.sinh went 5x in one build).
DEFAULT_PRIOR_SD = 0.3
# A measurement's own scatter: repeats of one configuration on one build agree to about 1%.
MIN_ROW_SD = 0.01


def _dated(records: pd.DataFrame) -> pd.Series:
    if "build_date" not in records.columns:
        return pd.Series(pd.NaT, index=records.index)
    return pd.to_datetime(records["build_date"], errors="coerce")


def _cells(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (op, query, build): the median ln time of its repeats."""
    df = records.loc[records["kernel_ns"].notna() & (records["kernel_ns"] > 0), ["op", "query", "build", "kernel_ns"]]
    df = df.assign(build=df["build"].astype(str), y=np.log(df["kernel_ns"].to_numpy(dtype=float)))
    return df.groupby(["op", "query", "build"], sort=False)["y"].median().reset_index()


def _components(cells: pd.DataFrame) -> np.ndarray:
    """Each cell's connected component: the (op, build)s joined by a configuration both measured."""
    parent = np.arange(int(cells["b"].max()) + 1)

    def root(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for builds_of_config in cells.groupby("c", sort=False)["b"].unique():
        first = root(int(builds_of_config[0]))
        for b in builds_of_config[1:]:
            parent[root(int(b))] = first
    roots = np.array([root(b) for b in range(len(parent))])
    return roots[cells["b"].to_numpy()]


def fit_factors(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (op, build): its newest ``date`` (None undated), ``rows``, ``configurations``,
    ``log_factor`` (ln of its times against the op's reference build), its standard error ``se``,
    ``reference`` (the op's reference build), ``identified`` (its factor is fixed by
    configurations shared with the reference) and ``component_factor`` (ln of its times against the
    newest builds it shares configurations with, directly or through others: ``log_factor`` where
    identified; NaN for a build the source did not record)."""
    if records.empty:
        return pd.DataFrame(columns=FACTOR_COLUMNS)
    records = records.assign(build=records["build"].fillna(records["source"]).astype(str), _date=_dated(records))
    info = records.groupby(["op", "build"], sort=True).agg(date=("_date", "max"), rows=("kernel_ns", "size"),
                                                          configurations=("query", "nunique")).reset_index()
    # The reference: the op's newest dated build, else the one with the most configurations.
    ranked = info.assign(_dated=info["date"].notna(),
                         _t=info["date"].map(lambda d: d.toordinal() if pd.notna(d) else 0))
    ranked = ranked.sort_values(["op", "_dated", "_t", "configurations", "build"])
    reference = ranked.groupby("op").tail(1).set_index("op")["build"]
    info["reference"] = info["build"].to_numpy() == info["op"].map(reference).to_numpy()

    # A build the source did not record (its name is the source's, no date) may be another source's
    # build: the perf-modelling sweeps of one commit differ in where on the grid they ran, and a factor
    # between them would take that for a build. Such builds keep factor 0.
    recorded = (records["build"] != records["source"].astype(str)) | records["_date"].notna()
    cells = _cells(records[recorded])
    # An op whose reference is such a build has no factor the data fixes.
    cells = cells[cells["op"].isin(set(cells.loc[cells["build"].to_numpy() == cells["op"].map(reference).to_numpy(),
                                                 "op"]))]
    if cells.empty:
        out = info.assign(log_factor=0.0, se=np.where(info["reference"], 0.0, np.nan), identified=info["reference"],
                          component_factor=np.nan)
        out["date"] = out["date"].dt.strftime("%Y-%m-%d").where(out["date"].notna(), None)
        return out[FACTOR_COLUMNS]
    cells["c"] = cells.groupby(["op", "query"], sort=False).ngroup()
    cells["b"] = cells.groupby(["op", "build"], sort=False).ngroup()
    is_ref = cells["build"].to_numpy() == cells["op"].map(reference).to_numpy()
    ref_b = cells.loc[is_ref, ["op", "b"]].drop_duplicates("op").set_index("op")["b"]
    component = _components(cells)
    c, b, y = cells["c"].to_numpy(), cells["b"].to_numpy(), cells["y"].to_numpy()
    nc, nb = int(c.max()) + 1, int(b.max()) + 1
    per_c, per_b = np.bincount(c, minlength=nc), np.bincount(b, minlength=nb)
    root_of_b = np.zeros(nb, dtype=int)
    root_of_b[b] = component
    # Each component's own reference: the op's where it holds it, else its newest build (as ranked above).
    rank = pd.Series(np.arange(len(ranked)), index=pd.MultiIndex.from_frame(ranked[["op", "build"]]))
    b_rank = np.zeros(nb)
    b_rank[b] = rank.reindex(pd.MultiIndex.from_frame(cells[["op", "build"]])).to_numpy()
    b_rank[ref_b.to_numpy()] = np.inf
    newest = pd.Series(b_rank).groupby(root_of_b).idxmax()
    ref_of_b = newest.reindex(root_of_b).to_numpy()
    on_reference = np.zeros(nb, dtype=bool)
    on_reference[b] = root_of_b[b] == root_of_b[ref_b.reindex(cells["op"]).to_numpy()]
    f = np.zeros(nb)
    for _ in range(ITERATIONS):
        a = np.bincount(c, y - f[b], nc) / np.maximum(per_c, 1)
        new = np.bincount(b, y - a[c], nb) / np.maximum(per_b, 1)
        new -= new[ref_of_b]
        done = np.abs(new - f).max() < 1e-10
        f = new
        if done:
            break
    # A component the reference is not in answers for its newest builds: the median of their factors,
    # not one build's (the dashboard's last 1024x1024 run of August 2025 timed a 32x32 tile).
    for root in np.unique(root_of_b[b][~on_reference[b]]):
        members = np.flatnonzero((root_of_b == root) & (per_b > 0))
        latest = members[np.argsort(b_rank[members])[-COMPONENT_LEVEL_BUILDS:]]
        level = float(np.median(f[latest]))
        f[members] -= level
        a[np.unique(c[np.isin(b, members)])] += level
    residual = y - a[c] - f[b]
    # Per op: the residual scatter, over the degrees of freedom its configurations, builds and
    # components leave.
    per_op = cells.assign(r2=residual**2, component=root_of_b[b]).groupby("op").agg(
        ss=("r2", "sum"), cells=("y", "size"), configs=("c", "nunique"), builds=("b", "nunique"),
        components=("component", "nunique"))
    dof = per_op["cells"] - per_op["configs"] - per_op["builds"] + per_op["components"]
    sd = np.sqrt(per_op["ss"] / dof.clip(lower=1)).where(dof > 0, DEFAULT_ROW_SD)
    se = cells["op"].map(sd).to_numpy() / np.sqrt(per_b[b])
    se[b == ref_of_b[b]] = 0.0
    ident = on_reference[b]
    fitted = pd.DataFrame({"op": cells["op"], "build": cells["build"], "component_factor": f[b],
                           "log_factor": np.where(ident, f[b], np.nan), "se": np.where(ident, se, np.nan)})
    fitted = fitted.drop_duplicates(["op", "build"])
    out = info.merge(fitted, on=["op", "build"], how="left")
    out["identified"] = out["log_factor"].notna() | out["reference"]
    out.loc[out["reference"], "se"] = 0.0
    out["log_factor"] = out["log_factor"].fillna(0.0)
    out["date"] = out["date"].dt.strftime("%Y-%m-%d").where(out["date"].notna(), None)
    return out[FACTOR_COLUMNS]


def normalised(records: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
    """The records with each time moved to its op's reference build (``kernel_ns`` / its build's factor),
    or where no shared configuration ties its build to the reference, to the newest builds one ties it
    to (``component_factor``); ``on_reference`` is false for those (true for builds no factor was
    fitted for: a source that recorded no build keeps its times as they are)."""
    if records.empty or factors.empty:
        return records
    key = pd.MultiIndex.from_frame(factors[["op", "build"]])
    build = records["build"].fillna(records["source"]).astype(str)
    at = pd.MultiIndex.from_arrays([records["op"], build])
    f = pd.Series(factors["component_factor"].to_numpy(dtype=float), index=key).reindex(at).to_numpy()
    tied = pd.Series(factors["identified"].to_numpy(dtype=bool), index=key).reindex(at).fillna(False)
    tied = tied.to_numpy(dtype=bool)
    return records.assign(kernel_ns=records["kernel_ns"].to_numpy(dtype=float) * np.exp(-np.nan_to_num(f)),
                          on_reference=tied | np.isnan(f))


def op_drift_sd(factors: pd.DataFrame) -> dict[str, float]:
    """Per op, how far its builds have moved it (the root mean square of its identified factors, ln
    units; DEFAULT_PRIOR_SD where none is known): the doubt a measurement carries whose build no
    shared configuration ties to the reference."""
    moved = factors[factors["identified"] & ~factors["reference"]]
    sd = moved.groupby("op")["log_factor"].agg(lambda f: float(np.sqrt(np.mean(np.square(f)))))
    return {op: float(sd.get(op, DEFAULT_PRIOR_SD)) for op in factors["op"].unique()}


def _z(coverage: float) -> float:
    return float(stats.norm.ppf(0.5 + coverage / 2))


def _entry(log_factor: float, half_width: float, *, se: float | None, rows: int, date: str | None,
           fitted: str, **extra) -> dict:
    return {"log_factor": float(log_factor), "half_width": float(half_width),
            "se": None if se is None or not math.isfinite(se) else float(se), "rows": int(rows), "date": date,
            "fitted": fitted, **extra}


def table(factors: pd.DataFrame, coverage: float) -> dict | None:
    """A model folder's ``builds`` section from the factors of the ops it answers.

    One op: each build's factor and the half-width z * se its uncertainty adds. Several ops (a kind
    model): the ops' shared reference (the one most of them have), and per build the median factor of
    the ops measured on it, its half-width from how far those ops' factors lie from it (how far one
    op of the kind may move otherwise than the rest), and under ``ops`` each op's own moves
    (``op_tables``). Builds whose factor no shared configuration fixes are listed with factor 0 and
    ``identified`` false. None where there are no builds."""
    if factors.empty:
        return None
    z = _z(coverage)
    references = factors[factors["reference"]]
    reference = references["build"].value_counts().idxmax()
    ops = set(references.loc[references["build"] == reference, "op"])
    mine = factors[factors["op"].isin(ops)]
    out: dict[str, dict] = {}
    for build, rows in mine.groupby("build", sort=True):
        ident = rows[rows["identified"]]
        date = rows["date"].dropna().max() if rows["date"].notna().any() else None
        if build == reference:
            out[build] = _entry(0.0, 0.0, se=0.0, rows=rows["rows"].sum(), date=date, fitted="training",
                                identified=True, ops=len(rows))
        elif ident.empty:
            out[build] = _entry(0.0, 0.0, se=None, rows=rows["rows"].sum(), date=date, fitted="training",
                                identified=False, ops=len(rows))
        elif len(ops) == 1:
            r = ident.iloc[0]
            out[build] = _entry(r["log_factor"], z * r["se"], se=r["se"], rows=r["rows"], date=date,
                                fitted="training", identified=True, ops=1)
        else:
            f = ident["log_factor"].to_numpy(dtype=float)
            centre = float(np.median(f))
            between = float(np.sqrt(np.mean((f - centre) ** 2))) if len(f) > 1 else DEFAULT_BETWEEN_OPS_SD
            se = between / math.sqrt(len(f))
            out[build] = _entry(centre, z * math.hypot(between, se), se=se, rows=ident["rows"].sum(), date=date,
                                fitted="training", identified=True, ops=len(f))
    result = {"default": reference, "reference": reference, "coverage": coverage, "table": out}
    if len(ops) > 1:
        result["ops"] = op_tables(mine, coverage, result)
    return result


def op_tables(factors: pd.DataFrame, coverage: float, table: dict) -> dict[str, dict]:
    """Per op of a kind's (or the roofline's) build ``table``: the op's own move on every build its
    factors identify where it differs from the table's by more than a repeat's scatter
    (``MIN_ROW_SD``), so that a query naming such a build gets the op's own factor, not the kind's
    median (which lies within ±10% of the op's own for 71% of the dashboard's (op, build) pairs):
    {op: {``half_width`` (its widest), ``log_factors``: {build: factor}}}. The table's default build
    stays the table's: each op answers it as of its own newest measurements."""
    z = _z(coverage)
    kind_factor = factors["build"].map({b: e["log_factor"] for b, e in table["table"].items()})
    own = (factors["identified"] & (factors["build"] != table["default"])
           & (factors["log_factor"].abs() <= MAX_LOG_FACTOR)
           & ~((factors["log_factor"] - kind_factor).abs() <= MIN_ROW_SD))
    return {op: {"half_width": float(z * np.nan_to_num(rows["se"].to_numpy(dtype=float)).max()),
                 "log_factors": {b: round(float(f), 6) for b, f in zip(rows["build"], rows["log_factor"])}}
            for op, rows in factors[own].groupby("op", sort=True)}


def between_ops_sd(builds: dict) -> float:
    """How far one op's factor strays from its kind's on a build, from a kind table's training builds
    (the median of their spreads); DEFAULT_BETWEEN_OPS_SD where the table cannot tell."""
    z = _z(builds.get("coverage", 0.9))
    spreads = [math.sqrt(max((b["half_width"] / z) ** 2 - (b["se"] or 0.0) ** 2, 0.0))
               for b in builds["table"].values() if b.get("fitted") == "training" and b.get("ops", 0) > 1
               and b.get("identified")]
    return float(np.median(spreads)) if spreads else DEFAULT_BETWEEN_OPS_SD


def prior_sd(builds: dict) -> float:
    """How far a build's factor lies from the reference's, from a table's training builds (the root
    mean square of their identified factors); DEFAULT_PRIOR_SD where the table has none."""
    f = [b["log_factor"] for b in builds["table"].values() if b.get("fitted") == "training" and b.get("identified")
         and b["log_factor"] != 0]
    return float(np.sqrt(np.mean(np.square(f)))) if f else DEFAULT_PRIOR_SD


def recalibrated(log_ratio: np.ndarray, row_sd: np.ndarray, prior: float, between_sd: float,
                 coverage: float) -> tuple[float, float, float]:
    """(factor, standard error, half-width) of a new build from the ln ratios of a few of its
    measurements to the model's answers on the reference build.

    A ratio is the build's factor, plus how far that op moved otherwise than the rest
    (``between_sd``), plus the model's error on that configuration (``row_sd``, from the answer's
    interval). The factor is the weighted median of the ratios (an op that moved 2x on its own must
    not move every answer), each weighing 1 / (row_sd^2 + between_sd^2), shrunk towards 0 by how far
    builds move (``prior``, a normal prior): where the model is unsure of a configuration, its
    measurement says little of the build. The half-width an answer of the new build gains is the
    normal quantile of the factor's standard error and ``between_sd``: wide from one row, narrowing
    as rows come; from ``ceil((n + 1) coverage) <= n`` rows (9 at 90%) narrower where the rows' own
    distances from the factor at the coverage say so (split conformal; the model's error on them
    included), never below the factor's own uncertainty."""
    log_ratio = np.asarray(log_ratio, dtype=float)
    if len(log_ratio) == 0:
        raise ValueError("no measurements of the new build to fit its factor from")
    row_var = np.square(np.broadcast_to(np.asarray(row_sd, dtype=float), log_ratio.shape)) + between_sd**2
    weight = 1.0 / row_var
    order = np.argsort(log_ratio)
    cumulative = np.cumsum(weight[order])
    centre = float(log_ratio[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    precision = 1.0 / prior**2 + float(weight.sum())
    factor = centre * float(weight.sum()) / precision
    se = 1.0 / math.sqrt(precision)
    half = _z(coverage) * math.hypot(se, between_sd)
    # Enough rows say themselves how far a configuration of the new build lies from its factor (split
    # conformal: the ceil((n + 1) coverage)-th smallest of their distances): a build a day after
    # training moves few ops, and its interval narrows. They only narrow it: builds months later move a
    # few ops 2-5x, and the tail quantile of 30 rows then swings from draw to draw (measured,
    # benchmarks/recalibration.py: median hi/lo 15-85x against 3.8x from the ops' spread, no better
    # coverage).
    rank = math.ceil((len(log_ratio) + 1) * coverage)
    if rank <= len(log_ratio):
        distance = float(np.sort(np.abs(log_ratio - factor))[rank - 1])
        half = min(half, max(distance, _z(coverage) * se))
    return factor, se, half


# ------------------------------------------------------------------------------------ a fixed-cost shift

# The forms a new build's move may take, tried in this order (a tie keeps the earlier): one factor on
# every answer; a fixed cost added to every answer (relu's sweep sources of autumn and December 2024
# differ by ~0.5 us per op, not by a factor: an added constant fitted on all of a held-out source's
# rows puts 97.5-100% of them within ±10%, one factor 65-90%); both.
FORMS = ("factor", "shift", "factor and shift")
# Rows a form needs before leave-one-out can weigh it against the factor alone, and how much nearer
# its left-out answers must lie (median ln distance) to be taken over the form before it.
MIN_ROWS_FOR = {"factor": 1, "shift": 3, "factor and shift": 5}
FORM_MARGIN = 0.2
# A shift past 10 ms is not a fixed cost a build changed.
MAX_SHIFT_NS = 1e7


def moved(reference_ns, log_factor: float, shift_ns: float):
    """An answer on the reference build moved to a build: times its factor, plus its fixed-cost shift,
    never below half the factor's answer (a shift fitted on microsecond-long ops says little of a 100
    ns one). cpp/src/predictor.cpp's move_to_build does the same."""
    scaled = np.asarray(reference_ns, dtype=float) * math.exp(log_factor)
    return np.maximum(scaled + shift_ns, scaled / 2)


def unmoved(answer_ns, log_factor: float, shift_ns: float):
    """``moved``'s inverse: the reference build's answer behind an answer on the build."""
    answer_ns = np.asarray(answer_ns, dtype=float)
    scaled = np.where(answer_ns + shift_ns >= 0, answer_ns - shift_ns, 2 * answer_ns)  # the floor's branch
    return scaled / math.exp(log_factor)


def _fit_form(form: str, measured: np.ndarray, reference: np.ndarray, row_sd: np.ndarray, prior: float,
              between_sd: float, coverage: float) -> tuple[float, float]:
    """(log factor, shift ns) of one form fitted to the rows."""
    if form == "factor":
        return recalibrated(np.log(measured / reference), row_sd, prior, between_sd, coverage)[0], 0.0
    if form == "shift":
        return 0.0, float(np.clip(np.median(measured - reference), -MAX_SHIFT_NS, MAX_SHIFT_NS))
    # Both, by least squares on the relative error: a * reference + shift = measured.
    (a, shift), *_ = np.linalg.lstsq(np.column_stack([reference / measured, 1 / measured]), np.ones(len(measured)),
                                     rcond=None)
    if not a > 0:
        return math.nan, math.nan
    return (float(np.clip(math.log(a), -MAX_LOG_FACTOR, MAX_LOG_FACTOR)),
            float(np.clip(shift, -MAX_SHIFT_NS, MAX_SHIFT_NS)))


def recalibrated_move(measured_ns: np.ndarray, reference_ns: np.ndarray, row_sd: np.ndarray, prior: float,
                      between_sd: float, coverage: float, forms: tuple[str, ...] = FORMS) -> dict:
    """A new build's move from a few of its measurements and the model's answers for them on the
    reference build: the form (of ``forms``, in ``FORMS``' order) whose leave-one-out answers lie
    nearest the rows (median ln distance, by ``FORM_MARGIN``) among those the rows allow, its
    ``log_factor`` and ``shift_ns``; ``se`` and ``half_width`` as ``recalibrated`` gives them for the
    rows' distances from the moved answers."""
    measured_ns = np.asarray(measured_ns, dtype=float)
    reference_ns = np.asarray(reference_ns, dtype=float)
    row_sd = np.broadcast_to(np.asarray(row_sd, dtype=float), measured_ns.shape)
    n = len(measured_ns)

    def left_out_error(form: str) -> float:
        errors = []
        for i in range(n):
            keep = np.arange(n) != i
            # Unshrunk (an infinite prior) so that no form is judged by its prior.
            f, s = _fit_form(form, measured_ns[keep], reference_ns[keep], row_sd[keep], math.inf, between_sd, coverage)
            if not math.isfinite(f):  # no positive factor fits the other rows
                errors.append(math.inf)
                continue
            errors.append(abs(math.log(measured_ns[i] / moved(reference_ns[i], f, s))))
        return float(np.median(errors))

    candidates = [form for form in FORMS if form in forms and n >= MIN_ROWS_FOR[form]]
    errors = {form: left_out_error(form) for form in candidates} if len(candidates) > 1 else {}
    best = "factor"
    for form in candidates[1:]:  # a form that assumes more must answer the rows left out clearly nearer
        if errors[form] < (1 - FORM_MARGIN) * errors[best]:
            best = form
    if best == "factor":  # the factor, its standard error and half-width in one fit
        factor, se, half = recalibrated(np.log(measured_ns / reference_ns), row_sd, prior, between_sd, coverage)
        shift = 0.0
    else:
        factor, shift = _fit_form(best, measured_ns, reference_ns, row_sd, prior, between_sd, coverage)
        _, se, half = recalibrated(np.log(measured_ns / moved(reference_ns, factor, shift)), row_sd, prior,
                                   between_sd, coverage)
    return {"form": best, "log_factor": factor, "shift_ns": shift, "se": se, "half_width": half}
