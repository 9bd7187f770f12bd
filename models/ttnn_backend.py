"""A ttnn backend for the model definitions: every op is the ttnn call of the same name, placed by the plan.

This is the third execution of the one definition (after TorchBackend and TraceBackend).  It has been run on
the ttnn mock device (``sweeps/mock_device.py``, ttnn 0.81.1, NO_DISPATCH graph capture): every PatchTSMixer
and TTM mode of ``validate.py`` at batch 1, 32 and 256 is accepted op by op under the default plans (see
``tests/test_models_ttnn_mock.py``).  On Wormhole the same calls dispatch.

Placement: each op's output memory config and dtype come from the plan (``Plan.op_config(name, op)``), each
uploaded tensor's dtype / layout / memory from ``Plan.tensor_config(name)`` (so a plan can, e.g., put
LayerNorm parameters in ROW_MAJOR).  Interleaved memory only for now: sharded outputs need a shard spec per
op, which the plan does not carry yet (``NotImplementedError``).

Usage (mock device)::

    from sweeps import mock_device as md
    with md.open_device() as dev:
        be = TtnnBackend(default_plan("ttm"), device=dev)
        result = md.capture(lambda: model.forward(be, model.bind(be), be.from_torch(x, name="past_values")))
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .backend import Backend
from .trace import Plan


def _mock_device_module():
    import importlib

    for name in ("opcast.sweeps.mock_device", "sweeps.mock_device"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


class TtnnBackend(Backend):
    name = "ttnn"

    def __init__(self, plan: Plan | None = None, device: Any = None, ttnn_module: Any = None):
        self.md = _mock_device_module()
        if ttnn_module is None:
            if self.md is not None:
                ttnn_module = self.md.import_ttnn()  # sets the mock environment first when it applies
            else:  # pragma: no cover - hardware installs without the sweeps package
                import ttnn as ttnn_module
        self.ttnn = ttnn_module
        self.plan = plan or Plan()
        self.device = device
        self.current: str | None = None  # the op being issued (for error reports)
        self.issued: list[str] = []

    # -- placement ---------------------------------------------------------------------------------------
    def _memory(self, memory):
        if not isinstance(memory, str):
            return memory  # already a ttnn.MemoryConfig
        if memory == "DRAM_INTERLEAVED":
            return self.ttnn.DRAM_MEMORY_CONFIG
        if memory == "L1_INTERLEAVED":
            return self.ttnn.L1_MEMORY_CONFIG
        raise NotImplementedError(f"{self.current}: sharded output memory ({memory}) needs a shard spec per op")

    def _dtype(self, dtype):
        if not isinstance(dtype, str):
            return dtype
        if self.md is not None:
            return self.md.ttnn_dtype(dtype)
        return getattr(self.ttnn, dtype.lower())

    def _place(self, name: str, op: str, memory_config=None, dtype=None):
        self.current = name
        cfg = self.plan.op_config(name, op)
        return self._memory(memory_config or cfg["memory"]), self._dtype(dtype or cfg["dtype"])

    def _done(self, name, value):
        self.issued.append(name)
        return value

    # -- tensors in and out -------------------------------------------------------------------------------
    def from_torch(self, tensor, *, name: str, dtype=None, layout=None, memory_config=None):
        cfg = self.plan.tensor_config(name)
        dtype, layout, memory = dtype or cfg["dtype"], layout or cfg["layout"], memory_config or cfg["memory"]
        if hasattr(tensor, "detach"):
            tensor = tensor.detach().cpu().float().numpy()
        array = np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))
        if self.md is not None:  # numpy path, no torch import (graph capture would record it)
            return self.md.from_numpy(array, dtype, layout, memory, device=self.device)
        ttnn = self.ttnn  # pragma: no cover - hardware path
        host = ttnn.Tensor(tensor=array, data_type=self._dtype(dtype), layout=getattr(ttnn.Layout, layout))
        return ttnn.to_device(host, self.device, memory_config=self._memory(memory))

    def to_torch(self, x):
        return self.ttnn.to_torch(x)

    def shape(self, x) -> tuple[int, ...]:
        return tuple(int(d) for d in x.shape)

    # -- matmul family -----------------------------------------------------------------------------------
    def linear(self, a, weight, *, bias=None, activation=None, transpose_b=False, name: str,
               memory_config=None, dtype=None, program_config=None, compute_kernel_config=None):
        mc, dt = self._place(name, "ttnn.linear", memory_config, dtype)
        kwargs = {k: v for k, v in (("program_config", program_config),
                                    ("compute_kernel_config", compute_kernel_config)) if v is not None}
        return self._done(name, self.ttnn.linear(a, weight, bias=bias, activation=activation,
                                                 transpose_b=transpose_b, memory_config=mc, dtype=dt, **kwargs))

    def matmul(self, a, b, *, transpose_a=False, transpose_b=False, name: str, memory_config=None, dtype=None,
               program_config=None, compute_kernel_config=None):
        mc, dt = self._place(name, "ttnn.matmul", memory_config, dtype)
        kwargs = {k: v for k, v in (("program_config", program_config),
                                    ("compute_kernel_config", compute_kernel_config)) if v is not None}
        return self._done(name, self.ttnn.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b,
                                                 memory_config=mc, dtype=dt, **kwargs))

    # -- eltwise -----------------------------------------------------------------------------------------
    def _binary(self, fn, op, a, b, name, memory_config, dtype):
        mc, dt = self._place(name, op, memory_config, dtype)
        return self._done(name, fn(a, b, memory_config=mc, dtype=dt))

    def add(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.add, "ttnn.add", a, b, name, memory_config, dtype)

    def subtract(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.subtract, "ttnn.subtract", a, b, name, memory_config, dtype)

    def multiply(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.multiply, "ttnn.multiply", a, b, name, memory_config, dtype)

    def divide(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.divide, "ttnn.divide", a, b, name, memory_config, dtype)

    def _unary(self, fn, op, x, name, memory_config, **kwargs):
        mc, _ = self._place(name, op, memory_config)
        return self._done(name, fn(x, memory_config=mc, **kwargs))

    def gelu(self, x, *, fast_and_approximate_mode: bool = False, name: str, memory_config=None):
        return self._unary(self.ttnn.gelu, "ttnn.gelu", x, name, memory_config,
                           fast_and_approximate_mode=fast_and_approximate_mode)

    def sigmoid(self, x, *, name: str, memory_config=None):
        return self._unary(self.ttnn.sigmoid, "ttnn.sigmoid", x, name, memory_config)

    def relu(self, x, *, name: str, memory_config=None):
        return self._unary(self.ttnn.relu, "ttnn.relu", x, name, memory_config)

    def exp(self, x, *, name: str, memory_config=None):
        return self._unary(self.ttnn.exp, "ttnn.exp", x, name, memory_config)

    def sqrt(self, x, *, name: str, memory_config=None):
        return self._unary(self.ttnn.sqrt, "ttnn.sqrt", x, name, memory_config)

    def reciprocal(self, x, *, name: str, memory_config=None):
        return self._unary(self.ttnn.reciprocal, "ttnn.reciprocal", x, name, memory_config)

    def abs(self, x, *, name: str, memory_config=None):
        return self._unary(self.ttnn.abs, "ttnn.abs", x, name, memory_config)

    def clamp(self, x, min=None, max=None, *, name: str, memory_config=None):  # noqa: A002
        return self._unary(self.ttnn.clamp, "ttnn.clamp", x, name, memory_config, min=min, max=max)

    # -- normalization -----------------------------------------------------------------------------------
    def layer_norm(self, x, *, weight=None, bias=None, epsilon: float = 1e-12, name: str, memory_config=None,
                   program_config=None, compute_kernel_config=None):
        kwargs = {k: v for k, v in (("program_config", program_config),
                                    ("compute_kernel_config", compute_kernel_config)) if v is not None}
        return self._unary(self.ttnn.layer_norm, "ttnn.layer_norm", x, name, memory_config, weight=weight,
                           bias=bias, epsilon=epsilon, **kwargs)

    def softmax(self, x, dim: int = -1, *, name: str, memory_config=None, compute_kernel_config=None):
        mc, _ = self._place(name, "ttnn.softmax", memory_config)
        return self._done(name, self.ttnn.softmax(x, dim, memory_config=mc))

    # -- reductions --------------------------------------------------------------------------------------
    def mean(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.mean", memory_config)
        return self._done(name, self.ttnn.mean(x, dim, keepdim, memory_config=mc))

    def max(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.max", memory_config)
        return self._done(name, self.ttnn.max(x, dim, keepdim, memory_config=mc))

    # -- data movement -----------------------------------------------------------------------------------
    def transpose(self, x, dim0: int, dim1: int, *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.transpose", memory_config)
        return self._done(name, self.ttnn.transpose(x, dim0, dim1, memory_config=mc))

    def permute(self, x, dims: Sequence[int], *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.permute", memory_config)
        return self._done(name, self.ttnn.permute(x, list(dims), memory_config=mc))

    def reshape(self, x, shape: Sequence[int], *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.reshape", memory_config)
        return self._done(name, self.ttnn.reshape(x, [int(d) for d in shape], memory_config=mc))

    def concat(self, tensors, dim: int = 0, *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.concat", memory_config)
        return self._done(name, self.ttnn.concat(list(tensors), dim, memory_config=mc))

    def slice(self, x, starts, ends, steps=None, *, name: str, memory_config=None):
        mc, _ = self._place(name, "ttnn.slice", memory_config)
        steps = list(steps or [1] * len(starts))
        return self._done(name, self.ttnn.slice(x, list(starts), list(ends), steps, memory_config=mc))
