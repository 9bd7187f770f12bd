"""The op catalogue grows op by op: a model folder records its own op's entry, so adding an op, an
alias or a profiler op code leaves every trained model loadable, and a changed entry is refused
naming the field that changed."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import opcast
from opcast import catalogue
from conftest import constant_members, short_tensor, write_model


def _serve_with_catalogue(models, cat: dict, tmp_path) -> subprocess.CompletedProcess:
    """Loads ``models`` and answers an exp query in a fresh process that reads ``cat`` as its catalogue
    (the C++ library reads $OPCAST_CATALOGUE once, when it first needs the catalogue)."""
    path = tmp_path / "ops.json"
    path.write_text(json.dumps(cat))
    code = textwrap.dedent(f"""
        import opcast
        p = opcast.Predictor({str(models)!r})
        print(p.predict({{"op": "ttnn.exp", "inputs": [{json.dumps(short_tensor([1, 1, 256, 256]))}]}}).ns)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, catalogue.ENV_VAR: str(path)})


@pytest.fixture
def trained_before(tmp_path):
    """Model folders written against today's catalogue."""
    n = len(opcast.feature_names())
    root = tmp_path / "models"
    write_model(root, "ttnn.exp", constant_members(n, [np.log(5000.0)] * 2))
    write_model(root, "ttnn.add", constant_members(n, [0.0] * 2), target="ln_ratio_roofline")
    return root


def test_adding_an_op_and_an_alias_keeps_models_trained_before_loadable(trained_before, tmp_path):
    cat = json.loads(catalogue.catalogue_path().read_text())
    cat["ops"].append({"name": "ttnn.erf", "kind": "eltwise_unary", "inputs": 1, "cycles_per_tile": 640,
                       "profiler": [{"op_code": "UnaryDeviceOperation", "op_type": "ERF"}]})
    exp = next(e for e in cat["ops"] if e["name"] == "ttnn.exp")
    exp["profiler"].append({"op_code": "UnaryNgDeviceOperation", "op_type": "EXP"})
    run = _serve_with_catalogue(trained_before, cat, tmp_path)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) == pytest.approx(5000.0)


def test_a_changed_entry_is_refused_naming_the_field(trained_before, tmp_path):
    cat = json.loads(catalogue.catalogue_path().read_text())
    exp = next(e for e in cat["ops"] if e["name"] == "ttnn.exp")
    exp["cycles_per_tile"] = 1024
    run = _serve_with_catalogue(trained_before, cat, tmp_path)
    assert run.returncode != 0
    assert "exp/manifest.json: the op's catalogue entry changed since training (cycles_per_tile: 2048 -> 1024)" \
        in run.stderr


def test_a_malformed_catalogue_is_refused_by_its_schema(tmp_path, monkeypatch):
    cat = json.loads(catalogue.catalogue_path().read_text())
    cat["ops"][0]["kind"] = "eltwise_ternary"
    path = tmp_path / "ops.json"
    path.write_text(json.dumps(cat))
    monkeypatch.setenv(catalogue.ENV_VAR, str(path))
    with pytest.raises(ValueError, match="at ops/0/kind: 'eltwise_ternary' is not one of"):
        catalogue.load_catalogue()


def test_the_library_and_the_python_stages_read_one_catalogue():
    assert json.loads(opcast._core.catalogue_json()) == catalogue.load_catalogue()
    entry = json.loads(opcast._core.catalogue_entry("ttnn::exp"))  # tt-metal's spelling of the name
    assert entry == {k: v for k, v in next(e for e in catalogue.load_catalogue()["ops"] if e["name"] == "ttnn.exp").items()
                     if k != "profiler"}
