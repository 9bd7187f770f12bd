"""The model definitions on the ttnn mock device: the same definition, issued to ttnn.

Runs in the Python 3.12 environment of scripts/setup_mock.sh (opcast is installed there):
    cd tests && ../.venv-mock/bin/python -m pytest -m mock test_models_ttnn_mock.py
and skips where ttnn is not installed (the main 3.11 environment).

Two ways: every mode inside one NO_DISPATCH graph capture (ttnn must accept every op the trace lists, and the
output must have the traced spec); and op by op (``ttnn_backend.capture_model``, ``opcast trace --device
mock``): every op captured on its own with its L1 per core, DRAM fallback where ttnn refuses the plan.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("ttnn") is None:
    pytest.skip("ttnn is not installed (run scripts/setup_mock.sh, then use .venv-mock)", allow_module_level=True)

import numpy as np  # noqa: E402

from opcast import device as md  # noqa: E402
from opcast.device import environment as device_environment  # noqa: E402
from opcast.models import validate as V  # noqa: E402
from opcast.models import ttnn_backend as tb  # noqa: E402
from opcast.models.ttnn_backend import TtnnBackend  # noqa: E402
from opcast.plans import Plan, default_plan  # noqa: E402

pytestmark = pytest.mark.mock

MODES = [("patchtsmixer", m) for m in V.modes("patchtsmixer")] + [("ttm", m) for m in V.modes("ttm")]
PORTS = {"patchtsmixer": V.PORT_MODE, "ttm": "r1-512-96"}  # PatchTSMixer port config, TTM-R1 512-96
KIB = 1024


@pytest.fixture(scope="module")
def device():
    with md.open_device() as dev:
        yield dev


# ------------------------------------------------------------------------------------ one capture per run

def _run(kind, mode, batch, device):
    spec = V.modes(kind)[mode]
    model = V.MODEL_CLASSES[kind].random(spec, seed=0)
    be = TtnnBackend(default_plan(kind), device=device)

    def forward():
        P = model.bind(be)
        x = be.from_torch(np.zeros((batch, spec.context_length, spec.num_input_channels), np.float32),
                          name="past_values")
        return model.forward(be, P, x)

    result = md.capture(forward)
    trace = model.trace(batch, channels=spec.num_input_channels)
    return result, be, trace


@pytest.mark.parametrize("kind,mode", MODES)
def test_every_mode_runs_on_the_mock_device(kind, mode, device):
    result, be, trace = _run(kind, mode, 1, device)
    assert result.ok, f"ttnn refused {be.current}: {result.error}"
    assert be.issued == [r.name for r in trace.ops]
    assert result.outputs[0]["logical_shape"] == list(trace.ops[-1].output.shape)
    assert result.fits_l1


@pytest.mark.parametrize("kind,mode", [("patchtsmixer", V.PORT_MODE), ("patchtsmixer", "classification/max_pool/std"),
                                       ("ttm", "r1-512-96")])
@pytest.mark.parametrize("batch", [32, 256])
def test_large_batches(kind, mode, batch, device):
    result, be, trace = _run(kind, mode, batch, device)
    assert result.ok, f"ttnn refused {be.current}: {result.error}"
    assert result.outputs[0]["logical_shape"] == list(trace.ops[-1].output.shape)


def test_plan_memory_reaches_ttnn(device):
    """TTM's default plan puts activations in L1: the output tensor is an L1 buffer (BufferType L1 = 1)."""
    result, _, _ = _run("ttm", "r1-512-96", 1, device)
    assert result.outputs[0]["tensor_layout"]["memory_config"]["buffer_type"] == 1
    result, _, _ = _run("patchtsmixer", V.PORT_MODE, 1, device)
    assert result.outputs[0]["tensor_layout"]["memory_config"]["buffer_type"] == 0  # DRAM


# ------------------------------------------------------------------------------------ one capture per op

def _model(kind):
    return V.MODEL_CLASSES[kind](V.modes(kind)[PORTS[kind]])  # shapes only: weights are uninitialised tensors


