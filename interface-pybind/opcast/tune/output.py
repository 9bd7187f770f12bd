"""A planner's solution as a plan file, and what the tuning found, side by side for every planner.

The plan is the model's default plan with one exact-name ``ops`` entry for every op placed otherwise
(memory, shard grid / core count, dtype). Its JSON adds a ``tuning`` section (``Plan.load`` reads the
plan and ignores it): the model, batch, legality oracle, search space, and per planner its predicted
latency with the interval, whether it is legal, and the ops it changed; the tt-mlir-style plan itself
is kept there for ``opcast bench``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..plans import Plan, Trace
from .costs import PlanCost, TuningProblem

TUNING_KEY = "tuning"


def plan_of(problem: TuningProblem, assignment: Sequence[int], base: Plan, name: str) -> Plan:
    """``base`` with an exact-name entry for every op whose option is not the trace's own (entries come
    last, so they win over the base's patterns)."""
    data = base.to_dict()
    data["name"] = name
    ops = dict(data["ops"])
    for j, k in enumerate(assignment):
        if k == problem.default[j]:
            continue
        t, own = problem.options[j][k], problem.options[j][problem.default[j]]
        entry: dict[str, Any] = {"memory": t.memory, "grid": list(t.grid) if t.sharded and t.grid else None,
                                 "core_count": t.core_count if t.sharded else None}
        if t.dtype != own.dtype:
            entry["dtype"] = t.dtype
        ops.pop(problem.names[j], None)
        ops[problem.names[j]] = entry
    data["ops"] = ops
    return Plan(data)


def check_reproduced(problem: TuningProblem, assignment: Sequence[int], trace: Trace) -> None:
    """The trace made under a plan must place every op as the planner chose; ValueError naming the
    first op that is not."""
    for j, (record, k) in enumerate(zip(trace.ops, assignment)):
        if record.name != problem.names[j] or record.output != problem.options[j][k]:
            raise ValueError(f"the plan does not reproduce the tuned placement of op {j} ({problem.names[j]}): "
                             f"wanted {problem.options[j][k].to_dict()}, traced {record.output.to_dict()}")


def changes(problem: TuningProblem, assignment: Sequence[int], cost: PlanCost,
            baseline: PlanCost) -> list[dict[str, Any]]:
    """The ops placed otherwise than by the default plan: from what, to what, predicted time both ways."""
    out = []
    for j, k in enumerate(assignment):
        if k != problem.default[j]:
            out.append({"name": problem.names[j], "op": problem.ops[j],
                        "from": problem.placement(j, problem.default[j]), "to": problem.placement(j, k),
                        "ns_from": baseline.per_op[j].get("ns"), "ns_to": cost.per_op[j].get("ns")})
    return out


def planner_report(problem: TuningProblem, assignment: Sequence[int], cost: PlanCost, baseline: PlanCost,
                   info: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    return {**cost.summary(), "search": dict(info), "seconds": round(seconds, 4),
            "changed": changes(problem, assignment, cost, baseline)}


def write_plan(path: str | Path, plan: Plan, tuning: Mapping[str, Any]) -> None:
    Path(path).write_text(json.dumps({**plan.to_dict(), TUNING_KEY: dict(tuning)}, indent=1) + "\n")


def read_tuning(path: str | Path) -> dict[str, Any] | None:
    """The ``tuning`` section of a plan file written by ``opcast tune`` (None for any other plan)."""
    return json.loads(Path(path).read_text()).get(TUNING_KEY)


def format_comparison(tuning: Mapping[str, Any]) -> str:
    """Lines for a terminal: predicted latency with its interval per planner, and what opcast changed."""
    lines = [f"{tuning['model']} batch {tuning['batch']} ({tuning['legality']} legality, "
             f"dispatch gap {tuning['dispatch_ns']:.0f} ns per op):"]
    for name, r in tuning["planners"].items():
        lines.append(f"  {name:14s} {r['ns'] / 1e3:9.1f} us  ({r['lo_ns'] / 1e3:.1f}-{r['hi_ns'] / 1e3:.1f} us)  "
                     f"{'legal' if r['legal'] else 'NOT LEGAL'}, max L1 {r['max_l1_per_core'] / 1024:.0f} KiB/core, "
                     f"{len(r['changed'])} ops changed, {r['seconds'] * 1e3:.0f} ms")
    moves: dict[tuple[str, str], int] = {}
    for c in tuning["planners"]["opcast"]["changed"]:
        moves[(c["from"], c["to"])] = moves.get((c["from"], c["to"]), 0) + 1
    for (src, dst), n in sorted(moves.items(), key=lambda kv: -kv[1]):
        lines.append(f"    opcast: {n} ops {src} -> {dst}")
    return "\n".join(lines)
