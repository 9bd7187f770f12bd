"""The two tiers under the op models, so that every catalogued op gets an honest answer.

* **Kind models** (``kind-<kind>/``): one ensemble per op kind, trained on every measured op of that
  kind together. An op enters through what the catalogue knows of it (its per-tile cost in the
  roofline's compute term, its inputs) and, where it was measured, a learned factor: the median of
  its measurements' log ratio to the kind's answer. The folds hold out whole ops, so the out-of-fold
  errors say how far the kind model lands from an op it never saw: that calibrates the interval of
  unmeasured ops. Measured ops get the interval of their out-of-fold errors once the factor learned
  from their other configurations is applied.
* **The calibrated roofline** (``roofline/``): the catalogue's roofline with its constants fitted per
  kind on every measured op of the kind, each op counting once however many configurations it has; a
  kind nothing was measured for takes the fit over every kind. Its interval is calibrated on leave
  one op out: each op predicted by the fit of the others. The sparsely measured ops of a kind too
  small for a kind model (the dashboard's seven reductions) are answered as measured from it.

``train_tiers(configs_by_op, out_dir, cfg)`` writes both from the aggregated configurations of every
measured op (``dataset.aggregate``); ``opcast train`` calls it after the op models.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .. import _core
from .. import catalogue as _catalogue
from . import builds, dataset, fit, program_memo

# A kind model holds out whole ops: it needs at least two to hold one out, and enough configurations
# for an ensemble.
MIN_KIND_OPS = 2
MIN_KIND_CONFIGURATIONS = 30
KIND_FOLDER = "kind-{kind}"
ROOFLINE_FOLDER = "roofline"
KIND_TARGET = "ln_ratio_fitted_roofline"


@dataclasses.dataclass
class KindData:
    """Every measured configuration of one kind's ops, outliers of each op left out."""

    kind: str
    op: np.ndarray  # the op of each configuration
    data: fit._OpData  # features, roofline terms, times; one fold per group of whole ops

    @property
    def ops(self) -> list[str]:
        return sorted(set(self.op))

    def op_weight(self) -> np.ndarray:
        """Weights under which every op counts once, whatever its number of configurations (mean 1)."""
        counts = pd.Series(self.op).map(pd.Series(self.op).value_counts()).to_numpy(dtype=float)
        return len(self.op) / len(self.ops) / counts


def kind_data(kind: str, configs_by_op: dict[str, pd.DataFrame], cfg: fit.TrainConfig) -> KindData:
    """The kind's configurations, roofline outliers left out per op (an op's own median ratio), the
    folds dealt as whole ops."""
    parts, ops = [], []
    for op, configs in sorted(configs_by_op.items()):
        configs = configs.reset_index(drop=True)
        x, roof, terms = fit.design_matrix(configs)
        keep = ~fit.roofline_outliers(configs["kernel_ns"].to_numpy(dtype=float), roof, cfg.outlier_factor)
        parts.append((configs[keep], x[keep], roof[keep], terms[keep]))
        ops += [op] * int(keep.sum())
    configs = pd.concat([p[0] for p in parts], ignore_index=True)
    x, roof, terms = (np.concatenate([p[i] for p in parts]) for i in (1, 2, 3))
    op = np.array(ops)
    folds = max(2, min(cfg.members, len(set(ops))))  # a kind of one op gets no kind model, only its roofline
    fold = dataset.fold_groups(configs.assign(op=kind, group=op), folds, seed=cfg.seed).to_numpy()
    every = np.ones(len(op), dtype=bool)
    data = fit._OpData(kind, configs, x, roof, terms, configs["kernel_ns"].to_numpy(dtype=float),
                       np.full(len(op), "train"), every, fold, None, 0)
    out = KindData(kind, op, data)
    out.data.weight = out.op_weight()
    return out


