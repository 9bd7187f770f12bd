"""Sweep modules and vectors: the op list from the traces, the generated modules, ids, placements,
invalidation and which vectors the host runs (no device needed)."""

import hashlib
import json

import pytest

from opcast import QueryError, vocabulary as v
from opcast.models import validate
from opcast.plans import default_plan
from opcast.sweeps import generate, harness, module, ops, suites, vectors


def _placed(memory, **where):
    return {"memory": memory, **where}


def test_the_ops_are_those_the_model_traces_execute_then_the_memory_moves():
    traced = []
    for model, mode in (("ttm", "r1-512-96"), ("patchtsmixer", validate.PORT_MODE)):
        spec = validate.modes(model)[mode]
        trace = validate.MODEL_CLASSES[model](spec).trace(1, channels=7, plan=default_plan(model))
        traced += [r.op for r in trace.ops]
    assert sorted(ops.traced_ops()) == sorted(set(traced))
    assert ops.sweep_ops() == ops.traced_ops() + ops.MEMORY_MOVES
    named = {"permute", "mean", "subtract", "multiply", "add", "sqrt", "divide", "reshape", "linear", "layer_norm",
             "transpose", "gelu", "softmax", "to_memory_config", "interleaved_to_sharded", "sharded_to_interleaved",
             "reshard", "tilize", "untilize"}
    assert {ops.module_name(op) for op in ops.sweep_ops()} == named


def test_the_generated_modules_are_current():
    assert generate.differences() == []


def test_a_stale_module_is_named(tmp_path):
    generate.write(tmp_path)
    (tmp_path / "gelu.py").write_text("parameters = {}\n")
    (tmp_path / "exp.py").write_text("")
    (tmp_path / "sqrt.py").unlink()
    assert generate.differences(tmp_path) == ["missing sqrt.py", "stale gelu.py", "left over exp.py"]


@pytest.mark.parametrize("op", ops.sweep_ops())
def test_every_module_has_tt_metals_form_and_suites_within_its_limit(op):
    mod = module.load(op)
    assert callable(mod.invalidate_vector) and callable(mod.run)
    assert set(mod.parameters) >= {"dtypes", "grids", "space_filling"}
    for suite, params in mod.parameters.items():
        assert 0 < suites.suite_size(params) <= vectors.MAX_VECTORS_PER_SUITE, suite
        json.dumps(params)  # plain values: tt-metal serializes them as they are


def test_vector_ids_are_the_sha224_of_the_vector_with_its_sweep_and_suite():
    vector = {"dtype": "bfloat16", "case": {"shapes": [[1, 32]], "attributes": {}}}
    text = json.dumps({**vector, "sweep_name": "opcast.gelu", "suite_name": "dtypes"}, sort_keys=True,
                      separators=(",", ":"))
    assert vectors.vector_id("opcast.gelu", "dtypes", vector) == hashlib.sha224(text.encode()).hexdigest()
    assert vectors.vector_id("opcast.gelu", "grids", vector) != vectors.vector_id("opcast.gelu", "dtypes", vector)
    assert vectors.vector_id("opcast.gelu", "dtypes", dict(reversed(list(vector.items())))) == \
        vectors.vector_id("opcast.gelu", "dtypes", vector)


def test_permutations_are_the_cross_product_last_parameter_fastest():
    got = list(vectors.permutations({"a": [1, 2], "b": ["x", "y", "z"]}))
    assert len(got) == 6 and got[0] == {"a": 1, "b": "x"} and got[1] == {"a": 1, "b": "y"} and got[3]["a"] == 2


def test_a_linear_template_places_weights_in_dram_and_shards_its_output_over_the_most_cores():
    vector = {"case": {"shapes": [[1, 1, 256, 64], [64, 128], [1, 128]], "attributes": {}},
              "dtype": v.BFLOAT8_B, "layout": v.TILE, "input_memory": _placed(v.L1_HEIGHT_SHARDED, grid=[8, 1]),
              "output_memory": _placed(v.L1_WIDTH_SHARDED), "math_fidelity": "lofi"}
    record = vectors.resolve("ttnn.linear", vector)
    a, w, b = record.inputs
    assert (a.memory, a.grid, a.core_count, a.dtype) == (v.L1_HEIGHT_SHARDED, (8, 1), 8, v.BFLOAT8_B)
    assert (w.memory, w.dtype, w.shape) == (v.DRAM_INTERLEAVED, v.BFLOAT8_B, (64, 128))
    assert b.memory == v.DRAM_INTERLEAVED
    assert (record.output.shape, record.output.memory, record.output.core_count) == ((1, 1, 256, 128),
                                                                                    v.L1_WIDTH_SHARDED, 4)
    assert record.attributes == {"math_fidelity": v.LOFI}
    assert vectors.invalid_reason(record) is None
    v.validate(vectors.query_json(record))


