"""Bounded fuzzing of the JSON query path: any input yields a finite positive answer or a typed error."""

import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opcast
from conftest import short_tensor

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
names = st.sampled_from(["bfloat16", "bfloat8_b", "float32", "uint32", "int8", "TILE", "ROW_MAJOR",
                         "DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_HEIGHT_SHARDED", "L1_BLOCK_SHARDED", ""])
dims = st.lists(st.integers(-3, 5000) | st.just(2**40), min_size=0, max_size=9)
tensors = st.fixed_dictionaries(
    {"shape": dims | json_values, "dtype": names | json_values, "layout": names, "memory": names},
    optional={"core_count": st.integers(-1, 80) | json_values, "grid": st.lists(st.integers(-1, 9), max_size=3)},
)
ops = st.sampled_from(["ttnn.exp", "ttnn.add", "ttnn.matmul", "ttnn.relu", "exp", "ttnn.softmax", "nope"])
queries = st.fixed_dictionaries(
    {"op": ops | json_values, "inputs": st.lists(tensors, max_size=4) | json_values},
    optional={"attributes": st.dictionaries(st.sampled_from(["math_fidelity", "dim", "shape"]), json_values | names),
              "output": tensors | json_values},
)


def check(predictor, query):
    try:
        r = predictor.predict(query)
    except (opcast.QueryError, opcast.ModelError) as e:
        assert str(e)  # a message, never an empty error
        return
    assert math.isfinite(r.ns) and r.ns > 0
    assert 0 < r.lo_ns <= r.ns <= r.hi_ns


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries)
def test_structured_queries(tiny_models, query):
    predictor = opcast.Predictor(tiny_models)
    check(predictor, query)
    try:
        text = json.dumps(query)
    except (ValueError, OverflowError):
        return
    check(predictor, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text(tiny_models, text):
    check(opcast.Predictor(tiny_models), text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 100000), min_size=1, max_size=8),
       dtype=st.sampled_from(["bfloat16", "bfloat8_b", "bfloat4_b", "float32", "uint16", "uint32", "int32"]),
       memory=st.sampled_from(["DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_HEIGHT_SHARDED"]),
       cores=st.integers(1, 64))
def test_valid_queries_always_answer(tiny_models, shape, dtype, memory, cores):
    """Every well-formed query is answered unless its tensor holds more than 2^48 elements (last two
    dims padded to tiles), which is refused naming the shape."""
    extra = {"core_count": cores} if memory.endswith("SHARDED") else {}
    query = {"op": "ttnn.exp", "inputs": [short_tensor(shape, dtype, memory=memory, **extra)]}
    padded = math.prod(shape[:-2]) * math.prod(-(-d // 32) * 32 for d in shape[-2:])
    if padded > 2**48:
        with pytest.raises(opcast.QueryError, match=r"inputs\[0\]\.shape: .*2\^48"):
            opcast.Predictor(tiny_models).predict(query)
        return
    try:
        r = opcast.Predictor(tiny_models).predict(query)
    except opcast.QueryError as e:  # a tensor no Wormhole holds: refused by a legality rule, with its numbers
        assert re.match(r"inputs\[0\]: .*(larger than|in the busiest of the 64 L1 banks)", str(e)), str(e)
        return
    assert math.isfinite(r.ns) and r.ns > 0
