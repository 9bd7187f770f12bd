"""The baseline: tt-mlir's layout choice, which never asks how long an op takes.

tt-mlir's optimizer (tenstorrent/tt-mlir, GreedyLayoutPropagation and L1SpillManagement; see
../shared/notes/tenstorrent-facts.md) visits ops in topological order; each op crosses its producers'
beam entries with its own legal outputs and keeps the best ``beam_width`` (8) by a fixed
lexicographic score, ``LayoutScore``: L1 before DRAM, then sharded before interleaved, then fewer bytes
read from DRAM, then no reshard, then more cores, then less L1. A backward pass settles the beams
where a tensor feeds several ops. Then, walking the schedule, whenever the live L1 tensors and the op
no longer fit ``l1_usage_cap`` (0.95) of the L1 bank, the live tensor used farthest in the future is
evicted to DRAM.

Here, with the same options and legality as opcast's planner: ``requiresReshard`` is a sharded input
placed unlike the op's output (the op moves it between shardings; tt-mlir would insert a reshard there),
at a fork the later consumer's choice stands and earlier consumers are re-scored with it, and an
evicted tensor is written to DRAM by its producer (tt-mlir adds a copy to DRAM instead, which this
baseline does not pay).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

from .. import vocabulary
from ..vocabulary import Tensor
from .costs import Choice, TuningProblem
from .planners import Solution
from .schedule import tensor_bytes


class _Entry(NamedTuple):
    score: tuple
    option: int
    picks: tuple[int, ...]  # the beam entry taken from each source


class TtMlirPlanner:
    """tt-mlir's rule: LayoutScore with a beam of ``beam_width`` and farthest-use eviction at
    ``l1_usage_cap`` of the L1 bank."""

    name = "tt-mlir-style"

    def __init__(self, beam_width: int = 8, l1_usage_cap: float = 0.95):
        if beam_width < 1 or not 0 < l1_usage_cap <= 1:
            raise ValueError(f"need beam_width >= 1 and 0 < l1_usage_cap <= 1, got {beam_width}, {l1_usage_cap}")
        self.beam_width, self.l1_usage_cap = beam_width, l1_usage_cap

    def plan(self, problem: TuningProblem) -> Solution:
        beams = self._propagate(problem)
        assignment = self._settle(problem, beams)
        spilled = self._spill(problem, assignment)
        return Solution(tuple(assignment), {"spilled": spilled})

    # -- forward: a beam of the best-scored (inputs, output) pairs per op -----------------------------------
    def _propagate(self, problem: TuningProblem) -> list[list[_Entry]]:
        beams: list[list[_Entry]] = []
        for j in range(len(problem)):
            sources = problem.flow.sources(j)
            entries = []
            for picks in itertools.product(*(range(len(beams[p])) for p in sources)):
                combo = tuple(beams[p][b].option for p, b in zip(sources, picks))
                for k in range(len(problem.options[j])):
                    c = problem.choices[j].get((combo, k))
                    if c is not None and c.legal:
                        entries.append(_Entry(_score(problem, j, combo, k, c), k, picks))
            if not entries:  # tt-mlir's fallback: DRAM interleaved, from the producers' best entries
                entries = [_Entry((), _dram_option(problem, j), (0,) * len(sources))]
            entries.sort(key=lambda e: e.score, reverse=True)  # stable: ties stay in option order
            beams.append(entries[:self.beam_width])
        return beams

    # -- backward: one entry per op, the later consumer winning at forks; then legal with what it reads --
    def _settle(self, problem: TuningProblem, beams: list[list[_Entry]]) -> list[int]:
        taken: list[int | None] = [None] * len(problem)
        for j in range(len(problem) - 1, -1, -1):
            if taken[j] is None:
                taken[j] = 0
            for p, b in zip(problem.flow.sources(j), beams[j][taken[j]].picks):
                if taken[p] is None:
                    taken[p] = b
        assignment = [beams[j][b].option for j, b in enumerate(taken)]
        for j in range(len(problem)):
            self._rescore(problem, assignment, j)
        return assignment

    @classmethod
    def _rescore(cls, problem: TuningProblem, assignment: list[int], j: int) -> None:
        """Keep op j's option if it is legal with the inputs it now reads, else take the best-scored one
        that is; where none is (layer_norm refuses a height-sharded input whatever it writes), its
        sharded producers write to DRAM instead (tt-mlir's fallback for a layout no consumer takes) and
        their other consumers are looked at again."""
        c = problem.choice(assignment, j)
        if c is not None and c.legal:
            return
        scored = cls._legal_outputs(problem, assignment, j)
        if not scored:
            moved = [p for p in problem.flow.sources(j) if problem.options[p][assignment[p]].sharded]
            for p in moved:
                assignment[p] = _dram_option(problem, p)
            scored = cls._legal_outputs(problem, assignment, j)
            for p in moved:
                for other in problem.flow.consumers(p):
                    if other != j:
                        cls._rescore(problem, assignment, other)
        assignment[j] = max(scored)[1] if scored else _dram_option(problem, j)

    @staticmethod
    def _legal_outputs(problem: TuningProblem, assignment: list[int], j: int) -> list[tuple[tuple, int]]:
        combo = tuple(assignment[p] for p in problem.flow.sources(j))
        return [(_score(problem, j, combo, k, c), k) for k in range(len(problem.options[j]))
                if (c := problem.choices[j].get((combo, k))) is not None and c.legal]

    # -- the L1 schedule: evict the live tensor used farthest in the future -------------------------------
    def _spill(self, problem: TuningProblem, assignment: list[int]) -> list[str]:
        flow, budget, spilled = problem.flow, self.l1_usage_cap * problem.l1_limit, []
        for j in range(len(problem)):
            for _ in range(len(problem) + 1):  # each pass evicts one L1 tensor to DRAM
                c = problem.choice(assignment, j)
                live = [p for p in flow.live_before(j) if problem.resident[p][assignment[p]] > 0]
                held = problem.fixed_l1 + sum(problem.resident[p][assignment[p]] for p in live)
                if c is None or held + c.l1_peak <= budget:
                    break
                evictable = [p for p in live if p not in flow.sources(j)]
                if evictable:
                    victim = max(evictable, key=lambda p: (_next_use(problem, p, j), p))
                elif problem.options[j][assignment[j]].memory in vocabulary.L1:
                    victim = j  # nothing else to evict: the op writes to DRAM
                else:
                    break  # over the budget whatever is evicted: the plan says so when evaluated
                assignment[victim] = _dram_option(problem, victim)
                spilled.append(problem.names[victim])
                for consumer in flow.consumers(victim):
                    self._rescore(problem, assignment, consumer)
        return spilled


def layout_score(inputs: Sequence[Tensor], output: Tensor, l1_peak: int) -> tuple:
    """tt-mlir's LayoutScore of an op reading ``inputs`` and writing ``output`` with ``l1_peak`` bytes
    of L1 per core: larger is better, compared element by element."""
    dram_bytes = sum(tensor_bytes(t) for t in inputs if t.memory not in vocabulary.L1)
    reshard = any(t.sharded and t.memory in vocabulary.L1 and (t.memory, t.core_count) != (output.memory, output.core_count)
                  for t in inputs)
    return (output.memory in vocabulary.L1, output.sharded, -dram_bytes, not reshard, output.core_count or 0, -l1_peak)


def _score(problem: TuningProblem, j: int, combo: tuple[int, ...], k: int, choice: Choice) -> tuple:
    """The score of op j writing option k from its sources at ``combo`` (its weights are the same for
    every option, so they change no ranking and are left out)."""
    read = [problem.options[p][o] for p, o in zip(problem.flow.sources(j), combo)]
    return layout_score(read, problem.options[j][k], choice.l1_peak)


def _dram_option(problem: TuningProblem, j: int) -> int:
    default_dtype = problem.options[j][problem.default[j]].dtype
    return next(k for k, t in enumerate(problem.options[j])
                if t.memory == vocabulary.DRAM_INTERLEAVED and t.dtype == default_dtype)


def _next_use(problem: TuningProblem, p: int, j: int) -> int:
    return min(c for c in problem.flow.consumers(p) if c >= j)
