"""The model definitions on the ttnn mock device: the same definition, issued op by op to ttnn.

Runs in the Python 3.12 environment of scripts/setup_mock.sh:
    .venv-mock/bin/python -m pytest tests/test_models_ttnn_mock.py
and skips where ttnn is not installed (the main 3.11 environment).  Every mode is run inside one NO_DISPATCH
graph capture: ttnn must accept every op the trace lists, and the output must have the traced spec.
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest

if importlib.util.find_spec("ttnn") is None:
    pytest.skip("ttnn is not installed (run scripts/setup_mock.sh, then use .venv-mock)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
try:  # the installed package if it is there (it needs the 3.11 build), else the source folders
    md = importlib.import_module("opcast.sweeps.mock_device")
except ImportError:
    sys.path.insert(0, str(REPO))
    md = importlib.import_module("sweeps.mock_device")

md.apply_mock_environment()  # before ttnn is imported: it reads the environment when it starts
np = pytest.importorskip("numpy")


def _import_models():
    try:
        return importlib.import_module("opcast.models")
    except ImportError:
        if "opcast" not in sys.modules:
            pkg = types.ModuleType("opcast")
            pkg.__path__ = []
            sys.modules["opcast"] = pkg
        spec = importlib.util.spec_from_file_location(
            "opcast.models", REPO / "models" / "__init__.py", submodule_search_locations=[str(REPO / "models")])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["opcast.models"] = mod
        spec.loader.exec_module(mod)
        return mod


M = _import_models()
from opcast.models import validate as V  # noqa: E402
from opcast.models.trace import default_plan  # noqa: E402
from opcast.models.ttnn_backend import TtnnBackend  # noqa: E402

pytestmark = pytest.mark.mock

MODES = [("patchtsmixer", m) for m in V.modes("patchtsmixer")] + [("ttm", m) for m in V.modes("ttm")]


@pytest.fixture(scope="module")
def device():
    with md.open_device() as dev:
        yield dev


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
    assert be.issued == [e["name"] for e in trace.ops]
    assert result.outputs[0]["logical_shape"] == trace.ops[-1]["output"]["shape"]
    assert result.fits_l1


@pytest.mark.parametrize("kind,mode", [("patchtsmixer", V.PORT_MODE), ("patchtsmixer", "classification/max_pool/std"),
                                       ("ttm", "r1-512-96")])
@pytest.mark.parametrize("batch", [32, 256])
def test_large_batches(kind, mode, batch, device):
    result, be, trace = _run(kind, mode, batch, device)
    assert result.ok, f"ttnn refused {be.current}: {result.error}"
    assert result.outputs[0]["logical_shape"] == trace.ops[-1]["output"]["shape"]


def test_plan_memory_reaches_ttnn(device):
    """TTM's default plan puts activations in L1: the output tensor is an L1 buffer (BufferType L1 = 1)."""
    result, _, _ = _run("ttm", "r1-512-96", 1, device)
    assert result.outputs[0]["tensor_layout"]["memory_config"]["buffer_type"] == 1
    result, _, _ = _run("patchtsmixer", V.PORT_MODE, 1, device)
    assert result.outputs[0]["tensor_layout"]["memory_config"]["buffer_type"] == 0  # DRAM
