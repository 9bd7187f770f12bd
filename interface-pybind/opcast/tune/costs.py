"""The tuning problem: every op's options, each priced and judged for every placement of its inputs.

A plan places each op's output (an option of :mod:`opcast.tune.space`); an op reads its inputs where
their producers placed them, as ttnn does: every ttnn op (0.81.1) reads DRAM or L1, interleaved or
sharded inputs itself, so the data crossing from one placement to another (reshard, interleaved to
sharded, L1 to DRAM) moves inside the consuming op, and the consumer's query, with its real input
placements, prices it. An op that refuses its producer's placement is illegal there: the plan format
names op outputs only, so a plan cannot put a move between two ops (ttnn_backend's fallback would, and
a tuned plan must run as planned). What a plan does imply beside its ops are the device ops ttnn adds
for a placement (:func:`opcast.tune.legality.added_ops`: a linear's separate bias add when it touches
L1), priced like ops. The cost of a plan is

    sum over its device ops of the predicted kernel time + the dispatch gap between device ops

and it is legal when every op is legal with its inputs as placed and, at every op, the L1 held by live
tensors plus the op's own peak fits the bank (:mod:`opcast.tune.schedule`).

The interval of a plan is the sum of its ops' intervals (errors of one model and one build lean the
same way; ``Trace.predicted_total`` sums them alike). Planners compare options by a price that leans
towards the more certain answer: ``ns * (hi / lo) ** risk`` (:meth:`Choice.price`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import vocabulary
from ..plans import Trace, format_memory
from ..vocabulary import Tensor
from .legality import Legality
from .schedule import Dataflow, l1_bytes_per_bank
from .space import SearchSpace


@dataclasses.dataclass(frozen=True)
class Choice:
    """One op with its inputs placed one way and its output another: legal or why not, its own L1 peak
    per core, the predicted time and interval of its device ops (``device_ops``: the op's own and those
    ttnn adds), the predictor tier and the legality oracle that answered."""

    legal: bool
    reason: str | None
    l1_peak: int
    ns: float
    lo_ns: float
    hi_ns: float
    source: str
    judged_by: str
    device_ops: int = 1

    def price(self, risk: float, dispatch_ns: float = 0.0) -> float:
        """The time a planner minimises: the prediction, raised by the width of its interval, so that of
        two options within noise the more certain one wins (``risk`` 0: the prediction alone), and the
        dispatch gap of each device op."""
        return self.ns * (self.hi_ns / max(self.lo_ns, 1e-9)) ** risk + dispatch_ns * self.device_ops


@dataclasses.dataclass(frozen=True)
class PlanCost:
    """A plan's predicted latency (kernels + dispatch gaps) with its interval, its price, and whether it
    is legal: ``illegal`` lists (op, reason), ``l1_over`` (op, bytes per core needed) past the bank."""

    ns: float
    lo_ns: float
    hi_ns: float
    dispatch_ns: float
    device_ops: int
    price: float
    per_op: list[dict[str, Any]]
    illegal: list[tuple[str, str]]
    l1_over: list[tuple[str, int]]
    max_l1: int

    @property
    def legal(self) -> bool:
        return not self.illegal and not self.l1_over

    def summary(self) -> dict[str, Any]:
        return {"ns": self.ns, "lo_ns": self.lo_ns, "hi_ns": self.hi_ns, "dispatch_ns": self.dispatch_ns,
                "device_ops": self.device_ops, "legal": self.legal, "illegal": [list(x) for x in self.illegal],
                "l1_over": [list(x) for x in self.l1_over], "max_l1_per_core": self.max_l1}


@dataclasses.dataclass
class TuningProblem:
    """What a planner sees. names / ops: per op, its name and TTNN op. flow: who feeds whom.
    options[j]: op j's output in every placement considered; default[j]: the index of the trace's own.
    choices[j][(source options, k)]: op j with its sources (``flow.sources(j)``) at those option
    indices and its output at option k (missing: not priced). resident[j][k]: L1 bytes per bank of
    option k. fixed_l1: L1 per bank held throughout by weights and inputs. l1_limit: the bank size.
    dispatch_ns: the gap between back-to-back device ops."""

    names: list[str]
    ops: list[str]
    flow: Dataflow
    options: list[list[Tensor]]
    default: list[int]
    choices: list[dict[tuple[tuple[int, ...], int], Choice]]
    resident: list[list[int]]
    fixed_l1: int
    l1_limit: int
    dispatch_ns: float = 0.0

    def __len__(self) -> int:
        return len(self.names)

    def choice(self, assignment: Sequence[int], j: int) -> Choice | None:
        """Op j's choice under a whole assignment (an option index per op)."""
        return self.choices[j].get((tuple(assignment[p] for p in self.flow.sources(j)), assignment[j]))

    def evaluate(self, assignment: Sequence[int], risk: float = 0.0) -> PlanCost:
        """The cost, interval and legality of a whole plan, op by op in trace order."""
        if len(assignment) != len(self):
            raise ValueError(f"an assignment needs one option per op: {len(self)} ops, got {len(assignment)}")
        ns = lo = hi = price = 0.0
        device_ops, per_op, illegal, l1_over, max_l1 = 0, [], [], [], 0
        for j, name in enumerate(self.names):
            c = self.choice(assignment, j)
            live = self.fixed_l1 + sum(self.resident[p][assignment[p]] for p in self.flow.live_before(j))
            row = {"name": name, "op": self.ops[j], "placement": self.placement(j, assignment[j])}
            per_op.append(row)
            if c is None or not c.legal:
                illegal.append((name, "not priced" if c is None else c.reason))
            if c is None:
                continue
            total = live + c.l1_peak
            max_l1 = max(max_l1, total)
            if total > self.l1_limit:
                l1_over.append((name, total))
            ns, lo, hi = ns + c.ns, lo + c.lo_ns, hi + c.hi_ns
            price, device_ops = price + c.price(risk, self.dispatch_ns), device_ops + c.device_ops
            row.update(ns=c.ns, lo_ns=c.lo_ns, hi_ns=c.hi_ns, device_ops=c.device_ops, source=c.source,
                       l1_per_core=total, judged_by=c.judged_by)
        gaps = self.dispatch_ns * device_ops
        return PlanCost(ns + gaps, lo + gaps, hi + gaps, gaps, device_ops, price, per_op, illegal, l1_over, max_l1)

    def placement(self, j: int, k: int) -> str:
        """Option k of op j in words: ``L1_HEIGHT_SHARDED(8 cores)``, with its dtype where it differs."""
        t = self.options[j][k]
        words = format_memory(t.to_dict())
        return words if t.dtype == self.options[j][self.default[j]].dtype else f"{words} {t.dtype}"


