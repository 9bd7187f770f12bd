"""One bad input is one typed error: never a crash, never an untyped exception, never a lost row.

Covers what hostile fuzzing found: queries whose element count overflows int64, strings with lone
surrogates, integers of any size and type, model outputs driven out of range, and files with bad
bytes or malformed lines. A batch or a file always returns one result per row.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

import opcast
from opcast import cli
from conftest import constant_members, short_tensor, write_model

EXP = {"op": "ttnn.exp", "inputs": [short_tensor([1, 1, 256, 256])]}
# Once overflowed a stack buffer in the L1-bank feature and never returned.
OVERFLOW = {"op": "ttnn.relu", "inputs": [{"shape": [1, 1, 65536, 100000, 2147483648], "dtype": "bfloat16",
                                           "layout": "TILE", "memory": "L1_BLOCK_SHARDED", "grid": [6, 8]}],
            "output": {"memory": "L1_INTERLEAVED"}}


class Index:
    """An int-like value whose __index__ is whatever the test says (numpy scalars work this way)."""

    def __init__(self, value):
        self.value = value

    def __index__(self):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@pytest.fixture
def steep_models(tmp_path):
    """exp: ln ns = 50 * log2(roofline ns) - 575: 40 ns for small tensors (log2 roofline 11.57),
    overflowing for 8 GiB ones (26.32)."""
    n = len(opcast.feature_names())
    w = np.zeros((1, n))
    w[0, 0] = 50.0
    write_model(tmp_path, "ttnn.exp", [[(w, np.array([-575.0]), 0)]])
    return tmp_path


def huge_exp():
    return {"op": "ttnn.exp", "inputs": [short_tensor([1, 1, 32768, 65536], dtype="float32")]}  # 8 GiB: legal


def small_exp():
    return {"op": "ttnn.exp", "inputs": [short_tensor([32, 32], memory="L1_INTERLEAVED")]}


@pytest.mark.parametrize("query", [OVERFLOW, json.dumps(OVERFLOW)], ids=["dict", "json"])
def test_element_counts_beyond_int64_are_refused_naming_the_shape(tiny_models, query):
    with pytest.raises(opcast.QueryError, match=r"inputs\[0\]\.shape: .*2\^48"):
        opcast.Predictor(tiny_models).predict(query)


@pytest.mark.parametrize("query, message", [
    ("ttnn.exp\ud800", "lone surrogate"),
    ({"op": "ttnn.exp\ud800", "inputs": []}, "lone surrogate"),
    ({"op": "ttnn.exp", "inputs": [short_tensor([32, 32])], "\udcff": 1}, "lone surrogate"),
    ({"op": "ttnn.exp", "inputs": [short_tensor([32, 2**70])]}, "integer out of range"),
    ({"op": "ttnn.exp", "inputs": [short_tensor([32, np.uint64(2**64 - 1)])]}, "integer out of range"),
    ({"op": "ttnn.exp", "inputs": [short_tensor([32, Index(2**80)])]}, "integer out of range"),
    ({"op": "ttnn.exp", "inputs": [short_tensor([32, Index(RuntimeError("boom"))])]}, "cannot read the query: .*boom"),
    (b"{\"op\": \"ttnn.exp\xff\"}", "malformed JSON"),
])
def test_unreadable_values_are_query_errors(tiny_models, query, message):
    with pytest.raises(opcast.QueryError, match=message):
        opcast.Predictor(tiny_models).predict(query)


def test_numpy_dims_within_range_are_read_as_ints(tiny_models):
    q = {"op": "ttnn.exp", "inputs": [short_tensor([np.int64(1), np.uint32(256), Index(256)])]}
    assert opcast.Predictor(tiny_models).predict(q).ns > 0


def test_a_model_driven_out_of_range_is_the_querys_error_saying_why(steep_models):
    p = opcast.Predictor(steep_models)
    assert math.isfinite(p.predict(small_exp()).ns)
    with pytest.raises(opcast.QueryError, match="not a finite positive number.*outside what the model was trained on"):
        p.predict(huge_exp())


def test_every_row_of_a_batch_gets_its_answer_or_its_own_error(steep_models):
    p = opcast.Predictor(steep_models)
    rows = [small_exp(), huge_exp(), "ttnn.exp\ud800", OVERFLOW, {"op": "ttnn.relu", "inputs": [short_tensor([32, 32])]},
            small_exp()]
    out = p.predict_batch(rows, errors="collect")
    assert len(out) == len(rows)
    assert out["error"].isna().tolist() == [True, False, False, False, False, True]
    assert "not a finite positive number" in out["error"][1]
    assert "lone surrogate" in out["error"][2]
    assert "2^48" in out["error"][3]
    assert "no model for ttnn.relu" in out["error"][4]
    assert (out["predicted_ns"][[0, 5]] > 0).all() and out["predicted_ns"][1:5].isna().all()
    with pytest.raises(opcast.QueryError, match="query 1: .*not a finite positive number"):
        p.predict_batch(rows[:2])


def _exp_row(h, w, dtype="bfloat16"):
    return f"1,{h},{w},0,{int(dtype == 'bfloat8')},{int(dtype == 'bfloat16')},{int(dtype == 'float32')},0,0,1,0,5000"


def test_a_file_with_bad_lines_keeps_every_row(steep_models, tmp_path, capsys):
    header = ("input_shape_1,input_shape_2,input_shape_3,input_shape_4,bfloat8,bfloat16,float32,uint16,uint32,"
              "input_DRAM,input_L1,kernel_duration")
    lines = [header.encode(), _exp_row(32, 32).encode(),
             _exp_row(64, 32).encode()[:-4] + b"\xff\xfe00",     # not UTF-8
             _exp_row(96, 32).encode() + b",1,2",                # more fields than the header
             _exp_row(32768, 65536, "float32").encode(),         # the model cannot answer it
             _exp_row(128, 32).encode()]
    (tmp_path / "in.csv").write_bytes(b"\n".join(lines) + b"\n")
    assert cli.main(["predict", "--models", str(steep_models), "--input", str(tmp_path / "in.csv"),
                     "--output", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 5
    assert out["error"].isna().tolist() == [True, False, False, False, True]
    assert "line 3: not UTF-8" in out["error"][1]
    assert "line 4: 14 fields, the header names 12" in out["error"][2]
    assert "not a finite positive number" in out["error"][3]
    assert (out["predicted_ns"][[0, 4]] > 0).all()


def test_json_lines_with_a_bad_byte_keep_every_row(tiny_models, tmp_path):
    good = json.dumps(EXP).encode()
    (tmp_path / "q.jsonl").write_bytes(good + b"\n" + good[:-3] + b"\xc3\x28}}\n\n" + good + b"\n")
    assert cli.main(["predict", "--models", str(tiny_models), "--input", str(tmp_path / "q.jsonl"),
                     "--output", str(tmp_path / "a.jsonl")]) == 0
    answers = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [a["error"] is None for a in answers] == [True, False, True]
    assert "line 2: not UTF-8" in answers[1]["error"]


def test_cli_bad_bytes_and_bad_paths_exit_2_with_a_message(tiny_models, tmp_path, capsys):
    bad_json = json.dumps(EXP).replace("ttnn.exp", "ttnn.exp\udcff")  # how argv carries a non-UTF-8 byte
    assert cli.main(["predict", "--models", str(tiny_models), "--json", bad_json]) == 2
    assert "lone surrogate" in capsys.readouterr().err
    (tmp_path / "q.jsonl").write_text(json.dumps(EXP) + "\n")
    assert cli.main(["predict", "--models", str(tiny_models), "--input", str(tmp_path / "q.jsonl"),
                     "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_every_single_bit_flip_of_a_manifest_is_refused(tiny_models):
    """A sample of flips here; benchmarks/fuzz_campaign.py flips every bit of a trained manifest."""
    folder = tiny_models / "exp"
    rng = np.random.default_rng(0)
    for name in ("manifest.json", "manifest.sha256"):
        original = (folder / name).read_bytes()
        for bit in rng.choice(len(original) * 8, size=60, replace=False):
            flipped = bytearray(original)
            flipped[bit // 8] ^= 1 << (bit % 8)
            (folder / name).write_bytes(bytes(flipped))
            with pytest.raises(opcast.ModelError):
                opcast.Predictor(tiny_models)
        (folder / name).write_bytes(original)
    assert opcast.Predictor(tiny_models).predict(EXP).ns > 0


def test_a_subfolder_without_a_manifest_is_refused_at_load(tiny_models):
    (tiny_models / "relu").mkdir()
    with pytest.raises(opcast.ModelError, match="relu: no manifest.json"):
        opcast.Predictor(tiny_models)
