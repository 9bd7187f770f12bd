"""Op traces: the TraceBackend that records a model definition's ops without computing, and execution plans.

Running a model definition under :class:`TraceBackend` yields the op trace for (model, config, batch): one
entry per op issued, in issue order, each ::

    {"name": "mixers.0.patch_mixer.mlp.fc1", "op": "ttnn.linear",
     "inputs": [{"shape": [1, 7, 16, 64], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"},
                ...weight..., ...bias...],
     "output": {"shape": [1, 7, 16, 128], ...},
     "attributes": {"math_fidelity": "HiFi2"}}

(without ``name`` this is exactly the predictor's query dict: see :meth:`Trace.queries`).  Shapes are logical
(unpadded); input specs are the specs of the tensors that flow in (the producing op's output spec, or the
weight/input placement from the plan).  Nothing is hand-listed: the trace is whatever the definition issues.

Plans
-----
A plan (JSON) says where every tensor lives and how ops are configured; the trace applies it, host numerics
ignore it.  Schema (every key optional)::

    {
      "name": "ttm-l1",
      "defaults": {
        "activation": {"memory": "L1_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
        "weight":     {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
        "input":      {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"}
      },
      "inputs": ["past_values"],                       # tensor names that are model inputs (not weights)
      "op_types": {"ttnn.linear": {"math_fidelity": "HiFi2"}},   # per TTNN op
      "ops": {"*.patch_mixer.*": {"memory": "DRAM_INTERLEAVED"},  # per op name: exact name or fnmatch glob
              "head.linear": {"dtype": "float32", "program_config": {...}}},
      "tensors": {"head.weight": {"dtype": "bfloat8_b"}}          # per weight/input name (glob)
    }

Resolution for an op: ``defaults.activation`` < ``op_types[op]`` < every matching ``ops`` entry in file order.
``memory``, ``dtype`` and ``layout`` describe the op's output tensor; every other key (``math_fidelity``,
``program_config``, ``compute_kernel_config``, ...) is copied into the op's ``attributes``.

Sharded memory (``L1_HEIGHT_SHARDED``, ``L1_WIDTH_SHARDED``, ``L1_BLOCK_SHARDED``) takes ``"grid": [x, y]``
and/or ``"core_count": n`` next to ``memory`` (the predictor's short form; ``sweeps.mock_device.memory_config``
turns them into a ttnn shard spec for the op's output shape); they are part of the tensor spec, not attributes.
Without either, the ttnn backend picks the most cores that split the output's tiles evenly.
On a device (``ttnn_backend``) ``program_config`` of ``ttnn.linear`` / ``ttnn.matmul`` is
``{"type": "MatmulMultiCoreReuseMultiCastProgramConfig", "compute_with_storage_grid_size": [x, y], ...}``
(the keyword arguments of that ttnn class), ``math_fidelity`` a ttnn.MathFidelity name, and
``compute_kernel_config`` the keyword arguments of ``ttnn.WormholeComputeKernelConfig``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .backend import TTNN_OPS, Backend

SPEC_KEYS = ("memory", "dtype", "layout", "grid", "core_count")
MATH_FIDELITIES = ("LoFi", "HiFi2", "HiFi3", "HiFi4")
MEMORY_CONFIGS = ("DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_HEIGHT_SHARDED", "L1_WIDTH_SHARDED",
                  "L1_BLOCK_SHARDED")


@dataclass
class TensorSpec:
    """The project's short-form tensor spec (``grid`` / ``core_count`` only for sharded memory, when given)."""

    shape: tuple[int, ...]
    dtype: str = "bfloat16"
    layout: str = "TILE"
    memory: str = "DRAM_INTERLEAVED"
    grid: tuple[int, int] | None = None
    core_count: int | None = None

    @classmethod
    def from_config(cls, shape, cfg: dict) -> "TensorSpec":
        """The spec a plan entry (``memory``, ``dtype``, ``layout``, ``grid``, ``core_count``) gives ``shape``."""
        sharded = "SHARDED" in str(cfg["memory"])
        grid = cfg.get("grid") if sharded else None
        core_count = cfg.get("core_count") if sharded else None
        return cls(tuple(int(d) for d in shape), cfg["dtype"], cfg["layout"], cfg["memory"],
                   tuple(int(g) for g in grid) if grid is not None else None,
                   int(core_count) if core_count is not None else None)

    def to_dict(self) -> dict:
        out = {"shape": list(self.shape), "dtype": self.dtype, "layout": self.layout, "memory": self.memory}
        if self.grid is not None:
            out["grid"] = list(self.grid)
        if self.core_count is not None:
            out["core_count"] = self.core_count
        return out


@dataclass
class TraceTensor:
    """A symbolic tensor: shape and placement, no data."""

    spec: TensorSpec
    producer: str  # op name, or "tensor:<name>" for uploaded weights/inputs

    @property
    def shape(self) -> tuple[int, ...]:
        return self.spec.shape

    def __repr__(self) -> str:
        return f"TraceTensor({list(self.spec.shape)}, {self.spec.dtype}, {self.spec.memory}, from {self.producer})"