def kinds_of(configs_by_op: dict[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    """The measured ops grouped by their catalogue kind."""
    entries = _catalogue.op_entries()
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for op, configs in configs_by_op.items():
        if len(configs):
            out.setdefault(entries[op]["kind"], {})[op] = configs
    return out


# ----------------------------------------------------------------------------------------------
# Kind models
# ----------------------------------------------------------------------------------------------
def op_factors(k: KindData, log_residual: np.ndarray) -> dict[str, float]:
    """Each measured op's factor: the median log ratio of its measurements to the kind's answer."""
    return {op: float(np.median(log_residual[k.op == op])) for op in k.ops}


def leave_one_out_factors(k: KindData, log_residual: np.ndarray) -> np.ndarray:
    """Per configuration, its op's factor learned from the op's other configurations (0 for an op
    measured once): what a new configuration of a measured op gets."""
    out = np.zeros(len(log_residual))
    for op in k.ops:
        rows = np.flatnonzero(k.op == op)
        for i in rows if len(rows) > 1 else ():
            out[i] = np.median(log_residual[rows[rows != i]])
    return out


def fit_kind(k: KindData, out_dir: Path, cfg: fit.TrainConfig, verbose: bool, build_table: dict | None = None,
             drift_sd: dict[str, float] | None = None) -> dict:
    """Trains, calibrates and writes one kind model; returns its manifest."""
    d = k.data
    cfg = cfg.replace(target=KIND_TARGET, members=max(2, int(len(np.unique(d.fold)))))
    weight = d.weight
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"opcast_kind_{k.kind}_") as work:
        coefficients = fit.fit_roofline(d.terms, d.ns, weight)
        ensemble = fit.train_ensemble(d, d.train, cfg, Path(work) / "ensemble", verbose, coefficients)
        # Out of fold, every configuration is answered by members that never saw its op.
        unseen_log = np.log(ensemble.out_of_fold_ns)
        log_ns = np.log(d.ns)
        factors = op_factors(k, log_ns - ensemble.log_ns)
        loo = leave_one_out_factors(k, log_ns - unseen_log)
        unmeasured = fit._calibration(np.abs(log_ns - unseen_log), ensemble.spread, cfg.coverage, weight)
        interval = fit.calibrate_interval(np.abs(log_ns - unseen_log - loo), ensemble.spread, cfg.coverage,
                                          fit.interval_classes(d))
        factor = np.array([factors[op] for op in k.op])
        memos = op_memos(k, cfg, drift_sd)
        answers = kind_answers(d, ensemble, factor, interval, memos, k.op)
        metrics = {
            "measured_ops": fit.accuracy(d.ns, answers["predicted_ns"].to_numpy(), answers["lo_ns"].to_numpy(),
                                         answers["hi_ns"].to_numpy()),
            "unseen_op": fit.accuracy(d.ns, np.exp(unseen_log)),
            "unseen_op_per_op": {op: fit.accuracy(d.ns[k.op == op], np.exp(unseen_log[k.op == op]))["mape_median"]
                                 for op in k.ops},
            "new_configuration_of_measured_op": fit.accuracy(d.ns, np.exp(unseen_log + loo)),
        }
        manifest = {
            # Kind models answer ops and regions they never saw: their members read features held
            # inside the training range (cpp/src/predictor.cpp, ensemble_input).
            "scope": "kind", "kind": k.kind, "unmeasured_interval": unmeasured, "clamp_features_to_domain": True,
            "ops": {op: {"log_factor": factors[op], "rows": int((k.op == op).sum()),
                         **({"memo": json.loads(memos[op].to_json())} if op in memos else {}),
                         "catalogue_entry": json.loads(_core.catalogue_entry(op))} for op in k.ops},
            **fit.ensemble_manifest(d, ensemble, interval=interval, metrics=metrics, memo=None,
                                    memo_report={"used": False, "reason": "kind models keep no program memo"},
                                    target_selection={}, seconds=time.perf_counter() - started)}
        if build_table is not None:
            manifest["builds"] = build_table
        model_dir = fit.write_model_folder(out_dir / KIND_FOLDER.format(kind=k.kind), ensemble, None, manifest)
    fit.measured(model_dir, d, answers)
    return manifest


def op_memos(k: KindData, cfg: fit.TrainConfig, drift_sd: dict[str, float] | None = None
             ) -> dict[str, program_memo.ProgramMemo]:
    """The measurements of every op measured on fewer configurations than an op model needs (the
    dashboard's ops: two sizes each), keyed by every feature: a kind model answers such a
    configuration as it was measured (on the reference build), not from a smooth fit through a few
    points. The interval: how far the configurations' repeats (every build's, moved to the
    reference) lie from their median, at the coverage; a configuration measured only on builds no
    shared configuration ties to the reference (``on_reference`` false) adds how far builds have
    moved the op (``drift_sd``, ``builds.op_drift_sd``)."""
    names = list(_core.feature_names())
    configs = k.data.configs
    spread = configs["spread"].fillna(1.0).to_numpy(dtype=float) if "spread" in configs else None
    untied = ~configs["on_reference"].fillna(True).to_numpy(dtype=bool) if "on_reference" in configs \
        else np.zeros(len(configs), dtype=bool)
    z = builds._z(cfg.coverage)
    out = {}
    for op in k.ops:
        mine = k.op == op
        if mine.sum() >= cfg.min_configurations:
            continue
        half = np.log(spread[mine]) / 2 if spread is not None else np.zeros(int(mine.sum()))
        h = max(float(np.quantile(half, cfg.coverage)), MIN_MEMO_HALF_WIDTH)
        keys = pd.DataFrame(np.round(k.data.x[mine], program_memo.KEY_DECIMALS), columns=names)
        table = keys.assign(ns=k.data.ns[mine], untied=untied[mine]).groupby(names, sort=True).agg(
            ns=("ns", "median"), configurations=("ns", "size"), untied=("untied", "all")).reset_index()
        wide = math.hypot(h, z * (drift_sd or {}).get(op, builds.DEFAULT_PRIOR_SD))
        untied_rows = table.pop("untied").to_numpy(dtype=bool)
        if untied_rows.any():
            table["lo_ratio"] = np.where(untied_rows, math.exp(-wide), np.nan)
            table["hi_ratio"] = np.where(untied_rows, math.exp(wide), np.nan)
        out[op] = program_memo.ProgramMemo(names, table, (float(np.exp(-h)), float(np.exp(h))))
    return out


# Repeats of one configuration on one build agree to about 1%.
MIN_MEMO_HALF_WIDTH = 0.01


def kind_answers(d: fit._OpData, ensemble: fit._Ensemble, factor: np.ndarray, interval: dict,
                 memos: dict | None = None, op: np.ndarray | None = None) -> pd.DataFrame:
    """What the C++ predictor answers for the kind's own (measured) configurations: the ensemble's
    answer times the op's factor, the measured-op interval of the configuration's class, in domain if
    its features lie inside the training range; the configurations of an op with a memo (``op_memos``)
    as measured."""
    shifted = dataclasses.replace(ensemble, log_ns=ensemble.log_ns + factor)
    answers = fit.served_answers(d, shifted, interval, None)
    for name, memo in (memos or {}).items():
        rows = np.flatnonzero(op == name)
        ns, lo, hi = memo.answers(d.x[rows])
        found = ~np.isnan(ns)
        hit = rows[found]
        answers.loc[hit, "predicted_ns"] = ns[found]
        answers.loc[hit, "lo_ns"] = lo[found]
        answers.loc[hit, "hi_ns"] = hi[found]
        answers.loc[hit, ["in_domain", "measured_program"]] = True
    return fit.not_in_domain_where_wide(answers)


# ----------------------------------------------------------------------------------------------
# The calibrated roofline
# ----------------------------------------------------------------------------------------------
def leave_one_op_out(terms: np.ndarray, ns: np.ndarray, op: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each configuration's calibrated roofline fitted without its op (NaN where its op is the only one)."""
    out = np.full(len(ns), np.nan)
    for name in np.unique(op):
        mine = op == name
        if (~mine).any():
            out[mine] = terms[mine] @ fit.fit_roofline(terms[~mine], ns[~mine], weight[~mine])
    return out


def roofline_fit(terms: np.ndarray, ns: np.ndarray, op: np.ndarray, coverage: float) -> dict | None:
    """Coefficients over every op (each counting once) and the interval of leave one op out; None
    where only one op was measured (nothing to hold out)."""
    counts = pd.Series(op).map(pd.Series(op).value_counts()).to_numpy(dtype=float)
    weight = len(op) / len(np.unique(op)) / counts
    held_out = leave_one_op_out(terms, ns, op, weight)
    ok = ~np.isnan(held_out)
    if not ok.any():
        return None
    residual = np.abs(np.log(held_out[ok] / ns[ok]))
    return {"fitted_roofline": {"terms": list(_core.roofline_term_names()),
                                "coefficients": fit.fit_roofline(terms, ns, weight).tolist()},
            "interval": fit._calibration(residual, np.zeros(len(residual)), coverage, weight[ok]),
            "ops": sorted(set(op)), "rows": int(len(op)),
            "leave_one_op_out": fit.accuracy(ns[ok], held_out[ok])}


# Reports whose ops ran back to back on the device (a traced run: CLIP's median gap is 0.66 us) say
# what one op's dispatch costs; reports timed op by op from Python (tens of ms between ops) say
# nothing of it.
BACK_TO_BACK_NS = 100_000


def dispatch_gap(records: pd.DataFrame) -> dict | None:
    """The gap between one device op's end and the next one's start, from the profiler reports' OP TO
    OP LATENCY: its median over the reports whose ops ran back to back; None where no report did."""
    if "op_to_op_ns" not in records.columns:
        return None
    gaps = records.dropna(subset=["op_to_op_ns"])
    back_to_back = gaps.groupby("source")["op_to_op_ns"].median().loc[lambda m: m < BACK_TO_BACK_NS].index
    kept = gaps[gaps["source"].isin(back_to_back)]
    if kept.empty:
        return None
    return {"op_to_op_ns": float(kept["op_to_op_ns"].median()), "rows": int(len(kept)),
            "sources": sorted(back_to_back), "rule": f"reports whose median gap is below {BACK_TO_BACK_NS} ns"}


def write_roofline(kinds: dict[str, KindData], out_dir: Path, cfg: fit.TrainConfig,
                   dispatch: dict | None = None, build_table: dict | None = None,
                   memos: dict[str, program_memo.ProgramMemo] | None = None) -> dict | None:
    """The calibrated-roofline folder: a fit per kind with two or more measured ops, and over every kind,
    and the ``memos`` (``op_memos``) of the ops of kinds with no kind model, answered as measured; None
    (no folder) where a single op was measured: no interval can be calibrated on ops held out."""
    everything = roofline_fit(np.concatenate([k.data.terms for k in kinds.values()]),
                              np.concatenate([k.data.ns for k in kinds.values()]),
                              np.concatenate([k.op for k in kinds.values()]), cfg.coverage)
    if everything is None:
        return None
    per_kind = {kind: roofline_fit(k.data.terms, k.data.ns, k.op, cfg.coverage) for kind, k in sorted(kinds.items())}
    configs = pd.concat([k.data.configs for k in kinds.values()], ignore_index=True)
    manifest = {
        "format": "opcast-model", "format_version": fit.MANIFEST_FORMAT_VERSION, "scope": "roofline",
        "device": "wormhole_b0", "feature_schema_version": _core.FEATURE_SCHEMA_VERSION,
        "target": "calibrated_roofline",
        "dataset": {"hash": dataset.dataset_hash(configs), "configurations": int(len(configs))},
        "kinds": {kind: f for kind, f in per_kind.items() if f is not None},
        "all_kinds": everything,
        "measured_ops": {op: {"memo": json.loads(memo.to_json()),
                              "catalogue_entry": json.loads(_core.catalogue_entry(op))}
                         for op, memo in sorted((memos or {}).items())},
        # What a plan pays per op beyond its kernel (the tuner reads it).
        "dispatch": dispatch,
        "files": {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if build_table is not None:
        manifest["builds"] = build_table
    folder = out_dir / ROOFLINE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    fit.write_manifest(folder, manifest)
    check_measured_ops(folder, kinds, memos or {})
    return manifest


def check_measured_ops(folder: Path, kinds: dict[str, KindData], memos: dict[str, program_memo.ProgramMemo]) -> None:
    """The roofline folder answers every configuration of its measured ops as measured (the C++
    predictor keys them as training did)."""
    for k in kinds.values():
        for op in set(k.ops) & set(memos):
            rows = np.flatnonzero(k.op == op)
            served = fit.serve(folder, k.data.configs["query"].iloc[rows].tolist())
            expected = memos[op].lookup(k.data.x[rows])
            if not (served["source"].str.startswith("measured-program:").all()
                    and np.allclose(served["predicted_ns"].to_numpy(dtype=float), expected, rtol=fit.SERVED_TOLERANCE)):
                raise RuntimeError(f"{folder}: the predictor does not answer {op}'s measured configurations as "
                                   "measured; the trainer and the opcast module must come from one build")


def train_tiers(configs_by_op: dict[str, pd.DataFrame], out_dir: Path, cfg: fit.TrainConfig,
                verbose: bool = True, dispatch: dict | None = None, factors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Kind models for every kind with enough measured ops, and the calibrated roofline of every kind
    (with the measured ``dispatch`` gap, ``dispatch_gap``); one summary row per kind. ``factors``
    (``builds.fit_factors``) gives each its table of builds over the ops it learned."""

    def build_table(ops) -> dict | None:
        return None if factors is None else builds.table(factors[factors["op"].isin(list(ops))], cfg.coverage)

    rows = []
    drift_sd = None if factors is None else builds.op_drift_sd(factors)
    kinds = {kind: kind_data(kind, ops, cfg) for kind, ops in kinds_of(configs_by_op).items()}
    roofline_memos: dict[str, program_memo.ProgramMemo] = {}  # kinds with no kind model: the roofline keeps them
    roofline_ops: set[str] = set()  # and the ops' own moves on builds
    for kind, k in sorted(kinds.items()):
        row = {"op": KIND_FOLDER.format(kind=kind), "configurations": len(k.op), "groups": len(k.ops)}
        if len(k.ops) < MIN_KIND_OPS or len(k.op) < MIN_KIND_CONFIGURATIONS:
            roofline_ops |= set(k.ops)
            memos = op_memos(k, cfg, drift_sd)
            roofline_memos.update(memos)
            rows.append({**row, "status": f"roofline only: fewer than {MIN_KIND_OPS} measured ops or "
                                          f"{MIN_KIND_CONFIGURATIONS} configurations; {len(memos)} sparsely measured "
                                          "ops answered as measured"})
            continue
        if verbose:
            print(f"[{kind}] kind model on {len(k.op)} configurations of {len(k.ops)} ops", file=sys.stderr, flush=True)
        m = fit_kind(k, out_dir, cfg, verbose, build_table(k.ops), drift_sd)
        rows.append({**row, "status": "trained", "out_of_fold_within_10pct": m["metrics"]["unseen_op"]["within_10pct"],
                     "seconds": m["training"]["seconds"]})
    roofline_builds = build_table(configs_by_op)
    if roofline_builds is not None and "ops" in roofline_builds:
        roofline_builds["ops"] = {op: t for op, t in roofline_builds["ops"].items() if op in roofline_ops}
    manifest = (write_roofline(kinds, out_dir, cfg, dispatch, roofline_builds, roofline_memos) if kinds else None)
    if manifest is None:
        rows.append({"op": ROOFLINE_FOLDER, "configurations": sum(len(k.op) for k in kinds.values()), "groups": 1,
                     "status": "not written: one measured op, none to hold out for its interval"})
    else:
        rows.append({"op": ROOFLINE_FOLDER, "configurations": manifest["dataset"]["configurations"],
                     "groups": len(manifest["all_kinds"]["ops"]), "status": "trained"})
    return pd.DataFrame(rows)
