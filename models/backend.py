"""The op interface the model definitions are written against, and its host (torch) implementation.

A model definition (``patchtsmixer.py``, ``ttm.py``) never touches torch, numpy or ttnn directly: it issues
every computation as a call on a *backend* object whose methods are named after, and shaped like, the TTNN
ops of the project's op catalogue (``catalogue/ops.json``).  Three backends execute the same definition:

* :class:`TorchBackend` (here): host numerics in float32; memory configs, dtypes and program configs are ignored.
* :class:`opcast.models.trace.TraceBackend`: computes nothing, records every op (name, TTNN op, input/output
  tensor specs, attributes, memory config from the plan): the op trace.
* a ttnn backend (mock device, Wormhole), written against this same interface.

Conventions every backend follows
---------------------------------
* Every op takes a keyword ``name``: a stable hierarchical name (``mixers.0.patch_mixer.mlp.fc1``).  A backend
  uses it to look up the plan entry (memory config, dtype, program config) for that op; the model code never
  passes memory configs itself.  ``memory_config``/``dtype``/``program_config`` keywords exist, as in ttnn, and
  override the plan when given.
* Tensor arguments come first and positionally, as in ttnn; everything else is keyword-only.
* The second operand of ``add``/``subtract``/``multiply``/``divide`` may be a Python float (ttnn's scalar form).
* Weights arrive through :meth:`Backend.from_torch` (at bind time, with ``name`` = the weight's name), already
  prepared on the host: linear weights as ``(in_features, out_features)`` (transposed at load time, ttnn's
  layout), biases and norm parameters as ``(1, features)``.
* ``shape(x)`` returns a tuple of ints; model code only reads shapes through it.

The op list (ttnn name in brackets): linear [ttnn.linear], matmul [ttnn.matmul], add [ttnn.add], subtract
[ttnn.subtract], multiply [ttnn.multiply], divide [ttnn.divide], layer_norm [ttnn.layer_norm], softmax
[ttnn.softmax], gelu [ttnn.gelu], sigmoid [ttnn.sigmoid], relu [ttnn.relu], exp [ttnn.exp], sqrt [ttnn.sqrt],
reciprocal [ttnn.reciprocal], abs [ttnn.abs], clamp [ttnn.clamp], mean [ttnn.mean], max [ttnn.max],
transpose [ttnn.transpose], permute [ttnn.permute], reshape [ttnn.reshape], concat [ttnn.concat],
slice [ttnn.slice].
"""

from __future__ import annotations

from typing import Any, Sequence

# The ttnn op each backend method issues; the trace records these names.
TTNN_OPS = {
    "linear": "ttnn.linear",
    "matmul": "ttnn.matmul",
    "add": "ttnn.add",
    "subtract": "ttnn.subtract",
    "multiply": "ttnn.multiply",
    "divide": "ttnn.divide",
    "layer_norm": "ttnn.layer_norm",
    "softmax": "ttnn.softmax",
    "gelu": "ttnn.gelu",
    "sigmoid": "ttnn.sigmoid",
    "relu": "ttnn.relu",
    "exp": "ttnn.exp",
    "sqrt": "ttnn.sqrt",
    "reciprocal": "ttnn.reciprocal",
    "abs": "ttnn.abs",
    "clamp": "ttnn.clamp",
    "mean": "ttnn.mean",
    "max": "ttnn.max",
    "transpose": "ttnn.transpose",
    "permute": "ttnn.permute",
    "reshape": "ttnn.reshape",
    "concat": "ttnn.concat",
    "slice": "ttnn.slice",
}

_UNARY = ("gelu", "sigmoid", "relu", "exp", "sqrt", "reciprocal", "abs")
_BINARY = ("add", "subtract", "multiply", "divide")


