"""ttnn's own objects as queries, and the legality rules against ttnn's verdicts, on the mock Wormhole
n150 (Python 3.12 environment of scripts/setup_mock.sh):
    cd tests && ../.venv-mock/bin/python -m pytest -q -m mock test_callers_mock.py
"""

import importlib.util
import json

import numpy as np
import pytest

if importlib.util.find_spec("ttnn") is None:
    pytest.skip("ttnn is not installed (run scripts/setup_mock.sh, then use .venv-mock)", allow_module_level=True)

import opcast  # noqa: E402
from opcast import device as md  # noqa: E402
from opcast import vocabulary as v  # noqa: E402
from opcast.sweeps import ops  # noqa: E402
from opcast.sweeps.oracle import LegalityOracle  # noqa: E402

pytestmark = pytest.mark.mock
SAMPLE = 24  # fuzzed queries asked of both the rules and the mock


def test_ttnn_tensors_specs_and_memory_configs_are_queries(tiny_models):
    ttnn = md.import_ttnn()
    p = opcast.Predictor(tiny_models)
    with md.open_device("mock"):
        a = md.empty((1, 1, 256, 64), v.BFLOAT16, v.TILE, v.L1_HEIGHT_SHARDED, grid=[8, 1])
        b = md.empty((1, 1, 256, 64), v.BFLOAT16, v.TILE, v.DRAM_INTERLEAVED)
        short = {"op": "ttnn.add", "inputs": [md.short_form(a).to_dict(), md.short_form(b).to_dict()],
                 "output": {"memory": v.L1_INTERLEAVED}}
        q = opcast.query_from_ttnn("ttnn::add", a, b.spec, output_memory_config=ttnn.L1_MEMORY_CONFIG,
                                   math_fidelity=ttnn.MathFidelity.HiFi4)
        assert json.loads(json.dumps(q)) == q  # plain JSON
        assert q["attributes"] == {"math_fidelity": "MathFidelity.HiFi4"}
        assert v.normalized(q)["inputs"] == v.normalized(short)["inputs"]
        expected = p.predict(short)
        assert p.predict(q) == expected
        # ttnn objects straight into predict, predict_batch and TORP's call shape.
        direct = {"op": "ttnn.add", "inputs": [a, b], "output": ttnn.L1_MEMORY_CONFIG}
        assert p.predict(direct) == expected
        assert p.predict_batch([direct, short])["predicted_ns"].nunique() == 1
        assert p.get_runtime_from_model("ttnn::add", a.spec, b, output_memory_config=ttnn.L1_MEMORY_CONFIG) == expected
        # ttnn's enums as ttnn prints them.
        assert str(ttnn.bfloat16) == "DataType.BFLOAT16"
        t = dict(short["inputs"][1], dtype=str(ttnn.bfloat16), layout=str(ttnn.TILE_LAYOUT))
        assert p.predict({"op": "ttnn.add", "inputs": [short["inputs"][0], t], "output": short["output"]}) == expected
        with pytest.raises(opcast.QueryError, match="has no place in a query"):
            p.predict({"op": "ttnn.exp", "inputs": [ttnn.CoreCoord(0, 0)]})


def fuzzed(rng: np.random.Generator) -> dict:
    """A short-form query of a swept op, its placement drawn to land on both sides of the rules."""
    op = str(rng.choice(["ttnn.gelu", "ttnn.add", "ttnn.softmax"]))
    rows, width = int(rng.choice([32, 64, 256, 1024, 8192])), int(rng.choice([32, 64, 256, 2048]))
    memory = str(rng.choice([v.DRAM_INTERLEAVED, v.L1_INTERLEAVED, v.L1_HEIGHT_SHARDED, v.L1_WIDTH_SHARDED,
                             v.L1_BLOCK_SHARDED]))
    t = {"shape": [1, 1, rows, width], "dtype": str(rng.choice([v.BFLOAT16, v.FLOAT32, v.BFLOAT8_B])),
         "layout": v.TILE, "memory": memory}
    if memory == v.L1_BLOCK_SHARDED:
        t["grid"] = [int(rng.choice([1, 2, 4, 8])), int(rng.choice([1, 2, 4, 8]))]
    elif memory in v.SHARDED:
        t["core_count"] = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    other = {**{k: x for k, x in t.items() if k not in ("grid", "core_count")}, "memory": v.DRAM_INTERLEAVED}
    inputs = [t, other] if op == "ttnn.add" else [t]
    return {"op": op, "inputs": inputs, "output": {"memory": v.DRAM_INTERLEAVED}}


def test_the_legality_rules_agree_with_the_mock(tmp_path):
    """A sample of fuzzed queries through the parser's rules and through ttnn on the mock (the sweeps'
    oracle): every query the rules refuse, ttnn refuses too (or the device layer cannot place it); none
    that ttnn runs is refused."""
    rng = np.random.default_rng(20)
    queries = [fuzzed(rng) for _ in range(SAMPLE)]
    refused = {}
    for i, q in enumerate(queries):
        try:
            v.validate(q)
        except opcast.QueryError as e:
            refused[i] = str(e)
    assert refused and len(refused) < len(queries)  # the sample lands on both sides
    verdicts = LegalityOracle(tmp_path / "oracle.sqlite").check_many(queries)
    for i, verdict in enumerate(verdicts):
        if i in refused:
            assert not verdict.legal, f"the rules refuse what ttnn runs: {refused[i]} ({queries[i]})"
        elif verdict.status == "PASS":
            assert verdict.legal
    assert set(ops.sweep_ops()) >= {q["op"] for q in queries}
