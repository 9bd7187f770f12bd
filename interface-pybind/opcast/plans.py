"""Execution plans and op traces: a format every stage reads and writes.

A workload definition (``opcast.models``) run under a plan yields an op trace; a run on a ttnn device
(``opcast.models.ttnn_backend.capture_model``) adds a device record to every op; the tuner changes
plans and reads traces back. This module needs neither torch nor ttnn and imports nothing from the
workloads; its words (dtypes, layouts, memory configs, math fidelities) are the query vocabulary's
(``opcast.vocabulary``).

Plans
-----
A plan (JSON) says where every tensor lives and how ops are configured; traces apply it, host
numerics ignore it. Schema (every key optional)::

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

Resolution for an op: ``defaults.activation`` < ``op_types[op]`` < every matching ``ops`` entry in
file order. ``memory``, ``dtype`` and ``layout`` describe the op's output tensor; every other key
(``math_fidelity``, ``program_config``, ``compute_kernel_config``, ...) is copied into the op's
``attributes``. Names are read in any spelling the vocabulary reads and kept in its canonical one.

Sharded memory (``L1_HEIGHT_SHARDED``, ``L1_WIDTH_SHARDED``, ``L1_BLOCK_SHARDED``) takes ``"grid":
[x, y]`` and/or ``"core_count": n`` next to ``memory`` (the query's short form; the device layer turns
them into a ttnn shard spec for the op's output shape); they are part of the tensor, not attributes.
Without either, the ttnn backend picks the most cores that split the output's tiles evenly. On a
device ``program_config`` of ``ttnn.linear`` / ``ttnn.matmul`` is ``{"type":
"MatmulMultiCoreReuseMultiCastProgramConfig", "compute_with_storage_grid_size": [x, y], ...}`` (the
keyword arguments of that ttnn class), and ``compute_kernel_config`` the keyword arguments of
``ttnn.WormholeComputeKernelConfig``.

Traces
------
One :class:`OpRecord` per op issued, in issue order; as JSON::

    {"name": "mixers.0.patch_mixer.mlp.fc1", "op": "ttnn.linear",
     "inputs": [{"shape": [1, 7, 16, 64], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"},
                ...weight..., ...bias...],
     "output": {"shape": [1, 7, 16, 128], ...},
     "attributes": {"math_fidelity": "HiFi2"}}

(without ``name`` this is the predictor's query: :meth:`Trace.queries`). Shapes are logical
(unpadded); inputs are the tensors that flow in (the producing op's output, or the weight / input
placement from the plan). A record of a device run adds ``device`` (:class:`DeviceRun`: ttnn's
verdict, L1 per core, the placement used and any fallback), and ``inserted: true`` marks a move the
device run added (an input moved to DRAM for an op that refused it). A trace's JSON is its ``meta``
(model, config, batch, plan, ...) with ``num_ops``, ``op_counts``, ``ops`` and ``tensors`` (the
uploaded weights and inputs, each with its ``name``).
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import vocabulary
from .vocabulary import Tensor

ROLES = ("activation", "weight", "input")  # the defaults a plan gives: op outputs, weights, model inputs
TENSOR_KEYS = ("memory", "dtype", "layout", "grid", "core_count")  # an entry's keys that place a tensor
_WORDS = {"memory": vocabulary.memory, "dtype": vocabulary.dtype, "layout": vocabulary.layout,
          "math_fidelity": vocabulary.math_fidelity}
_BASE_DEFAULTS = {role: {"memory": vocabulary.DRAM_INTERLEAVED, "dtype": vocabulary.BFLOAT16,
                         "layout": vocabulary.TILE} for role in ROLES}


def _public_port_plan(model: str, activation_memory: str) -> dict[str, Any]:
    """A plan as the public TT-NN ports place things: activations in ``activation_memory``, weights and
    inputs in DRAM, bfloat16 tiles throughout, matmuls at HiFi2."""
    tiles = {"dtype": vocabulary.BFLOAT16, "layout": vocabulary.TILE}
    return {
        "name": f"{model}-default-{activation_memory.lower()}",
        "defaults": {"activation": {"memory": activation_memory, **tiles},
                     "weight": {"memory": vocabulary.DRAM_INTERLEAVED, **tiles},
                     "input": {"memory": vocabulary.DRAM_INTERLEAVED, **tiles}},
        "inputs": ["past_values"],
        "op_types": {op: {"math_fidelity": vocabulary.HIFI2} for op in ("ttnn.linear", "ttnn.matmul")},
    }


# The default plans: TTM's port keeps activations in L1 (interleaved), PatchTSMixer's everything in DRAM.
DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "ttm": _public_port_plan("ttm", vocabulary.L1_INTERLEAVED),
    "patchtsmixer": _public_port_plan("patchtsmixer", vocabulary.DRAM_INTERLEAVED),
}


# ---------------------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------------------


class Plan:
    """An execution plan: memory config / dtype / layout / op attributes per op name and per tensor."""

    def __init__(self, data: Mapping[str, Any] | None = None):
        data = copy.deepcopy(dict(data or {}))
        self.data = data
        self.name = data.get("name", "unnamed")
        self.defaults = copy.deepcopy(_BASE_DEFAULTS)
        for role, entry in (data.get("defaults") or {}).items():
            if role not in self.defaults:
                raise ValueError(f"plan defaults: unknown role {role!r}; expected one of {', '.join(ROLES)}")
            self.defaults[role].update(_checked(f"defaults.{role}", entry))
        self.inputs = set(data.get("inputs", ["past_values"]))
        self.op_types = {op: _checked(f"op_types[{op!r}]", entry) for op, entry in (data.get("op_types") or {}).items()}
        self.ops = [(p, _checked(f"ops[{p!r}]", e)) for p, e in _as_pattern_list(data.get("ops"))]
        self.tensors = [(p, _checked(f"tensors[{p!r}]", e)) for p, e in _as_pattern_list(data.get("tensors"))]

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        with open(path) as f:
            return cls(json.load(f))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "defaults": self.defaults, "inputs": sorted(self.inputs),
               "op_types": self.op_types, "ops": dict(self.ops), "tensors": dict(self.tensors)}
        return copy.deepcopy(out)

    def op_config(self, name: str, op: str) -> dict[str, Any]:
        cfg = dict(self.defaults["activation"])
        cfg.update(self.op_types.get(op, {}))
        for pattern, entry in self.ops:
            if _matches(pattern, name):
                cfg.update(entry)
        return cfg

    def resolve(self, name: str, op: str, memory_config=None, **explicit) -> dict[str, Any]:
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

    def tensor_config(self, name: str) -> dict[str, Any]:
        role = "input" if name in self.inputs else "weight"
        cfg = dict(self.defaults[role])
        for pattern, entry in self.tensors:
            if _matches(pattern, name):
                cfg.update(entry)
        return cfg

    def unmatched_patterns(self, names: Iterable[str]) -> list[str]:
        """``ops`` patterns that match no op name (typos in a plan)."""
        names = list(names)
        return [p for p, _ in self.ops if not any(_matches(p, n) for n in names)]


def default_plan(model: str) -> Plan:
    """The default plan of a workload (see DEFAULT_PLANS)."""
    if model not in DEFAULT_PLANS:
        raise ValueError(f"no default plan for model {model!r}; expected one of {', '.join(DEFAULT_PLANS)}")
    return Plan(DEFAULT_PLANS[model])


def placed_tensor(shape: Sequence[int], entry: Mapping[str, Any]) -> Tensor:
    """The tensor a resolved plan entry (memory, dtype, layout [, grid, core_count]) makes of ``shape``."""
    sharded = entry["memory"] in vocabulary.SHARDED
    return Tensor(tuple(shape), entry["dtype"], entry["layout"], entry["memory"],
                  entry.get("grid") if sharded else None, entry.get("core_count") if sharded else None)


def _matches(pattern: str, name: str) -> bool:
    return pattern == name or fnmatch.fnmatchcase(name, pattern)


def _checked(where: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A plan entry with its words in the vocabulary's spelling and its shard placement checked."""
    out = dict(entry)
    for key, canonical in _WORDS.items():
        if out.get(key) is not None:
            try:
                out[key] = canonical(out[key])
            except ValueError as exc:  # opcast.QueryError: the vocabulary names what it expected
                raise ValueError(f"plan {where}: {exc}") from None
    grid, cores = out.get("grid"), out.get("core_count")
    if grid is not None and not (isinstance(grid, (list, tuple)) and len(grid) == 2
                                 and all(isinstance(g, int) and g >= 1 for g in grid)):
        raise ValueError(f"plan {where}: grid must be [x, y] with positive integers, got {grid!r}")
    if cores is not None and not (isinstance(cores, int) and cores >= 1):
        raise ValueError(f"plan {where}: core_count must be a positive integer, got {cores!r}")
    return out