class Backend:
    """The op interface (documentation and signatures); subclasses implement every method.

    Signatures (``T`` = the backend's tensor type, ``S`` = ``T | float``)::

        from_torch(tensor, *, name, dtype=None, layout=None, memory_config=None) -> T
        to_torch(x: T) -> torch.Tensor
        shape(x: T) -> tuple[int, ...]
        linear(a: T, weight: T, *, bias: T | None = None, activation: str | None = None,
               transpose_b=False, name, memory_config=None, dtype=None, program_config=None) -> T
        matmul(a: T, b: T, *, transpose_a=False, transpose_b=False, name, memory_config=None,
               dtype=None, program_config=None) -> T
        add / subtract / multiply / divide(a: T, b: S, *, name, memory_config=None, dtype=None) -> T
        layer_norm(x: T, *, weight: T | None = None, bias: T | None = None, epsilon=1e-12, name, ...) -> T
        softmax(x: T, dim=-1, *, name, ...) -> T
        gelu(x, *, fast_and_approximate_mode=False, name, ...) / sigmoid / relu / exp / sqrt / reciprocal / abs
        clamp(x: T, min: float | None = None, max: float | None = None, *, name, ...) -> T
        mean(x: T, dim: int, keepdim=False, *, name, ...) -> T
        max(x: T, dim: int, keepdim=False, *, name, ...) -> T
        transpose(x: T, dim0: int, dim1: int, *, name, ...) -> T
        permute(x: T, dims: Sequence[int], *, name, ...) -> T
        reshape(x: T, shape: Sequence[int], *, name, ...) -> T
        concat(tensors: Sequence[T], dim=0, *, name, ...) -> T
        slice(x: T, starts: Sequence[int], ends: Sequence[int], steps: Sequence[int] | None = None,
              *, name, ...) -> T
    """

    name = "abstract"

    # -- tensors in and out -------------------------------------------------------------------------------
    def from_torch(self, tensor, *, name: str, dtype=None, layout=None, memory_config=None):
        raise NotImplementedError

    def to_torch(self, x):
        raise NotImplementedError

    def shape(self, x) -> tuple[int, ...]:
        return tuple(int(d) for d in x.shape)


def _torch():
    import torch

    return torch


