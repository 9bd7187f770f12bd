"""ETTh2-format data, forecast windows and metrics; the trace CLI (numpy and pandas only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="pandas not installed")


import opcast.models as M  # noqa: E402
from opcast.models import cli, data  # noqa: E402


def test_synthetic_series_is_ett_shaped_and_deterministic():
    a = data.synthetic_series(500, seed=3)
    b = data.synthetic_series(500, seed=3)
    assert list(a.columns) == ["date"] + data.ETT_COLUMNS
    assert a.equals(b)
    assert not a.equals(data.synthetic_series(500, seed=4))
    assert a["date"].iloc[1] == "2016-07-01 01:00:00"
    assert np.isfinite(a[data.ETT_COLUMNS].to_numpy()).all()


def test_ett_csv_split_with_context_overlap(tmp_path):
    csv = data.write_synthetic_csv(tmp_path / "ETTh2.csv", length=17_420, seed=1)
    df = data.load_ett_csv(csv)
    assert list(df.columns) == ["date"] + data.ETT_COLUMNS
    s = data.ett_splits(df, context_length=512)
    # 12 / 4 / 4 months of 30 days, val and test start one context early
    assert s.borders == {"train": (0, 8640), "val": (8640 - 512, 11520), "test": (11520 - 512, 14400)}
    assert s.train.shape == (8640, 7) and s.val.shape == (2880 + 512, 7) and s.test.shape == (2880 + 512, 7)
    np.testing.assert_allclose(s.train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(s.train.std(axis=0), 1, atol=1e-4)
    raw = df.drop(columns=["date"]).to_numpy()
    np.testing.assert_allclose(s.inverse(s.test[0]), raw[11520 - 512], rtol=1e-5)
    x, y = data.windows(s.test, 512, 96)
    assert x.shape == (2880 - 96 + 1, 512, 7) and y.shape == (2880 - 96 + 1, 96, 7)
    np.testing.assert_array_equal(x[1, -1], s.test[512])  # consecutive windows, stride 1
    np.testing.assert_array_equal(y[0, 0], s.test[512])
    with pytest.raises(ValueError):
        data.ett_splits(df.iloc[:10_000], context_length=512)
    small = data.ett_splits(df, context_length=48, hours_per_month=24)
    assert small.train.shape == (12 * 24, 7)


def test_metrics():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    truth = np.array([[1.0, 1.0], [1.0, 1.0]])
    m = data.forecast_metrics(pred, truth, reference=truth + 1)
    assert m["mse"] == pytest.approx((0 + 1 + 4 + 9) / 4)
    assert m["mae"] == pytest.approx((0 + 1 + 2 + 3) / 4)
    assert m["reference_mse"] == pytest.approx(1.0)
    assert m["mse_vs_reference"] == pytest.approx((1 + 0 + 1 + 4) / 4)


def test_cli_trace_table_and_json(tmp_path, capsys):
    out = tmp_path / "ttm.json"
    assert cli.main(["trace", "ttm", "--batch", "32", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "backbone.levels.0.mixers.0.patch_mixer.mlp.fc1" in text and "L1_INTERLEAVED" in text
    assert "805,280 parameters" in text
    tr = json.loads(out.read_text())
    assert tr["batch"] == 32 and tr["channels"] == 7 and tr["model"] == "ttm"
    assert tr["ops"][0]["inputs"][0]["shape"] == [32, 512, 7]
    assert tr["output"]["shape"] == [32, 96, 7]


def test_cli_trace_with_a_plan_file(tmp_path, capsys):
    plan = tmp_path / "plan.json"
    assert cli.main(["trace", "patchtsmixer", "--write-default-plan", str(plan)]) == 0
    p = json.loads(plan.read_text())
    assert p["defaults"]["activation"]["memory"] == "DRAM_INTERLEAVED"
    p["ops"] = {"mixers.*.feature_mixer.*": {"memory": "L1_INTERLEAVED"}, "typo.*": {"memory": "L1_INTERLEAVED"}}
    plan.write_text(json.dumps(p))
    out = tmp_path / "p.json"
    assert cli.main(["trace", "patchtsmixer", "--mode", "mix_channel/gated/batchnorm/pe/mean", "--plan", str(plan),
                     "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "typo.*" in captured.err
    ops = json.loads(out.read_text())["ops"]
    mem = {e["name"]: e["output"]["memory"] for e in ops}
    assert mem["mixers.1.feature_mixer.mlp.fc2"] == "L1_INTERLEAVED"
    assert mem["mixers.1.patch_mixer.mlp.fc2"] == "DRAM_INTERLEAVED"
    assert mem["mixers.0.channel_mixer.norm.scale"] == "DRAM_INTERLEAVED"


def test_cli_trace_from_a_checkpoint_config(tmp_path, capsys):
    cfg = dict(M.TTM_R1_512_96.to_dict(), model_type="tinytimemixer", num_patches=8,
               architectures=["TinyTimeMixerForPrediction"])
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert cli.main(["trace", "ttm", "--checkpoint", str(tmp_path), "--quiet"]) == 0
    assert "164 ops, 805,280 parameters" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["trace", "patchtsmixer", "--checkpoint", str(tmp_path)])


def test_cli_lists_modes(capsys):
    assert cli.main(["validate", "patchtsmixer", "--list-modes"]) == 0
    modes = capsys.readouterr().out.split()
    assert len(modes) == 56 and "common_channel/gated/layernorm/no_pe/std" in modes


def test_register_cli_on_a_parent_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="opcast")
    register = M.register_cli
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["trace", "ttm", "--batch", "4"])
    assert args.batch == 4 and callable(args.func)
    args = parser.parse_args(["validate", "patchtsmixer", "--mode", "all", "--batch", "1", "32"])
    assert args.batch == [1, 32] and args.mode == ["all"]
