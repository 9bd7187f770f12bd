"""Weights: reading Hugging Face checkpoints and preparing them for the op definitions (host-only, load time).

Everything that changes a tensor's layout happens here, once, when the weights are loaded, never in the
model code: linear weights are transposed to ``(in_features, out_features)`` (ttnn's layout), biases and norm
parameters become ``(1, features)`` rows, batch norm (inference) is folded into a per-feature scale and shift,
and a few weights are split or permuted where the op sequence differs from the reference's module structure
(each such case is documented at its call site).

A :class:`ParamBuilder` runs in one of three modes:

* ``"load"``: take tensors from a Hugging Face state dict (torch tensors or numpy arrays), check every shape,
  and check at the end that every checkpoint entry was used;
* ``"random"``: make random tensors of the right shapes (benchmarks and traces without a checkpoint);
* ``"shapes"``: make :class:`ShapeOnly` placeholders (tracing needs shapes only; no numpy or torch math).

In every mode it counts the reference's trainable parameters (``num_parameters``), so parameter counts can be
checked without torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np


class ShapeOnly:
    """A weight placeholder that has a shape and no data (for the TraceBackend)."""

    __slots__ = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(int(d) for d in shape)

    def __repr__(self) -> str:
        return f"ShapeOnly({list(self.shape)})"


def _to_numpy(t) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t.astype(np.float32, copy=False)
    if hasattr(t, "detach"):  # torch tensor
        return t.detach().to("cpu").float().numpy()
    return np.asarray(t, dtype=np.float32)


class ParamBuilder:
    """Builds our parameter dict (name -> prepared array) from a reference state dict, at random, or as shapes."""

    IGNORED_SUFFIXES = (".num_batches_tracked",)

    def __init__(self, state_dict: Mapping[str, Any] | None = None, mode: str | None = None, seed: int = 0):
        self.mode = mode or ("load" if state_dict is not None else "shapes")
        if self.mode not in ("load", "random", "shapes"):
            raise ValueError(f"unknown ParamBuilder mode {self.mode!r}")
        if self.mode == "load" and state_dict is None:
            raise ValueError("mode 'load' needs a state dict")
        self.state = dict(state_dict or {})
        self.rng = np.random.default_rng(seed)
        self.params: dict[str, Any] = {}
        self.reference_params: dict[str, tuple[int, ...]] = {}  # reference trainable parameter -> shape
        self.used: set[str] = set()

    # -- raw access --------------------------------------------------------------------------------------
    def _get(self, key: str, shape: tuple[int, ...], *, trainable: bool = True, kind: str = "weight"):
        shape = tuple(int(d) for d in shape)
        if trainable:
            self.reference_params[key] = shape
        if self.mode == "shapes":
            return ShapeOnly(shape)
        if self.mode == "random":
            return self._random(shape, kind)
        if key not in self.state:
            raise KeyError(f"checkpoint has no tensor {key!r}")
        arr = _to_numpy(self.state[key])
        if tuple(arr.shape) != shape:
            raise ValueError(f"checkpoint tensor {key!r} has shape {tuple(arr.shape)}, the config implies {shape}")
        self.used.add(key)
        return arr

    def _random(self, shape, kind):
        r = self.rng
        if kind == "weight":  # (out, in): PyTorch's default Linear init range
            bound = 1.0 / math.sqrt(shape[-1])
            return r.uniform(-bound, bound, shape).astype(np.float32)
        if kind == "bias":
            return r.uniform(-0.1, 0.1, shape).astype(np.float32)
        if kind == "gamma":
            return (1.0 + 0.1 * r.standard_normal(shape)).astype(np.float32)
        if kind == "var":
            return r.uniform(0.5, 1.5, shape).astype(np.float32)
        return (0.1 * r.standard_normal(shape)).astype(np.float32)

    def _set(self, name: str, value):
        if name in self.params:
            raise ValueError(f"parameter {name!r} defined twice")
        self.params[name] = value

    # -- shape helpers that work for arrays and placeholders --------------------------------------------
    @staticmethod
    def _t(x):
        return ShapeOnly(x.shape[::-1]) if isinstance(x, ShapeOnly) else np.ascontiguousarray(x.T)

    @staticmethod
    def _row(x):
        n = math.prod(x.shape)
        return ShapeOnly((1, n)) if isinstance(x, ShapeOnly) else np.ascontiguousarray(x.reshape(1, n))

    # -- layers ------------------------------------------------------------------------------------------
    def linear(self, ours: str, ref: str, in_features: int, out_features: int, bias: bool = True):
        """nn.Linear -> ``ours.weight`` (in, out) and ``ours.bias`` (1, out)."""
        w = self._get(f"{ref}.weight", (out_features, in_features), kind="weight")
        self._set(f"{ours}.weight", self._t(w))
        if bias:
            b = self._get(f"{ref}.bias", (out_features,), kind="bias")
            self._set(f"{ours}.bias", self._row(b))

    def linear_split_in(self, ours: tuple[str, ...], ref: str, splits: tuple[int, ...], out_features: int,
                        bias_to: int = 0, select: tuple[int, ...] | None = None):
        """nn.Linear whose input is a concatenation: one ``(in_i, out)`` weight per input block.

        ``linear(concat([x0, x1], -1), W, b) == linear(x0, W0) + linear(x1, W1, b)``; ``select`` keeps only
        some blocks (the others multiply an input that is identically zero).  The bias goes to ``ours[bias_to]``.
        """
        w = self._get(f"{ref}.weight", (out_features, sum(splits)), kind="weight")
        b = self._get(f"{ref}.bias", (out_features,), kind="bias")
        bounds = np.cumsum((0,) + tuple(splits))
        keep = range(len(splits)) if select is None else select
        for k, name in zip(keep, ours):
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            part = ShapeOnly((hi - lo, out_features)) if isinstance(w, ShapeOnly) else np.ascontiguousarray(
                w[:, lo:hi].T)
            self._set(f"{name}.weight", part)
        self._set(f"{ours[bias_to]}.bias", self._row(b))

    def linear_permuted_in(self, ours: str, ref: str, in_shape: tuple[int, ...], perm: tuple[int, ...],
                           out_features: int):
        """nn.Linear applied to a flattened tensor; we flatten the same values in another order.

        The reference flattens a block of shape ``in_shape``; we flatten its permutation ``perm`` (numpy
        transpose axes), so the weight's input axis is permuted the same way at load time.
        """
        n_in = math.prod(in_shape)
        w = self._get(f"{ref}.weight", (out_features, n_in), kind="weight")
        b = self._get(f"{ref}.bias", (out_features,), kind="bias")
        if isinstance(w, ShapeOnly):
            self._set(f"{ours}.weight", ShapeOnly((n_in, out_features)))
        else:
            w = w.reshape((out_features,) + tuple(in_shape)).transpose((0,) + tuple(p + 1 for p in perm))
            self._set(f"{ours}.weight", np.ascontiguousarray(w.reshape(out_features, n_in).T))
        self._set(f"{ours}.bias", self._row(b))

    def layer_norm(self, ours: str, ref: str, d: int):
        self._set(f"{ours}.weight", self._row(self._get(f"{ref}.weight", (d,), kind="gamma")))
        self._set(f"{ours}.bias", self._row(self._get(f"{ref}.bias", (d,), kind="bias")))

    def batch_norm(self, ours: str, ref: str, d: int, eps: float):
        """BatchNorm1d in inference: y = (x - mean) / sqrt(var + eps) * w + b = x * scale + shift."""
        w = self._get(f"{ref}.weight", (d,), kind="gamma")
        b = self._get(f"{ref}.bias", (d,), kind="bias")
        mean = self._get(f"{ref}.running_mean", (d,), trainable=False, kind="other")
        var = self._get(f"{ref}.running_var", (d,), trainable=False, kind="var")
        if isinstance(w, ShapeOnly):
            scale, shift = ShapeOnly((1, d)), ShapeOnly((1, d))
        else:
            # float32, in the order torch's CPU inference kernel folds them (bit-exact with the reference there)
            f32 = np.float32
            invstd = f32(1.0) / np.sqrt(var.astype(f32) + f32(eps))
            s = (invstd * w.astype(f32)).astype(f32)
            scale = s.reshape(1, d)
            shift = (b.astype(f32) - mean.astype(f32) * s).astype(f32).reshape(1, d)
        self._set(f"{ours}.scale", scale)
        self._set(f"{ours}.shift", shift)

    def tensor(self, ours: str, ref: str, shape: tuple[int, ...], trainable: bool = True):
        self._set(ours, self._get(ref, shape, trainable=trainable, kind="other"))

    # -- results -----------------------------------------------------------------------------------------
    @property
    def num_parameters(self) -> int:
        """Trainable parameters of the reference model this parameter set corresponds to."""
        return sum(math.prod(s) for s in self.reference_params.values())

    def finish(self, strict: bool = True) -> dict[str, Any]:
        if self.mode == "load" and strict:
            unused = sorted(k for k in self.state if k not in self.used and not k.endswith(self.IGNORED_SUFFIXES))
            if unused:
                raise ValueError(f"checkpoint tensors not used by the definition (config mismatch?): {unused[:8]}"
                                 + (f" and {len(unused) - 8} more" if len(unused) > 8 else ""))
        return self.params


# ---------------------------------------------------------------------------------------------------------
# Checkpoints on disk
# ---------------------------------------------------------------------------------------------------------


def resolve_checkpoint(path_or_id: str | Path, revision: str | None = None) -> Path:
    """A local checkpoint folder, or a Hugging Face hub id downloaded with huggingface_hub (needs network)."""
    p = Path(path_or_id)
    if p.is_dir():
        return p
    if p.exists():
        raise ValueError(f"{p} is a file; expected a checkpoint folder (config.json + weights)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise FileNotFoundError(f"{path_or_id} is not a local folder and huggingface_hub is not installed") from e
    return Path(snapshot_download(repo_id=str(path_or_id), revision=revision,
                                  allow_patterns=["*.json", "*.safetensors", "*.bin"]))


def read_config(folder: str | Path) -> dict:
    with open(Path(folder) / "config.json") as f:
        return json.load(f)


def read_state_dict(folder: str | Path) -> dict[str, np.ndarray]:
    """Weights written by ``save_pretrained``: model.safetensors, pytorch_model.bin, or their sharded indexes."""
    folder = Path(folder)
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.exists():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, np.ndarray] = {}
            for f in files:
                state.update(_read_weights_file(folder / f))
            return state
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).exists():
            return _read_weights_file(folder / name)
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {folder}")


def _read_weights_file(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file

            return {k: v.astype(np.float32, copy=False) for k, v in load_file(str(path)).items()}
        except (ImportError, TypeError, ValueError):  # bf16 tensors need torch; so does a missing numpy reader
            from safetensors.torch import load_file as load_torch

            return {k: _to_numpy(v) for k, v in load_torch(str(path)).items()}
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: _to_numpy(v) for k, v in state.items()}