def _as_pattern_list(entries) -> list[tuple[str, dict[str, Any]]]:
    if not entries:
        return []
    if isinstance(entries, Mapping):
        return [(k, dict(v)) for k, v in entries.items()]
    out = []
    for e in entries:  # list form: [{"match": "...", ...}, ...]
        e = dict(e)
        out.append((e.pop("match"), e))
    return out


# ---------------------------------------------------------------------------------------------------------
# Traces
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class DeviceRun:
    """What one op did on a ttnn device (mock or Wormhole), from ``capture_model``.

    ok / error: whether ttnn ran the op in the end; fits_l1: whether the L1 it needed fit the bank.
    l1_peak_per_core: the op's own peak L1 bytes per core; l1_resident_per_core: L1 per bank held by
    live tensors when it ran; l1_total_per_core: their sum; l1_limit_per_core: the L1 bank size.
    device_ops / program_factories: the device operations ttnn issued and the factory each picked;
    cores_used: cores holding the op's circular buffers. planned: the plan's placement (memory
    [, grid, core_count, program_config]); fallback / fallback_reason: the op ran in DRAM because the
    plan's placement was refused or did not fit, and why. inputs / output: the tensors as they ran
    (short form); memory_config: ttnn's MemoryConfig.to_json() of the output; attempts: every
    placement tried, with its verdict; seconds: capture time.
    """

    ok: bool
    error: str | None
    fits_l1: bool
    l1_peak_per_core: int
    l1_resident_per_core: int
    l1_total_per_core: int
    l1_limit_per_core: int
    device_ops: list[str]
    program_factories: list[str | None]
    cores_used: int
    planned: dict[str, Any]
    fallback: bool
    fallback_reason: str | None
    inputs: list[Tensor]
    output: Tensor | None
    memory_config: dict[str, Any] | None
    attempts: list[dict[str, Any]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["inputs"] = [t.to_dict() for t in self.inputs]
        out["output"] = self.output.to_dict() if self.output is not None else None
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DeviceRun":
        return cls(**{**d, "inputs": [Tensor.from_dict(t) for t in d["inputs"]],
                      "output": Tensor.from_dict(d["output"]) if d.get("output") else None})


@dataclasses.dataclass
class OpPrediction:
    """What a predictor answered for one op of a trace: the device kernel time and its interval, which
    tier answered (``source``) and whether it lies where that model was trained; or why it could not."""

    predicted_ns: float | None
    lo_ns: float | None
    hi_ns: float | None
    in_domain: bool | None
    source: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class OpRecord:
    """One op of a trace: its name in the workload, the TTNN op, the tensors in and out, its attributes;
    ``device`` once it ran on a device, ``inserted`` when a device run added it, ``prediction`` once a
    predictor priced it."""

    name: str
    op: str
    inputs: list[Tensor]
    output: Tensor
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    inserted: bool = False
    device: DeviceRun | None = None
    prediction: OpPrediction | None = None
    # Where each input comes from: the name of the op that produced it, or "tensor:<name>" for an
    # uploaded weight or input (the dataflow a tuner follows); empty where not recorded.
    producers: list[str] = dataclasses.field(default_factory=list)

    def query(self) -> dict[str, Any]:
        """The predictor's query for this op (the plan's placement, not a device fallback's)."""
        return vocabulary.make_query(self.op, self.inputs, self.output.to_dict(), self.attributes)

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "op": self.op, "inputs": [t.to_dict() for t in self.inputs],
               "output": self.output.to_dict(), "attributes": self.attributes}
        if self.producers:
            out["producers"] = list(self.producers)
        if self.inserted:
            out["inserted"] = True
        if self.device is not None:
            out["device"] = self.device.to_dict()
        if self.prediction is not None:
            out["prediction"] = self.prediction.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OpRecord":
        return cls(d["name"], d["op"], [Tensor.from_dict(t) for t in d["inputs"]], Tensor.from_dict(d["output"]),
                   dict(d.get("attributes") or {}), bool(d.get("inserted", False)),
                   DeviceRun.from_dict(d["device"]) if d.get("device") else None,
                   OpPrediction(**d["prediction"]) if d.get("prediction") else None, list(d.get("producers", [])))