class TorchBackend(Backend):
    """Host numerics in torch (float32 by default). Plans, memory configs and dtypes are ignored.

    ``record=True`` keeps the list of (name, ttnn op) issued, for cross-checks against the trace.
    """

    name = "torch"

    def __init__(self, dtype=None, device: str = "cpu", record: bool = False):
        torch = _torch()
        self.torch = torch
        self.F = torch.nn.functional
        self.dtype = dtype or torch.float32
        self.device = device
        self.record = record
        self.issued: list[tuple[str, str]] = []
        self._out_in: dict[int, tuple] = {}  # id(weight) -> (weight, contiguous (out, in) copy)

    def _log(self, method: str, name: str):
        if self.record:
            self.issued.append((name, TTNN_OPS[method]))

    # -- tensors in and out -------------------------------------------------------------------------------
    def from_torch(self, tensor, *, name: str = "", dtype=None, layout=None, memory_config=None):
        torch = self.torch
        if not isinstance(tensor, torch.Tensor):
            import numpy as np

            tensor = torch.from_numpy(np.ascontiguousarray(tensor))
        return tensor.to(device=self.device, dtype=self.dtype)

    def to_torch(self, x):
        return x

    # -- matmul family -----------------------------------------------------------------------------------
    def linear(self, a, weight, *, bias=None, activation=None, transpose_b=False, name: str,
               memory_config=None, dtype=None, program_config=None, compute_kernel_config=None):
        self._log("linear", name)
        out = self.F.linear(a, self._weight_out_in(weight, transpose_b), None if bias is None else bias.reshape(-1))
        return self._activation(out, activation)

    def _weight_out_in(self, weight, transpose_b: bool):
        """F.linear wants (out, in); keep one contiguous copy per weight (the layout torch's own Linear uses)."""
        if transpose_b:
            return weight
        hit = self._out_in.get(id(weight))
        if hit is None or hit[0] is not weight:
            hit = (weight, weight.t().contiguous())
            self._out_in[id(weight)] = hit
        return hit[1]

    def matmul(self, a, b, *, transpose_a=False, transpose_b=False, name: str, memory_config=None,
               dtype=None, program_config=None, compute_kernel_config=None):
        self._log("matmul", name)
        if transpose_a:
            a = a.transpose(-1, -2)
        if transpose_b:
            b = b.transpose(-1, -2)
        return self.torch.matmul(a, b)

    def _activation(self, x, activation):
        if activation is None:
            return x
        if activation == "gelu":
            return self.F.gelu(x)
        if activation == "relu":
            return self.torch.relu(x)
        if activation == "sigmoid":
            return self.torch.sigmoid(x)
        raise ValueError(f"unknown fused activation {activation!r}")

    # -- eltwise binary ----------------------------------------------------------------------------------
    def add(self, a, b, *, name: str, memory_config=None, dtype=None):
        self._log("add", name)
        return a + b

    def subtract(self, a, b, *, name: str, memory_config=None, dtype=None):
        self._log("subtract", name)
        return a - b

    def multiply(self, a, b, *, name: str, memory_config=None, dtype=None):
        self._log("multiply", name)
        return a * b

    def divide(self, a, b, *, name: str, memory_config=None, dtype=None):
        self._log("divide", name)
        return a / b

    # -- eltwise unary -----------------------------------------------------------------------------------
    def gelu(self, x, *, fast_and_approximate_mode: bool = False, name: str, memory_config=None):
        self._log("gelu", name)
        return self.F.gelu(x, approximate="tanh" if fast_and_approximate_mode else "none")

    def sigmoid(self, x, *, name: str, memory_config=None):
        self._log("sigmoid", name)
        return self.torch.sigmoid(x)

    def relu(self, x, *, name: str, memory_config=None):
        self._log("relu", name)
        return self.torch.relu(x)

    def exp(self, x, *, name: str, memory_config=None):
        self._log("exp", name)
        return self.torch.exp(x)

    def sqrt(self, x, *, name: str, memory_config=None):
        self._log("sqrt", name)
        return self.torch.sqrt(x)

    def reciprocal(self, x, *, name: str, memory_config=None):
        self._log("reciprocal", name)
        return self.torch.reciprocal(x)

    def abs(self, x, *, name: str, memory_config=None):
        self._log("abs", name)
        return self.torch.abs(x)

    def clamp(self, x, min=None, max=None, *, name: str, memory_config=None):  # noqa: A002 (ttnn's names)
        self._log("clamp", name)
        return self.torch.clamp(x, min=min, max=max)

    # -- normalization -----------------------------------------------------------------------------------
    def layer_norm(self, x, *, weight=None, bias=None, epsilon: float = 1e-12, name: str,
                   memory_config=None, program_config=None, compute_kernel_config=None):
        self._log("layer_norm", name)
        d = x.shape[-1]
        return self.F.layer_norm(x, (d,), None if weight is None else weight.reshape(-1),
                                 None if bias is None else bias.reshape(-1), epsilon)

    def softmax(self, x, dim: int = -1, *, name: str, memory_config=None, compute_kernel_config=None):
        self._log("softmax", name)
        return self.torch.softmax(x, dim=dim)

    # -- reductions --------------------------------------------------------------------------------------
    def mean(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        self._log("mean", name)
        return x.mean(dim=dim, keepdim=keepdim)

    def max(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        self._log("max", name)
        return x.amax(dim=dim, keepdim=keepdim)

    # -- data movement -----------------------------------------------------------------------------------
    def transpose(self, x, dim0: int, dim1: int, *, name: str, memory_config=None):
        self._log("transpose", name)
        return x.transpose(dim0, dim1)

    def permute(self, x, dims: Sequence[int], *, name: str, memory_config=None):
        self._log("permute", name)
        return x.permute(*dims)

    def reshape(self, x, shape: Sequence[int], *, name: str, memory_config=None):
        self._log("reshape", name)
        return x.reshape(*shape)

    def concat(self, tensors: Sequence[Any], dim: int = 0, *, name: str, memory_config=None):
        self._log("concat", name)
        return self.torch.cat(list(tensors), dim=dim)

    def slice(self, x, starts: Sequence[int], ends: Sequence[int], steps: Sequence[int] | None = None, *,
              name: str, memory_config=None):
        self._log("slice", name)
        steps = steps or [1] * len(starts)
        index = tuple(slice(s, e, st) for s, e, st in zip(starts, ends, steps))
        return x[index]
