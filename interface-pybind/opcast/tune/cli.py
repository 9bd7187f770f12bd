"""``opcast tune``: the plan of least predicted time for a model at a batch, beside the default and the
tt-mlir-style plans.

    opcast tune ttm --batch 32 --models artifacts/models --out ttm_b32_plan.json
    opcast tune patchtsmixer --legality mock --models artifacts/models --out ptm_plan.json   # ttnn's verdicts

Steps (a progress bar shows them): trace the model under its default plan; give every op every option
of the search space, priced for every placement of its inputs (one predictor batch) and judged by the
legality oracle; plan with the default, the tt-mlir-style and opcast's planner; check that the written
plan reproduces opcast's placements when the model is traced under it; write it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

LEGALITIES = ("rules", "mock")


def register_cli(subparsers) -> None:
    """Add ``tune`` to an argparse sub-parsers object."""
    from ..models.cli import MODELS

    t = subparsers.add_parser(
        "tune", help="choose every op's memory config by predicted time under Wormhole's L1 limits",
        description="Traces the model, prices every op in every placement the search space allows (and every "
                    "placement of its inputs) with the models in --models, and writes the plan of least predicted "
                    "latency (kernels + the dispatch gap per op) that is legal for every op and fits the L1 bank at "
                    "every point; prints it beside the default and the tt-mlir-style plans.")
    t.add_argument("model", choices=MODELS, help="the model whose trace is tuned")
    t.add_argument("--batch", type=int, default=1, help="batch size of the traced model (default 1)")
    t.add_argument("--mode", help="a model mode (default: patchtsmixer port, ttm r1-512-96; see opcast validate "
                                  "--list-modes)")
    t.add_argument("--models", required=True, metavar="DIR", help="a models folder written by opcast train")
    t.add_argument("--out", required=True, metavar="FILE", help="where the tuned plan (JSON) goes")
    t.add_argument("--legality", choices=LEGALITIES, default="rules",
                   help="rules (default): ttnn's placement rules, no device; mock: ttnn's verdicts and L1 per core "
                        "from the mock n150 through the sweeps' oracle (measured once, kept in --sweep-db)")
    t.add_argument("--sweep-db", metavar="FILE", help="the sweep store the mock legality reads and fills "
                                                      "(default: the sweeps' default store)")
    t.add_argument("--risk", type=float, default=0.05,
                   help="how strongly two options within noise go to the more certain one: the price is "
                        "ns * (hi / lo) ** risk (default 0.05; 0: the prediction alone)")
    t.add_argument("--memories", nargs="+", metavar="MEMORY",
                   help="placements to consider (default: DRAM and L1 interleaved, L1 height/width/block sharded)")
    t.add_argument("--shard-options", type=int, default=3, help="core counts per sharded placement (default 3)")
    t.add_argument("--dtypes", nargs="+", default=[], metavar="DTYPE",
                   help="output dtypes to consider (default: each op's own; another dtype changes the numerics)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..models.bench import workload
    from ..plans import default_plan
    from ..predictor import Predictor
    from .costs import build_problem, dispatch_gap_ns
    from .legality import MockLegality, RuleLegality
    from .output import check_reproduced, format_comparison, plan_of, planner_report, write_plan
    from .planners import DefaultPlanner
    from .search import OpcastPlanner
    from .space import SearchSpace
    from .ttmlir import TtMlirPlanner

    if args.batch < 1:
        raise ValueError(f"--batch must be a positive integer, got {args.batch}")
    space = SearchSpace(**({"memories": tuple(args.memories)} if args.memories else {}),
                        shard_options=args.shard_options, dtypes=tuple(args.dtypes))
    steps = tqdm(total=5, desc=f"tune {args.model} b{args.batch}", disable=args.quiet, file=sys.stderr)
    start = time.perf_counter()
    model, channels, mode = workload(args.model, args.mode)
    base = default_plan(args.model)
    trace = model.trace(args.batch, channels=channels, plan=base)
    steps.update(1)
    predictor = Predictor(args.models)
    legality = MockLegality(args.sweep_db) if args.legality == "mock" else RuleLegality()
    dispatch = dispatch_gap_ns(args.models)
    problem = build_problem(trace, predictor, legality, space, dispatch_ns=dispatch or 0.0)
    steps.update(1)
    results = {}
    for planner in (DefaultPlanner(), TtMlirPlanner(), OpcastPlanner(risk=args.risk)):
        t0 = time.perf_counter()
        solution = planner.plan(problem)
        results[planner.name] = (solution, time.perf_counter() - t0)
        steps.update(1)
    default_cost = problem.evaluate(results["default"][0].assignment)
    planners = {}
    plans = {}
    for name, (solution, seconds) in results.items():
        cost = problem.evaluate(solution.assignment)
        planners[name] = planner_report(problem, solution.assignment, cost, default_cost, solution.info, seconds)
        plans[name] = plan_of(problem, solution.assignment, base, f"{args.model}-b{args.batch}-{name}")
    tuned = plans["opcast"]
    check_reproduced(problem, results["opcast"][0].assignment, model.trace(args.batch, channels=channels, plan=tuned))
    steps.close()
    tuning = {"model": args.model, "mode": mode, "batch": args.batch, "channels": channels,
              "models": str(args.models), "legality": legality.name, "l1_limit": problem.l1_limit,
              "dispatch_ns": problem.dispatch_ns, "dispatch_source": "roofline/manifest.json dispatch.op_to_op_ns"
              if dispatch is not None else "none in the models folder: 0", "space": space.to_dict(),
              "judged_by": _judged_by(problem, results["opcast"][0].assignment),
              "seconds": round(time.perf_counter() - start, 3), "planners": planners,
              "plans": {name: plan.to_dict() for name, plan in plans.items() if name != "opcast"}}
    write_plan(args.out, tuned, tuning)
    print(format_comparison(tuning))
    if not planners["opcast"]["legal"]:
        print(f"error: the tuned plan is not legal: {planners['opcast']['illegal'][:3]}", file=sys.stderr)
        return 1
    print(f"wrote {Path(args.out)} ({tuning['seconds']:.2f} s)")
    return 0


def _judged_by(problem, assignment) -> dict[str, int]:
    """How many of the plan's ops each legality source judged (the rules answer where the oracle cannot)."""
    counts: dict[str, int] = {}
    for j in range(len(problem)):
        c = problem.choice(assignment, j)
        counts[c.judged_by] = counts.get(c.judged_by, 0) + 1
    return counts

