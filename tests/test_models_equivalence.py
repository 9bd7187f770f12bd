"""Our host execution of the op definitions equals the Hugging Face references (float32: max abs err <= 1e-4,
PCC >= 0.9999).

Coverage, every mode at batch 1 and 32: every PatchTSMixer forecasting mode (common/mix channel x gate on/off x
batch/layer norm x positional encoding on/off x std/mean/no scaling: 48), 8 classification/regression head modes
(every aggregation, every scaler, output range), TTM-R1 512-96 (adaptive patching) and four TTM variants.
Each reference is randomly initialised (linear layers at PyTorch's default scale, norm parameters and batch-norm
statistics randomised too), written with save_pretrained into tmp_path and loaded back by our loader.
"""

from __future__ import annotations

import importlib
import importlib.util
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install 'opcast[models]')")
pytest.importorskip("transformers", reason="transformers not installed (pip install 'opcast[models]')")


import opcast.models as M  # noqa: E402
from opcast.models import cli, data  # noqa: E402
from opcast.models import validate as V  # noqa: E402
from opcast.models.backend import TorchBackend  # noqa: E402
from opcast.models.reference import build_reference, compare, reference_output  # noqa: E402

HAVE_TSFM = importlib.util.find_spec("tsfm_public") is not None
needs_tsfm = pytest.mark.skipif(not HAVE_TSFM, reason="granite-tsfm (tsfm_public) not installed")

PTSM = V.modes("patchtsmixer")
FORECAST = list(M.patchtsmixer.forecast_modes())
HEADS = list(M.patchtsmixer.head_modes())


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: these models are tiny, and on a shared 2-core machine two threads wait on each other
    for a scheduler time slice at every op (10x slower)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _check(kind, mode, batches, tmp_path):
    results = V.check_mode(kind, mode, V.modes(kind)[mode], batches=batches, workdir=tmp_path)
    for r in results:
        assert r.max_abs_err <= V.ATOL, r
        assert r.pcc >= V.PCC_MIN, r
        assert r.ok
    return results


@pytest.mark.parametrize("mode", FORECAST)
def test_patchtsmixer_forecast(mode, tmp_path):
    _check("patchtsmixer", mode, (1, 32), tmp_path)


@pytest.mark.parametrize("mode", HEADS)
def test_patchtsmixer_heads(mode, tmp_path):
    _check("patchtsmixer", mode, (1, 32), tmp_path)


def test_patchtsmixer_port_parameter_count():
    ref = build_reference("patchtsmixer", M.PATCHTSMIXER_PORT)
    n = sum(p.numel() for p in ref.parameters())
    assert n == 187_120
    assert M.PatchTSMixer.from_reference(ref).num_parameters == n


@needs_tsfm
@pytest.mark.parametrize("mode", list(V.modes("ttm")))
def test_ttm(mode, tmp_path):
    _check("ttm", mode, (1, 32), tmp_path)


@needs_tsfm
def test_ttm_r1_parameter_count():
    ref = build_reference("ttm", M.TTM_R1_512_96)
    assert sum(p.numel() for p in ref.parameters()) == 805_280
    assert M.TinyTimeMixer.from_reference(ref).num_parameters == 805_280


def _float64_error(kind, spec, batch=4):
    ref = build_reference(kind, spec).double()
    ours = V.MODEL_CLASSES[kind].from_reference(ref)
    x = V.validation_input(batch, spec.context_length, spec.num_input_channels)
    y = ours.run(x, be=TorchBackend(dtype=torch.float64))
    with torch.no_grad():
        out = ref(past_values=torch.from_numpy(x).double(), return_loss=False)
    y_ref = getattr(out, "prediction_outputs", None)
    y_ref = out.regression_outputs if y_ref is None else y_ref
    return compare(y, y_ref)["max_abs_err"]


@pytest.mark.parametrize("mode", ["common_channel/gated/layernorm/pe/mean", "mix_channel/no_gate/layernorm/no_pe/std",
                                  "classification/flatten/std", "regression/avg_pool/std/output_range"])