@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("kind", ["patchtsmixer", "ttm"])
def test_every_op_captures_under_the_default_plan(kind, batch, device):
    model = _model(kind)
    result = tb.capture_model(model, batch, device=device)
    trace = model.trace(batch, channels=7)
    assert [r.name for r in result.ops] == [r.name for r in trace.ops]  # the trace, op for op
    planned = "L1_INTERLEAVED" if kind == "ttm" else "DRAM_INTERLEAVED"  # the public ports' placement
    limit = md.l1_limits(device)["l1_bank_size"]
    for entry, traced in zip(result.ops, trace.ops):
        d = entry.device
        assert (entry.op, entry.inputs, entry.output, entry.attributes) == \
            (traced.op, traced.inputs, traced.output, traced.attributes)
        assert d.ok and d.error is None, f"{entry.name}: {d.error}"
        assert d.fits_l1 and 0 < d.l1_peak_per_core <= d.l1_total_per_core <= limit
        assert d.l1_limit_per_core == limit
        assert d.device_ops and d.device_ops[0].endswith("Operation")
        assert not d.fallback and d.fallback_reason is None
        assert d.planned == {"memory": planned}
        assert d.output.memory == planned and d.output.shape == traced.output.shape
        assert d.memory_config["buffer_type"] == (1 if planned.startswith("L1") else 0)
        assert [t.memory for t in d.inputs] == [t.memory for t in traced.inputs]
    s = result.meta["device"]
    assert s["ops"] == s["ok"] == len(trace.ops) and not s["failed"] and not s["fallbacks"] and not s["inserted"]
    assert s["output"]["shape"] == list(trace.ops[-1].output.shape)
    assert 0 < s["max_l1_peak_per_core"]["bytes"] <= s["max_l1_total_per_core"]["bytes"] < limit
    if kind == "ttm":  # live activations in L1 count against the bank
        assert max(r.device.l1_resident_per_core for r in result.ops) > 0
    assert md.l1_allocated_per_bank(device) == 0  # every device tensor of the run was released
    table = result.table()
    assert "L1/core KiB" in table and entry.name in table
    json.dumps(result.to_dict())  # plain data


SHARDED_PLAN = {
    "name": "ttm-sharded-test",
    "defaults": {"activation": {"memory": "L1_INTERLEAVED"}},
    "ops": {
        # matmul's own program config does not give a height-sharded output: ttnn rejects the entry
        "backbone.patcher": {"memory": "L1_HEIGHT_SHARDED", "core_count": 7},
        # a 32x7x32x96 bfloat16 output on one core: 1344 KiB shard, accepted by ttnn, over the L1 bank with the rest
        "backbone.levels.0.mixers.0.feature_mixer.mlp.gelu": {"memory": "L1_HEIGHT_SHARDED", "core_count": 1},
        # accepted as planned: block shards on 3x7 cores; the next linear takes the sharded input
        "backbone.levels.0.mixers.1.feature_mixer.mlp.gelu": {"memory": "L1_BLOCK_SHARDED", "grid": [3, 7]},
    },
}


