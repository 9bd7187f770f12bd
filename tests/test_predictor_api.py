"""The Python face of the query library: answers, batches, errors (never 0, never NaN)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import opcast
from conftest import short_tensor, write_model, constant_members
from opcast.train.fit import write_manifest

EXP = {"op": "ttnn.exp", "inputs": [short_tensor([1, 1, 256, 256])]}
ADD = {"op": "ttnn.add", "inputs": [short_tensor([1, 1, 64, 64], memory="L1_INTERLEAVED")] * 2}


def test_single_prediction_and_interval(tiny_models):
    p = opcast.Predictor(tiny_models)
    r = p.predict(EXP)
    assert r.ns == pytest.approx(5000, rel=1e-5)
    assert r.lo_ns == pytest.approx(5000 * math.exp(-0.2), rel=1e-4)
    assert r.hi_ns == pytest.approx(5000 * math.exp(0.2), rel=1e-4)
    assert r.in_domain
    assert r.source.startswith("mlp-ensemble:ttnn.exp@")
    assert p.predict(json.dumps(EXP)).ns == r.ns  # JSON string and dict agree


def test_ratio_target_scales_the_roofline(tiny_models):
    r = opcast.Predictor(tiny_models).predict(ADD)
    assert r.ns == pytest.approx(2 * opcast.roofline(ADD)["total_ns"], rel=1e-5)


def test_batch_matches_single_for_lists_and_frames(tiny_models):
    p = opcast.Predictor(tiny_models)
    queries = [EXP, ADD, json.dumps(EXP)]
    out = p.predict_batch(queries)
    assert list(out.columns) == ["predicted_ns", "lo_ns", "hi_ns", "in_domain", "source", "build", "error"]
    for q, ns in zip(queries, out["predicted_ns"]):
        assert ns == pytest.approx(p.predict(q).ns, rel=1e-12)
    frame = pd.DataFrame({"query": [json.dumps(q) for q in (EXP, ADD)], "other": [1, 2]}, index=[10, 20])
    framed = p.predict_batch(frame)
    assert list(framed.index) == [10, 20]
    assert framed["predicted_ns"].tolist() == pytest.approx(out["predicted_ns"][:2].tolist())


def test_batch_errors_raise_or_are_collected(tiny_models):
    p = opcast.Predictor(tiny_models)
    bad = {"op": "ttnn.exp", "inputs": [short_tensor([1, 0, 32, 32])]}
    relu = {"op": "ttnn.relu", "inputs": [short_tensor([32, 32])]}
    with pytest.raises(opcast.QueryError, match=r"query 1: .*inputs\[0\]\.shape\[1\]"):
        p.predict_batch([EXP, bad])
    out = p.predict_batch([EXP, bad, relu, "{not json"], errors="collect")
    assert out["error"].isna().tolist() == [True, False, False, False]
    assert "inputs[0].shape[1]" in out["error"][1]
    assert "no model for ttnn.relu" in out["error"][2]
    assert "malformed JSON" in out["error"][3]
    assert out["predicted_ns"][1:].isna().all() and out["predicted_ns"][0] > 0
    with pytest.raises(ValueError, match="errors must be"):
        p.predict_batch([EXP], errors="ignore")
    with pytest.raises(ValueError, match="'query' column"):
        p.predict_batch(pd.DataFrame({"q": [1]}))


@pytest.mark.parametrize(
    "query, field",
    [
        ({"op": "ttnn.nope", "inputs": []}, "op"),
        ({"inputs": [short_tensor([32, 32])]}, "op"),
        ({"op": "ttnn.exp"}, "inputs"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([1, 1, 1, 1, 1, 1, 1, 1, 1])]}, r"inputs\[0\]\.shape"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([32, -5])]}, r"inputs\[0\]\.shape\[1\]"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([32, 2.5])]}, r"inputs\[0\]\.shape\[1\]"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([32, 32], dtype="float64")]}, r"inputs\[0\]\.dtype"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([32, 32], layout="TILED")]}, r"inputs\[0\]\.layout"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([32, 32], memory="L1_SHARDED")]}, r"inputs\[0\]\.memory"),
        ({"op": "ttnn.exp", "inputs": [{"shape": [32, 32], "dtype": "bfloat16", "layout": "TILE"}]}, r"inputs\[0\]\.memory"),
        ({"op": "ttnn.exp", "inputs": [short_tensor([32, 32], memroy="x")]}, r"inputs\[0\]\.memroy"),
        ({"op": "ttnn.matmul", "inputs": [short_tensor([64, 32]), short_tensor([64, 32])]}, r"inputs\[1\]\.shape"),
    ],
)
def test_bad_queries_name_the_field(tiny_models, query, field):
    p = opcast.Predictor(tiny_models)
    with pytest.raises(opcast.QueryError, match=field):
        p.predict(query)
    assert issubclass(opcast.QueryError, ValueError)


def test_query_errors_for_non_queries(tiny_models):
    p = opcast.Predictor(tiny_models)
    for q in ("{\"op\": ", "[]", "null", 42, ["ttnn.exp"]):
        with pytest.raises(opcast.QueryError):
            p.predict(q)


def test_missing_or_corrupt_models_are_refused(tmp_path, tiny_models):
    with pytest.raises(opcast.ModelError, match="not a directory"):
        opcast.Predictor(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(opcast.ModelError, match="no model folders"):
        opcast.Predictor(tmp_path / "empty")
    weights = tiny_models / "exp" / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(opcast.ModelError, match="checksum mismatch"):
        opcast.Predictor(tiny_models)


def test_schema_version_mismatch_is_refused(tmp_path):
    n = len(opcast.feature_names())
    folder = write_model(tmp_path, "ttnn.exp", constant_members(n, [8.0, 8.0]))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["feature_schema_version"] = opcast.FEATURE_SCHEMA_VERSION + 1
    write_manifest(folder, manifest)
    with pytest.raises(opcast.ModelError, match="feature schema version"):
        opcast.Predictor(tmp_path)


def test_out_of_domain_is_flagged(tmp_path):
    n = len(opcast.feature_names())
    hi = [1e9] * n
    hi[opcast.feature_names().index("rank_in0")] = 3  # trained on rank <= 3
    write_model(tmp_path, "ttnn.exp", constant_members(n, [8.0, 8.1]), domain=([-1e9] * n, hi))
    p = opcast.Predictor(tmp_path)
    assert p.predict({"op": "ttnn.exp", "inputs": [short_tensor([1, 64, 64])]}).in_domain
    r = p.predict({"op": "ttnn.exp", "inputs": [short_tensor([1, 1, 64, 64])]})
    assert not r.in_domain and r.ns > 0


def test_features_match_the_catalogue_and_are_finite():
    ops = {op["name"]: op for op in opcast.load_catalogue()["ops"]}
    assert json.loads(opcast._core.catalogue_json()) == opcast.load_catalogue()  # C++ embeds the same file
    assert {"ttnn.exp", "ttnn.matmul", "ttnn.add", "ttnn.relu"} <= set(ops)
    x, roof = opcast.features_batch([EXP, ADD])
    assert x.shape == (2, len(opcast.feature_names()))
    assert np.isfinite(x).all() and (roof > 0).all()