# Keys of a trace's JSON that the trace derives or holds itself; every other key is meta.
_TRACE_KEYS = ("num_ops", "op_counts", "ops", "tensors")


@dataclasses.dataclass
class Trace:
    """The ops a workload issued, the weights and inputs it uploaded (by name, in upload order), and
    what it was (meta: model, config, batch, plan, output, and a device run's summary)."""

    ops: list[OpRecord] = dataclasses.field(default_factory=list)
    tensors: dict[str, Tensor] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def queries(self) -> list[dict[str, Any]]:
        """The predictor's queries, one per op."""
        return [r.query() for r in self.ops]

    def predict(self, predictor: Any) -> "Trace":
        """Every op priced by ``predictor`` (an :class:`opcast.Predictor`), in one batch: each record gets
        its ``prediction``, an answer or the reason there is none."""
        answers = predictor.predict_batch(self.queries(), errors="collect")
        for r, (_, a) in zip(self.ops, answers.iterrows()):
            ok = a["error"] is None or (isinstance(a["error"], float) and a["error"] != a["error"])
            r.prediction = OpPrediction(
                float(a["predicted_ns"]) if ok else None, float(a["lo_ns"]) if ok else None,
                float(a["hi_ns"]) if ok else None, bool(a["in_domain"]) if ok else None,
                a["source"] if ok else None, None if ok else str(a["error"]))
        return self

    def predicted_total(self) -> dict[str, Any]:
        """The predicted device time of the whole trace: the sum of its ops, with the interval their
        intervals give if every op's error leaned the same way (errors of one model and one build tend
        to), and how many ops were priced, by tier."""
        priced = [r.prediction for r in self.ops if r.prediction is not None and r.prediction.error is None]
        tiers: dict[str, int] = {}
        for p in priced:
            tier = p.source.split(":", 1)[0]
            tiers[tier] = tiers.get(tier, 0) + 1
        return {"ns": sum(p.predicted_ns for p in priced), "lo_ns": sum(p.lo_ns for p in priced),
                "hi_ns": sum(p.hi_ns for p in priced), "ops": len(self.ops), "priced": len(priced),
                "in_domain": sum(bool(p.in_domain) for p in priced), "by_source": dict(sorted(tiers.items()))}

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.ops:
            counts[r.op] = counts.get(r.op, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {**self.meta, "num_ops": len(self.ops), "op_counts": self.op_counts(),
                "ops": [r.to_dict() for r in self.ops],
                "tensors": [{"name": name, **t.to_dict()} for name, t in self.tensors.items()]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Trace":
        return cls([OpRecord.from_dict(r) for r in d.get("ops", [])],
                   {t["name"]: Tensor.from_dict(t) for t in d.get("tensors", [])},
                   {k: v for k, v in d.items() if k not in _TRACE_KEYS})

    def to_json(self, path: str | Path | None = None, indent: int = 1) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        with open(path) as f:
            return cls.from_dict(json.load(f))

    def table(self, max_name: int = 60) -> str:
        """One row per op: name, ttnn op, input and output shapes, output dtype and memory config.

        Records run on a device add the memory config actually used, L1 per core (KiB: the op's own
        peak, and with the L1 held by live tensors), whether that fits, and the fallback (``DRAM`` when
        the plan's config was rejected or did not fit). Priced records add the predicted time, its
        interval and the tier that answered.
        """
        on_device = any(r.device is not None for r in self.ops)
        priced = any(r.prediction is not None for r in self.ops)
        head = ("#", "name", "ttnn op", "inputs", "output", "dtype", "memory")
        rows = [head + (("ok", "L1/core KiB", "+live KiB", "fits", "fallback") if on_device else ())
                + (("predicted us", "interval us", "source") if priced else ())]
        for i, r in enumerate(self.ops):
            ins = " ".join(_fmt_shape(t.shape) for t in r.inputs)
            scalar = r.attributes.get("scalar")
            if scalar is not None:
                ins += f" {scalar:g}"
            name = r.name if len(r.name) <= max_name else "..." + r.name[-(max_name - 3):]
            d = r.device
            memory = format_memory((d.output if d and d.output else r.output).to_dict())
            row = (str(i), name, r.op, ins, _fmt_shape(r.output.shape), r.output.dtype, memory)
            if on_device:
                if d is None:
                    row += ("", "", "", "", "")
                else:
                    row += ("yes" if d.ok else "NO", f"{d.l1_peak_per_core / 1024:.1f}",
                            f"{d.l1_total_per_core / 1024:.1f}", "yes" if d.fits_l1 else "NO",
                            ("inserted" if r.inserted else
                             f"from {format_memory(d.planned)}" if d.fallback else "-"))
            if priced:
                p = r.prediction
                if p is None or p.error is not None:
                    row += ("-", "-", "no answer" if p is None else p.error.split(";")[0])
                else:
                    row += (f"{p.predicted_ns / 1e3:.2f}", f"{p.lo_ns / 1e3:.2f}-{p.hi_ns / 1e3:.2f}",
                            p.source.split("@")[0] + ("" if p.in_domain else " (extrapolated)"))
            rows.append(row)
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def format_memory(placement: Mapping[str, Any]) -> str:
    """DRAM_INTERLEAVED, or L1_HEIGHT_SHARDED(8x1) / L1_WIDTH_SHARDED(12 cores) with the shard placement."""
    memory = placement.get("memory", "")
    if placement.get("grid") is not None:
        memory += "({}x{})".format(*placement["grid"])
    elif placement.get("core_count") is not None:
        memory += f"({placement['core_count']} cores)"
    return memory
