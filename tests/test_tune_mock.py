"""The tuner against ttnn's mock n150: the rules never allow what ttnn refuses, and every tuned plan runs
on the mock exactly as planned and within L1.

Runs in the Python 3.12 environment of scripts/setup_mock.sh:
    cd tests && ../.venv-mock/bin/python -m pytest -m mock test_tune_mock.py
"""

from __future__ import annotations

import importlib.util
import json

import pytest

if importlib.util.find_spec("ttnn") is None:
    pytest.skip("ttnn is not installed (run scripts/setup_mock.sh, then use .venv-mock)", allow_module_level=True)

from opcast.models.bench import workload  # noqa: E402
from opcast.tune.costs import build_problem  # noqa: E402
from opcast.tune.legality import MockLegality, RuleLegality  # noqa: E402
from test_tune import RooflinePredictor  # noqa: E402

pytestmark = pytest.mark.mock


def test_the_rules_never_allow_what_the_mock_refuses(tmp_path):
    model, channels, _ = workload("patchtsmixer")
    trace = model.trace(1, channels=channels)
    mock = build_problem(trace, RooflinePredictor(), MockLegality(tmp_path / "oracle.sqlite"))
    rules = build_problem(trace, RooflinePredictor(), RuleLegality())
    pairs = [(mock.choices[j][key], rules.choices[j][key]) for j in range(len(mock)) for key in mock.choices[j]]
    assert all(m.judged_by == "mock" for m, _ in pairs)
    assert not [(m.reason, r) for m, r in pairs if r.legal and not m.legal]
    agree = sum(m.legal == r.legal for m, r in pairs) / len(pairs)
    assert agree > 0.9 and mock.l1_limit == 1_393_312
    assert any(not m.legal and "placed the output" in (m.reason or "") for m, _ in pairs)


@pytest.mark.parametrize("kind, batch, legality", [("patchtsmixer", 32, "rules"), ("ttm", 1, "rules"),
                                                   ("patchtsmixer", 1, "mock")])
def test_every_tuned_plan_runs_on_the_mock_as_planned(kind, batch, legality, tmp_path, monkeypatch):
    from opcast import cli

    monkeypatch.setattr("opcast.predictor.Predictor", RooflinePredictor)
    plan = tmp_path / "plan.json"
    assert cli.main(["tune", kind, "--batch", str(batch), "--models", str(tmp_path), "--out", str(plan),
                     "--legality", legality, "--sweep-db", str(tmp_path / "oracle.sqlite"), "--quiet"]) == 0
    out = tmp_path / "bench"
    assert cli.main(["bench", kind, "--plan", str(plan), "--backend", "mock", "--out", str(out)]) == 0
    summary = json.loads((out / "bench.json").read_text())["summary"]
    assert [r["as planned on mock"] for r in summary] == ["yes", "yes", "yes"]
    tuning = json.loads(plan.read_text())["tuning"]
    assert tuning["planners"]["opcast"]["max_l1_per_core"] <= tuning["l1_limit"]
