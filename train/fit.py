"""Training stage: configurations -> one model folder per op, trained by the C++ mlpack trainer.

For each op: features from the C++ library (the same code that serves queries), test shape groups
held out, the training groups dealt into folds, the target ln(ns) or ln(ns / roofline), the trainer
run cross-fitted (member k early-stops on fold k and trains on the others) and answering every
configuration (the members' mean and spread). From those answers, in this order: the out-of-fold
errors, the target kept, the trimmed refit, the interval calibrated on the out-of-fold errors, the
program memo decision, the served answers and their metrics. The model folder (weights, memo, a
manifest with the training-domain bounds, metrics and file checksums) is then written once and
served through :class:`opcast.Predictor`, which must give the answers computed for it: what is
reported is what is served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import lsq_linear

from .. import _core
from ..predictor import Predictor
from . import builds, dataset, importers, program_memo

TARGETS = ("ln_ratio_roofline", "ln_ratio_fitted_roofline", "ln_ns")
# "auto" trains these and keeps the one with more out-of-fold configurations within ±10%.
AUTO_TARGETS = ("ln_ratio_roofline", "ln_ratio_fitted_roofline")
MANIFEST_FORMAT_VERSION = 1
# The interval is calibrated per class of the first input's rank, dtype and placement: exp's
# float32 and rank-4 configurations miss by more than its bfloat16 ones, and one pooled calibration
# covered 81% of unseen exp configurations, too few of those and nearly all of these
# (benchmarks/README.md). A class with fewer out-of-fold errors than MIN_INTERVAL_CLASS_ROWS takes
# the calibration of its rank and dtype if that has enough, else the pooled one.
INTERVAL_RANK_DTYPE_FEATURES = ("rank_in0", "in0_bfloat16", "in0_bfloat8_b", "in0_bfloat4_b", "in0_float32",
                                "in0_uint16", "in0_uint32", "in0_int32")
INTERVAL_CLASS_FEATURES = INTERVAL_RANK_DTYPE_FEATURES + ("in0_l1", "in0_interleaved", "in0_height_sharded",
                                                          "in0_width_sharded", "in0_block_sharded")
MIN_INTERVAL_CLASS_ROWS = 100


@dataclasses.dataclass
class TrainConfig:
    """Hyperparameters and data handling of one op's model. Every field can be set per op in a JSON
    config file: ``{"defaults": {...}, "ops": {"ttnn.exp": {...}}}``."""

    # One of TARGETS, or "auto": the better of AUTO_TARGETS out of fold. The calibrated roofline ratio
    # is the default because over ten splits it was the better fixed target on validation for add
    # (95.7% against 93.1% within ±10%) and relu (99.0% against 86.1%) and within 0.4 points for exp
    # and matmul, while "auto" chose on add's 2-3 validation groups and flipped.
    target: str = "ln_ratio_fitted_roofline"
    # One member per fold of the training groups: member k early-stops on fold k and trains on the
    # rest. Chosen over one shared validation split (members trained on 70% of the groups, early-stopped
    # on 15%) with each split's test groups left out of the decision (benchmarks/README.md): within
    # ±10% +0.5 points for exp, matmul and add, -0.5 for relu; interval coverage nearer its 90%.
    members: int = 5
    hidden_layers: tuple[int, ...] = (32, 32)  # as accurate as 64x64 on held-out shapes, 4x cheaper to serve
    activation: str = "relu"
    learning_rate: float = 3e-3
    batch_size: int = 32
    max_epochs: int = 3000
    patience: int = 150
    weight_decay: float = 0.0
    bootstrap: bool = False  # chosen on validation groups: bootstrap resamples cost more accuracy than they add spread
    seed: int = 0
    test_fraction: float = 0.15  # shape groups held out of training to measure the served model; 0: none
    suspect_factor: float = dataset.DEFAULT_FACTOR
    keep_suspect: bool = False
    keep_superseded: bool = False  # train on sources a later sweep re-measured (dataset.SUPERSEDED_SOURCES) too
    coverage: float = 0.9
    min_configurations: int = 30
    spread_weighting: bool = True  # weight configurations by 1/spread^2 of their repeats: noisy labels count less
    trim_factor: float = 4.0  # train again without training configurations this many robust sigmas off; 0: one pass
    outlier_factor: float = 10.0  # drop configurations whose measured/roofline ratio is this far off the op's median; 0 keeps all

    def __post_init__(self):
        if self.target not in TARGETS + ("auto",):
            raise ValueError(f"target must be one of {TARGETS + ('auto',)}, got {self.target!r}")
        if self.members < 2:
            raise ValueError(f"members must be >= 2 (one per fold; the spread gives the interval), got {self.members}")
        if not 0 <= self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if not 0.5 <= self.coverage < 1:
            raise ValueError(f"coverage must be in [0.5, 1), got {self.coverage}")
        self.hidden_layers = tuple(int(h) for h in self.hidden_layers)

    def replace(self, **changes) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown training options {sorted(unknown)}; expected some of "
                             f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)


def load_config(path: str | os.PathLike | None, base: TrainConfig | None = None) -> tuple[TrainConfig, dict]:
    """(defaults, per-op overrides) from a JSON config file; no file gives the built-in defaults."""
    base = base or TrainConfig()
    if path is None:
        return base, {}
    with open(path) as f:
        cfg = json.load(f)
    unknown = set(cfg) - {"defaults", "ops"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}; expected 'defaults' and 'ops'")
    return base.replace(**cfg.get("defaults", {})), cfg.get("ops", {})


def trainer_path() -> Path:
    """The opcast_trainer executable: $OPCAST_TRAINER, else the one installed in the package."""
    env = os.environ.get("OPCAST_TRAINER")
    path = Path(env) if env else Path(str(resources.files("opcast").joinpath("bin", "opcast_trainer")))
    if not path.is_file():
        raise FileNotFoundError(f"opcast_trainer not found at {path}; build the package (scripts/setup.sh) "
                                "or point OPCAST_TRAINER at the executable")
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def op_folder_name(op: str) -> str:
    return op.removeprefix("ttnn.")


def design_matrix(configs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, roofline_ns, roofline terms) of every configuration, from the C++ feature code."""
    return _core.features_batch(configs["query"].tolist(), with_terms=True)


