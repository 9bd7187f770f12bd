"""How one op of a sweep is issued: through the model backends for the models' ops, by hand for the
memory moves, on the host (torch), on a ttnn device and as a trace record.

The models' ops are the model backends' methods of the same name (``TraceBackend``, ``TorchBackend``
and ``TtnnBackend`` share signatures, see :mod:`opcast.models.backend`): a sweep issues exactly what a
model issues, and the trace record of that call is the vector's query. The memory moves are no model
op; their three executions are here.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .. import vocabulary
from ..plans import OpRecord, Plan, Trace
from ..vocabulary import Tensor
from . import ops

OP_NAME = "op"  # the name of the one op a sweep's plan places

# Backend methods that take some tensors by name (the rest are positional, in the record's order).
_NAMED_TENSORS = {"ttnn.linear": ("a", "weight", "bias"), "ttnn.matmul": ("a", "b"),
                  "ttnn.layer_norm": ("x", "weight", "bias")}


def issue(backend: Any, op: str, tensors: Sequence[Any], attributes: dict[str, Any]) -> Any:
    """``op`` on ``tensors`` with a trace record's attributes, through a model backend's method.

    A binary op's scalar operand (the attribute ``scalar``) is its second argument, as in ttnn."""
    kwargs = {k: v for k, v in attributes.items() if k != "math_fidelity"}  # the plan's, not the call's
    args = list(tensors)
    if "scalar" in kwargs:
        args.append(kwargs.pop("scalar"))
    names = _NAMED_TENSORS.get(op)
    if names is not None:
        kwargs.update(zip(names, args))
        args = []
    return getattr(backend, ops.module_name(op))(*args, name=OP_NAME, **kwargs)


def input_name(i: int) -> str:
    return f"input{i}"


def plan_of(inputs: Sequence[Tensor], output: dict[str, Any], math_fidelity: str | None) -> Plan:
    """The plan that places every input and the op's output as asked (the backends read placements
    from plans)."""
    tensors = {input_name(i): {k: v for k, v in t.to_dict().items() if k != "shape"} for i, t in enumerate(inputs)}
    op_entry = dict(output)
    if math_fidelity is not None:
        op_entry["math_fidelity"] = math_fidelity
    return Plan({"name": "sweep", "inputs": list(tensors), "tensors": tensors, "ops": {OP_NAME: op_entry}})


def trace_record(op: str, inputs: Sequence[Tensor], output: dict[str, Any], attributes: dict[str, Any],
                 math_fidelity: str | None) -> OpRecord:
    """The op's trace record: its inputs, its output (shape derived by the op), its attributes."""
    if ops.is_move(op):
        source = inputs[0]
        placed = Tensor(source.shape, output.get("dtype", source.dtype), output.get("layout", source.layout),
                        output["memory"], output.get("grid"), output.get("core_count"))
        return OpRecord(OP_NAME, op, list(inputs), placed, {})
    from ..models.params import ShapeOnly
    from ..models.trace import TraceBackend

    backend = TraceBackend(plan_of(inputs, output, math_fidelity))
    symbols = [backend.from_torch(ShapeOnly(t.shape), name=input_name(i)) for i, t in enumerate(inputs)]
    issue(backend, op, symbols, attributes)
    return backend.trace.ops[0]


# --------------------------------------------------------------------------------------------- on a device

def device_call(record: OpRecord, device: Any) -> Callable[[], Any]:
    """The call that issues the op on the record's inputs, made now on a ttnn device (uninitialised:
    data never matters to timing or L1) and freed with the call; it returns the op's output."""
    from ..device.environment import import_ttnn
    from ..device.tensors import empty, memory_config

    ttnn = import_ttnn()
    inputs = [empty(t.shape, t.dtype, t.layout, t.memory, t.grid, t.core_count, device=device) for t in record.inputs]
    if ops.is_move(record.op):
        out = record.output
        config = memory_config(out.memory, out.shape, grid=out.grid, core_count=out.core_count, layout=out.layout)
        move = {"ttnn.to_memory_config": lambda x: ttnn.to_memory_config(x, config),
                "ttnn.interleaved_to_sharded": lambda x: ttnn.interleaved_to_sharded(x, config),
                "ttnn.sharded_to_interleaved": lambda x: ttnn.sharded_to_interleaved(x, config),
                "ttnn.reshard": lambda x: ttnn.reshard(x, config),
                "ttnn.tilize": lambda x: ttnn.tilize(x, memory_config=config),
                "ttnn.untilize": lambda x: ttnn.untilize(x, memory_config=config)}[record.op]
        return lambda: move(inputs[0])
    from ..models.ttnn_backend import TtnnBackend

    output = {k: v for k, v in record.output.to_dict().items() if k != "shape"}
    plan = plan_of(record.inputs, output, record.attributes.get("math_fidelity"))
    backend = TtnnBackend(plan, device, trace=Trace(ops=[record]))
    return lambda: issue(backend, record.op, inputs, record.attributes)


# --------------------------------------------------------------------------------------------- on the host

def torch_dtype(name: str):
    import torch

    return {vocabulary.BFLOAT16: torch.bfloat16, vocabulary.FLOAT32: torch.float32}[name]


def host_call(record: OpRecord, seed: int = 0) -> Callable[[], Any]:
    """The call that computes the op in torch on the CPU, on the record's inputs made now (values in
    [0.5, 1.5): sqrt and divide stay finite, so no NaN slows a kernel down), its output written out as
    ttnn writes it."""
    import torch

    from ..models.backend import TorchBackend

    generator = torch.Generator().manual_seed(seed)
    dtype = torch_dtype(record.inputs[0].dtype)
    inputs = [(torch.rand(t.shape, generator=generator) + 0.5).to(torch_dtype(t.dtype)) for t in record.inputs]
    if ops.is_move(record.op):
        move = _reorder_tiles if record.op in ops.MOVE_LAYOUTS else _copy
        return lambda: move(inputs[0])
    backend = TorchBackend(dtype=dtype)
    # torch answers permute, transpose and reshape with views; ttnn writes the tensor: so does the host
    return lambda: issue(backend, record.op, inputs, record.attributes).contiguous()


def _copy(x):
    """A move between placements is a copy on the host."""
    return x.clone()


def _reorder_tiles(x):
    """tilize on the host: x padded to whole 32x32 tiles and reordered so that every tile is
    contiguous. untilize is the inverse permutation, the same work."""
    import torch.nn.functional as F

    side = vocabulary.TILE_SIDE
    x = x.reshape(-1, x.shape[-1]) if x.dim() > 1 else x.reshape(1, -1)
    padded = F.pad(x, (0, -x.shape[-1] % side, 0, -x.shape[-2] % side))
    rows, columns = padded.shape[-2] // side, padded.shape[-1] // side
    return padded.reshape(rows, side, columns, side).transpose(1, 2).contiguous()