# ---------------------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------------------

_BASE_DEFAULTS = {
    "activation": {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
    "weight": {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
    "input": {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
}


class Plan:
    """An execution plan: memory config / dtype / layout / op attributes per op name and per tensor."""

    def __init__(self, data: dict | None = None):
        data = copy.deepcopy(data or {})
        self.data = data
        self.name = data.get("name", "unnamed")
        self.defaults = copy.deepcopy(_BASE_DEFAULTS)
        for role, cfg in (data.get("defaults") or {}).items():
            if role not in self.defaults:
                raise ValueError(f"plan defaults: unknown role {role!r} (activation, weight, input)")
            self.defaults[role].update(cfg)
        self.inputs = set(data.get("inputs", ["past_values"]))
        self.op_types = data.get("op_types") or {}
        self.ops = _as_pattern_list(data.get("ops"))
        self.tensors = _as_pattern_list(data.get("tensors"))
        entries = ([("defaults", c) for c in self.defaults.values()]
                   + [("op_types", c) for c in self.op_types.values()] + [("ops", c) for _, c in self.ops])
        for where, cfg in entries:
            fidelity = cfg.get("math_fidelity")
            if fidelity is not None and str(fidelity).lower() not in {f.lower() for f in MATH_FIDELITIES}:
                raise ValueError(f"plan {where}: unknown math_fidelity {fidelity!r}; one of {MATH_FIDELITIES}")
            mem = cfg.get("memory")
            if mem is not None and mem not in MEMORY_CONFIGS:
                raise ValueError(f"plan {where}: unknown memory config {mem!r}; one of {MEMORY_CONFIGS}")
            grid, cores = cfg.get("grid"), cfg.get("core_count")
            if grid is not None and not (isinstance(grid, (list, tuple)) and len(grid) == 2
                                         and all(isinstance(g, int) and g >= 1 for g in grid)):
                raise ValueError(f"plan {where}: grid must be [x, y] with positive integers, got {grid!r}")
            if cores is not None and not (isinstance(cores, int) and cores >= 1):
                raise ValueError(f"plan {where}: core_count must be a positive integer, got {cores!r}")

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        with open(path) as f:
            return cls(json.load(f))

    def to_dict(self) -> dict:
        out = {"name": self.name, "defaults": self.defaults, "inputs": sorted(self.inputs),
               "op_types": self.op_types, "ops": dict(self.ops), "tensors": dict(self.tensors)}
        return copy.deepcopy(out)

    def op_config(self, name: str, op: str) -> dict:
        cfg = dict(self.defaults["activation"])
        cfg.update(self.op_types.get(op, {}))
        for pattern, entry in self.ops:
            if pattern == name or fnmatch.fnmatchcase(name, pattern):
                cfg.update(entry)
        return cfg

    def resolve(self, name: str, op: str, memory_config=None, **explicit) -> dict:
        """The op's placement from the plan, with the arguments a call site passes explicitly winning
        (as in ttnn); a different memory config drops the plan's shard grid."""
        cfg = self.op_config(name, op)
        if memory_config is not None:
            if memory_config != cfg["memory"]:
                cfg.pop("grid", None)
                cfg.pop("core_count", None)
            cfg["memory"] = memory_config
        cfg.update({key: value for key, value in explicit.items() if value is not None})
        return cfg

    def tensor_config(self, name: str) -> dict:
        role = "input" if name in self.inputs else "weight"
        cfg = dict(self.defaults[role])
        for pattern, entry in self.tensors:
            if pattern == name or fnmatch.fnmatchcase(name, pattern):
                cfg.update(entry)
        return cfg

    def unmatched_patterns(self, names: Iterable[str]) -> list[str]:
        """``ops`` patterns that match no op name (typos in a plan)."""
        names = list(names)
        return [p for p, _ in self.ops if not any(p == n or fnmatch.fnmatchcase(n, p) for n in names)]


def _as_pattern_list(entries) -> list[tuple[str, dict]]:
    if not entries:
        return []
    if isinstance(entries, dict):
        return [(k, dict(v)) for k, v in entries.items()]
    out = []
    for e in entries:  # list form: [{"match": "...", ...}, ...]
        e = dict(e)
        out.append((e.pop("match"), e))
    return out


def default_plan(model: str) -> Plan:
    """The default plans: what the public TT-NN ports do.

    TTM: activations in L1 (interleaved), weights in DRAM.  PatchTSMixer: everything DRAM interleaved.
    """
    act_mem = {"ttm": "L1_INTERLEAVED", "patchtsmixer": "DRAM_INTERLEAVED"}.get(model)
    if act_mem is None:
        raise ValueError(f"no default plan for model {model!r}")
    return Plan({
        "name": f"{model}-default-{act_mem.lower()}",
        "defaults": {
            "activation": {"memory": act_mem, "dtype": "bfloat16", "layout": "TILE"},
            "weight": {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
            "input": {"memory": "DRAM_INTERLEAVED", "dtype": "bfloat16", "layout": "TILE"},
        },
        "inputs": ["past_values"],
        "op_types": {"ttnn.linear": {"math_fidelity": "HiFi2"}, "ttnn.matmul": {"math_fidelity": "HiFi2"}},
    })


# ---------------------------------------------------------------------------------------------------------
# The trace
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Trace:
    ops: list[dict] = field(default_factory=list)
    tensors: list[dict] = field(default_factory=list)  # uploaded weights and inputs: name + spec
    meta: dict = field(default_factory=dict)

    def queries(self) -> list[dict]:
        """The predictor's query dicts, one per op (the trace entries without ``name``, or the device record)."""
        return [{k: e[k] for k in ("op", "inputs", "output", "attributes") if k in e} for e in self.ops]

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.ops:
            counts[e["op"]] = counts.get(e["op"], 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict:
        return {**self.meta, "num_ops": len(self.ops), "op_counts": self.op_counts(), "ops": self.ops,
                "tensors": self.tensors}

    def to_json(self, path: str | Path | None = None, indent: int = 1) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def table(self, max_name: int = 60) -> str:
        """One row per op: name, ttnn op, input and output shapes, output dtype and memory config.

        Entries run on a device (``ttnn_backend.capture_model``: they carry ``device``) add the memory config
        actually used, L1 per core (KiB: the op's own peak, and with the L1 held by live tensors), whether that
        fits, and the fallback (``DRAM`` when the plan's config was rejected or did not fit).
        """
        on_device = any("device" in e for e in self.ops)
        head = ("#", "name", "ttnn op", "inputs", "output", "dtype", "memory")
        rows = [head + (("ok", "L1/core KiB", "+live KiB", "fits", "fallback") if on_device else ())]
        for i, e in enumerate(self.ops):
            ins = " ".join(_fmt_shape(s["shape"]) for s in e["inputs"])
            scalar = e["attributes"].get("scalar")
            if scalar is not None:
                ins += f" {scalar:g}"
            name = e["name"] if len(e["name"]) <= max_name else "..." + e["name"][-(max_name - 3):]
            d = e.get("device")
            memory = format_memory(d["output"] if d and d.get("output") else e["output"])
            row = (str(i), name, e["op"], ins, _fmt_shape(e["output"]["shape"]), e["output"]["dtype"], memory)
            if on_device:
                if d is None:
                    row += ("", "", "", "", "")
                else:
                    row += ("yes" if d["ok"] else "NO", f"{d['l1_peak_per_core'] / 1024:.1f}",
                            f"{d['l1_total_per_core'] / 1024:.1f}", "yes" if d["fits_l1"] else "NO",
                            ("inserted" if e.get("inserted") else
                             f"from {format_memory(d['planned'])}" if d["fallback"] else "-"))
            rows.append(row)
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _fmt_shape(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def format_memory(spec: dict) -> str:
    """DRAM_INTERLEAVED, or L1_HEIGHT_SHARDED(8x1) / L1_WIDTH_SHARDED(12 cores) with the shard placement."""
    memory = spec.get("memory", "")
    if spec.get("grid") is not None:
        memory += "({}x{})".format(*spec["grid"])
    elif spec.get("core_count") is not None:
        memory += f"({spec['core_count']} cores)"
    return memory


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
    """Records every op with name, ttnn op, input/output specs and attributes; computes nothing.

    Output specs come from the plan (``Plan.op_config``); weights/inputs get their spec from
    ``Plan.tensor_config`` when uploaded with :meth:`from_torch` (which accepts anything with a ``.shape``).
    """

    name = "trace"

    def __init__(self, plan: Plan | None = None):
        self.plan = plan or Plan()
        self.trace = Trace()
        self._names: set[str] = set()

    # -- tensors in and out -------------------------------------------------------------------------------
    def from_torch(self, tensor, *, name: str, dtype=None, layout=None, memory_config=None):
        cfg = self.plan.tensor_config(name)
        if memory_config is not None and memory_config != cfg["memory"]:
            cfg = {k: v for k, v in cfg.items() if k not in ("grid", "core_count")}
        cfg.update({k: v for k, v in (("dtype", dtype), ("layout", layout), ("memory", memory_config)) if v})
        spec = TensorSpec.from_config(tensor.shape, cfg)
        self.trace.tensors.append({"name": name, **spec.to_dict()})
        return TraceTensor(spec, f"tensor:{name}")

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
        spec = TensorSpec.from_config(out_shape, cfg)
        attrs = {k: v for k, v in cfg.items() if k not in SPEC_KEYS}
        attrs.update(attributes or {})
        self.trace.ops.append({
            "name": name,
            "op": op,
            "inputs": [t.spec.to_dict() for t in inputs],
            "output": spec.to_dict(),
            "attributes": attrs,
        })
        return TraceTensor(spec, name)

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
