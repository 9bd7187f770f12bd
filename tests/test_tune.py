"""The tuner: its search is optimal (against brute force), its legality rules say what ttnn says, its
plans reproduce what it chose, and the tt-mlir-style baseline follows tt-mlir's score and eviction."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

import opcast
from opcast import vocabulary as v
from opcast.models.bench import workload
from opcast.plans import Plan, Trace, default_plan
from opcast.tune.costs import Choice, TuningProblem, build_problem
from opcast.tune.legality import RuleLegality
from opcast.tune.output import check_reproduced, plan_of
from opcast.tune.planners import DefaultPlanner
from opcast.tune.schedule import N150_L1_BANK_SIZE, Dataflow, l1_bytes_per_bank
from opcast.tune.search import OpcastPlanner
from opcast.tune.space import SearchSpace, shard_choices
from opcast.tune.ttmlir import TtMlirPlanner


# ------------------------------------------------------------------------------------------ helpers

class RooflinePredictor:
    """Answers like opcast.Predictor.predict_batch: the Wormhole roofline (it depends on every placement)
    with a +-10% interval; a query the parser refuses gets its error."""

    def __init__(self, *_):
        pass

    def predict_batch(self, queries, errors="collect"):
        rows = []
        for q in queries:
            try:
                ns = opcast.roofline(q)["total_ns"]
                rows.append((ns, ns * 0.9, ns * 1.1, False, "roofline", None))
            except ValueError as exc:
                rows.append((None, None, None, None, None, str(exc)))
        return pd.DataFrame(rows, columns=["predicted_ns", "lo_ns", "hi_ns", "in_domain", "source", "error"])


PLACES = [v.Tensor((32, 64), memory=v.DRAM_INTERLEAVED), v.Tensor((32, 64), memory=v.L1_INTERLEAVED),
          v.Tensor((32, 64), memory=v.L1_HEIGHT_SHARDED, core_count=1)]


def brute_force(problem: TuningProblem, risk: float):
    """The least price over every assignment that is legal and fits L1 (None if there is none)."""
    best = None
    for assignment in itertools.product(*(range(len(o)) for o in problem.options)):
        cost = problem.evaluate(assignment, risk)
        if cost.legal and (best is None or cost.price < best[0]):
            best = (cost.price, assignment)
    return best


def random_problem(seed: int, ops: int = 7) -> TuningProblem:
    """A chain with skip connections (residual-like), 1-3 options per op, random legality, times,
    intervals and L1 sizes, and an L1 bank that binds now and then."""
    rng = np.random.default_rng(seed)
    producers = []
    for j in range(ops):
        inputs = [j - 1] if j else [None]
        if j >= 2 and rng.random() < 0.5:
            inputs.append(int(rng.integers(0, j - 1)))
        producers.append(inputs)
    flow = Dataflow.of_producers(producers)
    options = [PLACES[:int(rng.integers(1, 4))] for _ in range(ops)]
    resident = [[0 if t.memory == v.DRAM_INTERLEAVED else int(rng.integers(1, 40)) for t in o] for o in options]
    choices = []
    for j in range(ops):
        table = {}
        for combo in itertools.product(*(range(len(options[p])) for p in flow.sources(j))):
            for k in range(len(options[j])):
                ns = float(rng.uniform(1, 100))
                table[(combo, k)] = Choice(bool(rng.random() < 0.85), None, int(rng.integers(0, 30)), ns,
                                           ns * float(rng.uniform(0.3, 1)), ns * float(rng.uniform(1, 4)), "test", "test")
        choices.append(table)
    return TuningProblem([f"op{j}" for j in range(ops)], ["ttnn.add"] * ops, flow, options, [0] * ops, choices,
                         resident, 0, int(rng.integers(40, 120)), dispatch_ns=float(rng.uniform(0, 5)))


# ------------------------------------------------------------------------------------------ the search

@pytest.mark.parametrize("risk", [0.0, 0.05])
def test_the_search_finds_the_brute_force_optimum_of_random_problems(risk):
    solved = infeasible = 0
    for seed in range(150):
        problem = random_problem(seed)
        best = brute_force(problem, risk)
        if best is None:
            with pytest.raises(ValueError, match="no legal plan"):
                OpcastPlanner(risk=risk).plan(problem)
            infeasible += 1
            continue
        solution = OpcastPlanner(risk=risk).plan(problem)
        cost = problem.evaluate(solution.assignment, risk)
        assert cost.legal, (seed, cost.illegal, cost.l1_over)
        assert cost.price == pytest.approx(best[0], rel=1e-12), seed
        assert solution.info["exact"]
        solved += 1
    assert solved > 100 and infeasible > 0  # the L1 bank and legality bind in some of them


def test_a_beam_narrower_than_the_states_is_said_to_be_inexact_and_stays_legal():
    inexact = 0
    for seed in range(60):
        problem = random_problem(seed, ops=8)
        if brute_force(problem, 0.0) is None:
            continue
        try:
            solution = OpcastPlanner(exact_states=1, beam_width=1).plan(problem)
        except ValueError:  # a beam of one can lose every legal continuation
            continue
        assert problem.evaluate(solution.assignment).legal
        inexact += not solution.info["exact"]
    assert inexact > 0


def test_the_search_is_optimal_on_the_start_of_a_real_trace():
    model, channels, _ = workload("patchtsmixer")
    trace = model.trace(1, channels=channels)
    prefix = Trace(trace.ops[:13], trace.tensors, trace.meta)
    problem = build_problem(prefix, RooflinePredictor(), RuleLegality())
    assert 1000 < _assignments(problem) < 100_000
    best = brute_force(problem, 0.05)
    solution = OpcastPlanner().plan(problem)
    assert problem.evaluate(solution.assignment, 0.05).price == pytest.approx(best[0], rel=1e-12)


def _assignments(problem) -> int:
    n = 1
    for o in problem.options:
        n *= len(o)
    return n


def _two_options(a: Choice, b: Choice) -> TuningProblem:
    options = [[v.Tensor((32, 32)), v.Tensor((32, 32), memory=v.L1_INTERLEAVED)]]
    return TuningProblem(["op"], ["ttnn.relu"], Dataflow.of_producers([[None]]), options, [0],
                         [{((), 0): a, ((), 1): b}], [[0, 2048]], 0, N150_L1_BANK_SIZE)


def test_of_two_options_within_noise_the_more_certain_one_wins():
    certain = Choice(True, None, 0, 10.0, 9.0, 11.0, "test", "test")
    unsure = Choice(True, None, 0, 9.8, 1.0, 100.0, "test", "test")
    problem = _two_options(certain, unsure)
    assert OpcastPlanner(risk=0.0).plan(problem).assignment == (1,)   # the prediction alone: 9.8 < 10
    assert OpcastPlanner(risk=0.05).plan(problem).assignment == (0,)  # within noise: the narrower interval
    much_faster = Choice(True, None, 0, 5.0, 1.0, 100.0, "test", "test")
    assert OpcastPlanner(risk=0.05).plan(_two_options(certain, much_faster)).assignment == (1,)


# ------------------------------------------------------------------------------------------ the tt-mlir rule

def _chain(options, choices, resident, limit) -> TuningProblem:
    n = len(options)
    producers = [[None]] + [[j - 1] for j in range(1, n)]
    return TuningProblem([f"op{j}" for j in range(n)], ["ttnn.relu"] * n, Dataflow.of_producers(producers), options,
                         [0] * n, choices, resident, 0, limit)


def test_tt_mlir_takes_l1_sharded_over_faster_interleaved_and_more_cores_first():
    t = v.Tensor((256, 64))
    options = [[t, t.placed(v.L1_INTERLEAVED), t.placed(v.L1_HEIGHT_SHARDED, core_count=4),
                t.placed(v.L1_HEIGHT_SHARDED, core_count=8)]]
    times = [5.0, 2.0, 9.0, 8.0]
    choices = [{((), k): Choice(True, None, 0, ns, ns, ns, "test", "test") for k, ns in enumerate(times)}]
    problem = _chain(options, choices, [[l1_bytes_per_bank(o) for o in options[0]]], N150_L1_BANK_SIZE)
    assert TtMlirPlanner().plan(problem).assignment == (3,)  # L1, sharded, then most cores: not the time
    assert OpcastPlanner(risk=0).plan(problem).assignment == (1,)


def test_tt_mlir_evicts_the_live_tensor_used_farthest_in_the_future():
    # op0 and op1 feed op3 and op4; op2 needs more L1 than is left: op0 (read last, by op4) goes to DRAM.
    t = v.Tensor((32, 32))
    opts = [t, t.placed(v.L1_INTERLEAVED)]
    producers = [[None], [None], [None], [1, 2], [0, 3]]
    legal = Choice(True, None, 10, 1.0, 1.0, 1.0, "test", "test")
    big = Choice(True, None, 70, 1.0, 1.0, 1.0, "test", "test")
    flow = Dataflow.of_producers(producers)
    choices = []
    for j in range(5):
        sources = flow.sources(j)
        combos = [()] if not sources else [(a,) for a in range(2)] if len(sources) == 1 else [(a, b) for a in range(2)
                                                                                              for b in range(2)]
        choices.append({(c, k): (big if j == 2 else legal) for c in combos for k in range(2)})
    problem = TuningProblem([f"op{j}" for j in range(5)], ["ttnn.relu"] * 5, flow, [opts] * 5, [0] * 5, choices,
                            [[0, 20]] * 5, 0, 100)
    solution = TtMlirPlanner(l1_usage_cap=0.95).plan(problem)
    assert solution.info["spilled"] == ["op0"]
    assert solution.assignment[0] == 0 and solution.assignment[1] == 1
    assert problem.evaluate(solution.assignment).legal


# ------------------------------------------------------------------------------------------ legality rules

def _query(op, inputs, output, attributes=None):
    return v.make_query(op, inputs, output.to_dict(), attributes)


@pytest.mark.parametrize("inputs, output, legal", [
    ([v.Tensor((1, 1, 256, 64), memory=v.L1_HEIGHT_SHARDED, core_count=8)],
     v.Tensor((1, 1, 256, 64), memory=v.L1_INTERLEAVED), False),            # layernorm_device_operation.cpp:227
    ([v.Tensor((1, 1, 256, 64), memory=v.L1_WIDTH_SHARDED, core_count=2)],
     v.Tensor((1, 1, 256, 64), memory=v.L1_WIDTH_SHARDED, core_count=2), True),
    ([v.Tensor((1, 1, 256, 64), memory=v.L1_BLOCK_SHARDED, grid=(2, 4))],
     v.Tensor((1, 1, 256, 64), memory=v.L1_INTERLEAVED), False),            # :231, sharded in -> same out
    ([v.Tensor((1, 1, 256, 64))], v.Tensor((1, 1, 256, 64), memory=v.L1_BLOCK_SHARDED, grid=(2, 4)), True),
])
def test_layer_norm_rules(inputs, output, legal):
    weights = [v.Tensor((1, 64)), v.Tensor((1, 64))]
    assert RuleLegality().legal(_query("ttnn.layer_norm", inputs + weights, output, {"epsilon": 1e-5})).legal == legal


def test_tensor_rules_need_whole_tiles_on_the_grid_and_tile_layout_for_block_floats():
    rules = RuleLegality()
    x = v.Tensor((1, 7, 32, 48))
    assert not rules.legal(_query("ttnn.gelu", [x], x.placed(v.L1_HEIGHT_SHARDED, core_count=7))).legal
    y = v.Tensor((1, 1, 256, 64))
    assert rules.legal(_query("ttnn.gelu", [y], y.placed(v.L1_HEIGHT_SHARDED, core_count=8))).legal
    assert not rules.legal(_query("ttnn.gelu", [y], y.placed(v.L1_HEIGHT_SHARDED, core_count=3))).legal
    assert not rules.legal(_query("ttnn.gelu", [y], y.placed(v.L1_BLOCK_SHARDED, grid=(9, 1)))).legal
    z = v.Tensor((1, 1, 64, 64), v.BFLOAT8_B, v.ROW_MAJOR)
    verdict = rules.legal(_query("ttnn.gelu", [z], z))
    assert not verdict.legal and "TILE" in verdict.reason


def test_a_matmul_writes_a_sharded_output_only_from_an_in0_sharded_alike():
    rules = RuleLegality()
    w = v.Tensor((64, 64))
    a = v.Tensor((1, 1, 256, 64))
    hs = a.placed(v.L1_HEIGHT_SHARDED, core_count=8)
    assert not rules.legal(_query("ttnn.linear", [a, w], hs)).legal
    assert rules.legal(_query("ttnn.linear", [hs, w], hs)).legal
    assert rules.legal(_query("ttnn.linear", [hs, w], a.placed(v.L1_INTERLEAVED))).legal


def test_an_op_that_does_not_fit_l1_beside_its_inputs_is_refused():
    x = v.Tensor((1, 1, 1024, 640)).placed(v.L1_HEIGHT_SHARDED, core_count=1)  # 640 tiles: 1.25 MiB, fits alone
    verdict = RuleLegality().legal(_query("ttnn.gelu", [x], x))
    assert not verdict.legal and "does not fit L1" in verdict.reason


def test_the_device_ops_ttnn_adds_for_a_placement_are_priced():
    a, w, bias = v.Tensor((1, 1, 256, 64)), v.Tensor((64, 64)), v.Tensor((1, 64))
    rules = RuleLegality()
    assert rules.legal(_query("ttnn.linear", [a, w, bias], a)).added == ()
    added = rules.legal(_query("ttnn.linear", [a, w, bias], a.placed(v.L1_INTERLEAVED))).added
    assert [q["op"] for q in added] == ["ttnn.add"] and added[0]["inputs"][1]["shape"] == [1, 64]
    assert rules.legal(_query("ttnn.linear", [a.placed(v.L1_INTERLEAVED), w], a)).added == ()  # no bias
    narrow = v.Tensor((1, 1, 64, 64), v.BFLOAT8_B)
    widened = rules.legal(_query("ttnn.reshape", [narrow], v.Tensor((1, 1, 32, 128), v.BFLOAT8_B))).added
    assert [(q["op"], q["output"]["dtype"]) for q in widened] == [("ttnn.typecast", v.BFLOAT16),
                                                                 ("ttnn.typecast", v.BFLOAT8_B)]
    model, channels, _ = workload("patchtsmixer")
    trace = model.trace(1, channels=channels)
    j = next(i for i, r in enumerate(trace.ops) if r.op == "ttnn.linear" and len(r.inputs) == 3)
    problem = build_problem(Trace(trace.ops[:j + 1], trace.tensors, trace.meta), RooflinePredictor(), rules,
                            dispatch_ns=500.0)
    combo = tuple(problem.default[p] for p in problem.flow.sources(j))
    dram, l1 = (problem.choices[j][(combo, k)] for k in (0, 1))
    assert (dram.device_ops, l1.device_ops) == (1, 2)
    record = trace.ops[j]
    inputs = [t if p is None else problem.options[p][problem.default[p]] for p, t in zip(problem.flow.producers[j],
                                                                                          record.inputs)]
    own = v.make_query(record.op, inputs, problem.options[j][1].to_dict(), record.attributes)
    both = RooflinePredictor().predict_batch([own, *rules.legal(own).added])["predicted_ns"]
    assert len(both) == 2 and l1.ns == pytest.approx(both.sum())  # the linear and its bias add
    assert l1.price(0.0, 500.0) - l1.ns == 1000.0


# ------------------------------------------------------------------------------------------ space and schedule

def test_options_shard_only_whole_tiles_and_spread_the_core_counts():
    aligned = v.Tensor((32, 7, 32, 96))   # 224 x 3 tiles
    options = SearchSpace().options(aligned)
    assert options[:2] == [aligned, aligned.placed(v.L1_INTERLEAVED)]
    assert [o.core_count for o in options if o.memory == v.L1_HEIGHT_SHARDED] == [56, 28, 14]
    assert [o.core_count for o in options if o.memory == v.L1_WIDTH_SHARDED] == [3, 1]
    assert all(o.grid[0] <= 8 and o.grid[1] <= 8 for o in options if o.memory == v.L1_BLOCK_SHARDED)
    assert [o.memory for o in SearchSpace().options(v.Tensor((32, 7, 32, 48)))] == [v.DRAM_INTERLEAVED, v.L1_INTERLEAVED]
    assert shard_choices(aligned, v.L1_HEIGHT_SHARDED, 1) == [(None, 56)]
    with pytest.raises(ValueError, match="DRAM_INTERLEAVED"):
        SearchSpace(memories=(v.L1_INTERLEAVED,))


def test_l1_per_bank_counts_the_fullest_bank_and_a_shard_in_every_bank():
    assert l1_bytes_per_bank(v.Tensor((1, 1, 32, 32 * 65), memory=v.L1_INTERLEAVED)) == 2 * 2048  # 65 tiles
    assert l1_bytes_per_bank(v.Tensor((1, 1, 256, 64), memory=v.L1_HEIGHT_SHARDED, core_count=8)) == 2 * 2048
    assert l1_bytes_per_bank(v.Tensor((1, 1, 256, 64), v.BFLOAT8_B, memory=v.L1_BLOCK_SHARDED, grid=(2, 4))) == 1088 * 2
    assert l1_bytes_per_bank(v.Tensor((1, 1, 256, 64))) == 0


def test_the_dataflow_of_a_model_trace_frees_each_tensor_after_its_last_reader():
    model, channels, _ = workload("ttm")
    trace = model.trace(1, channels=channels)
    flow = Dataflow.of_trace(trace)
    names = [r.name for r in trace.ops]
    loc = names.index("backbone.scaler.loc")
    assert names[flow.last_use[loc]] == "head.descale.loc"  # the scaler's mean is read at the very end
    assert all(flow.last_use[j] >= j for j in range(len(names)))
    assert max(len(flow.live_before(j)) for j in range(len(names))) <= 6
    with pytest.raises(ValueError, match="earlier"):
        Dataflow.of_producers([[None], [2], [0]])


# ------------------------------------------------------------------------------------------ plans out

@pytest.mark.parametrize("kind", ["patchtsmixer", "ttm"])
def test_every_planner_writes_a_plan_that_the_model_traces_as_planned(kind):
    model, channels, _ = workload(kind)
    trace = model.trace(32, channels=channels)
    problem = build_problem(trace, RooflinePredictor(), RuleLegality())
    for planner in (DefaultPlanner(), TtMlirPlanner(), OpcastPlanner()):
        solution = planner.plan(problem)
        assert problem.evaluate(solution.assignment).legal, planner.name
        plan = Plan(json.loads(json.dumps(plan_of(problem, solution.assignment, default_plan(kind), "p").to_dict())))
        check_reproduced(problem, solution.assignment, model.trace(32, channels=channels, plan=plan))
    changed = list(OpcastPlanner().plan(problem).assignment)
    changed[0] = (changed[0] + 1) % len(problem.options[0])
    with pytest.raises(ValueError, match="does not reproduce"):
        check_reproduced(problem, changed, model.trace(32, channels=channels, plan=plan))


def test_opcast_is_never_predicted_slower_than_the_baselines():
    model, channels, _ = workload("patchtsmixer")
    problem = build_problem(model.trace(32, channels=channels), RooflinePredictor(), RuleLegality())
    price = {p.name: problem.evaluate(p.plan(problem).assignment, 0.05).price
             for p in (DefaultPlanner(), TtMlirPlanner(), OpcastPlanner())}
    assert price["opcast"] <= min(price.values()) + 1e-6


# ------------------------------------------------------------------------------------------ the command

def test_opcast_tune_writes_a_legal_plan_with_its_comparison(tmp_path, monkeypatch, capsys):
    from opcast import cli

    monkeypatch.setattr("opcast.predictor.Predictor", RooflinePredictor)
    out = tmp_path / "plan.json"
    assert cli.main(["tune", "patchtsmixer", "--batch", "2", "--models", str(tmp_path), "--out", str(out),
                     "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "tt-mlir-style" in text and "opcast" in text
    tuning = json.loads(out.read_text())["tuning"]
    assert set(tuning["planners"]) == {"default", "tt-mlir-style", "opcast"}
    assert tuning["planners"]["opcast"]["legal"] and tuning["batch"] == 2
    assert tuning["planners"]["opcast"]["ns"] <= tuning["planners"]["default"]["ns"] * 1.05
    assert Plan.load(out).name == "patchtsmixer-b2-opcast"
    assert cli.main(["tune", "patchtsmixer", "--batch", "0", "--models", str(tmp_path), "--out", str(out)]) == 2
