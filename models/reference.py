"""The Hugging Face reference implementations (optional dependencies): building them from our specs,
running them, and comparing outputs.

Needs torch and transformers (PatchTSMixer) and granite-tsfm's ``tsfm_public`` (TinyTimeMixer);
:func:`missing_reference` says what is missing without importing anything heavy twice.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

REQUIREMENTS = {
    "patchtsmixer": ("torch", "transformers"),
    "ttm": ("torch", "transformers", "tsfm_public"),
}


def missing_reference(kind: str) -> list[str]:
    """The modules the reference for ``kind`` needs that are not importable."""
    return [m for m in REQUIREMENTS[kind] if importlib.util.find_spec(m) is None]


def require_reference(kind: str):
    missing = missing_reference(kind)
    if missing:
        raise ImportError(f"the {kind} reference needs {', '.join(missing)} (pip install "
                          f"'opcast[models]'; see scripts/setup.sh)")


def _quiet():
    import warnings

    warnings.filterwarnings("ignore", message=".*Disabling adaptive patching.*")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover
        pass


def reference_class(kind: str, task: str = "forecast"):
    require_reference(kind)
    _quiet()
    if kind == "patchtsmixer":
        import transformers

        name = {"forecast": "PatchTSMixerForPrediction", "classification": "PatchTSMixerForTimeSeriesClassification",
                "regression": "PatchTSMixerForRegression"}[task]
        return getattr(transformers, name)
    from tsfm_public.models.tinytimemixer import TinyTimeMixerForPrediction

    return TinyTimeMixerForPrediction


def reference_config(kind: str, spec):
    require_reference(kind)
    _quiet()
    if kind == "patchtsmixer":
        from transformers import PatchTSMixerConfig

        return PatchTSMixerConfig(**spec.hf_config_dict())
    from tsfm_public.models.tinytimemixer import TinyTimeMixerConfig

    return TinyTimeMixerConfig(**spec.hf_config_dict())


def build_reference(kind: str, spec, seed: int = 0, perturb: bool = True):
    """A randomly initialised reference model for ``spec``, in eval mode.

    ``perturb`` also randomises what random initialisation leaves trivial, so that the comparison exercises
    every parameter at full scale: linear layers get PyTorch's default initialisation (transformers' init uses
    std 0.02, which makes the heads' outputs tiny), LayerNorm/BatchNorm affine parameters and BatchNorm running
    statistics get random values.
    """
    import torch

    torch.manual_seed(seed)
    model = reference_class(kind, getattr(spec, "task", "forecast"))(reference_config(kind, spec))
    if perturb:
        perturb_norms(model, seed)
    return model.eval()


def perturb_norms(model, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                bound = 1.0 / m.in_features ** 0.5
                m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)
            if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)):
                if m.weight is not None:
                    m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=g))
                if m.bias is not None:
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


def load_reference(folder: str | Path, config: dict):
    """The reference model from a ``save_pretrained`` folder (local files only)."""
    kind = "ttm" if config.get("model_type") == "tinytimemixer" else "patchtsmixer"
    task = "forecast"
    if kind == "patchtsmixer":
        from .patchtsmixer import ARCHITECTURES

        archs = [a for a in config.get("architectures") or [] if a in ARCHITECTURES]
        task = ARCHITECTURES[archs[0]] if archs else "forecast"
    cls = reference_class(kind, task)
    return cls.from_pretrained(str(folder), local_files_only=True).eval()


def reference_output(model, past_values):
    """The reference's point output: the forecast (B, H, C), class logits (B, K) or regression values (B, T)."""
    import torch

    if not isinstance(past_values, torch.Tensor):
        past_values = torch.from_numpy(np.ascontiguousarray(past_values, dtype=np.float32))
    with torch.no_grad():
        out = model(past_values=past_values, return_loss=False)
    for field in ("prediction_outputs", "regression_outputs"):
        value = getattr(out, field, None)
        if value is not None:
            return value
    raise ValueError(f"no point output in {type(out).__name__}")


def pcc(a, b) -> float:
    """Pearson correlation of two arrays, flattened (1.0 for identical constant arrays)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float((a * b).sum() / den)


def compare(ours, reference) -> dict:
    a = _np(ours)
    b = _np(reference)
    if a.shape != b.shape:
        raise ValueError(f"output shapes differ: ours {a.shape}, reference {b.shape}")
    return {"max_abs_err": float(np.max(np.abs(a - b))), "pcc": pcc(a, b), "max_abs_ref": float(np.max(np.abs(b))),
            "shape": list(a.shape)}


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)
