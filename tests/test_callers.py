"""tt-metal's and TORP's call shapes, the legality rules seen from Python, answers as data, and the CLI's
standard input and output."""

from __future__ import annotations

import io
import json
import pickle
import sys
import threading

import pytest

import opcast
from opcast import cli

from conftest import short_tensor


def torp_tensor(dims, dtype=0, buffer_type=0):
    """TORP's tests/test_interface.cpp create_serialized_tensor: as tt-metal sends a tensor."""
    return {"tensor_spec": {"logical_shape": dims, "tensor_layout": {
        "alignment": {"value": [1, 1, 32, 32]}, "dtype": dtype,
        "memory_config": {"buffer_type": buffer_type, "created_with_nd_shard_spec": False, "memory_layout": 0},
        "page_config": {"config": {"index": 1, "value": {"tile": {"face_shape": [16, 16], "num_faces": 4,
                                                                   "tile_shape": [32, 32]}}}}}},
            "storage": {"index": 1, "value": {}}}


def test_torps_usage_py_runs_unchanged(tiny_models):
    """The three calls of TORP's interface-pybind/usage.py, keyword for keyword: exp is answered, the two
    ops opcast's catalogue lacks are refused naming the op and the closest it has."""
    torp = opcast.Predictor(tiny_models)
    num_heads, num_kv_heads, head_dim, batch_size, seq_len = 32, 4, 64, 1, 512
    hidden_dim = (num_heads + 2 * num_kv_heads) * head_dim
    tensor_json = {"tensor_spec": {"logical_shape": [batch_size, 1, seq_len, hidden_dim],
                                   "tensor_layout": {"dtype": 0}}}
    with pytest.raises(opcast.QueryError, match='unknown op "create_qkv_heads"'):
        torp.get_runtime_from_model(op_name="create_qkv_heads", tensor_json=tensor_json, num_heads=num_heads,
                                    num_kv_heads=num_kv_heads, transpose_k_heads=True)
    tensor_json_2 = {"tensor_spec": {"logical_shape": [batch_size, num_heads, seq_len, head_dim],
                                     "tensor_layout": {"dtype": 0, "memory_config": {"buffer_type": 0}}}}
    with pytest.raises(opcast.QueryError, match='unknown op "concatenate_heads"'):
        torp.get_runtime_from_model(op_name="concatenate_heads", tensor_json=tensor_json_2,
                                    output_memory_config={"buffer_type": 0})
    tensor_json_3 = {"tensor_spec": {"logical_shape": [1, 16, 256, 64],
                                     "tensor_layout": {"dtype": 0, "memory_config": {"buffer_type": 0}}}}
    r = torp.get_runtime_from_model(op_name="exp", tensor_json=tensor_json_3)
    short = {"op": "ttnn.exp", "inputs": [short_tensor([1, 16, 256, 64])]}
    assert r == torp.predict(short)


def test_tt_metal_names_and_torps_positional_form(tiny_models):
    p = opcast.Predictor(tiny_models)
    expected = p.predict({"op": "ttnn.exp", "inputs": [short_tensor([2048, 2048], memory="L1_INTERLEAVED")]})
    for name in ("ttnn::exp", "ttnn.exp", "exp"):
        assert p.get_runtime_from_model(name, torp_tensor([2048, 2048, 0, 0], 0, 1), output_memory_config={}) == expected
    # TORP's UINT8 and a shape ttnn could not hold in L1 are refused, each with its reason.
    with pytest.raises(opcast.QueryError, match=r"DataType 5 \(UINT8\) is not supported"):
        p.get_runtime_from_model("exp", torp_tensor([32, 32, 0, 0], 5, 0))
    with pytest.raises(opcast.QueryError, match="busiest of the 64 L1 banks"):
        p.get_runtime_from_model("exp", torp_tensor([8192, 8192, 0, 0], 1, 1))
    # Two tensors, an output memory config and an attribute.
    a = short_tensor([1, 1, 64, 64])
    r = p.get_runtime_from_model("ttnn::add", a, a, output_memory_config={"buffer_type": 1}, program_config=None)
    assert r == p.predict({"op": "ttnn.add", "inputs": [a, a], "output": {"memory": "L1_INTERLEAVED"}})


