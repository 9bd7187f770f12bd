"""``opcast sweep run --budget N``: measure first the vectors the current models are least sure of.

A budgeted sweep goes in rounds. Each round trains the models on every timed vector the store holds
for the backend (``opcast train`` on its dataset, nothing held out), asks them about every vector
still to measure (:class:`opcast.Predictor`), and measures the ``round_size`` vectors whose answers
are least certain: the widest intervals, ``ln(hi_ns / lo_ns)``, which is the ensemble members'
spread widened by the interval's calibration (or, for an op too thinly measured for its own model,
the wider interval of its kind's model or the calibrated roofline, so such an op is measured first).
Ties, and every vector when nothing is trained yet, go to the vectors farthest from anything
measured. Each op ranks its own vectors and the ops take turns (different models' widths are not on
one scale). Within a round no two picks of an op are near-duplicates: nearer than the median
distance between a candidate and its nearest other candidate, in the C++ library's features (those
that vary among the op's vectors, standardized), so one round does not spend itself on one
uncertain corner. Then it
trains again, until N vectors are measured. The vectors not picked stay unmeasured, and the next run
(budgeted or not) continues from what the store holds.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import export, harness, statuses, vectors
from .store import Store

# What each backend's timed rows are called in the dataset (export.write_dataset's file names).
TIMINGS = {"host": "host_torch", "wormhole": "trace_replay"}
DEVICE_KERNEL = "device_kernel"
MODELS_MARK = ".opcast_budget_models"  # a --models folder a budgeted sweep may empty


@dataclasses.dataclass
class Round:
    """One round: the vectors measured before it, what was trained on them (ops, kinds, the roofline),
    and how many it picked with their median uncertainty, ln(hi/lo) (inf where no model answered)."""

    measured_before: int
    picked: int
    median_width: float
    trained: list[str]


@dataclasses.dataclass
class BudgetSummary:
    rounds: list[Round]
    summaries: list[harness.Summary]
    queued: int  # vectors of the sweep left unmeasured

    def line(self) -> str:
        measured = sum(r.picked for r in self.rounds)
        seconds = sum(s.seconds for s in self.summaries)
        return (f"budget: {measured} vectors measured in {len(self.rounds)} rounds ({seconds:.1f} s measuring), "
                f"{self.queued} left for later runs")


def timing_of(backend: str, device_perf: bool) -> str:
    """The dataset a budgeted sweep trains on; ValueError for a backend that times nothing."""
    if backend == "mock":
        raise ValueError("--budget picks vectors by how unsure the models are of their time; the mock backend "
                         "times nothing (run it without --budget)")
    return DEVICE_KERNEL if device_perf else TIMINGS[backend]


def train_models(rows: list[dict[str, Any]], timing: str, op_names: list[str], out: Path, *,
                 keep_suspect: bool) -> list[str]:
    """Train on the timed rows (``opcast train`` on their dataset, everything trained); what was trained
    (ops, kinds, the roofline: training summary's names). ``out`` is emptied first, unless it holds
    something a budgeted sweep did not write there (ValueError: nothing of the user's is deleted)."""
    from ..train import fit

    if out.exists() and any(out.iterdir()) and not (out / MODELS_MARK).is_file():
        raise ValueError(f"{out}: a folder that a budgeted sweep did not make; --models takes a new folder "
                         "(each round's models replace the last)")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / MODELS_MARK).write_text("models of opcast sweep run --budget: each round replaces them\n")
    dataset = out / "_dataset"
    written = [p for p in export.write_dataset(rows, dataset) if p.stem == timing]
    if not written:
        return []
    config = fit.TrainConfig(test_fraction=0.0, keep_suspect=keep_suspect)
    summary = fit.train(written, out, config=config, ops=op_names, verbose=False)
    shutil.rmtree(dataset)
    return sorted(summary.loc[summary["status"] == "trained", "op"].tolist())


def widths(models: Path, queries: list[str]) -> np.ndarray:
    """ln(hi_ns / lo_ns) of every query's answer; inf where nothing answers (no model yet)."""
    from .. import ModelError, Predictor

    out = np.full(len(queries), math.inf)
    if not queries:
        return out
    try:
        predictor = Predictor(models)
    except ModelError:  # nothing trained yet: no folder holds a model
        return out
    answers = predictor.predict_batch(queries, errors="collect")
    lo = answers["lo_ns"].to_numpy(dtype=float, na_value=np.nan)
    hi = answers["hi_ns"].to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
    out[ok] = np.log(hi[ok] / lo[ok])
    return out


def _standardized(queries: list[str]) -> np.ndarray:
    """The C++ library's features of the queries, those that vary among them, each to mean 0 and sd 1."""
    from .. import features_batch

    x = features_batch(queries)[0]
    sd = x.std(axis=0)
    varying = sd > 1e-9
    return (x[:, varying] - x[:, varying].mean(axis=0)) / sd[varying]


def select(todo: list[harness.Work], queries: list[str], width: np.ndarray, measured_queries: dict[str, list[str]],
           k: int) -> list[int]:
    """Indices of ``k`` vectors of ``todo`` (whose queries are ``queries``): widest interval first, then
    farthest from anything measured of its op, skipping near-duplicates of a vector already picked (see
    the module doc)."""
    from scipy.spatial import cKDTree

    by_op: dict[str, list[int]] = {}
    for i, w in enumerate(todo):
        by_op.setdefault(w.op, []).append(i)
    far = np.full(len(todo), math.inf)
    points: dict[int, np.ndarray] = {}
    near: dict[str, float] = {}
    for op, idx in by_op.items():
        measured = measured_queries.get(op, [])
        z = _standardized([queries[i] for i in idx] + measured)
        mine = z[:len(idx)]
        for i, p in zip(idx, mine):
            points[i] = p
        if measured:
            far[idx] = cKDTree(z[len(idx):]).query(mine, k=1)[0]
        if len(idx) > 1:
            near[op] = float(np.median(cKDTree(mine).query(mine, k=2)[0][:, 1]))
        else:
            near[op] = 0.0
    # Each op's own ranking, then the ops in turn: widths of different models (an op's, its kind's,
    # the roofline's) are not on one scale, and an op answered by a wide roofline must not starve the rest.
    ranked = []
    for op, idx in by_op.items():
        order = sorted(idx, key=lambda i: (-width[i], -far[i], todo[i].vector_id))
        picked: list[int] = []
        skipped: list[int] = []
        for i in order:
            if len(picked) == k:
                break
            if picked and min(float(np.linalg.norm(points[i] - points[j])) for j in picked) < max(near[op], 1e-9):
                skipped.append(i)
                continue
            picked.append(i)
        # Too few far-apart vectors left: the op's list is filled with the near ones, most uncertain first.
        ranked.append(picked + skipped[:k - len(picked)])
    out: list[int] = []
    for turn in range(k):
        for mine in ranked:
            if turn < len(mine) and len(out) < k:
                out.append(mine[turn])
    return out


def run_budget(store: Store, backend: str, op_names: list[str], suites: list[str] | None, budget: int, *,
               round_size: int | None = None, models: str | Path | None = None, device_perf: bool = False,
               candidates: list[harness.Work] | None = None,
               measure: Callable[[list[harness.Work]], harness.Summary] | None = None,
               on_round: Callable[[int, Path, list[str]], None] | None = None, **options: Any) -> BudgetSummary:
    """Measure ``budget`` vectors of ``op_names`` (and ``suites``) that the store lacks, in rounds of
    ``round_size`` (default: a fifth of the budget), each picked by the models trained on everything
    measured before it (see the module doc).

    models: where each round's models are trained (kept: the last are trained on everything measured);
    default a temporary folder. candidates: the vectors to choose from (default: every valid one of
    ``op_names`` and ``suites`` that the store lacks). measure: records the vectors it is given in the store (default
    ``harness.record_work`` with ``options``; the Ray fleet's ``record_work`` runs them on a cluster).
    on_round(round, models folder, what was trained): called after each training, and once
    more after the last round's vectors are measured and trained on."""
    if budget < 1:
        raise ValueError(f"--budget is the number of vectors to measure, at least 1; got {budget}")
    round_size = round_size or max(1, math.ceil(budget / 5))
    if round_size < 1:
        raise ValueError(f"--round-size must be at least 1, got {round_size}")
    timing = timing_of(backend, device_perf)
    if measure is None:
        def measure(todo):
            return harness.record_work(store, backend, todo, device_perf=device_perf, **options)
    # A host repeat at twice another is common on a loaded CPU: leaving such configurations out (as
    # opcast train does by default) would throw away most of what the budget bought; the medians and
    # the trainer's 1/spread^2 weights carry the noise instead.
    keep_suspect = backend == "host"
    scratch = None if models is not None else tempfile.TemporaryDirectory(prefix="opcast_budget_")
    folder = Path(models) if models is not None else Path(scratch.name) / "models"
    rounds: list[Round] = []
    summaries: list[harness.Summary] = []
    try:
        left = budget
        todo = _candidates(store, backend, op_names, suites) if candidates is None else list(candidates)
        for number in range(budget + 1):
            rows = store.rows(backend=backend, ops=op_names)
            trained = train_models(rows, timing, op_names, folder, keep_suspect=keep_suspect)
            if on_round is not None:
                on_round(number, folder, trained)
            if left == 0 or not todo:
                break
            measured: dict[str, list[str]] = {}
            for r in rows:
                if r.get("query") and r["status"] != statuses.NOT_RUN:
                    measured.setdefault(r["op"], []).append(r["query"])
            queries = [vectors.query_json(w.record) for w in todo]
            width = widths(folder, queries)
            chosen = select(todo, queries, width, measured, min(round_size, left))
            picks = [todo[i] for i in chosen]
            finite = [width[i] for i in chosen if math.isfinite(width[i])]
            rounds.append(Round(sum(len(q) for q in measured.values()), len(picks),
                                float(np.median(finite)) if finite else math.inf, trained))
            summaries.append(measure(picks))
            left -= len(picks)
            taken = {w.vector_id for w in picks}
            todo = [w for w in todo if w.vector_id not in taken]
        return BudgetSummary(rounds, summaries, len(todo))
    finally:
        if scratch is not None:
            scratch.cleanup()


def _candidates(store: Store, backend: str, op_names: list[str], suites: list[str] | None) -> list[harness.Work]:
    """The valid vectors the store lacks (invalid ones cost nothing and wait for a plain run)."""
    todo = harness.plan(backend, op_names, suites, store.finished(backend))
    return [w for w in todo if w.reason is None]