def test_rejected_or_oversized_plan_entries_fall_back_to_dram(device):
    result = tb.capture_model(_model("ttm"), 32, device=device, plan=Plan(SHARDED_PLAN))
    by = {r.name: r for r in result.ops}
    assert len(result.ops) == 164 and all(r.device.ok for r in result.ops)

    rejected = by["backbone.patcher"].device
    assert rejected.fallback and rejected.planned == {"memory": "L1_HEIGHT_SHARDED", "core_count": 7}
    assert "TT_FATAL" in rejected.fallback_reason and "backtrace" not in rejected.fallback_reason
    assert rejected.output.memory == "DRAM_INTERLEAVED" and rejected.memory_config["buffer_type"] == 0
    assert [a["ok"] for a in rejected.attempts] == [False, True]
    # the trace keeps the plan's word, shard placement included (the predictor's short form), for the next op too
    assert by["backbone.patcher"].output.to_dict() == {"shape": [32, 7, 8, 192], "dtype": "bfloat16",
                                                       "layout": "TILE", "memory": "L1_HEIGHT_SHARDED",
                                                       "core_count": 7}
    assert by["backbone.levels.0.split"].inputs[0].core_count == 7
    assert by["backbone.levels.0.split"].device.inputs[0].memory == "DRAM_INTERLEAVED"  # what ran
    assert all(set(q) == {"op", "inputs", "output", "attributes"} for q in result.queries())

    big = by["backbone.levels.0.mixers.0.feature_mixer.mlp.gelu"].device
    first = big.attempts[0]
    assert first["ok"] and not first["fits_l1"] and first["l1_total_per_core"] > big.l1_limit_per_core
    assert big.fallback and big.fallback_reason.startswith("does not fit L1")
    assert big.output.memory == "DRAM_INTERLEAVED" and big.fits_l1

    block = by["backbone.levels.0.mixers.1.feature_mixer.mlp.gelu"].device
    assert not block.fallback and block.output.memory == "L1_BLOCK_SHARDED"
    assert block.output.grid == (3, 7) and block.output.core_count == 21
    nxt = by["backbone.levels.0.mixers.1.feature_mixer.mlp.fc2"].device
    assert nxt.ok and nxt.inputs[0].memory == "L1_BLOCK_SHARDED"

    fallbacks = result.meta["device"]["fallbacks"]
    assert [f["name"] for f in fallbacks] == ["backbone.patcher", "backbone.levels.0.mixers.0.feature_mixer.mlp.gelu"]
    assert all(f["used"]["memory"] == "DRAM_INTERLEAVED" and f["reason"] for f in fallbacks)
    table = result.table()
    assert "from L1_HEIGHT_SHARDED(7 cores)" in table and "L1_BLOCK_SHARDED(3x7)" in table
    assert "fallback backbone.patcher: L1_HEIGHT_SHARDED(7 cores) -> DRAM_INTERLEAVED" in tb.format_summary(result)


def _tiny_plan(**ops):
    return Plan({"defaults": {"activation": {"memory": "L1_INTERLEAVED"}},
                 "tensors": {"x": {"memory": "L1_HEIGHT_SHARDED", "core_count": 2}}, "ops": ops})


def test_a_sharded_input_the_op_refuses_is_moved_to_dram_explicitly(device):
    """layer_norm takes no height-sharded input with an interleaved output: after L1 and DRAM outputs are refused,
    the input moves to DRAM as an explicit, recorded ttnn.to_memory_config."""
    be = TtnnBackend(_tiny_plan(), device, per_op=True)
    x = be.from_torch(np.zeros((1, 1, 64, 64), np.float32), name="x")
    w = be.from_torch(np.zeros((64, 64), np.float32), name="w")
    be.linear(be.layer_norm(x, name="ln"), w, name="fc")
    assert [r.name for r in be.records] == ["ln.input0.to_dram", "ln", "fc"]
    move, ln, fc = be.records
    assert move.inserted and move.op == "ttnn.to_memory_config"
    assert move.inputs[0].memory == "L1_HEIGHT_SHARDED" and move.inputs[0].core_count == 2
    assert move.device.ok and move.device.device_ops == ["ShardedToInterleavedDeviceOperation"]
    d = ln.device
    assert d.ok and d.fallback and "HEIGHT_SHARDED" in d.fallback_reason
    assert [a.get("inputs_moved_to_dram", False) for a in d.attempts] == [False, False, True]
    assert d.inputs[0].memory == "DRAM_INTERLEAVED" and d.output.memory == "DRAM_INTERLEAVED"
    assert fc.device.ok and not fc.device.fallback and fc.device.output.memory == "L1_INTERLEAVED"


