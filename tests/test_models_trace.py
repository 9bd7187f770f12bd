"""Op traces of the model definitions: structure, plans, parameter counts (numpy only; torch for one cross-check)."""

from __future__ import annotations

import json

import pytest

import opcast.models as M
from opcast.catalogue import op_names
from opcast.models import patchtsmixer as ptsm
from opcast.models import ttm as ttm_mod
from opcast.models import validate as V
from opcast.models.trace import TraceBackend
from opcast.plans import Plan, Trace, default_plan

# Ops the definitions issue that the catalogue (catalogue/ops.json) does not list yet.
NOT_IN_CATALOGUE: set[str] = set()


def catalogue_ops() -> set[str]:
    return set(op_names())


def test_parameter_counts_without_torch():
    assert M.PatchTSMixer(M.PATCHTSMIXER_PORT).num_parameters == 187_120
    assert M.TinyTimeMixer(M.TTM_R1_512_96).num_parameters == 805_280
    # common_channel: the count does not depend on the number of channels
    assert M.TinyTimeMixer(M.TTM_R1_512_96.replace(num_input_channels=7)).num_parameters == 805_280


def _all_models():
    for mode, spec in V.modes("patchtsmixer").items():
        yield "patchtsmixer", mode, M.PatchTSMixer(spec)
    for mode, spec in V.modes("ttm").items():
        yield "ttm", mode, M.TinyTimeMixer(spec)


def test_every_traced_op_is_catalogued_or_known_missing():
    catalogue = catalogue_ops()
    used = set()
    for _, _, model in _all_models():
        used |= {r.op for r in model.trace(1, channels=7).ops}
    assert used - catalogue == NOT_IN_CATALOGUE


@pytest.mark.parametrize("kind,mode", [("patchtsmixer", m) for m in V.modes("patchtsmixer")]
                         + [("ttm", m) for m in V.modes("ttm")])
def test_trace_is_a_consistent_dataflow(kind, mode):
    spec = V.modes(kind)[mode]
    model = V.MODEL_CLASSES[kind](spec)
    batch = 3
    tr = model.trace(batch, channels=spec.num_input_channels)
    names = [r.name for r in tr.ops]
    assert len(names) == len(set(names))
    uploaded = {t.shape for t in tr.tensors.values()}
    produced = set()
    for r in tr.ops:
        assert r.op.startswith("ttnn.")
        for t in r.inputs:
            assert set(t.to_dict()) == {"shape", "dtype", "layout", "memory"}
            assert t.shape in produced | uploaded, (r.name, t)
        produced.add(r.output.shape)
        assert set(r.attributes) >= ({"math_fidelity"} if r.op == "ttnn.linear" else set())
    out = list(tr.ops[-1].output.shape)
    if getattr(spec, "task", "forecast") == "forecast":
        assert out == [batch, spec.prediction_length, spec.num_input_channels]
    else:
        assert out == [batch, spec.num_targets]
    # every weight is used by some op; the input is the first op's input
    assert list(tr.tensors)[-1] == "past_values"
    assert list(tr.ops[0].inputs[0].shape) == [batch, spec.context_length, spec.num_input_channels]
    assert tr.meta["num_parameters"] == model.num_parameters


def test_ttm_adaptive_patching_levels_in_trace():
    tr = M.TinyTimeMixer(M.TTM_R1_512_96).trace(2, channels=7)
    reshapes = {r.name: list(r.output.shape) for r in tr.ops if r.op == "ttnn.reshape"}
    assert reshapes["backbone.levels.0.split"] == [2, 7, 32, 48]
    assert reshapes["backbone.levels.0.merge"] == [2, 7, 8, 192]
    assert reshapes["backbone.levels.1.split"] == [2, 7, 16, 96]
    assert "backbone.levels.2.split" not in reshapes  # level 0: no split
    linears = {r.name: r for r in tr.ops if r.op == "ttnn.linear"}
    assert linears["backbone.levels.0.mixers.1.patch_mixer.mlp.fc1"].inputs[1].shape == (32, 64)
    assert linears["backbone.levels.2.mixers.0.feature_mixer.mlp.fc1"].inputs[1].shape == (192, 384)
    assert linears["decoder.adapter"].output.shape == (2, 7, 8, 128)
    assert linears["head.linear"].inputs[1].shape == (1024, 96)
    assert tr.ops[-1].output.shape == (2, 96, 7)
    # 3 levels x 2 backbone layers + 2 decoder layers, each 3 linears in the patch and 3 in the feature mixer
    assert len([n for n in linears if ".mixers." in n]) == (3 * 2 + 2) * 6