def test_same_mathematics_in_float64(mode):
    """In float64 the definition and the reference agree to rounding: the float32 differences are rounding."""
    assert _float64_error("patchtsmixer", PTSM[mode]) < 1e-9


@needs_tsfm
def test_ttm_same_mathematics_in_float64():
    assert _float64_error("ttm", V.modes("ttm")["r1-512-96"]) < 1e-9


# -- checkpoints ------------------------------------------------------------------------------------------


def _ours_vs_ref(ours, ref, batch=2, channels=7):
    x = V.validation_input(batch, ours.spec.context_length, channels, seed=3)
    return compare(ours.run(x), reference_output(ref, x))


def test_checkpoint_sharded_safetensors(tmp_path):
    ref = build_reference("patchtsmixer", PTSM["mix_channel/gated/batchnorm/pe/std"])
    ref.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    c = _ours_vs_ref(M.PatchTSMixer.from_pretrained(tmp_path), ref)
    assert c["max_abs_err"] <= V.ATOL and c["pcc"] >= V.PCC_MIN


def test_checkpoint_pytorch_bin(tmp_path):
    """Older checkpoints: config.json + pytorch_model.bin."""
    ref = build_reference("patchtsmixer", PTSM["classification/avg_pool/mean"])
    ref.config.architectures = [type(ref).__name__]  # what model.save_pretrained writes into config.json
    ref.config.save_pretrained(tmp_path)
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    ours = M.PatchTSMixer.from_pretrained(tmp_path)
    assert ours.task == "classification"
    c = _ours_vs_ref(ours, ref)
    assert c["max_abs_err"] <= V.ATOL and c["pcc"] >= V.PCC_MIN


@needs_tsfm
def test_ttm_checkpoint_cli_validate(tmp_path, capsys):
    ref = build_reference("ttm", M.TTM_R1_512_96)
    ref.save_pretrained(tmp_path / "ckpt")
    code = cli.main(["validate", "ttm", "--checkpoint", str(tmp_path / "ckpt"), "--batch", "1", "2",
                     "--channels", "7", "--json", str(tmp_path / "r.json")])
    assert code == 0
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["batch"] for r in results] == [1, 2] and all(r["ok"] for r in results)
    assert results[0]["num_parameters"] == 805_280
    assert cli.main(["validate", "patchtsmixer", "--checkpoint", str(tmp_path / "ckpt")]) == 2


def test_checkpoint_that_does_not_match_the_config_is_refused(tmp_path):
    ref = build_reference("patchtsmixer", PTSM["common_channel/gated/layernorm/no_pe/std"])
    spec = PTSM["common_channel/no_gate/layernorm/no_pe/std"]
    with pytest.raises(ValueError, match="not used"):
        M.PatchTSMixer.from_state_dict(spec, ref.state_dict())
    with pytest.raises(KeyError):
        M.PatchTSMixer.from_state_dict(PTSM["common_channel/gated/layernorm/pe/std"], ref.state_dict())


# -- CLI and data -----------------------------------------------------------------------------------------


def test_cli_validate_exit_codes(monkeypatch, capsys):
    assert cli.main(["validate", "patchtsmixer", "--mode", "port", "--batch", "1"]) == 0
    out = capsys.readouterr().out
    assert "1/1 within tolerance" in out and "187,120" in out
    monkeypatch.setattr(V, "ATOL", -1.0)  # nothing can be within a negative tolerance
    assert cli.main(["validate", "patchtsmixer", "--mode", "port"]) == 1


def test_forecast_metrics_on_an_ett_csv(tmp_path, capsys):
    csv = data.write_synthetic_csv(tmp_path / "ETTh2.csv", length=14_400, seed=5)
    code = cli.main(["validate", "patchtsmixer", "--mode", "port", "--data", str(csv), "--windows", "8",
                     "--json", str(tmp_path / "r.json")])
    assert code == 0
    m = json.loads((tmp_path / "r.json").read_text())["data"][0]
    assert m["windows"] == 8 and np.isfinite(m["mse"]) and m["mse"] > 0
    assert m["mse_vs_reference"] < 1e-8
    assert abs(m["mse"] - m["reference_mse"]) < 1e-5
