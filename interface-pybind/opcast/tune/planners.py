"""What every planner is: something that picks one option per op of a :class:`TuningProblem`.

Three stand behind this interface: :class:`DefaultPlanner` (the trace's own placements: the public
ports' default plans), :class:`opcast.tune.search.OpcastPlanner` (predicted time, exact where it can
be) and :class:`opcast.tune.ttmlir.TtMlirPlanner` (tt-mlir's fixed score, no time).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from .costs import TuningProblem


@dataclasses.dataclass(frozen=True)
class Solution:
    """A planner's answer: the option index of every op, and what the planner says of its search."""

    assignment: tuple[int, ...]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


class Planner(Protocol):
    name: str

    def plan(self, problem: TuningProblem) -> Solution: ...


class DefaultPlanner:
    """The plan the trace was made under, unchanged."""

    name = "default"

    def plan(self, problem: TuningProblem) -> Solution:
        return Solution(tuple(problem.default))
