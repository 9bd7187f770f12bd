"""The TraceBackend: a model definition's ops recorded under a plan, nothing computed.

Running a model definition under :class:`TraceBackend` yields the op trace for (model, config, batch):
an :class:`opcast.plans.Trace` with one record per op issued, in issue order. Nothing is hand-listed:
the trace is whatever the definition issues. Plans and traces, their JSON and their queries are
defined in :mod:`opcast.plans`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..plans import TENSOR_KEYS, OpRecord, Plan, Trace, placed_tensor
from ..vocabulary import Tensor
from .backend import TTNN_OPS, Backend


@dataclass
class TraceTensor:
    """A symbolic tensor: shape and placement, no data."""

    tensor: Tensor
    producer: str  # op name, or "tensor:<name>" for uploaded weights/inputs

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor.shape

    def __repr__(self) -> str:
        t = self.tensor
        return f"TraceTensor({list(t.shape)}, {t.dtype}, {t.memory}, from {self.producer})"


def _broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes {a} and {b} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def _norm_dim(dim: int, rank: int) -> int:
    if not -rank <= dim < rank:
        raise ValueError(f"dim {dim} out of range for rank {rank}")
    return dim % rank


class TraceBackend(Backend):
    """Records every op with name, ttnn op, input/output tensors and attributes; computes nothing.

    Op outputs are placed by the plan (``Plan.op_config``), weights and inputs by ``Plan.tensor_config``
    when uploaded with :meth:`from_torch` (which accepts anything with a ``.shape``).
    """

    name = "trace"

    def __init__(self, plan: Plan | None = None):
        self.plan = plan or Plan()
        self.trace = Trace()
        self._names: set[str] = set()

    # -- tensors in and out -------------------------------------------------------------------------------
    def from_torch(self, tensor, *, name: str, dtype=None, layout=None, memory_config=None):
        if name in self.trace.tensors:
            raise ValueError(f"duplicate tensor name {name!r}: names must be unique within a trace")
        cfg = self.plan.tensor_config(name)
        if memory_config is not None and memory_config != cfg["memory"]:
            cfg = {k: v for k, v in cfg.items() if k not in ("grid", "core_count")}
        cfg.update({k: v for k, v in (("dtype", dtype), ("layout", layout), ("memory", memory_config)) if v})
        placed = placed_tensor(tensor.shape, cfg)
        self.trace.tensors[name] = placed
        return TraceTensor(placed, f"tensor:{name}")

    def to_torch(self, x):
        raise TypeError("TraceBackend computes nothing: there is no data to bring back")

    # -- recording ---------------------------------------------------------------------------------------
    def _emit(self, method: str, name: str, inputs: Sequence[TraceTensor], out_shape: Sequence[int],
              attributes: dict | None = None, memory_config=None, dtype=None, program_config=None) -> TraceTensor:
        if not name:
            raise ValueError(f"{method}: every op needs a name")
        if name in self._names:
            raise ValueError(f"duplicate op name {name!r}: names must be unique within a trace")
        self._names.add(name)
        op = TTNN_OPS[method]
        cfg = self.plan.resolve(name, op, memory_config, dtype=dtype, program_config=program_config)
        output = placed_tensor(out_shape, cfg)
        attrs = {k: v for k, v in cfg.items() if k not in TENSOR_KEYS}
        attrs.update(attributes or {})
        self.trace.ops.append(OpRecord(name, op, [t.tensor for t in inputs], output, attrs,
                                       producers=[t.producer for t in inputs]))
        return TraceTensor(output, name)

    @staticmethod
    def _check(x, what: str):
        if not isinstance(x, TraceTensor):
            raise TypeError(f"{what}: expected a TraceTensor, got {type(x).__name__}")

    # -- matmul family -----------------------------------------------------------------------------------
    def linear(self, a, weight, *, bias=None, activation=None, transpose_b=False, name: str,
               memory_config=None, dtype=None, program_config=None, compute_kernel_config=None):
        self._check(a, name)
        self._check(weight, name)
        k_w, n = weight.shape[-2:] if not transpose_b else weight.shape[-2:][::-1]
        if a.shape[-1] != k_w:
            raise ValueError(f"{name}: linear input {a.shape} vs weight {weight.shape}")
        inputs = [a, weight] + ([bias] if bias is not None else [])
        attrs: dict[str, Any] = {}
        if activation is not None:
            attrs["activation"] = activation
        if transpose_b:
            attrs["transpose_b"] = True
        if compute_kernel_config is not None:
            attrs["compute_kernel_config"] = compute_kernel_config
        return self._emit("linear", name, inputs, tuple(a.shape[:-1]) + (n,), attrs, memory_config, dtype,
                          program_config)

    def matmul(self, a, b, *, transpose_a=False, transpose_b=False, name: str, memory_config=None,
               dtype=None, program_config=None, compute_kernel_config=None):
        self._check(a, name)
        self._check(b, name)
        sa, sb = list(a.shape), list(b.shape)
        if transpose_a:
            sa[-2:] = sa[-2:][::-1]
        if transpose_b:
            sb[-2:] = sb[-2:][::-1]
        if sa[-1] != sb[-2]:
            raise ValueError(f"{name}: matmul {a.shape} x {b.shape}")
        batch = _broadcast(sa[:-2], sb[:-2])
        attrs = {k: v for k, v in (("transpose_a", transpose_a), ("transpose_b", transpose_b)) if v}
        return self._emit("matmul", name, [a, b], batch + (sa[-2], sb[-1]), attrs, memory_config, dtype,
                          program_config)

    # -- eltwise binary ----------------------------------------------------------------------------------
    def _binary(self, method, a, b, name, memory_config, dtype):
        self._check(a, name)
        if isinstance(b, TraceTensor):
            return self._emit(method, name, [a, b], _broadcast(a.shape, b.shape), None, memory_config, dtype)
        return self._emit(method, name, [a], a.shape, {"scalar": float(b)}, memory_config, dtype)

    def add(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary("add", a, b, name, memory_config, dtype)

    def subtract(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary("subtract", a, b, name, memory_config, dtype)

    def multiply(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary("multiply", a, b, name, memory_config, dtype)

    def divide(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary("divide", a, b, name, memory_config, dtype)

    # -- eltwise unary -----------------------------------------------------------------------------------
    def _unary(self, method, x, name, memory_config, attrs=None):
        self._check(x, name)
        return self._emit(method, name, [x], x.shape, attrs, memory_config)

    def gelu(self, x, *, fast_and_approximate_mode: bool = False, name: str, memory_config=None):
        return self._unary("gelu", x, name, memory_config,
                           {"fast_and_approximate_mode": True} if fast_and_approximate_mode else None)

    def sigmoid(self, x, *, name: str, memory_config=None):
        return self._unary("sigmoid", x, name, memory_config)

    def relu(self, x, *, name: str, memory_config=None):
        return self._unary("relu", x, name, memory_config)

    def exp(self, x, *, name: str, memory_config=None):
        return self._unary("exp", x, name, memory_config)

    def sqrt(self, x, *, name: str, memory_config=None):
        return self._unary("sqrt", x, name, memory_config)

    def reciprocal(self, x, *, name: str, memory_config=None):
        return self._unary("reciprocal", x, name, memory_config)

    def abs(self, x, *, name: str, memory_config=None):
        return self._unary("abs", x, name, memory_config)

    def clamp(self, x, min=None, max=None, *, name: str, memory_config=None):  # noqa: A002
        attrs = {k: float(v) for k, v in (("min", min), ("max", max)) if v is not None}
        return self._unary("clamp", x, name, memory_config, attrs)

    # -- normalization -----------------------------------------------------------------------------------
    def layer_norm(self, x, *, weight=None, bias=None, epsilon: float = 1e-12, name: str,
                   memory_config=None, program_config=None, compute_kernel_config=None):
        self._check(x, name)
        inputs = [x] + [t for t in (weight, bias) if t is not None]
        for t in inputs[1:]:
            if math.prod(t.shape) != x.shape[-1]:
                raise ValueError(f"{name}: layer_norm parameter {t.shape} vs input {x.shape}")
        return self._emit("layer_norm", name, inputs, x.shape, {"epsilon": float(epsilon)}, memory_config,
                          None, program_config)

    def softmax(self, x, dim: int = -1, *, name: str, memory_config=None, compute_kernel_config=None):
        self._check(x, name)
        return self._emit("softmax", name, [x], x.shape, {"dim": dim}, memory_config)

    # -- reductions --------------------------------------------------------------------------------------
    def _reduce(self, method, x, dim, keepdim, name, memory_config):
        self._check(x, name)
        d = _norm_dim(dim, len(x.shape))
        shape = list(x.shape)
        if keepdim:
            shape[d] = 1
        else:
            del shape[d]
        return self._emit(method, name, [x], shape, {"dim": dim, "keepdim": bool(keepdim)}, memory_config)

    def mean(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        return self._reduce("mean", x, dim, keepdim, name, memory_config)

    def max(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        return self._reduce("max", x, dim, keepdim, name, memory_config)

    # -- data movement -----------------------------------------------------------------------------------
    def transpose(self, x, dim0: int, dim1: int, *, name: str, memory_config=None):
        self._check(x, name)
        rank = len(x.shape)
        shape = list(x.shape)
        i, j = _norm_dim(dim0, rank), _norm_dim(dim1, rank)
        shape[i], shape[j] = shape[j], shape[i]
        return self._emit("transpose", name, [x], shape, {"dim0": dim0, "dim1": dim1}, memory_config)

    def permute(self, x, dims: Sequence[int], *, name: str, memory_config=None):
        self._check(x, name)
        dims = [_norm_dim(d, len(x.shape)) for d in dims]
        if sorted(dims) != list(range(len(x.shape))):
            raise ValueError(f"{name}: bad permutation {dims} for rank {len(x.shape)}")
        return self._emit("permute", name, [x], [x.shape[d] for d in dims], {"dims": dims}, memory_config)

    def reshape(self, x, shape: Sequence[int], *, name: str, memory_config=None):
        self._check(x, name)
        shape = list(shape)
        total = math.prod(x.shape)
        if shape.count(-1) == 1:
            known = math.prod(d for d in shape if d != -1)
            shape[shape.index(-1)] = total // known
        if math.prod(shape) != total:
            raise ValueError(f"{name}: cannot reshape {x.shape} to {shape}")
        return self._emit("reshape", name, [x], shape, {"shape": shape}, memory_config)

    def concat(self, tensors: Sequence[Any], dim: int = 0, *, name: str, memory_config=None):
        tensors = list(tensors)
        for t in tensors:
            self._check(t, name)
        rank = len(tensors[0].shape)
        d = _norm_dim(dim, rank)
        shape = list(tensors[0].shape)
        for t in tensors[1:]:
            if len(t.shape) != rank or any(t.shape[i] != shape[i] for i in range(rank) if i != d):
                raise ValueError(f"{name}: cannot concat {[t.shape for t in tensors]} on dim {dim}")
            shape[d] += t.shape[d]
        return self._emit("concat", name, tensors, shape, {"dim": dim}, memory_config)

    def slice(self, x, starts: Sequence[int], ends: Sequence[int], steps: Sequence[int] | None = None, *,
              name: str, memory_config=None):
        self._check(x, name)
        steps = list(steps or [1] * len(starts))
        if not len(starts) == len(ends) == len(steps) == len(x.shape):
            raise ValueError(f"{name}: slice needs one start/end/step per dimension of {x.shape}")
        shape = [len(range(s, min(e, d), st)) for s, e, st, d in zip(starts, ends, steps, x.shape)]
        attrs = {"starts": list(starts), "ends": list(ends), "steps": steps}
        return self._emit("slice", name, [x], shape, attrs, memory_config)