def test_default_plans():
    t = M.TinyTimeMixer(M.TTM_R1_512_96).trace(1, channels=7)
    assert {r.output.memory for r in t.ops} == {"L1_INTERLEAVED"}
    assert {x.memory for x in t.tensors.values()} == {"DRAM_INTERLEAVED"}
    p = M.PatchTSMixer(M.PATCHTSMIXER_PORT).trace(1)
    assert {r.output.memory for r in p.ops} == {"DRAM_INTERLEAVED"}
    assert {r.output.dtype for r in p.ops} == {"bfloat16"}
    assert {r.output.layout for r in p.ops} == {"TILE"}


def test_plan_overrides_apply_by_op_type_name_and_tensor(tmp_path):
    plan = {
        "name": "custom",
        "defaults": {"activation": {"memory": "L1_INTERLEAVED"}},
        "op_types": {"ttnn.softmax": {"memory": "DRAM_INTERLEAVED"}},
        "ops": {"*.mlp.fc1": {"math_fidelity": "LoFi", "memory": "L1_HEIGHT_SHARDED"},
                "head.linear": {"dtype": "float32", "program_config": {"in0_block_w": 2}},
                "nothing.matches.this": {"memory": "DRAM_INTERLEAVED"}},
        "tensors": {"head.linear.weight": {"dtype": "bfloat8_b"}},
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    model = M.PatchTSMixer(M.PATCHTSMIXER_PORT)
    tr = model.trace(4, plan=Plan.load(path))
    by = {r.name: r for r in tr.ops}
    fc1 = by["mixers.2.patch_mixer.mlp.fc1"]
    assert fc1.output.memory == "L1_HEIGHT_SHARDED" and fc1.attributes["math_fidelity"] == "LoFi"
    # the next op sees fc1's output placement as its input
    assert by["mixers.2.patch_mixer.mlp.gelu"].inputs[0].memory == "L1_HEIGHT_SHARDED"
    assert by["mixers.0.feature_mixer.gate.softmax"].output.memory == "DRAM_INTERLEAVED"
    assert by["mixers.0.feature_mixer.gate.mul"].output.memory == "L1_INTERLEAVED"
    head = by["head.linear"]
    assert head.output.dtype == "float32" and head.attributes["program_config"] == {"in0_block_w": 2}
    assert head.inputs[1].dtype == "bfloat8_b"
    assert Plan(plan).unmatched_patterns(by) == ["nothing.matches.this"]
    with pytest.raises(ValueError):
        Plan({"defaults": {"activation": {"memory": "L2"}}})


def test_queries_and_json(tmp_path):
    tr = M.TinyTimeMixer(M.TTM_R1_512_96).trace(32, channels=7, plan=default_plan("ttm"))
    q = tr.queries()
    assert len(q) == len(tr.ops) == 164
    assert all(set(d) == {"op", "inputs", "output", "attributes"} for d in q)
    lin = next(d for d in q if d["op"] == "ttnn.linear")
    assert lin["inputs"][0] == {"shape": [32, 7, 8, 64], "dtype": "bfloat16", "layout": "TILE",
                                "memory": "L1_INTERLEAVED"}  # the patchify reshape's output
    assert lin["inputs"][1] == {"shape": [64, 192], "dtype": "bfloat16", "layout": "TILE",
                                "memory": "DRAM_INTERLEAVED"}  # the weight
    out = tmp_path / "t.json"
    tr.to_json(out)
    data = json.loads(out.read_text())
    assert data["model"] == "ttm" and data["batch"] == 32 and data["num_ops"] == 164
    assert data["op_counts"]["ttnn.linear"] == 51
    assert "ttnn.linear" in tr.table()


def test_trace_json_reads_back(tmp_path):
    plan = Plan({"ops": {"*.mlp.fc1": {"memory": "L1_BLOCK_SHARDED", "grid": [2, 4]}}})
    tr = M.PatchTSMixer(M.PATCHTSMIXER_PORT).trace(2, plan=plan)
    path = tmp_path / "t.json"
    tr.to_json(path)
    back = Trace.load(path)
    assert back == tr and back.to_json() == tr.to_json()
    fc1 = next(r for r in back.ops if r.name.endswith(".mlp.fc1"))
    assert fc1.output.grid == (2, 4) and fc1.output.core_count == 8  # a grid states its cores


def test_plan_words_are_the_vocabularys(tmp_path):
    plan = Plan({"defaults": {"weight": {"dtype": "DataType.BFLOAT8_B", "memory": "l1_interleaved"}},
                 "op_types": {"ttnn.linear": {"math_fidelity": "hifi4"}}})
    assert plan.defaults["weight"] == {"memory": "L1_INTERLEAVED", "dtype": "bfloat8_b", "layout": "TILE"}
    assert plan.op_config("fc", "ttnn.linear")["math_fidelity"] == "HiFi4"
    plan.save(tmp_path / "plan.json")
    assert Plan.load(tmp_path / "plan.json").to_dict() == plan.to_dict()
    with pytest.raises(ValueError, match=r"plan ops\['\*\.fc1'\]: .*unknown dtype \"bf16\""):
        Plan({"ops": {"*.fc1": {"dtype": "bf16"}}})
    with pytest.raises(ValueError, match="plan defaults: unknown role 'output'"):
        Plan({"defaults": {"output": {}}})


def test_scalar_operands_are_attributes():
    tr = M.PatchTSMixer(M.PATCHTSMIXER_PORT).trace(1)
    add_eps = next(r for r in tr.ops if r.name == "scaler.add_minimum")
    assert len(add_eps.inputs) == 1 and add_eps.attributes["scalar"] == pytest.approx(1e-5)


def test_fused_gelu_option():
    plain = M.PatchTSMixer(M.PATCHTSMIXER_PORT).trace(1)
    fused = M.PatchTSMixer(M.PATCHTSMIXER_PORT, fuse_gelu=True).trace(1)
    assert fused.op_counts().get("ttnn.gelu", 0) == 0
    assert len(plain.ops) - len(fused.ops) == plain.op_counts()["ttnn.gelu"]
    assert any(r.attributes.get("activation") == "gelu" for r in fused.ops)


def test_trace_rejects_shape_errors():
    be = TraceBackend()
    from opcast.models.params import ShapeOnly

    a = be.from_torch(ShapeOnly((2, 3, 4)), name="a")
    w = be.from_torch(ShapeOnly((5, 6)), name="w")
    with pytest.raises(ValueError):
        be.linear(a, w, name="bad")
    with pytest.raises(ValueError):
        be.reshape(a, (5, 5), name="bad2")
    be.mean(a, -1, True, name="m")
    with pytest.raises(ValueError):
        be.mean(a, -1, True, name="m")  # duplicate name


def test_unsupported_configurations_raise():
    with pytest.raises(NotImplementedError):
        M.PATCHTSMIXER_PORT.replace(self_attn=True)
    with pytest.raises(NotImplementedError):
        M.TTM_R1_512_96.replace(resolution_prefix_tuning=True)
    with pytest.raises(NotImplementedError):
        M.TTM_R1_512_96.replace(decoder_raw_residual=True)


def test_spec_from_hf_config_dicts():
    d = {"model_type": "patchtsmixer", "architectures": ["PatchTSMixerForRegression"], "context_length": 64,
         "num_patches": 8, "d_model": 8, "some_new_field": 1}
    s = ptsm.PatchTSMixerSpec.from_dict(d)
    assert s.task == "regression" and s.num_patches == 8
    t = ttm_mod.TTMSpec.from_dict({"context_length": 512, "patch_length": 64, "patch_stride": 64,
                                   "init_processing": True, "num_patches": 8})
    assert t.num_patches == 8


def test_trace_matches_the_ops_torch_executes():
    pytest.importorskip("torch", reason="torch not installed")
    import numpy as np

    from opcast.models.backend import TorchBackend

    for kind, spec in (("patchtsmixer", V.modes("patchtsmixer")["mix_channel/gated/batchnorm/pe/mean"]),
                       ("patchtsmixer", V.modes("patchtsmixer")["classification/avg_pool/mean"]),
                       ("ttm", M.TTM_R1_512_96)):
        model = V.MODEL_CLASSES[kind].random(spec, seed=1)
        be = TorchBackend(record=True)
        x = np.random.default_rng(0).normal(size=(2, spec.context_length, spec.num_input_channels))
        model.run(x.astype("float32"), be=be)
        traced = [(r.name, r.op) for r in model.trace(2, channels=spec.num_input_channels).ops]
        assert be.issued == traced
