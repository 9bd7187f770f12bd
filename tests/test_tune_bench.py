"""opcast bench on the host: the three plans side by side in the model report's form, per-op host times
beside the predictions, Markdown, JSON and a PNG."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from test_tune import RooflinePredictor

if importlib.util.find_spec("torch") is None:
    pytest.skip("the host backend needs torch", allow_module_level=True)


def test_bench_host_reports_every_plan_with_its_prediction_and_host_times(tmp_path, monkeypatch, capsys):
    from opcast import cli

    monkeypatch.setattr("opcast.predictor.Predictor", RooflinePredictor)
    plan = tmp_path / "plan.json"
    assert cli.main(["tune", "patchtsmixer", "--batch", "2", "--models", str(tmp_path), "--out", str(plan),
                     "--quiet"]) == 0
    out = tmp_path / "bench"
    assert cli.main(["bench", "patchtsmixer", "--plan", str(plan), "--backend", "host", "--runs", "2",
                     "--out", str(out)]) == 0
    report = json.loads((out / "bench.json").read_text())
    assert [r["plan"] for r in report["summary"]] == ["default", "tt-mlir-style", "tuned"]
    row = report["summary"][2]
    assert row["batch"] == 2 and float(row["latency (ms)"]) > 0 and row["to/from device"].endswith("/1")
    tuned_ns = report["predicted"]["tuned"]["ns"]
    assert tuned_ns == pytest.approx(json.loads(plan.read_text())["tuning"]["planners"]["opcast"]["ns"])
    assert len(report["per_op"]) == 87 and float(report["per_op"][0]["tuned measured host us"]) > 0
    assert (out / "bench.png").stat().st_size > 10_000
    assert re.search(r"\| patchtsmixer\s+\|\s+2 \| tuned\s+\|", (out / "bench.md").read_text())
    capsys.readouterr()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(plan.read_text()), "tuning": {"model": "ttm"}}))
    assert cli.main(["bench", "patchtsmixer", "--plan", str(other), "--backend", "host"]) == 2
    assert "tuned for ttm" in capsys.readouterr().err