def test_matmul_program_config_from_the_plan(device):
    good = {"type": "MatmulMultiCoreReuseMultiCastProgramConfig", "compute_with_storage_grid_size": [2, 2],
            "in0_block_w": 1, "out_subblock_h": 1, "out_subblock_w": 1, "per_core_M": 1, "per_core_N": 1,
            "transpose_mcast": False}
    be = TtnnBackend(_tiny_plan(fc={"program_config": good}, fc_untyped={"program_config": {"in0_block_w": 2}}),
                     device, per_op=True)
    x = be.from_torch(np.zeros((1, 1, 64, 64), np.float32), name="y")
    w = be.from_torch(np.zeros((64, 64), np.float32), name="w")
    be.linear(x, w, name="fc")
    be.linear(x, w, name="fc_untyped")
    fc, untyped = be.records
    assert fc.device.ok and not fc.device.fallback
    assert fc.device.planned["program_config"] == good
    assert untyped.device.fallback and untyped.device.fallback_reason.startswith("plan entry rejected")
    assert "program_config" not in untyped.device.attempts[1]  # the fallback leaves it to ttnn


def test_without_fallback_a_refused_op_is_reported_and_the_run_goes_on(device):
    plan = Plan({"ops": {"mixers.0.patch_mixer.mlp.fc1": {"memory": "L1_WIDTH_SHARDED", "core_count": 3}}})
    result = tb.capture_model(_model("patchtsmixer"), 1, device=device, plan=plan, fallback=False)
    bad = [r for r in result.ops if not r.device.ok]
    assert [r.name for r in bad] == ["mixers.0.patch_mixer.mlp.fc1"]
    assert bad[0].device.error and not bad[0].device.fallback
    assert bad[0].device.output.memory == "DRAM_INTERLEAVED"  # a stand-in of the traced output
    assert result.meta["device"]["failed"] == ["mixers.0.patch_mixer.mlp.fc1"]
    assert len(result.ops) == 87 and sum(r.device.ok for r in result.ops) == 86


def test_wormhole_is_the_mock_path_with_a_device_from_ttnn_open_device(device, monkeypatch):
    """--device wormhole: only the open differs (ttnn.open_device(0) after use_hardware()). Here the handle
    it gets is the mock device, so the rest of the hardware path runs."""
    ttnn = md.import_ttnn()
    calls = []
    monkeypatch.setattr(device_environment, "use_hardware", lambda: calls.append("use_hardware"))
    monkeypatch.setattr(ttnn, "open_device", lambda device_id: calls.append(("open", device_id)) or device)
    monkeypatch.setattr(ttnn, "close_device", lambda dev: calls.append("close"))
    with md.open_device("wormhole") as dev:
        assert dev is device
        result = tb.capture_model(_model("patchtsmixer"), 1, device=dev, device_kind="wormhole")
    assert calls == ["use_hardware", ("open", 0), "close"]
    assert result.meta["device"]["kind"] == "wormhole" and result.meta["device"]["ok"] == 87
    with pytest.raises(ValueError):
        with md.open_device("grayskull"):
            pass


def _opcast_command():
    script = Path(sys.executable).with_name("opcast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "opcast.cli"]


def test_cli_trace_ttm_on_the_mock_device(tmp_path):
    out = tmp_path / "ttm.json"
    run = subprocess.run(_opcast_command() + ["trace", "ttm", "--device", "mock", "--out", str(out)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    header = run.stdout.splitlines()[0].split()
    assert header[:3] == ["#", "name", "ttnn"] and {"L1/core", "fits", "fallback"} <= set(header)
    assert "backbone.levels.0.mixers.0.patch_mixer.mlp.fc1" in run.stdout
    assert "device mock: 164/164 ops accepted" in run.stdout and "0 fallbacks" in run.stdout
    data = json.loads(out.read_text())
    assert data["model"] == "ttm" and data["batch"] == 1 and data["num_ops"] == 164
    assert data["device"]["kind"] == "mock" and data["device"]["info"]["compute_grid"] == [8, 8]
    assert all(e["device"]["ok"] and e["device"]["l1_peak_per_core"] > 0 for e in data["ops"])
    assert data["device"]["max_l1_peak_per_core"]["bytes"] > 0


def test_no_torch_was_imported():
    assert "torch" not in sys.modules