# Every program pays a fixed dispatch and kernel start: at least 10% of the roofline's launch_ns
# keeps the calibrated roofline positive for the smallest query.
MIN_LAUNCH_COEFFICIENT = 0.1


def fit_roofline(terms: np.ndarray, ns: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Non-negative coefficients c minimising the (weighted) relative error of sum_k c_k * terms_k
    against ns.

    The roofline's terms (``_core.roofline_term_names()``) are right in shape, not in scale: exp's
    fixed cost is ~3.6 us, relu's ~1.7 us, not the 1 us of the generic launch term. A base that is
    linear in the work extrapolates to unseen sizes the way kernels scale; the ensemble corrects it.
    """
    lower = np.zeros(terms.shape[1])
    lower[0] = MIN_LAUNCH_COEFFICIENT
    root = np.ones(len(ns)) if weight is None else np.sqrt(weight)
    fit = lsq_linear(terms / ns[:, None] * root[:, None], root, bounds=(lower, np.inf))
    return fit.x


def base_ns(target: str, roofline_ns: np.ndarray, terms: np.ndarray, coefficients: np.ndarray | None) -> np.ndarray:
    """What the ensemble's output is relative to (ns = base * exp(output)); the C++ predictor mirrors it."""
    if target == "ln_ratio_roofline":
        return roofline_ns
    if target == "ln_ratio_fitted_roofline":
        return terms @ coefficients
    return np.ones(len(roofline_ns))


def target_of(ns: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.log(ns) - np.log(base)


def roofline_outliers(ns: np.ndarray, roofline_ns: np.ndarray, factor: float) -> np.ndarray:
    """Configurations whose measured/roofline ratio is more than ``factor`` times above or below the
    op's median ratio: physically implausible measurements (TORP's rank-4 exp rows take 700 us for
    36 tiles) that would otherwise dominate the squared loss and early stopping. A fixed factor, not
    a spread-based rule: the ratio's spread is tiny where the roofline is right, and would turn
    ordinary small-tensor overheads into "outliers"."""
    if factor <= 0:
        return np.zeros(len(ns), dtype=bool)
    ratio = np.log(ns / roofline_ns)
    return np.abs(ratio - np.median(ratio)) > np.log(factor)


def _calibration(residual: np.ndarray, spread: np.ndarray, coverage: float, weight: np.ndarray | None = None) -> dict:
    """k and sigma0 such that k * sqrt(spread^2 + sigma0^2) holds ``coverage`` of these errors.

    sigma0 (their median) keeps intervals honest where members agree but share an error; k is the
    split-conformal quantile of the normalised errors (the ceil((n + 1) coverage)-th smallest). With
    ``weight``, both are weighted quantiles (each op of a kind counting once, however many rows it has)."""
    n = len(residual)
    if weight is None:
        sigma0 = float(np.median(residual))
        normalised = residual / np.maximum(np.sqrt(spread**2 + sigma0**2), 1e-12)
        k = float(np.quantile(normalised, min(1.0, np.ceil((n + 1) * coverage) / n), method="higher"))
    else:
        sigma0 = float(np.quantile(residual, 0.5, weights=weight, method="inverted_cdf"))
        normalised = residual / np.maximum(np.sqrt(spread**2 + sigma0**2), 1e-12)
        k = float(np.quantile(normalised, coverage, weights=weight, method="inverted_cdf"))
    # The configuration that sets k lies exactly on its interval's bound: 1e-5 more keeps it inside
    # both as computed here and as served in float32, so the manifest's coverage is what users get.
    return {"k": max(k * (1 + 1e-5), 1e-6), "sigma0": sigma0, "rows": int(n)}


def calibrate_interval(residual: np.ndarray, spread: np.ndarray, coverage: float, classes: np.ndarray) -> dict:
    """The interval's calibration, pooled and per class (Mondrian): half-width k * sqrt(s^2 + sigma0^2)
    in log units, s the members' spread.

    ``residual``: |ln(out-of-fold prediction / measured)| of the training configurations, each predicted
    by members that never trained on it: errors on unseen shape groups, like a user's. ``classes``:
    their values of ``INTERVAL_CLASS_FEATURES``. A class with ``MIN_INTERVAL_CLASS_ROWS`` errors gets its
    own k and sigma0, so the interval holds ``coverage`` of each class, not only of all together; a
    smaller one those of all errors of its rank and dtype (``calibrated_on``), if they are as many;
    queries of other classes get the pooled ones.
    """
    out = {"coverage": coverage, **_calibration(residual, spread, coverage),
           "class_features": list(INTERVAL_CLASS_FEATURES), "classes": []}
    rank_dtype = classes[:, :len(INTERVAL_RANK_DTYPE_FEATURES)]
    for key in np.unique(classes, axis=0):
        for level, mine in (("class", (classes == key).all(axis=1)),
                            ("rank and dtype", (rank_dtype == key[:rank_dtype.shape[1]]).all(axis=1))):
            if mine.sum() >= MIN_INTERVAL_CLASS_ROWS:
                out["classes"].append({"key": key.tolist(), "calibrated_on": level,
                                       **_calibration(residual[mine], spread[mine], coverage)})
                break
    return out


def accuracy(measured: np.ndarray, predicted: np.ndarray, lo: np.ndarray | None = None,
             hi: np.ndarray | None = None) -> dict:
    """within_10pct, median absolute percentage error and interval coverage over configurations."""
    ape = np.abs(predicted - measured) / measured
    out = {"n": int(len(measured)), "within_10pct": float(np.mean(ape <= 0.10)),
           "within_20pct": float(np.mean(ape <= 0.20)), "mape_median": float(np.median(ape)),
           "mape_mean": float(np.mean(ape))}
    if lo is not None:
        out["coverage"] = float(np.mean((lo <= measured) & (measured <= hi)))
    return out


def _write_csv(path: Path, names: list[str], columns: np.ndarray) -> None:
    """A CSV for the trainer, every value round-trip exact (numpy writes it 4x faster than pandas)."""
    np.savetxt(path, columns, fmt="%.17g", delimiter=",", header=",".join(names), comments="")


def sample_weights(configs: pd.DataFrame, cfg: TrainConfig) -> np.ndarray | None:
    """1/spread^2 per configuration: repeats that disagree make a label less trustworthy."""
    if not cfg.spread_weighting or "spread" not in configs:
        return None
    spread = configs["spread"].fillna(1.0).clip(lower=1.0).to_numpy(dtype=float)
    return 1.0 / spread**2


# What the trainer answers for the rows of its "score" file (train/trainer/README.md): the served
# answers are computed from it, so it is not part of the model folder.
SCORE_PREDICTIONS = "score_predictions.csv"


def _trainer_config(op: str, cfg: TrainConfig, names: list[str], out_dir: Path) -> dict:
    return {
        "op": op, "features": names, "target": "y", "train": "train.csv", "fold_column": "fold",
        "score": "score.csv", "out_dir": str(out_dir),
        "ensemble": {"members": cfg.members, "seed": 1234 + cfg.seed},
        "architecture": {"hidden_layers": list(cfg.hidden_layers), "activation": cfg.activation},
        "optimizer": {"name": "adam", "learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size,
                      "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "max_epochs": cfg.max_epochs,
                      "patience": cfg.patience, "weight_decay": cfg.weight_decay},
        "bootstrap": cfg.bootstrap,
    }


def _run_trainer(config_path: Path, log_prefix: str, verbose: bool) -> None:
    proc = subprocess.Popen([str(trainer_path()), "--config", str(config_path)], cwd=config_path.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if verbose:
            print(f"{log_prefix} {line.rstrip()}", file=sys.stderr, flush=True)
    if proc.wait() != 0:
        tail = "".join(lines[-20:])
        raise RuntimeError(f"opcast_trainer failed (exit {proc.returncode}) for {log_prefix}:\n{tail}")


def fit_op(op: str, configs: pd.DataFrame, out_dir: Path, cfg: TrainConfig, *,
           verbose: bool = True, build_table: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """Train, calibrate and write the model folder of one op, then measure it as it is served.

    ``configs``: aggregated configurations of this op (``query``, ``kernel_ns``, ``group``), as
    ``dataset.aggregate`` gives them. With ``target="auto"`` each of ``AUTO_TARGETS`` is trained and
    the one with the most configurations within ±10% out of fold is kept. With ``trim_factor`` the
    kept target is trained once more without the training configurations it could not fit (see
    ``trimmed_rows``). Everything the manifest says is computed from the trainer's outputs; the folder
    is written once and then served through :class:`opcast.Predictor`, which must give the answers
    computed for it. ``build_table`` (``builds.table``) is the manifest's ``builds``: the answers
    are for its default build, whose factor is 1. Returns the manifest and the configurations used (outliers left out) with their
    ``split``, ``fold`` (-1 for test), the served ``predicted_ns``, ``lo_ns``, ``hi_ns``,
    ``in_domain``, and ``out_of_fold_ns`` (training configurations as predicted by the member that
    never trained on them, trimmed ones by the served model; NaN for test).
    """
    d = op_data(op, configs, cfg, verbose)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"opcast_{op_folder_name(op)}_") as work:
        work = Path(work)
        candidates = AUTO_TARGETS if cfg.target == "auto" else (cfg.target,)
        trained = {t: train_ensemble(d, d.train, cfg.replace(target=t), work / t, verbose) for t in candidates}
        target = chosen_target(d, trained, verbose)
        ensemble = trained[target]
        trimmed = trimmed_rows(d.ns, ensemble.predicted_ns, d.train, cfg.trim_factor)
        if trimmed.any():
            if verbose:
                print(f"[{op}] training {target} again without {int(trimmed.sum())} of {int(d.train.sum())} training "
                      "configurations it could not fit", file=sys.stderr, flush=True)
            ensemble = train_ensemble(d, d.train & ~trimmed, cfg.replace(target=target), work / "trimmed", verbose)
        interval = calibrated_interval(d, ensemble, cfg.coverage)
        memo, memo_report = program_memo_decision(d, ensemble, cfg, verbose)
        answers = served_answers(d, ensemble, interval, memo)
        manifest = manifest_of(d, ensemble, interval=interval, metrics=accuracy_metrics(d, ensemble, answers),
                               memo=memo, memo_report=memo_report,
                               target_selection={t: out_of_fold_accuracy(d, trained[t]) for t in candidates},
                               seconds=time.perf_counter() - started)
        if build_table is not None:
            manifest["builds"] = build_table
        model_dir = write_model_folder(out_dir / op_folder_name(op), ensemble, memo, manifest)
    served = measured(model_dir, d, answers)
    used = d.configs.assign(split=d.split, fold=d.fold,
                            **{c: served[c].to_numpy(dtype=t) for c, t in SERVED_COLUMNS.items()},
                            out_of_fold_ns=ensemble.out_of_fold_ns)
    return manifest, used


def trimmed_rows(ns: np.ndarray, predicted_ns: np.ndarray, train: np.ndarray, factor: float) -> np.ndarray:
    """Training configurations whose error |ln(predicted / measured)| exceeds ``factor`` robust sigmas
    (1.4826 x the median training error) and 15%.

    TORP's matmul rows are single measurements and many exp configurations have repeats 40% apart:
    a squared loss bends the whole model towards the few it cannot fit. Dropping them and training
    once more is the classic trimmed fit; test rows are never trimmed.
    """
    if factor <= 0:
        return np.zeros(len(ns), dtype=bool)
    err = np.abs(np.log(predicted_ns / ns))
    sigma = 1.4826 * float(np.median(err[train]))
    return train & (err > max(factor * sigma, np.log(1.15)))


@dataclasses.dataclass
class _OpData:
    op: str
    configs: pd.DataFrame
    x: np.ndarray
    roof: np.ndarray
    terms: np.ndarray
    ns: np.ndarray
    split: np.ndarray
    train: np.ndarray  # split == "train"
    fold: np.ndarray  # cross-fitting fold of each training configuration, -1 for test
    weight: np.ndarray | None
    outliers_left_out: int


def op_data(op: str, configs: pd.DataFrame, cfg: TrainConfig, verbose: bool) -> _OpData:
    """The op's configurations without roofline outliers, their features, split and folds."""
    configs = configs.reset_index(drop=True)
    x, roof, terms = design_matrix(configs)
    outliers = roofline_outliers(configs["kernel_ns"].to_numpy(dtype=float), roof, cfg.outlier_factor)
    if outliers.any():
        if verbose:
            print(f"[{op}] leaving out {int(outliers.sum())} configurations whose measured/roofline ratio is more than "
                  f"{cfg.outlier_factor}x off the op's median", file=sys.stderr, flush=True)
        keep = ~outliers
        configs, x, roof, terms = configs[keep].reset_index(drop=True), x[keep], roof[keep], terms[keep]
    split = dataset.split_groups(configs, cfg.test_fraction, seed=cfg.seed).to_numpy()
    train = split == "train"
    if configs.loc[train, "group"].nunique() < 2:
        raise ValueError(f"{op}: cross-fitting needs at least 2 training shape groups, got "
                         f"{configs.loc[train, 'group'].nunique()}")
    fold = np.full(len(configs), -1)
    fold[train] = dataset.fold_groups(configs[train], cfg.members, seed=cfg.seed).to_numpy()
    return _OpData(op, configs, x, roof, terms, configs["kernel_ns"].to_numpy(dtype=float), split, train, fold,
                   sample_weights(configs, cfg), int(outliers.sum()))


@dataclasses.dataclass
class _Ensemble:
    """One trainer run and what it answers for every configuration of the op."""

    cfg: TrainConfig  # its target among them
    dir: Path  # the trainer's outputs
    rows: np.ndarray  # the configurations it trained on
    coefficients: np.ndarray | None  # of the fitted roofline, for that target
    log_ns: np.ndarray  # the ensemble's answer as the C++ predictor forms it: ln(base) + the members' mean
    spread: np.ndarray  # the members' standard deviation, in log units
    out_of_fold_ns: np.ndarray  # see out_of_fold_ns()
    trainer: dict  # the trainer's metrics.json

    @property
    def predicted_ns(self) -> np.ndarray:
        return np.exp(self.log_ns)


def train_ensemble(d: _OpData, rows: np.ndarray, cfg: TrainConfig, work: Path, verbose: bool,
                   coefficients: np.ndarray | None = None) -> _Ensemble:
    """One cross-fitted trainer run on the configurations ``rows`` for ``cfg.target``, answering every
    configuration of the op; the calibrated roofline's ``coefficients`` are fitted on ``rows`` unless
    given."""
    if coefficients is None and cfg.target == "ln_ratio_fitted_roofline":
        coefficients = fit_roofline(d.terms[rows], d.ns[rows])
    base = base_ns(cfg.target, d.roof, d.terms, coefficients)
    y = target_of(d.ns, base)
    names = list(_core.feature_names())
    work.mkdir(parents=True)
    labels = {"y": y, "fold": d.fold} | ({} if d.weight is None else {"weight": d.weight})
    _write_csv(work / "train.csv", names + list(labels), np.column_stack([d.x, *labels.values()])[rows])
    _write_csv(work / "score.csv", names, d.x)
    trainer_dir = work / "trainer"
    (work / "config.json").write_text(json.dumps(_trainer_config(d.op, cfg, names, trainer_dir), indent=2))
    _run_trainer(work / "config.json", f"[{d.op} {cfg.target}]", verbose)
    if not (trainer_dir / SCORE_PREDICTIONS).is_file():
        raise RuntimeError(f"{trainer_path()} wrote no {SCORE_PREDICTIONS}: it predates the config field 'score'; "
                           "rebuild the package (scripts/setup.sh) or point OPCAST_TRAINER at a current build")
    scores = pd.read_csv(trainer_dir / SCORE_PREDICTIONS)
    log_ns = np.log(base) + scores["mean"].to_numpy()
    holdout = pd.read_csv(trainer_dir / "holdout_predictions.csv")
    return _Ensemble(cfg, trainer_dir, rows, coefficients, log_ns, scores["spread"].to_numpy(),
                     out_of_fold_ns(d, rows, y, holdout["out_of_fold"].to_numpy(), np.exp(log_ns)),
                     json.loads((trainer_dir / "metrics.json").read_text()))


def out_of_fold_ns(d: _OpData, rows: np.ndarray, y: np.ndarray, out_of_fold: np.ndarray,
                   predicted_ns: np.ndarray) -> np.ndarray:
    """Each training configuration as predicted by members that never trained on it: the ``rows`` an
    ensemble trained on by the members of the other folds (``out_of_fold``, the trainer's, in the
    units of the target ``y``); the ones the trimmed refit left out, which no member trained on, by the
    whole ensemble (``predicted_ns``). NaN for test."""
    ns = np.full(len(y), np.nan)
    ns[rows] = d.ns[rows] * np.exp(out_of_fold - y[rows])
    left_out = d.train & ~rows
    ns[left_out] = predicted_ns[left_out]
    return ns


def out_of_fold_accuracy(d: _OpData, ensemble: _Ensemble) -> dict:
    return accuracy(d.ns[d.train], ensemble.out_of_fold_ns[d.train])


def _score(metrics: dict) -> tuple[float, float]:
    """How models are compared out of fold: more configurations within ±10%, then lower median APE."""
    return metrics["within_10pct"], -metrics["mape_median"]


def chosen_target(d: _OpData, trained: dict[str, _Ensemble], verbose: bool) -> str:
    """The target whose ensemble is the better out of fold."""
    scores = {t: out_of_fold_accuracy(d, e) for t, e in trained.items()}
    target = max(trained, key=lambda t: _score(scores[t]))
    if verbose and len(trained) > 1:
        said = ", ".join(f"{t} {s['within_10pct']:.1%}" for t, s in scores.items())
        print(f"[{d.op}] out-of-fold within ±10%: {said}; keeping {target}", file=sys.stderr, flush=True)
    return target


def interval_classes(d: _OpData) -> np.ndarray:
    """Each configuration's values of ``INTERVAL_CLASS_FEATURES``."""
    names = list(_core.feature_names())
    return d.x[:, [names.index(name) for name in INTERVAL_CLASS_FEATURES]]


def calibrated_interval(d: _OpData, ensemble: _Ensemble, coverage: float) -> dict:
    """The interval calibrated on the out-of-fold errors of every training configuration.

    Trimmed configurations are held out of every member, so their served answer is out of fold; they
    are the configurations the model fits worst, and a calibration without them would be too narrow
    for configurations like them."""
    rows = d.train
    residual = np.abs(np.log(ensemble.out_of_fold_ns[rows] / d.ns[rows]))
    return calibrate_interval(residual, ensemble.spread[rows], coverage, interval_classes(d)[rows])


def program_memo_decision(d: _OpData, ensemble: _Ensemble, cfg: TrainConfig,
                          verbose: bool) -> tuple[program_memo.ProgramMemo | None, dict]:
    """The program memo of the training configurations if it beats the ensemble out of fold on the
    configurations whose program it holds, else None; and what was decided.

    Out of fold for both: each fold's configurations are looked up in the memo of the other folds and
    compared with the ensemble's out-of-fold predictions."""
    train = d.train
    memo = program_memo.build(d.op, d.x[train], d.ns[train], cfg.coverage)
    if memo is None:
        return None, {"used": False, "reason": "no program key for this op's kind, or fewer than "
                      f"{program_memo.MIN_INTERVAL_RATIOS} training configurations share a program"}
    memo_ns = np.full(len(d.ns), np.nan)
    for f in np.unique(d.fold[train]):
        others = train & (d.fold != f)
        fold_memo = program_memo.build(d.op, d.x[others], d.ns[others], cfg.coverage)
        if fold_memo is not None:
            mine = train & (d.fold == f)
            memo_ns[mine] = fold_memo.lookup(d.x[mine])
    twins = ~np.isnan(memo_ns) & ~np.isnan(ensemble.out_of_fold_ns)
    report = {"used": False, "features": memo.features, "programs": int(len(memo.table)),
              "interval_ratio": list(memo.interval_ratio), "out_of_fold_rows": int(twins.sum())}
    if twins.sum() < program_memo.MIN_OUT_OF_FOLD_ROWS:
        report["reason"] = (f"fewer than {program_memo.MIN_OUT_OF_FOLD_ROWS} configurations run a program "
                            "measured in another fold")
        return None, report
    report["out_of_fold"] = {"memo": accuracy(d.ns[twins], memo_ns[twins]),
                             "model": accuracy(d.ns[twins], ensemble.out_of_fold_ns[twins])}
    if _score(report["out_of_fold"]["memo"]) < _score(report["out_of_fold"]["model"]):
        report["reason"] = "the model beats the memo out of fold on the configurations whose program was measured"
        return None, report
    if verbose:
        v = report["out_of_fold"]
        print(f"[{d.op}] serving {len(memo.table)} measured programs: out of fold, on {int(twins.sum())} configurations "
              f"running one, {v['memo']['within_10pct']:.1%} within ±10% against the model's "
              f"{v['model']['within_10pct']:.1%}", file=sys.stderr, flush=True)
    report["used"] = True
    return memo, report


def training_domain(d: _OpData, ensemble: _Ensemble) -> dict:
    """The feature ranges of the configurations the ensemble trained on; the predictor flags answers outside."""
    x = d.x[ensemble.rows]
    return {"min": x.min(axis=0).tolist(), "max": x.max(axis=0).tolist()}


# The columns of an answer, as Predictor.predict_batch gives them, and their types.
SERVED_COLUMNS = {"predicted_ns": float, "lo_ns": float, "hi_ns": float, "in_domain": bool}
# The predictor's tolerance at the training-domain bounds (cpp/src/predictor.cpp).
DOMAIN_EPSILON = 1e-9


def served_answers(d: _OpData, ensemble: _Ensemble, interval: dict, memo: program_memo.ProgramMemo | None
                   ) -> pd.DataFrame:
    """What the C++ predictor answers for every configuration from the folder this training writes
    (``SERVED_COLUMNS`` and ``measured_program``), computed from the trainer's outputs.

    The ensemble answers base * exp(mean), its interval the half-width k * sqrt(spread^2 + sigma0^2)
    in log units with the k and sigma0 of the configuration's class (the pooled ones for a class
    without its own), in domain if every feature lies within the training range. A configuration
    whose program is in the memo gets the memo's measurement and interval, in domain."""
    pooled = (interval["k"], interval["sigma0"])
    by_class = {tuple(c["key"]): (c["k"], c["sigma0"]) for c in interval["classes"]}
    k, sigma0 = np.array([by_class.get(tuple(key), pooled) for key in interval_classes(d).tolist()]).T
    half = k * np.sqrt(ensemble.spread**2 + sigma0**2)
    domain = training_domain(d, ensemble)
    answers = pd.DataFrame({
        "predicted_ns": ensemble.predicted_ns, "lo_ns": np.exp(ensemble.log_ns - half),
        "hi_ns": np.exp(ensemble.log_ns + half),
        "in_domain": ((d.x >= np.array(domain["min"]) - DOMAIN_EPSILON)
                      & (d.x <= np.array(domain["max"]) + DOMAIN_EPSILON)).all(axis=1),
        "measured_program": False})
    if memo is not None:
        memo_ns = memo.lookup(d.x)
        hit = ~np.isnan(memo_ns)
        lo_ratio, hi_ratio = memo.interval_ratio
        answers.loc[hit, "predicted_ns"] = memo_ns[hit]
        answers.loc[hit, "lo_ns"] = memo_ns[hit] * lo_ratio
        answers.loc[hit, "hi_ns"] = memo_ns[hit] * hi_ratio
        answers.loc[hit, ["in_domain", "measured_program"]] = True
    return not_in_domain_where_wide(answers)


# The predictor never calls an answer in domain whose interval spans more than this factor
# (kMaxInDomainSpread in cpp/src/predictor.cpp): a model that unsure does not know the region.
MAX_IN_DOMAIN_SPREAD = 100.0


def not_in_domain_where_wide(answers: pd.DataFrame) -> pd.DataFrame:
    """``answers`` with ``in_domain`` false wherever hi_ns / lo_ns exceeds ``MAX_IN_DOMAIN_SPREAD``, as served."""
    answers.loc[answers["hi_ns"] > MAX_IN_DOMAIN_SPREAD * answers["lo_ns"], "in_domain"] = False
    return answers


def accuracy_metrics(d: _OpData, ensemble: _Ensemble, answers: pd.DataFrame) -> dict:
    """The served answers' accuracy and interval coverage per split, and the out-of-fold accuracy."""
    pred, lo, hi = (answers[c].to_numpy() for c in ("predicted_ns", "lo_ns", "hi_ns"))
    metrics = {s: accuracy(d.ns[d.split == s], pred[d.split == s], lo[d.split == s], hi[d.split == s])
               for s in dataset.SPLITS if (d.split == s).any()}
    metrics["out_of_fold"] = out_of_fold_accuracy(d, ensemble)
    return metrics


def _model_files(ensemble: _Ensemble) -> list[str]:
    """The trainer's outputs that belong in the model folder: all but its score predictions."""
    return sorted(p.name for p in ensemble.dir.iterdir() if p.is_file() and p.name != SCORE_PREDICTIONS)


def manifest_of(d: _OpData, ensemble: _Ensemble, *, interval: dict, metrics: dict,
                memo: program_memo.ProgramMemo | None, memo_report: dict, target_selection: dict,
                seconds: float) -> dict:
    """An op model's manifest: what was trained on what, how well, and every file's checksum."""
    return {"op": d.op,
            # The fields of the op's catalogue entry the features read: the predictor refuses the folder
            # when they change, and only then (other ops, aliases and op codes may come and go).
            "catalogue_entry": json.loads(_core.catalogue_entry(d.op)),
            **ensemble_manifest(d, ensemble, interval=interval, metrics=metrics, memo=memo, memo_report=memo_report,
                                target_selection=target_selection, seconds=seconds)}


def ensemble_manifest(d: _OpData, ensemble: _Ensemble, *, interval: dict, metrics: dict,
                      memo: program_memo.ProgramMemo | None, memo_report: dict, target_selection: dict,
                      seconds: float) -> dict:
    """What the manifest of any trained ensemble (an op's or a kind's) says: its data, target, domain,
    interval, metrics, training and every file's checksum."""
    configs, train = d.configs, ensemble.rows
    files = {name: sha256_file(ensemble.dir / name) for name in _model_files(ensemble)}
    if memo is not None:
        files[program_memo.FILE_NAME] = hashlib.sha256(memo.to_json().encode()).hexdigest()
    sources = sorted({s for v in configs.get("sources", pd.Series(dtype=str)).dropna() for s in str(v).split(";")})
    manifest = {
        "format": "opcast-model",
        "format_version": MANIFEST_FORMAT_VERSION,
        "device": "wormhole_b0",
        "feature_schema_version": _core.FEATURE_SCHEMA_VERSION,
        "feature_names": list(_core.feature_names()),
        "target": ensemble.cfg.target,
        "dataset": {
            "hash": dataset.dataset_hash(configs),
            "configurations": int(len(configs)),
            "groups": int(configs["group"].nunique()),
            "split_rows": {s: int((d.split == s).sum()) for s in dataset.SPLITS},
            "folds": int(len(np.unique(d.fold[train]))),
            "sources": sources,
            "outliers_left_out": d.outliers_left_out,
            "trimmed_from_training": int((d.train & ~train).sum()),
        },
        # Per source: the tt-metal build that measured it, where its publisher recorded one.
        "tt_metal_commit": {s: importers.tt_metal_commit(s) for s in sources},
        "domain": training_domain(d, ensemble),
        "training": {"config": dataclasses.asdict(ensemble.cfg), "seconds": round(seconds, 1),
                     "trainer": ensemble.trainer, "target_selection": target_selection},
        "files": files,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "opcast_version": _package_version(),
    }
    if ensemble.coefficients is not None:
        manifest["fitted_roofline"] = {"terms": list(_core.roofline_term_names()),
                                       "coefficients": ensemble.coefficients.tolist()}
    manifest["interval"] = interval
    manifest["metrics"] = metrics
    manifest["program_memo"] = memo_report
    return manifest


def write_model_folder(model_dir: Path, ensemble: _Ensemble, memo: program_memo.ProgramMemo | None,
                       manifest: dict) -> Path:
    """The model folder, written once: the trainer's weights and metrics, the memo if used, the manifest."""
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    for name in _model_files(ensemble):
        shutil.copyfile(ensemble.dir / name, model_dir / name)
    if memo is not None:
        (model_dir / program_memo.FILE_NAME).write_text(memo.to_json())
    write_manifest(model_dir, manifest)
    return model_dir


# Served answers come from float32 layers (cpp/src/ensemble.cpp), the computed ones from the
# trainer's float64 forward pass. On the real Wormhole data they agree to 8e-7 relative and the
# interval bounds to 7e-6, at exp's widest intervals (half-widths of 2.5 in log units, k ~7 times a
# members' spread of ~0.35 that float32 moves by ~1e-6). A wrong base, class calibration or memo
# entry moves an answer by far more.
SERVED_TOLERANCE = 1e-4


def measured(model_dir: Path, d: _OpData, answers: pd.DataFrame) -> pd.DataFrame:
    """Every configuration as the C++ predictor serves it from ``model_dir``, checked against the
    answers training computed for it (what the manifest's metrics describe)."""
    served = serve(model_dir, d.configs["query"].tolist())
    differs = served["source"].str.startswith("measured-program:").to_numpy() != answers["measured_program"].to_numpy()
    differs |= served["in_domain"].to_numpy(dtype=bool) != answers["in_domain"].to_numpy()
    for column in ("predicted_ns", "lo_ns", "hi_ns"):
        computed = answers[column].to_numpy()
        differs |= ~(np.abs(served[column].to_numpy(dtype=float) - computed) <= SERVED_TOLERANCE * computed)
    if differs.any():
        i = int(np.flatnonzero(differs)[0])
        shown = list(SERVED_COLUMNS)
        raise RuntimeError(
            f"{model_dir}: the predictor serves {int(differs.sum())} of {len(differs)} configurations otherwise than "
            f"training computed (relative tolerance {SERVED_TOLERANCE}); the first, {d.configs['query'][i]}: served "
            f"{served.loc[i, shown + ['source']].to_dict()}, computed "
            f"{answers.loc[i, shown + ['measured_program']].to_dict()}; the trainer (OPCAST_TRAINER) and the opcast "
            "module must come from one build")
    return served


def serve(model_dir: Path, queries: list) -> pd.DataFrame:
    """Predictions of one model folder alone, through the C++ predictor (as users get them)."""
    with tempfile.TemporaryDirectory(prefix="opcast_serve_") as view:
        (Path(view) / model_dir.name).symlink_to(model_dir.resolve(), target_is_directory=True)
        return Predictor(view).predict_batch(queries)


MANIFEST = "manifest.json"
# The manifest's own checksum, in sha256sum's format (``sha256sum -c manifest.sha256`` checks it):
# the manifest lists every other file's checksum, and this one covers the manifest.
MANIFEST_CHECKSUM = "manifest.sha256"


def write_manifest(model_dir: Path, manifest: dict) -> None:
    """Writes manifest.json and its checksum beside it (the predictor refuses a folder where they disagree)."""
    text = (json.dumps(manifest, indent=2) + "\n").encode()
    (model_dir / MANIFEST).write_bytes(text)
    (model_dir / MANIFEST_CHECKSUM).write_text(f"{hashlib.sha256(text).hexdigest()}  {MANIFEST}\n")


def _package_version() -> str:
    from .. import __version__
    return __version__


def train(paths, out_dir: str | os.PathLike, *, config: TrainConfig | None = None, per_op: dict | None = None,
          ops: list[str] | None = None, verbose: bool = True) -> pd.DataFrame:
    """``opcast train``: every op found in ``paths`` (files or folders) -> ``out_dir/<op>/``.

    Returns one row per op: configurations, held-out metrics, or why it was skipped.
    """
    records, report = importers.load(paths, report=True)
    if verbose:
        _print_frame("import", report)
    return train_records(records, out_dir, config=config, per_op=per_op, ops=ops, verbose=verbose)


def train_records(records: pd.DataFrame, out_dir: str | os.PathLike, *, config: TrainConfig | None = None,
                  per_op: dict | None = None, ops: list[str] | None = None, verbose: bool = True) -> pd.DataFrame:
    """``train`` on imported records: the op models, the kind models and the calibrated roofline,
    each with the table of the builds it learned (``builds``)."""
    config = config or TrainConfig()
    per_op = per_op or {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = records if config.keep_superseded else records[~dataset.superseded(records)]
    factors = builds.fit_factors(kept[kept["kernel_ns"].notna()])
    if verbose:
        reference = factors[factors["reference"]].set_index("op")["build"]
        _print_frame("builds (each op's answers are for its reference build, its newest)",
                     factors.groupby("op").agg(builds=("build", "size"), identified=("identified", "sum"),
                                               rows=("rows", "sum")).assign(reference=reference).reset_index())
        _print_frame("inconsistent repeats (suspect configurations are left out of training)",
                     dataset.suspect_report(records, factor=config.suspect_factor))
        old = records[dataset.superseded(records)]
        if len(old) and not config.keep_superseded:
            _print_frame("superseded sources (re-measured later on a newer tt-metal; left out of training)",
                         old.groupby(["op", "source"]).size().rename("rows").reset_index())
    rows = []
    configs_by_op = {}
    for op, op_records in records.groupby("op", sort=True):
        if ops and op not in ops:
            continue
        cfg = config.replace(**per_op.get(op, {}))
        configs = dataset.aggregate(op_records, factor=cfg.suspect_factor, keep_suspect=cfg.keep_suspect,
                                    keep_superseded=cfg.keep_superseded, build_factors=factors)
        configs_by_op[op] = configs
        n_groups = configs["group"].nunique() if len(configs) else 0
        if len(configs) < cfg.min_configurations or n_groups < 3:
            rows.append({"op": op, "configurations": len(configs), "groups": n_groups,
                         "status": f"skipped: fewer than {cfg.min_configurations} configurations or 3 shape groups"})
            continue
        if verbose:
            print(f"[{op}] training on {len(configs)} configurations in {n_groups} shape groups", file=sys.stderr, flush=True)
        manifest, _ = fit_op(op, configs, out_dir, cfg, verbose=verbose,
                             build_table=builds.table(factors[factors["op"] == op], cfg.coverage))
        test = manifest["metrics"].get("test", {})
        rows.append({"op": op, "configurations": len(configs), "groups": n_groups, "status": "trained",
                     "out_of_fold_within_10pct": manifest["metrics"]["out_of_fold"]["within_10pct"],
                     "test_within_10pct": test.get("within_10pct"), "test_mape_median": test.get("mape_median"),
                     "test_coverage": test.get("coverage"), "seconds": manifest["training"]["seconds"]})
    # Under the op models, the kind models and the calibrated roofline answer every other op.
    from . import kinds

    summary = pd.concat([pd.DataFrame(rows), kinds.train_tiers(configs_by_op, out_dir, config, verbose,
                                                               kinds.dispatch_gap(records), factors)],
                        ignore_index=True)
    summary.to_csv(out_dir / "training_summary.csv", index=False)
    return summary


def _print_frame(title: str, frame: pd.DataFrame) -> None:
    print(f"\n== {title}", file=sys.stderr)
    print(frame.to_string(index=False) if len(frame) else "(none)", file=sys.stderr, flush=True)
