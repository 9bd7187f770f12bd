"""Kind models and the calibrated roofline: every catalogued op gets an answer, measured ops through
their learned factor, unmeasured ones through what the catalogue says of them, never in domain."""

import json

import numpy as np
import pandas as pd
import pytest

import opcast
from opcast import vocabulary as v
from opcast.train import dataset, fit, kinds

SMALL = fit.TrainConfig(members=3, hidden_layers=(16, 16), max_epochs=300, patience=40)
# Unary ops in DRAM: a launch, then per-tile compute on 64 cores, each op slower by its own factor.
FACTORS = {"ttnn.exp": 1.0, "ttnn.relu": 0.7, "ttnn.sqrt": 1.3, "ttnn.gelu": 2.0}


def law(op: str, shape) -> float:
    cycles = opcast.catalogue.op_entry(op)["cycles_per_tile"]
    return (1500 + np.ceil(v.tile_count(shape) / 64) * cycles * 1.2) * FACTORS[op]


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    rng = np.random.default_rng(0)
    configs = {}
    for op in FACTORS:
        rows = []
        heights = (32, 64, 128, 256, 512, 1024, 2048) if op != "ttnn.gelu" else (64, 1024)  # gelu: two sizes
        for h in heights:
            for w in (32, 256, 1024):
                shape = (1, 1, h, w)
                rows.append({"op": op, "query": v.query_json(op, [v.Tensor(shape)]), "kernel_ns": law(op, shape)
                             * rng.normal(1, 0.01), "source": "synthetic", "group": f"{op}|{h}x{w}"})
        configs[op] = dataset.aggregate(pd.DataFrame(rows))
    out = tmp_path_factory.mktemp("tiers")
    summary = kinds.train_tiers(configs, out, SMALL, verbose=False)
    return out, summary


def query(op, shape=(1, 1, 512, 512)):
    return {"op": op, "inputs": [v.Tensor(shape).to_dict()]}


def test_a_kind_model_and_the_roofline_are_written_and_summarised(tiers):
    out, summary = tiers
    assert summary.set_index("op").loc["kind-eltwise_unary", "status"] == "trained"
    manifest = json.loads((out / "kind-eltwise_unary" / "manifest.json").read_text())
    assert manifest["scope"] == "kind" and set(manifest["ops"]) == set(FACTORS)
    assert manifest["clamp_features_to_domain"] is True
    # gelu measured at two sizes is placed by its factor: twice exp's per-tile law, as generated.
    assert manifest["ops"]["ttnn.gelu"]["log_factor"] > manifest["ops"]["ttnn.relu"]["log_factor"]
    roofline = json.loads((out / "roofline" / "manifest.json").read_text())
    assert set(roofline["kinds"]) == {"eltwise_unary"} and roofline["all_kinds"]["ops"] == sorted(FACTORS)
    assert 0 < roofline["kinds"]["eltwise_unary"]["leave_one_op_out"]["mape_median"] < 1


def test_measured_ops_are_answered_near_their_law_and_in_domain(tiers):
    out, _ = tiers
    p = opcast.Predictor(out)
    for op in FACTORS:
        r = p.predict(query(op))
        assert r.source.startswith("kind-ensemble:eltwise_unary@")
        assert r.ns == pytest.approx(law(op, (1, 1, 512, 512)), rel=0.25), op
        assert r.in_domain


def test_an_op_never_measured_gets_an_answer_that_says_so(tiers):
    out, _ = tiers
    p = opcast.Predictor(out)
    r = p.predict(query("ttnn.sin"))
    assert not r.in_domain and 0 < r.lo_ns < r.ns < r.hi_ns
    assert r.source.split(":")[0] in ("kind-ensemble", "calibrated-roofline")
    softmax = p.predict(query("ttnn.softmax"))  # a kind nothing was measured for: the fit over every kind
    assert softmax.source.startswith("calibrated-roofline:all_kinds@") and not softmax.in_domain


def test_one_measured_op_writes_no_roofline_it_could_not_calibrate(tmp_path):
    rows = [{"op": "ttnn.exp", "query": v.query_json("ttnn.exp", [v.Tensor((1, 1, h, 64))]), "kernel_ns": 1000.0 + h,
             "source": "s", "group": f"g{h}"} for h in (32, 64, 128)]
    summary = kinds.train_tiers({"ttnn.exp": dataset.aggregate(pd.DataFrame(rows))}, tmp_path, SMALL, verbose=False)
    assert not (tmp_path / "roofline").exists()
    assert summary.set_index("op").loc["roofline", "status"].startswith("not written")


def test_a_kind_too_small_for_a_kind_model_answers_its_measured_ops_as_measured(tmp_path):
    # Two reductions measured at one size each (a daily dashboard's): too few configurations for a kind
    # model, but each measured configuration is answered as measured, in domain, from the roofline folder;
    # other sizes get the calibrated roofline, never in domain.
    rng = np.random.default_rng(1)
    configs = {}
    for op in FACTORS:  # a unary kind large enough for its kind model and the roofline's leave-one-op-out
        rows = [{"op": op, "query": v.query_json(op, [v.Tensor((1, 1, h, 256))]), "kernel_ns": law(op, (1, 1, h, 256))
                 * rng.normal(1, 0.01), "source": "s", "group": f"{op}|{h}"}
                for h in (32, 64, 128, 256, 512, 1024, 2048, 4096) for _ in range(2)]
        configs[op] = dataset.aggregate(pd.DataFrame(rows))
    measured = {"ttnn.sum": 6015.0, "ttnn.max": 19002.0}
    for op, ns in measured.items():
        configs[op] = dataset.aggregate(pd.DataFrame([{"op": op, "query": v.query_json(op, [v.Tensor((1, 1, 32, 32))]),
                                                        "kernel_ns": ns, "source": "s", "group": "g"}]))
    summary = kinds.train_tiers(configs, tmp_path, SMALL, verbose=False).set_index("op")
    assert summary.loc["kind-reduction", "status"].startswith("roofline only")
    assert not (tmp_path / "kind-reduction").exists()
    roofline = json.loads((tmp_path / "roofline" / "manifest.json").read_text())
    assert set(roofline["measured_ops"]) == set(measured)
    p = opcast.Predictor(tmp_path)
    for op, ns in measured.items():
        r = p.predict(query(op, (1, 1, 32, 32)))
        assert r.source.startswith("measured-program:reduction@") and r.in_domain
        assert r.ns == pytest.approx(ns, rel=1e-6) and r.lo_ns <= ns <= r.hi_ns
        other = p.predict(query(op, (1, 1, 1024, 1024)))
        assert other.source.startswith("calibrated-roofline:") and not other.in_domain
    batch = p.predict_batch([query(op, (1, 1, 32, 32)) for op in measured])
    assert batch["predicted_ns"].tolist() == pytest.approx(list(measured.values()), rel=1e-6)