def build_problem(trace: Trace, predictor: Any, legality: Legality, space: SearchSpace = SearchSpace(), *,
                  dispatch_ns: float = 0.0) -> TuningProblem:
    """Every op of ``trace`` with every option of ``space`` (and the trace's own placement) and every
    placement of its inputs, judged by ``legality`` and priced, with the device ops ttnn adds, by
    ``predictor`` (an :class:`opcast.Predictor`), in one batch each."""
    flow = Dataflow.of_trace(trace)
    options, default = [], []
    for r in trace.ops:
        opts = space.options(r.output)
        if r.output not in opts:
            opts.insert(0, r.output)
        options.append(opts)
        default.append(opts.index(r.output))
    keys, queries = [], []
    for j, r in enumerate(trace.ops):
        sources = flow.sources(j)
        for combo in itertools.product(*(range(len(options[p])) for p in sources)):
            placed = dict(zip(sources, combo))
            inputs = [t if p is None else options[p][placed[p]] for p, t in zip(flow.producers[j], r.inputs)]
            for k, out in enumerate(options[j]):  # the output with its shape, as OpRecord.query gives it
                keys.append((j, combo, k))
                queries.append(vocabulary.make_query(r.op, inputs, out.to_dict(), r.attributes))
    verdicts = legality.legal_many(queries)
    added = [q for v in verdicts for q in v.added]
    answers = predictor.predict_batch(queries + added, errors="collect")
    columns = list(zip(*(answers[c].tolist() for c in ("predicted_ns", "lo_ns", "hi_ns", "source", "error"))))
    extra = iter(columns[len(queries):])
    choices: list[dict] = [{} for _ in trace.ops]
    for (j, combo, k), verdict, own in zip(keys, verdicts, columns):
        answered = [own] + [next(extra) for _ in verdict.added]
        failed = next((error for *_, error in answered if isinstance(error, str)), None)
        peak = verdict.l1_per_core if verdict.l1_per_core is not None else l1_bytes_per_bank(options[j][k])
        if failed is not None:
            choices[j][(combo, k)] = Choice(False, f"no prediction: {failed}", int(peak), 0.0, 0.0, 0.0, "",
                                            verdict.source, len(answered))
            continue
        ns, lo, hi = (sum(float(a[i]) for a in answered) for i in range(3))
        choices[j][(combo, k)] = Choice(verdict.legal, verdict.reason, int(peak), ns, lo, hi, own[3], verdict.source,
                                        len(answered))
    resident = [[l1_bytes_per_bank(t) for t in opts] for opts in options]
    fixed = sum(l1_bytes_per_bank(t) for t in trace.tensors.values())
    return TuningProblem([r.name for r in trace.ops], [r.op for r in trace.ops], flow, options, default, choices,
                         resident, fixed, legality.l1_limit, dispatch_ns)


def trace_cost(trace: Trace, predictor: Any, legality: Legality, *, dispatch_ns: float = 0.0) -> PlanCost:
    """The cost of the plan a trace was made under, as the tuner prices it."""
    problem = build_problem(trace, predictor, legality, SearchSpace(memories=(vocabulary.DRAM_INTERLEAVED,)),
                            dispatch_ns=dispatch_ns)
    return problem.evaluate(problem.default)


def dispatch_gap_ns(models_dir: str | Path) -> float | None:
    """The gap between back-to-back device ops that training learned from the profilers' OP TO OP
    LATENCY (the calibrated roofline's manifest); None where the models folder has none."""
    manifest = Path(models_dir) / "roofline" / "manifest.json"
    if not manifest.is_file():
        return None
    dispatch = json.loads(manifest.read_text()).get("dispatch") or {}
    return dispatch.get("op_to_op_ns")