def test_a_binary_operand_shares_the_first_ones_placement_only_when_it_has_its_shape():
    place = _placed(v.L1_BLOCK_SHARDED, grid=[2, 2])
    same = vectors.resolve("ttnn.add", {"case": {"shapes": [[1, 1, 64, 64], [1, 1, 64, 64]], "attributes": {}},
                                        "dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": place})
    assert same.inputs[1] == same.inputs[0]
    broadcast = vectors.resolve("ttnn.add", {"case": {"shapes": [[1, 1, 64, 64], [1, 1, 64, 1]], "attributes": {}},
                                             "dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": place})
    assert broadcast.inputs[1].memory == v.L1_INTERLEAVED
    scalar = vectors.resolve("ttnn.add", {"case": {"shapes": [[1, 7, 1]], "attributes": {"scalar": 1e-5}},
                                          "dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED})
    assert len(scalar.inputs) == 1 and scalar.attributes == {"scalar": 1e-5}


def test_the_trace_suites_ask_exactly_what_the_models_issue():
    spec = validate.modes("ttm")["r1-512-96"]
    trace = validate.MODEL_CLASSES["ttm"](spec).trace(8, channels=7, plan=default_plan("ttm"))
    model_queries = {vectors.query_key(v.query_json(r.op, r.inputs, r.output.to_dict(), r.attributes))
                     for r in trace.ops if r.op == "ttnn.linear"}
    suite = module.load("ttnn.linear").parameters["ttm_trace"]
    swept = {vectors.query_key(vectors.query_json(vectors.resolve("ttnn.linear", vec)))
             for vec in vectors.permutations(suite)}
    assert model_queries and model_queries <= swept


@pytest.mark.parametrize("op,vector,reason", [
    ("ttnn.gelu", {"dtype": v.BFLOAT8_B, "layout": v.ROW_MAJOR, "input_memory": v.DRAM_INTERLEAVED},
     "input 0: bfloat8_b needs TILE layout"),
    ("ttnn.softmax", {"dtype": v.BFLOAT16, "layout": v.ROW_MAJOR, "input_memory": v.DRAM_INTERLEAVED},
     "input 0: ttnn.softmax takes TILE layout only"),
    ("ttnn.gelu", {"dtype": v.BFLOAT16, "layout": v.ROW_MAJOR,
                   "input_memory": _placed(v.L1_HEIGHT_SHARDED, grid=[5, 1])},
     "input 0: 96 rows do not split evenly into 5 shards"),
    ("ttnn.gelu", {"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": _placed(v.L1_WIDTH_SHARDED, grid=[8, 8])},
     "input 0: grid larger than the tensor: 64 shards for 2 tiles of columns"),
    ("ttnn.gelu", {"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": _placed(v.L1_HEIGHT_SHARDED, grid=[9, 1])},
     "input 0: grid [9, 1] is larger than the 8x8 compute grid"),
    ("ttnn.reshard", {"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED},
     "ttnn.reshard takes an input in L1_HEIGHT_SHARDED, L1_WIDTH_SHARDED, L1_BLOCK_SHARDED, not DRAM_INTERLEAVED"),
    ("ttnn.to_memory_config", {"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.L1_INTERLEAVED},
     "the input already has the output's placement: nothing to move"),
    ("ttnn.tilize", {"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED},
     "ttnn.tilize takes a ROW_MAJOR input, not TILE"),
])
def test_vectors_that_cannot_run_are_invalidated_with_the_reason(op, vector, reason):
    case = {"shapes": [[1, 1, 96, 64]], "attributes": {"dim": -1} if op == "ttnn.softmax" else {}}
    assert module.load(op).invalidate_vector({"case": case, **vector}) == (True, reason)


def test_a_tile_tensor_shards_in_whole_tiles_of_its_padded_shape():
    # [1, 1, 96, 64] height-sharded on 2 cores: 3 tile rows, shards of 2 and 1, as ttnn lays it out.
    vector = {"case": {"shapes": [[1, 1, 96, 64]], "attributes": {}}, "dtype": v.BFLOAT16, "layout": v.TILE,
              "input_memory": _placed(v.L1_HEIGHT_SHARDED, grid=[2, 1])}
    assert module.load("ttnn.gelu").invalidate_vector(vector) == (False, None)
    # [1, 7, 8, 64]: 7 tile rows once each 8-row slice is padded; 7 cores take one each, 8 would idle one.
    odd = {"case": {"shapes": [[1, 7, 8, 64]], "attributes": {}}, "dtype": v.BFLOAT16, "layout": v.TILE}
    gelu = module.load("ttnn.gelu")
    assert gelu.invalidate_vector({**odd, "input_memory": _placed(v.L1_HEIGHT_SHARDED, core_count=7)}) == (False, None)
    assert gelu.invalidate_vector({**odd, "input_memory": _placed(v.L1_HEIGHT_SHARDED, core_count=8)})[0]


def test_a_valid_vector_is_not_invalidated():
    vector = {"case": {"shapes": [[1, 1, 256, 64]], "attributes": {}}, "dtype": v.BFLOAT16, "layout": v.TILE,
              "input_memory": _placed(v.L1_HEIGHT_SHARDED, grid=[8, 1])}
    assert module.load("ttnn.gelu").invalidate_vector(vector) == (False, None)


def test_bad_vectors_are_refused_naming_what_is_wrong():
    case = {"shapes": [[1, 32]], "attributes": {}}
    with pytest.raises(ValueError, match=r"unknown vector parameters \['colour'\]"):
        vectors.resolve("ttnn.gelu", {"case": case, "colour": "red"})
    with pytest.raises(ValueError, match=r"needs the axes \['dtype', 'layout', 'input_memory'\]"):
        vectors.resolve("ttnn.gelu", {"case": case})
    with pytest.raises(QueryError):
        vectors.resolve("ttnn.gelu", {"case": case, "dtype": "bfloat17", "layout": v.TILE,
                                      "input_memory": v.DRAM_INTERLEAVED})
    work = harness.resolved("ttnn.linear", "opcast.linear", "x", {
        "case": {"shapes": [[1, 32, 64], [32, 16]], "attributes": {}}, "dtype": v.BFLOAT16, "layout": v.TILE,
        "input_memory": v.DRAM_INTERLEAVED})
    assert work.record is None and work.reason.startswith("the vector resolves to no op:")


def test_tt_metals_bookkeeping_keys_are_ignored():
    case = {"shapes": [[1, 32]], "attributes": {}}
    plain = {"case": case, "dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED}
    stored = {**plain, "suite_name": "dtypes", "sweep_name": "opcast.gelu", "validity": "VectorValidity.VALID",
              "timestamp": "2026-12-02_20-00-00", "input_hash": "abc"}
    assert vectors.resolve("ttnn.gelu", stored) == vectors.resolve("ttnn.gelu", plain)


@pytest.mark.parametrize("vector,runs", [
    ({"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED}, True),
    ({"dtype": v.FLOAT32, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED}, True),
    ({"dtype": v.BFLOAT8_B, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED}, False),
    ({"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.L1_INTERLEAVED}, False),
    ({"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED, "math_fidelity": v.LOFI}, False),
    ({"dtype": v.BFLOAT16, "layout": v.TILE, "input_memory": v.DRAM_INTERLEAVED, "math_fidelity": v.HIFI2}, True),
])
def test_the_host_runs_one_placement_of_each_op_in_the_dtypes_torch_has(vector, runs):
    vector = {"case": {"shapes": [[1, 64, 32], [32, 32]], "attributes": {}}, **vector}
    record = vectors.resolve("ttnn.linear", vector)
    assert vectors.runs_on("host", record, vector) is runs
    assert vectors.runs_on("mock", record, vector) and vectors.runs_on("wormhole", record, vector)


def test_every_op_has_vectors_the_host_runs():
    for op in ops.sweep_ops():
        todo = harness.plan("host", [op], ["space_filling"], limit=None)
        assert any(w.reason is None for w in todo), op