def test_refusals_name_the_rule_and_known_keys(tiny_models):
    p = opcast.Predictor(tiny_models)
    t = short_tensor([1, 1, 4096, 4096], memory="L1_HEIGHT_SHARDED", core_count=8)
    with pytest.raises(opcast.QueryError, match=r"inputs\[0\]: one shard \[512, 4096\] of 4194304 bytes .* L1 bank of 1393312"):
        p.predict({"op": "ttnn.exp", "inputs": [t]})
    with pytest.raises(opcast.QueryError, match="unknown key; expected one of op, inputs, output, attributes, build"):
        p.predict({"op": "ttnn.exp", "inputs": [short_tensor([64, 64])], "built": "abc"})
    with pytest.raises(opcast.QueryError, match=r"attributes.dimm: unknown attribute; expected one of .*dim0"):
        p.predict({"op": "ttnn.exp", "inputs": [short_tensor([64, 64])], "attributes": {"dimm": 1}})
    assert set(opcast.vocabulary.QUERY_KEYS) == {"op", "inputs", "output", "attributes", "build"}
    # In a batch each such row gets its own error and the others their answers.
    frame = p.predict_batch([{"op": "ttnn.exp", "inputs": [t]}, {"op": "ttnn.exp", "inputs": [short_tensor([64, 64])]},
                             json.dumps({"op": "ttnn.exp", "inputs": [t]})], errors="collect")
    assert frame["error"].notna().tolist() == [True, False, True]
    assert "one shard [512, 4096]" in frame["error"][2]
    # The sweeps read such a query without the rules, to ask ttnn itself.
    assert opcast.vocabulary.normalized({"op": "ttnn.exp", "inputs": [t]}, legality=False)["inputs"][0]["core_count"] == 8


def test_answers_are_data(tiny_models):
    r = opcast.Predictor(tiny_models).predict({"op": "ttnn.exp", "inputs": [short_tensor([64, 64])]})
    d = r.to_dict()
    assert d == {"ns": r.ns, "lo_ns": r.lo_ns, "hi_ns": r.hi_ns, "in_domain": r.in_domain, "source": r.source,
                 "build": r.build}
    assert json.loads(json.dumps(d)) == d == json.loads(r.to_json())
    assert pickle.loads(pickle.dumps(r)) == r
    assert opcast.Prediction(**d) == r


def test_threads_share_a_predictor(tiny_models):
    """Answers from four threads at once are the answers of one (the GIL is released inside queries)."""
    p = opcast.Predictor(tiny_models)
    queries = [json.dumps({"op": "ttnn.add", "inputs": [short_tensor([1, 1, 32 * k, 64])] * 2}) for k in range(1, 200)]
    expected = p.predict_batch(queries)["predicted_ns"].tolist()
    got: dict[int, list] = {}

    def work(i: int) -> None:
        got[i] = p.predict_batch(queries)["predicted_ns"].tolist() + [p.predict(q).ns for q in queries[:5]]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[i] == expected + expected[:5] for i in range(4))


def test_cli_reads_stdin_writes_stdout_in_every_format(tiny_models, monkeypatch, capsys):
    query = json.dumps({"op": "ttnn::exp", "inputs": [short_tensor([64, 64])]})
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(query.encode())))
    assert cli.main(["predict", "--models", str(tiny_models), "--json", "-"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["ns"] > 0 and set(answer) == {"ns", "lo_ns", "hi_ns", "in_domain", "source", "build"}
    lines = (query + "\n" + json.dumps({"op": "ttnn.exp", "inputs": [], "bulid": 1}) + "\n").encode()
    for fmt, check in (("json", lambda out: [json.loads(x)["error"] is None for x in out.splitlines()] == [True, False]),
                       ("csv", lambda out: out.splitlines()[0].startswith("query,predicted_ns")),
                       ("table", lambda out: out.splitlines()[0].startswith("| query"))):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
        assert cli.main(["predict", "--models", str(tiny_models), "--input", "-", "--output", "-", "--format", fmt]) == 0
        captured = capsys.readouterr()
        assert check(captured.out), captured.out
        assert "1 rows answered" in captured.err


def test_every_cli_option_has_help():
    import argparse

    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not action.help and action.dest != "help":
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(cli.build_parser(), "opcast")
    assert missing == []
