"""opcast.tune: memory configs for a whole model, chosen by predicted time under Wormhole's L1 limits.

    from opcast import Predictor
    from opcast.tune import OpcastPlanner, RuleLegality, TtMlirPlanner, build_problem
    problem = build_problem(trace, Predictor("artifacts/models"), RuleLegality(), dispatch_ns=661)
    solution = OpcastPlanner().plan(problem)            # least predicted time; exact for TTM and PatchTSMixer
    problem.evaluate(solution.assignment)                # latency, interval, legality, L1 per op
    problem.evaluate(TtMlirPlanner().plan(problem).assignment)   # tt-mlir's rule on the same options

One file per idea: ``space`` (the options of an op's output), ``schedule`` (tensor lifetimes and L1 per
bank), ``legality`` (the oracle interface: ttnn's rules, or the mock n150 through the sweeps' oracle),
``costs`` (the problem: every option priced for every placement of its inputs, and a plan's cost),
``planners`` (the interface and the default plan), ``search`` (opcast's dynamic programme),
``ttmlir`` (the tt-mlir-style baseline), ``output`` (plan files and the comparison), ``cli``
(``opcast tune``). ``opcast bench`` (``opcast.models.bench``) runs the plans.
"""

from .costs import Choice, PlanCost, TuningProblem, build_problem, dispatch_gap_ns, trace_cost
from .legality import Legality, MockLegality, RuleLegality, Verdict
from .planners import DefaultPlanner, Planner, Solution
from .search import OpcastPlanner
from .space import SearchSpace
from .ttmlir import TtMlirPlanner

__all__ = ["Choice", "DefaultPlanner", "Legality", "MockLegality", "OpcastPlanner", "PlanCost", "Planner",
           "RuleLegality", "SearchSpace", "Solution", "TtMlirPlanner", "TuningProblem", "Verdict",
           "build_problem", "dispatch_gap_ns", "trace_cost"]
