"""Equivalence checks: our host execution of a definition against the Hugging Face reference.

For a mode (a named model configuration), :func:`check_mode` builds a randomly initialised reference (norm
parameters and batch-norm statistics randomised too), writes it with ``save_pretrained``, loads that folder
into our definition, runs both on the same ETT-like input and compares: max absolute error <= 1e-4 and
PCC >= 0.9999 in float32.
"""

from __future__ import annotations

import fnmatch
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import data
from .patchtsmixer import PORT_MODE, PatchTSMixer, all_modes, forecast_modes, head_modes
from .ttm import TTM_R1_512_96, TinyTimeMixer

ATOL = 1e-4
PCC_MIN = 0.9999

MODEL_CLASSES = {"patchtsmixer": PatchTSMixer, "ttm": TinyTimeMixer}


def ttm_modes() -> dict:
    r1 = TTM_R1_512_96.replace(num_input_channels=7)
    return {
        "r1-512-96": r1,  # the granite-timeseries-ttm-r1 512-96 configuration, 7 ETTh2 channels
        "r1-512-96/mix_channel": r1.replace(mode="mix_channel", decoder_mode="mix_channel"),
        "r1-512-96/no_adaptive_patching": r1.replace(adaptive_patching_levels=0),
        "r1-512-96/batchnorm/mean": r1.replace(norm_mlp="BatchNorm", scaling="mean"),
        "r1-512-96/no_gate/no_scaling/no_decoder": r1.replace(gated_attn=False, scaling=None, use_decoder=False),
    }


def modes(kind: str) -> dict:
    return all_modes() if kind == "patchtsmixer" else ttm_modes()


ALIASES = {
    "patchtsmixer": {"port": [PORT_MODE], "forecast": None, "heads": None, "all": None},
    "ttm": {"r1": ["r1-512-96"], "all": None},
}


def select_modes(kind: str, patterns: list[str] | None) -> dict:
    """Modes by id, glob pattern or alias (patchtsmixer: port, forecast, heads, all; ttm: r1, all)."""
    table = modes(kind)
    if not patterns:
        patterns = ["port"] if kind == "patchtsmixer" else ["r1"]
    out = {}
    for p in patterns:
        if kind == "patchtsmixer" and p == "forecast":
            keys = list(forecast_modes())
        elif kind == "patchtsmixer" and p == "heads":
            keys = list(head_modes())
        elif p == "all":
            keys = list(table)
        elif p in ALIASES[kind]:
            keys = ALIASES[kind][p]
        else:
            keys = [k for k in table if k == p or fnmatch.fnmatchcase(k, p)]
        if not keys:
            raise KeyError(f"no {kind} mode matches {p!r}; modes: {', '.join(table)}")
        for k in keys:
            out[k] = table[k]
    return out


def validation_input(batch: int, context_length: int, channels: int, seed: int = 0) -> np.ndarray:
    """(batch, context, channels) windows of a synthetic ETT-like series (raw scale: levels 5..40)."""
    length = context_length + batch * 17 + 1
    series = data.synthetic_series(length, channels, seed).drop(columns=["date"]).to_numpy(np.float32)
    starts = np.arange(batch) * 17
    return np.stack([series[s:s + context_length] for s in starts])


@dataclass
class CheckResult:
    model: str
    mode: str
    batch: int
    max_abs_err: float
    pcc: float
    max_abs_ref: float
    num_parameters: int
    ok: bool

    def to_dict(self) -> dict:
        return asdict(self)


def check_model(kind: str, mode: str, ours, reference, batch: int, channels: int, seed: int = 0) -> CheckResult:
    from .reference import compare, reference_output

    x = validation_input(batch, ours.spec.context_length, channels, seed)
    y_ours = ours.run(x)
    y_ref = reference_output(reference, x)
    c = compare(y_ours, y_ref)
    ok = c["max_abs_err"] <= ATOL and c["pcc"] >= PCC_MIN
    return CheckResult(kind, mode, batch, c["max_abs_err"], c["pcc"], c["max_abs_ref"], ours.num_parameters, ok)


def check_mode(kind: str, mode: str, spec, batches=(1,), seed: int = 0, workdir: str | Path | None = None,
               via_save_pretrained: bool = True) -> list[CheckResult]:
    """Random reference for ``spec`` -> save_pretrained -> our definition loads it -> compare per batch."""
    from .reference import build_reference

    ref = build_reference(kind, spec, seed)
    n_ref = sum(p.numel() for p in ref.parameters())
    if via_save_pretrained:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            ref.save_pretrained(tmp)
            ours = MODEL_CLASSES[kind].from_pretrained(tmp)
    else:
        ours = MODEL_CLASSES[kind].from_reference(ref)
    if ours.num_parameters != n_ref:
        raise AssertionError(f"{kind} {mode}: our parameter count {ours.num_parameters} != reference {n_ref}")
    return [check_model(kind, mode, ours, ref, b, spec.num_input_channels, seed) for b in batches]


def check_checkpoint(folder: str | Path, batches=(1,), channels: int | None = None, seed: int = 0):
    """A real checkpoint folder: our definition and the reference both load it; compare."""
    from .params import read_config
    from .reference import load_reference

    config = read_config(folder)
    kind = "ttm" if config.get("model_type") == "tinytimemixer" else "patchtsmixer"
    ours = MODEL_CLASSES[kind].from_pretrained(folder)
    ref = load_reference(folder, config)
    channels = channels or ours.spec.num_input_channels
    return [check_model(kind, f"checkpoint:{Path(folder).name}", ours, ref, b, channels, seed) for b in batches]


def format_results(results: list[CheckResult]) -> str:
    rows = [("model", "mode", "batch", "max_abs_err", "pcc", "max|ref|", "params", "ok")]
    for r in results:
        rows.append((r.model, r.mode, str(r.batch), f"{r.max_abs_err:.3e}", f"{r.pcc:.8f}", f"{r.max_abs_ref:.3g}",
                     f"{r.num_parameters:,}", "yes" if r.ok else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
