"""A ttnn backend for the model definitions: every op is the ttnn call of the same name, placed by the plan.

This is the third execution of the one definition (after TorchBackend and TraceBackend).  The same code runs on
ttnn's mock Wormhole n150 (:mod:`opcast.device`: ttnn 0.81.1, Python 3.12, ``.venv-mock``) and on a real
Wormhole: the device handle is the only difference (``opcast.device.open_device``), so the mock runs are the test
of the hardware path, which cannot be run where opcast is developed.

Placement: each op's output memory config, dtype and (matmul/linear) program config and math fidelity come from
the plan (``Plan.op_config(name, op)``), each uploaded tensor's dtype / layout / memory from
``Plan.tensor_config(name)``.  Sharded outputs (``L1_HEIGHT/WIDTH/BLOCK_SHARDED`` with ``grid`` and/or
``core_count``) become a ttnn shard spec for the op's output shape through ``opcast.device.memory_config``; the
output shape comes from the op trace, so sharded plans need ``trace=`` (``capture_model`` passes it).  Ops take
whatever their producers made as inputs, as in ttnn; where an op refuses one, see the fallback below.

Two modes:

* plain (``per_op=False``): the ops are issued one after another, e.g. inside one ``opcast.device.capture``;
* per op (``per_op=True``, :func:`capture_model`, ``opcast trace --device mock``): every op runs first inside
  its own NO_DISPATCH graph capture (``opcast.device.capture_on``), which gives ttnn's verdict (ok / error), the
  op's L1 peak per core, the L1 already held by live tensors, whether the sum fits the L1 bank, and the device
  ops issued; then it is dispatched for real, so its output is a real device tensor (allocated by ttnn's
  allocator; on the mock device it holds no data) for the next op.  When ttnn rejects the plan's entry for an
  op (an error, an L1 total over the bank, or a failed allocation), the op falls back to DRAM interleaved (no
  program config), TT-Symbiote's behaviour, and the record says ``fallback: true`` and why; if even that is
  refused and an input sits in L1 (e.g. a sharded input the op does not take), those inputs are first moved to
  DRAM with ``ttnn.to_memory_config``, recorded as explicit records ``<op>.input<i>.to_dram``
  (``inserted: true``).  An op that fails every way gets an empty DRAM tensor of its traced output, so the
  run goes on and reports every op.

Usage::

    from opcast.device import open_device
    from opcast.models import ttnn_backend as tb
    with open_device("mock") as dev:                          # "wormhole": ttnn.open_device(0), same code after
        result = tb.capture_model(model, batch=32, device=dev)   # a Trace: every record with a DeviceRun
    print(result.table())
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable, Sequence

import numpy as np

from .. import vocabulary
from ..device.capture import REJECTIONS, CaptureResult, capture_on, clean_error
from ..device.environment import import_ttnn
from ..device.session import device_info
from ..device.tensors import auto_shard, empty, from_numpy, memory_config, short_form, ttnn_dtype, ttnn_math_fidelity
from ..plans import DeviceRun, OpRecord, Plan, Trace, default_plan, format_memory
from .backend import Backend
from .params import ShapeOnly

PLACEMENT_KEYS = ("memory", "grid", "core_count")
MAX_ERROR_CHARS = 600


def _placement(cfg: dict) -> dict:
    out = {k: cfg[k] for k in PLACEMENT_KEYS if cfg.get(k) is not None}
    if cfg.get("program_config") is not None:
        out["program_config"] = cfg["program_config"]
    return out


def _in_l1(tensor: Any) -> bool:
    return tensor.memory_config().buffer_type == import_ttnn().BufferType.L1


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[:MAX_ERROR_CHARS] + " ..."


# ---------------------------------------------------------------------------------------------------------
# One attempt at an op under a placement (per-op mode)
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Attempt:
    placement: dict
    memory_config: Any = None
    kwargs: dict | None = None
    capture: CaptureResult | None = None
    error: str | None = None  # building the placement, ttnn's verdict, or the real dispatch
    output: Any = None
    inputs_moved: bool = False  # the op's L1 inputs were moved to DRAM first

    @property
    def ok(self) -> bool:
        return self.capture is not None and self.capture.ok and self.error is None

    @property
    def fits(self) -> bool:
        return self.capture is not None and self.capture.fits_l1

    def reason(self) -> str:
        if self.error is not None:
            return self.error
        c = self.capture
        return (f"does not fit L1: {c.l1_total_per_core / 1024:.1f} KiB per core needed "
                f"({c.l1_resident_per_core / 1024:.1f} KiB held by live tensors + {c.l1_peak_per_core / 1024:.1f} "
                f"KiB for the op), {c.l1_limit_per_core / 1024:.1f} KiB in the L1 bank")

    def summary(self) -> dict:
        c = self.capture
        out = {**self.placement, "ok": self.ok, "error": _cut(self.error)}
        if self.inputs_moved:
            out["inputs_moved_to_dram"] = True
        if c is not None:
            out.update(l1_peak_per_core=c.l1_peak_per_core, l1_total_per_core=c.l1_total_per_core, fits_l1=c.fits_l1)
        return out


# ---------------------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------------------


class TtnnBackend(Backend):
    """Issues the definition's ops to a ttnn device (mock or Wormhole), placed by ``plan``.

    trace: the op trace of the same run (``model.trace(...)``); gives output shapes for sharded placements and
    the entries that per-op records extend.  per_op: capture every op separately and keep a record per op in
    ``records`` (see the module docstring).  fallback: fall back to DRAM interleaved where the plan is refused.
    The constructor imports ttnn through ``opcast.device``'s ``import_ttnn`` (the mock environment unless
    ``use_hardware()`` was called, as ``open_device("wormhole")`` does).
    """

    name = "ttnn"

    def __init__(self, plan: Plan | None = None, device: Any = None, *, trace: Trace | None = None,
                 per_op: bool = False, fallback: bool = True):
        self.ttnn = import_ttnn()  # on the mock path this sets the mock environment first
        self.plan = plan or Plan()
        self.device = device
        self.entries = {r.name: r for r in trace.ops} if trace is not None else {}
        self.per_op = per_op
        self.fallback = fallback
        self.current: str | None = None  # the op being issued (for error reports)
        self.issued: list[str] = []
        self.records: list[OpRecord] = []

    # -- placement ---------------------------------------------------------------------------------------
    def _config(self, name: str, op: str, memory_config=None, dtype=None, program_config=None,
                compute_kernel_config=None) -> dict:
        return self.plan.resolve(name, op, memory_config, dtype=dtype, program_config=program_config,
                                 compute_kernel_config=compute_kernel_config)

    def _memory_config(self, cfg: dict, name: str):
        memory = cfg["memory"]
        if not isinstance(memory, str):
            return memory  # already a ttnn.MemoryConfig
        if memory not in vocabulary.SHARDED:
            return memory_config(memory, ())
        entry = self.entries.get(name)
        if entry is None:
            raise ValueError(f"{name}: a sharded output ({memory}) needs the op's output shape: pass trace= "
                             "(capture_model does)")
        shape, layout = entry.output.shape, cfg.get("layout") or entry.output.layout
        if cfg.get("grid") is None and cfg.get("core_count") is None:
            cfg.update(auto_shard(memory, shape, layout=layout))
        return memory_config(memory, shape, grid=cfg.get("grid"), core_count=cfg.get("core_count"),
                             layout=layout)

    def _program_config(self, pc):
        if not isinstance(pc, dict):
            return pc  # a ttnn program config object
        ttnn = self.ttnn
        kwargs = dict(pc)
        kind = kwargs.pop("type", None)
        if kind is None or not kind.endswith("ProgramConfig") or not hasattr(ttnn, kind):
            raise ValueError(f"program_config needs \"type\": a ttnn matmul program config class, got {kind!r}")
        for key, value in list(kwargs.items()):
            if key.endswith("grid_size") and isinstance(value, (list, tuple, dict)):
                x, y = (value["x"], value["y"]) if isinstance(value, dict) else value
                kwargs[key] = ttnn.CoreCoord(int(x), int(y))
        return getattr(ttnn, kind)(**kwargs)

    def _compute_kernel_config(self, cfg: dict):
        ckc, fidelity = cfg.get("compute_kernel_config"), cfg.get("math_fidelity")
        if ckc is None and fidelity is None:
            return None
        if ckc is not None and not isinstance(ckc, dict):
            return ckc  # a ttnn compute kernel config object
        kwargs = dict(ckc or {})
        fidelity = kwargs.pop("math_fidelity", fidelity)
        if fidelity is not None:
            kwargs["math_fidelity"] = ttnn_math_fidelity(fidelity)
        return self.ttnn.WormholeComputeKernelConfig(**kwargs)

    def _kwargs(self, cfg: dict, accepts: Sequence[str]) -> dict:
        """The keyword arguments besides memory_config the plan gives the op (only those the op takes)."""
        out = {}
        if "dtype" in accepts:
            out["dtype"] = ttnn_dtype(cfg["dtype"])
        if "program_config" in accepts and cfg.get("program_config") is not None:
            out["program_config"] = self._program_config(cfg["program_config"])
        if "compute_kernel_config" in accepts:
            ckc = self._compute_kernel_config(cfg)
            if ckc is not None:
                out["compute_kernel_config"] = ckc
        return out

    # -- issuing -----------------------------------------------------------------------------------------
    def _issue(self, name: str, op: str, inputs: list, call: Callable[[list, Any, dict], Any], cfg: dict,
               accepts: Sequence[str] = ()):
        """Issue one op: ``call(inputs, memory_config, kwargs)`` is the ttnn call on the tensors ``inputs``."""
        self.current = name
        if self.per_op:
            out = self._issue_captured(name, op, inputs, call, cfg, accepts)
        else:
            out = call(inputs, self._memory_config(cfg, name), self._kwargs(cfg, accepts))
        self.issued.append(name)
        return out

    def _attempt(self, name: str, inputs: list, call, cfg: dict, accepts) -> _Attempt:
        cfg = dict(cfg)
        attempt = _Attempt(placement=_placement(cfg))
        try:
            attempt.memory_config = self._memory_config(cfg, name)
            attempt.kwargs = self._kwargs(cfg, accepts)
        except REJECTIONS as exc:
            attempt.placement = _placement(cfg)
            attempt.error = f"plan entry rejected: {clean_error(exc)}"
            return attempt
        attempt.placement = _placement(cfg)  # with the shard placement picked for it, if any
        attempt.capture = capture_on(self.device, call, (inputs, attempt.memory_config, attempt.kwargs))
        attempt.error = attempt.capture.error
        return attempt

    def _dispatch(self, attempt: _Attempt, inputs: list, call) -> None:
        """Run the op for real (outside any capture): the output the next op takes."""
        try:
            attempt.output = call(inputs, attempt.memory_config, attempt.kwargs)
        except REJECTIONS as exc:
            attempt.error = f"dispatch failed: {clean_error(exc)}"

    def _issue_captured(self, name: str, op: str, inputs: list, call, cfg: dict, accepts):
        dram = {k: v for k, v in cfg.items() if k not in ("grid", "core_count", "program_config")}
        dram["memory"] = vocabulary.DRAM_INTERLEAVED
        candidates = [(cfg, False)]
        if self.fallback:
            if _placement(dram) != _placement(cfg):
                candidates.append((dram, False))
            candidates.append((dram, True))
        attempts: list[_Attempt] = []
        chosen = None
        for candidate, move_inputs in candidates:
            if move_inputs:
                if not any(_in_l1(t) for t in inputs):
                    continue
                inputs = self._inputs_to_dram(name, inputs)
            attempt = self._attempt(name, inputs, call, candidate, accepts)
            attempt.inputs_moved = move_inputs
            attempts.append(attempt)
            if attempt.ok and attempt.fits:
                self._dispatch(attempt, inputs, call)
                if attempt.output is not None:
                    chosen = attempt
                    break
        if chosen is None:  # nothing fits: run the last one ttnn accepted anyway, else a placeholder output
            last = attempts[-1]
            if last.ok:
                self._dispatch(last, inputs, call)
            chosen = last
            if chosen.output is None:
                chosen.output = self._placeholder(name)
        self.records.append(self._record(name, op, inputs, attempts, chosen))
        return chosen.output

    def _placeholder(self, name: str):
        entry = self.entries.get(name)
        if entry is None:
            raise RuntimeError(f"{name}: ttnn refused the op every way and there is no trace entry to stand in")
        out = entry.output
        return empty(out.shape, out.dtype, out.layout, vocabulary.DRAM_INTERLEAVED, device=self.device)

    def _inputs_to_dram(self, name: str, inputs: list) -> list:
        """Move the op's L1 inputs to DRAM (ttnn.to_memory_config), each recorded as an inserted op."""
        moved = []
        for i, tensor in enumerate(inputs):
            if not _in_l1(tensor):
                moved.append(tensor)
                continue
            conv = f"{name}.input{i}.to_dram"
            placed = short_form(tensor)

            def call(ts, mc, kwargs):
                return self.ttnn.to_memory_config(ts[0], mc)

            attempt = _Attempt(placement={"memory": vocabulary.DRAM_INTERLEAVED},
                               memory_config=self.ttnn.DRAM_MEMORY_CONFIG, kwargs={})
            attempt.capture = capture_on(self.device, call, ([tensor], attempt.memory_config, {}))
            attempt.error = attempt.capture.error
            if attempt.ok:
                self._dispatch(attempt, [tensor], call)
            if attempt.output is None:
                attempt.output = tensor  # could not move it: the op gets it as it was
            entry = OpRecord(conv, "ttnn.to_memory_config", [placed], placed.placed(vocabulary.DRAM_INTERLEAVED),
                             {"memory_config": vocabulary.DRAM_INTERLEAVED}, inserted=True)
            self.records.append(self._record(conv, "ttnn.to_memory_config", [tensor], [attempt], attempt, entry))
            moved.append(attempt.output)
        return moved

    def _record(self, name: str, op: str, inputs: list, attempts: list[_Attempt], chosen: _Attempt,
                entry: OpRecord | None = None) -> OpRecord:
        """The op's record: its trace record (without a trace: the op as it ran) with what the device did."""
        ran = [short_form(t) for t in inputs]
        output = short_form(chosen.output) if chosen.output is not None else None
        entry = entry or self.entries.get(name) or OpRecord(name, op, list(ran), output)
        c = chosen.capture
        first = attempts[0]
        run = DeviceRun(
            ok=chosen.ok,
            error=_cut(chosen.error),
            fits_l1=bool(c is not None and c.fits_l1),
            l1_peak_per_core=c.l1_peak_per_core if c else 0,
            l1_resident_per_core=c.l1_resident_per_core if c else 0,
            l1_total_per_core=c.l1_total_per_core if c else 0,
            l1_limit_per_core=c.l1_limit_per_core if c else 0,
            device_ops=list(c.ops) if c else [],
            program_factories=list(c.program_factories) if c else [],
            cores_used=c.cores_used if c else 0,
            planned=first.placement,
            fallback=chosen is not first,
            fallback_reason=_cut(first.reason()) if chosen is not first else None,
            inputs=ran,
            output=output,
            memory_config=json.loads(chosen.output.memory_config().to_json()) if chosen.output is not None
            else None,
            attempts=[a.summary() for a in attempts],
            seconds=sum(a.capture.seconds for a in attempts if a.capture is not None),
        )
        return dataclasses.replace(entry, device=run)

    # -- tensors in and out -------------------------------------------------------------------------------
    def from_torch(self, tensor, *, name: str, dtype=None, layout=None, memory_config=None):
        cfg = self.plan.tensor_config(name)
        if memory_config is not None and memory_config != cfg["memory"]:
            cfg = {k: v for k, v in cfg.items() if k not in ("grid", "core_count")}
        dtype, layout, memory = dtype or cfg["dtype"], layout or cfg["layout"], memory_config or cfg["memory"]
        where = {"grid": cfg.get("grid"), "core_count": cfg.get("core_count")}
        if isinstance(tensor, ShapeOnly):  # shapes only: an uninitialised tensor (data never matters here)
            return empty(tensor.shape, dtype, layout, memory, device=self.device, **where)
        if hasattr(tensor, "detach"):
            tensor = tensor.detach().cpu().float().numpy()
        array = np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))
        # numpy path, no torch import (ttnn's own torch conversion would pull torch into the 3.12 environment)
        return from_numpy(array, dtype, layout, memory, device=self.device, **where)

    def to_torch(self, x):
        return self.ttnn.to_torch(x)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x.cpu().to_numpy())

    def shape(self, x) -> tuple[int, ...]:
        return tuple(int(d) for d in x.shape)

    # -- matmul family -----------------------------------------------------------------------------------
    _MATMUL_KWARGS = ("dtype", "program_config", "compute_kernel_config")

    def linear(self, a, weight, *, bias=None, activation=None, transpose_b=False, name: str,
               memory_config=None, dtype=None, program_config=None, compute_kernel_config=None):
        cfg = self._config(name, "ttnn.linear", memory_config, dtype, program_config, compute_kernel_config)

        def call(ts, mc, kwargs):
            return self.ttnn.linear(ts[0], ts[1], bias=ts[2] if len(ts) > 2 else None, activation=activation,
                                    transpose_b=transpose_b, memory_config=mc, **kwargs)

        inputs = [a, weight] + ([bias] if bias is not None else [])
        return self._issue(name, "ttnn.linear", inputs, call, cfg, self._MATMUL_KWARGS)

    def matmul(self, a, b, *, transpose_a=False, transpose_b=False, name: str, memory_config=None, dtype=None,
               program_config=None, compute_kernel_config=None):
        cfg = self._config(name, "ttnn.matmul", memory_config, dtype, program_config, compute_kernel_config)

        def call(ts, mc, kwargs):
            return self.ttnn.matmul(ts[0], ts[1], transpose_a=transpose_a, transpose_b=transpose_b,
                                    memory_config=mc, **kwargs)

        return self._issue(name, "ttnn.matmul", [a, b], call, cfg, self._MATMUL_KWARGS)

    # -- eltwise -----------------------------------------------------------------------------------------
    def _binary(self, fn, op, a, b, name, memory_config, dtype):
        cfg = self._config(name, op, memory_config, dtype)
        tensor_b = not isinstance(b, (int, float))

        def call(ts, mc, kwargs):
            return fn(ts[0], ts[1] if tensor_b else b, memory_config=mc, **kwargs)

        return self._issue(name, op, [a, b] if tensor_b else [a], call, cfg, ("dtype",))

    def add(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.add, "ttnn.add", a, b, name, memory_config, dtype)

    def subtract(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.subtract, "ttnn.subtract", a, b, name, memory_config, dtype)

    def multiply(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.multiply, "ttnn.multiply", a, b, name, memory_config, dtype)

    def divide(self, a, b, *, name: str, memory_config=None, dtype=None):
        return self._binary(self.ttnn.divide, "ttnn.divide", a, b, name, memory_config, dtype)

    def _unary(self, fn, op, x, name, memory_config, extra_tensors: Sequence[str] = (), **kwargs):
        """A one-input op; ``extra_tensors`` names keyword arguments that are tensors (layer_norm's weight)."""
        cfg = self._config(name, op, memory_config)
        tensor_kwargs = {k: kwargs.pop(k) for k in extra_tensors if kwargs.get(k) is not None}

        def call(ts, mc, plan_kwargs):
            return fn(ts[0], memory_config=mc, **dict(zip(tensor_kwargs, ts[1:])), **kwargs, **plan_kwargs)

        return self._issue(name, op, [x, *tensor_kwargs.values()], call, cfg)

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
        return self._unary(self.ttnn.layer_norm, "ttnn.layer_norm", x, name, memory_config, ("weight", "bias"),
                           weight=weight, bias=bias, epsilon=epsilon, **kwargs)

    def softmax(self, x, dim: int = -1, *, name: str, memory_config=None, compute_kernel_config=None):
        cfg = self._config(name, "ttnn.softmax", memory_config)

        def call(ts, mc, kwargs):
            return self.ttnn.softmax(ts[0], dim, memory_config=mc)

        return self._issue(name, "ttnn.softmax", [x], call, cfg)

    # -- reductions --------------------------------------------------------------------------------------
    def _reduce(self, fn, op, x, dim, keepdim, name, memory_config):
        cfg = self._config(name, op, memory_config)

        def call(ts, mc, kwargs):
            return fn(ts[0], dim, keepdim, memory_config=mc)

        return self._issue(name, op, [x], call, cfg)

    def mean(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        return self._reduce(self.ttnn.mean, "ttnn.mean", x, dim, keepdim, name, memory_config)

    def max(self, x, dim: int, keepdim: bool = False, *, name: str, memory_config=None):
        return self._reduce(self.ttnn.max, "ttnn.max", x, dim, keepdim, name, memory_config)

    # -- data movement -----------------------------------------------------------------------------------
    def transpose(self, x, dim0: int, dim1: int, *, name: str, memory_config=None):
        cfg = self._config(name, "ttnn.transpose", memory_config)

        def call(ts, mc, kwargs):
            return self.ttnn.transpose(ts[0], dim0, dim1, memory_config=mc)

        return self._issue(name, "ttnn.transpose", [x], call, cfg)

    def permute(self, x, dims: Sequence[int], *, name: str, memory_config=None):
        cfg = self._config(name, "ttnn.permute", memory_config)

        def call(ts, mc, kwargs):
            return self.ttnn.permute(ts[0], list(dims), memory_config=mc)

        return self._issue(name, "ttnn.permute", [x], call, cfg)

    def reshape(self, x, shape: Sequence[int], *, name: str, memory_config=None):
        cfg = self._config(name, "ttnn.reshape", memory_config)

        def call(ts, mc, kwargs):
            return self.ttnn.reshape(ts[0], [int(d) for d in shape], memory_config=mc)

        return self._issue(name, "ttnn.reshape", [x], call, cfg)

    def concat(self, tensors, dim: int = 0, *, name: str, memory_config=None):
        cfg = self._config(name, "ttnn.concat", memory_config)

        def call(ts, mc, kwargs):
            return self.ttnn.concat(list(ts), dim, memory_config=mc)

        return self._issue(name, "ttnn.concat", list(tensors), call, cfg)

    def slice(self, x, starts, ends, steps=None, *, name: str, memory_config=None):
        cfg = self._config(name, "ttnn.slice", memory_config)
        steps = list(steps or [1] * len(starts))

        def call(ts, mc, kwargs):
            return self.ttnn.slice(ts[0], list(starts), list(ends), steps, memory_config=mc)

        return self._issue(name, "ttnn.slice", [x], call, cfg)


# ---------------------------------------------------------------------------------------------------------
# A whole model, op by op
# ---------------------------------------------------------------------------------------------------------


def capture_model(model, batch: int, *, device: Any, channels: int | None = None, plan: Plan | None = None,
                  fallback: bool = True, device_kind: str = "mock") -> Trace:
    """Run ``model`` (an OpModel) at ``batch`` on ``device``, every op captured separately (see the module doc).

    Returns the op trace of the run: the TraceBackend's records, in issue order, each with a
    :class:`opcast.plans.DeviceRun` (ok / error, L1 per core, fits_l1, device ops, planned and used placement,
    fallback and its reason, attempts), plus any inserted ``to_memory_config`` records; ``meta["device"]`` sums
    it up.  A model built
    from shapes only gets random weights of the right shapes (the device computes nothing that matters here).
    """
    plan = plan or default_plan(model.kind)
    channels = channels or model.spec.num_input_channels
    trace = model.trace(batch, channels=channels, plan=plan)
    be = TtnnBackend(plan, device, trace=trace, per_op=True, fallback=fallback)
    start = time.perf_counter()
    if any(isinstance(v, ShapeOnly) for v in model.params.values()):
        # shapes only: uninitialised device tensors of the weights' shapes (the data never matters here)
        P = {name: be.from_torch(value, name=name) for name, value in model.params.items()}
    else:
        P = model.bind(be)
    x = be.from_torch(ShapeOnly((batch, model.spec.context_length, channels)), name="past_values")
    out = model.forward(be, P, x)
    output = short_form(out[0] if isinstance(out, (list, tuple)) else out)
    del out, x, P
    model._bound = None  # release the device weights
    seconds = time.perf_counter() - start
    records = be.records
    meta = dict(trace.meta)
    meta["device"] = summarize(records, device_kind=device_kind, device=device, seconds=seconds,
                               output=output.to_dict())
    return Trace(ops=records, tensors=trace.tensors, meta=meta)


def summarize(records: list[OpRecord], *, device_kind: str = "mock", device: Any = None,
              seconds: float | None = None, output: dict | None = None) -> dict:
    """What a per-op run amounts to: op counts, failures, fallbacks, inserted moves, the L1 maxima."""
    ran = [r for r in records if r.device is not None]
    peak = max(ran, key=lambda r: r.device.l1_peak_per_core, default=None)
    total = max(ran, key=lambda r: r.device.l1_total_per_core, default=None)
    out = {
        "kind": device_kind,
        "ops": len(ran),
        "ok": sum(r.device.ok for r in ran),
        "failed": [r.name for r in ran if not r.device.ok],
        "not_fitting_l1": [r.name for r in ran if not r.device.fits_l1],
        "fallbacks": [{"name": r.name, "planned": r.device.planned,
                       "used": r.device.output.to_dict() if r.device.output is not None else None,
                       "reason": r.device.fallback_reason} for r in ran if r.device.fallback],
        "inserted": [r.name for r in ran if r.inserted],
        "max_l1_peak_per_core": {"bytes": peak.device.l1_peak_per_core, "op": peak.name} if peak else None,
        "max_l1_total_per_core": {"bytes": total.device.l1_total_per_core, "op": total.name} if total else None,
        "l1_limit_per_core": ran[0].device.l1_limit_per_core if ran else None,
        "device_ops": sum(len(r.device.device_ops) for r in ran),
    }
    if device is not None:
        out["info"] = device_info(device)
    if seconds is not None:
        out["seconds"] = round(seconds, 3)
    if output is not None:
        out["output"] = output
    return out


def format_summary(result: Trace) -> str:
    """Lines for a terminal: totals, L1 maxima and every fallback with its reason."""
    d = result.meta["device"]
    kib = 1024.0
    lines = [f"device {d['kind']}: {d['ok']}/{d['ops']} ops accepted ({d['device_ops']} device ops), "
             f"{len(d['fallbacks'])} fallbacks, {len(d['inserted'])} inserted moves"
             + (f", {d['seconds']:.1f} s" if "seconds" in d else "")]
    if d["max_l1_peak_per_core"]:
        lines.append(f"  L1 per core: op peak max {d['max_l1_peak_per_core']['bytes'] / kib:.1f} KiB "
                     f"({d['max_l1_peak_per_core']['op']}), with live tensors max "
                     f"{d['max_l1_total_per_core']['bytes'] / kib:.1f} KiB ({d['max_l1_total_per_core']['op']}), "
                     f"bank {d['l1_limit_per_core'] / kib:.1f} KiB")
    for f in d["fallbacks"]:
        reason = (f["reason"] or "").splitlines()
        lines.append(f"  fallback {f['name']}: {_short_placement(f['planned'])} -> "
                     f"{f['used']['memory'] if f['used'] else '?'}: {' '.join(r.strip() for r in reason)[:300]}")
    for name in d["failed"]:
        lines.append(f"  FAILED {name}")
    return "\n".join(lines)


def _short_placement(p: dict) -> str:
    s = format_memory(p) if p.get("memory") else "?"
    if p.get("program_config") is not None:
        s += " + program_config"
    return s
