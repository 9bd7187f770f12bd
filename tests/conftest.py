"""Shared fixtures: where the real Wormhole data is, and small model folders written by the tests."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("OPCAST_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real Wormhole measurements not found (../shared/data or $OPCAST_SHARED_DATA)")
    return path


def write_weights(path: Path, members: list[list[tuple[np.ndarray, np.ndarray, int]]], n_features: int,
                  feature_mean=None, feature_std=None, y_mean: float = 0.0, y_std: float = 1.0) -> None:
    """weights.bin as the trainer writes it (train/trainer/README.md): layers of (W [out x in], b, activation)."""
    mean = np.zeros(n_features) if feature_mean is None else np.asarray(feature_mean, float)
    std = np.ones(n_features) if feature_std is None else np.asarray(feature_std, float)
    out = bytearray(b"OPCASTW1") + struct.pack("<III", 1, n_features, len(members))
    out += mean.astype("<f8").tobytes() + std.astype("<f8").tobytes() + struct.pack("<dd", y_mean, y_std)
    for layers in members:
        out += struct.pack("<I", len(layers))
        for w, b, act in layers:
            w = np.asarray(w, float)
            out += struct.pack("<III", w.shape[0], w.shape[1], act)
            out += w.astype("<f8").tobytes() + np.asarray(b, float).astype("<f8").tobytes()
    path.write_bytes(bytes(out))


def write_model(root: Path, op: str, members, *, target: str = "ln_ns", domain=None, interval=(2.0, 0.0)) -> Path:
    """A complete model folder for `op` with the given ensemble (see write_weights)."""
    import opcast
    from opcast.train.fit import write_manifest

    names = opcast.feature_names()
    folder = root / op.removeprefix("ttnn.")
    folder.mkdir(parents=True, exist_ok=True)
    write_weights(folder / "weights.bin", members, len(names))
    lo, hi = domain if domain is not None else ([-1e9] * len(names), [1e9] * len(names))
    manifest = {
        "format": "opcast-model", "format_version": 1, "op": op,
        "feature_schema_version": opcast.FEATURE_SCHEMA_VERSION, "feature_names": names, "target": target,
        "catalogue_entry": json.loads(opcast._core.catalogue_entry(op)),
        "domain": {"min": list(lo), "max": list(hi)}, "interval": {"k": interval[0], "sigma0": interval[1]},
        "dataset": {"hash": "feedfacecafebeef00"},
        "files": {"weights.bin": hashlib.sha256((folder / "weights.bin").read_bytes()).hexdigest()},
    }
    write_manifest(folder, manifest)
    return folder


def constant_members(n_features: int, values: list[float]):
    """Members that each predict a constant (in target units): a single linear layer with zero weights."""
    return [[(np.zeros((1, n_features)), np.array([v]), 0)] for v in values]


@pytest.fixture
def tiny_models(tmp_path):
    """exp: exp(ln 5000 +- 0.1) ns; add: 2x the roofline (ln_ratio target)."""
    import opcast

    n = len(opcast.feature_names())
    root = tmp_path / "models"
    write_model(root, "ttnn.exp", constant_members(n, [np.log(5000) - 0.1, np.log(5000) + 0.1]))
    write_model(root, "ttnn.add", constant_members(n, [np.log(2.0)] * 3), target="ln_ratio_roofline")
    return root


def short_tensor(shape, dtype="bfloat16", layout="TILE", memory="DRAM_INTERLEAVED", **extra):
    return {"shape": list(shape), "dtype": dtype, "layout": layout, "memory": memory, **extra}
