"""A sweep vector: what it asks for, its id, whether it can run at all, and which backends run it.

A vector is a dict of plain values (tt-metal's runner serializes them as they are). Its ``case`` says
what the op is given, in one of two forms:

* a template, ``{"shapes": [[...], ...], "attributes": {...}}``: the tensors' shapes and the op's own
  attributes as a model issued them, placed by the vector's axes: ``dtype``, ``layout`` (of the
  activations), ``input_memory`` and ``output_memory`` (``{"memory": ..., "grid": [x, y] | "core_count":
  n}``; a sharded memory without either gets the most cores that split the tensor's tiles evenly,
  ``opcast.device.auto_shard``; an ``output_memory`` of None is the input's memory layout) and
  ``math_fidelity`` (None: the op's default). A matmul's and a normalization's weights sit in DRAM
  interleaved, in TILE layout, as the ports place them; a binary op's second operand shares the
  first's placement when it has its shape, else lies interleaved in the same memory;
* exact, ``{"inputs": [short-form tensors], "output": {...}, "attributes": {...}}``: a query without its
  op, every tensor placed (the model traces' own configurations, and the legality oracle's questions);
  such a vector has no axes.

:func:`resolve` turns a vector into the op's trace record (every tensor placed, the output's shape
derived by the op): the query that the vector's measurements answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from .. import vocabulary
from ..plans import OpRecord
from ..vocabulary import Tensor
from . import calls, ops

AXES = ("dtype", "layout", "input_memory", "output_memory", "math_fidelity")
# Keys tt-metal's sweep framework adds to a stored vector; a module's run() ignores them.
TT_METAL_KEYS = ("suite_name", "sweep_name", "validity", "invalid_reason", "status", "timestamp", "input_hash",
                 "tag", "traced_source", "traced_machine_info", "config_hash")
MAX_GRID = 8  # the Wormhole n150's 8x8 Tensix compute grid
MAX_VECTORS_PER_SUITE = 10_000  # tt-metal's limit


def permutations(suite: Mapping[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """Every combination of a suite's parameter values, as tt-metal's generator makes them (the last
    parameter varies fastest)."""
    names = list(suite)
    for values in itertools.product(*(suite[n] for n in names)):
        yield dict(zip(names, values))


def vector_id(sweep_name: str, suite_name: str, vector: Mapping[str, Any]) -> str:
    """The sha224 of the vector with its sweep and suite, as canonical JSON (tt-metal hashes its
    serialized vector, sweep and suite names included, the same way)."""
    text = vocabulary.canonical_json({**vector, "sweep_name": sweep_name, "suite_name": suite_name})
    return hashlib.sha224(text.encode("utf-8")).hexdigest()


def parameters_of(vector: Mapping[str, Any]) -> dict[str, Any]:
    """The vector without tt-metal's bookkeeping keys; ValueError for any key a vector cannot have."""
    params = {k: v for k, v in vector.items() if k not in TT_METAL_KEYS}
    unknown = sorted(set(params) - {"case", *AXES})
    if unknown:
        raise ValueError(f"unknown vector parameters {unknown}; a vector has case and {', '.join(AXES)}")
    if "case" not in params:
        raise ValueError("a vector needs a case (shapes and attributes, or exact inputs and output)")
    return params


# ------------------------------------------------------------------------------------------------ resolving

def resolve(op: str, vector: Mapping[str, Any]) -> OpRecord:
    """The op's trace record for the vector: every input placed, the output with its shape.
    ValueError (or :class:`opcast.QueryError`) names what in the vector is wrong."""
    params = parameters_of(vector)
    case = params["case"]
    if "inputs" in case:
        axes = [a for a in AXES if params.get(a) is not None]
        if axes:
            raise ValueError(f"an exact case places every tensor itself; the vector also gives {axes}")
        return _exact(op, case)
    return _from_axes(op, case, params)


def placement(value: Any) -> dict[str, Any]:
    """An axis' memory value as a placement dict: ``{"memory": ...}`` plus ``grid`` or ``core_count``."""
    if isinstance(value, str):
        value = {"memory": value}
    if not isinstance(value, Mapping) or "memory" not in value:
        raise ValueError(f"a memory placement is {{\"memory\": ..., \"grid\": [x, y]}}, got {value!r}")
    unknown = sorted(set(value) - {"memory", "grid", "core_count"})
    if unknown:
        raise ValueError(f"a memory placement has memory, grid and core_count, not {unknown}")
    out = {"memory": vocabulary.memory(value["memory"])}
    if value.get("grid") is not None:
        out["grid"] = [int(g) for g in value["grid"]]
    if value.get("core_count") is not None:
        out["core_count"] = int(value["core_count"])
    return out


def _placed(shape: tuple[int, ...], dtype: str, layout: str, where: dict[str, Any]) -> Tensor:
    from ..device.tensors import auto_shard

    where = dict(where)
    if where["memory"] in vocabulary.SHARDED and "grid" not in where and "core_count" not in where:
        where.update(auto_shard(where["memory"], shape, layout=layout))
    return Tensor(shape, dtype, layout, where["memory"], where.get("grid"), where.get("core_count"))


def _interleaved_in(memory: str) -> str:
    return vocabulary.L1_INTERLEAVED if memory in vocabulary.L1 else vocabulary.DRAM_INTERLEAVED


def _from_axes(op: str, case: Mapping[str, Any], params: Mapping[str, Any]) -> OpRecord:
    missing = [a for a in ("dtype", "layout", "input_memory") if params.get(a) is None]
    if missing:
        raise ValueError(f"a template case needs the axes {missing}")
    shapes = [tuple(int(d) for d in s) for s in case["shapes"]]
    dtype, layout = vocabulary.dtype(params["dtype"]), vocabulary.layout(params["layout"])
    first_place = placement(params["input_memory"])
    inputs = [_placed(shapes[0], dtype, layout, first_place)]
    weights_from = ops.weight_inputs_from(op)
    for i, shape in enumerate(shapes[1:], 1):
        if weights_from is not None and i >= weights_from:
            inputs.append(Tensor(shape, dtype, vocabulary.TILE, vocabulary.DRAM_INTERLEAVED))
        elif shape == shapes[0]:
            inputs.append(_placed(shape, dtype, layout, first_place))
        else:
            inputs.append(Tensor(shape, dtype, layout, _interleaved_in(inputs[0].memory)))
    out_place = first_place if params.get("output_memory") is None else placement(params["output_memory"])
    out_layout = ops.MOVE_LAYOUTS.get(op, (layout, layout))[1]
    fidelity = params.get("math_fidelity")
    fidelity = vocabulary.math_fidelity(fidelity) if fidelity is not None else ops.default_math_fidelity(op)
    return _record(op, inputs, {"dtype": dtype, "layout": out_layout, **out_place}, dict(case.get("attributes", {})),
                   fidelity)


def _exact(op: str, case: Mapping[str, Any]) -> OpRecord:
    inputs = [Tensor.from_dict(t) for t in case["inputs"]]
    attributes = dict(case.get("attributes") or {})
    fidelity = attributes.pop("math_fidelity", None)
    output = {k: v for k, v in inputs[0].to_dict().items() if k != "shape"}  # unless the case says otherwise
    given = {k: v for k, v in (case.get("output") or {}).items() if k != "shape"}
    if "memory" in given:
        output = {k: v for k, v in output.items() if k not in ("grid", "core_count")}
    output.update(given)
    return _record(op, inputs, output, attributes, vocabulary.math_fidelity(fidelity) if fidelity else None)


def _record(op: str, inputs: list[Tensor], output: dict[str, Any], attributes: dict[str, Any],
            fidelity: str | None) -> OpRecord:
    record = calls.trace_record(op, inputs, output, attributes, fidelity)
    out = record.output
    if out.sharded and out.grid is None and out.core_count is None:
        placed = _placed(out.shape, out.dtype, out.layout, {"memory": out.memory})
        record = dataclasses.replace(record, output=placed)
    return record


def query_json(record: OpRecord) -> str:
    """The record's query, validated by the C++ parser, in canonical JSON."""
    return vocabulary.query_json(record.op, record.inputs, record.output.to_dict(), record.attributes, legality=False)


def query_key(query: str | Mapping[str, Any]) -> str:
    """What two queries share when they ask the same thing (every field explicit, names canonical):
    how the store finds a query however it was written."""
    return vocabulary.canonical_json(vocabulary.normalized(query, legality=False))


# ------------------------------------------------------------------------------------------------ validity

def invalid_reason(record: OpRecord) -> str | None:
    """Why the op cannot run as the record places it, known without a device (tt-metal's
    ``invalidate_vector``), or None."""
    op = record.op
    tensors = [(f"input {i}", t) for i, t in enumerate(record.inputs)] + [("output", record.output)]
    for where, t in tensors:
        if t.dtype in vocabulary.BLOCK_FLOATS and t.layout == vocabulary.ROW_MAJOR:
            return f"{where}: {t.dtype} needs TILE layout"
        if t.layout == vocabulary.ROW_MAJOR and ops.tile_only(op):
            return f"{where}: {op} takes TILE layout only"
        if t.memory in vocabulary.DRAM_SHARDED:
            return f"{where}: {t.memory} (the device layer places DRAM-sharded tensors on no device)"
        if t.sharded:
            problem = shard_problem(t)
            if problem:
                return f"{where}: {problem}"
    return _move_problem(record) if ops.is_move(op) else None


def shard_problem(t: Tensor) -> str | None:
    """Why the device layer cannot shard ``t`` as it says (``opcast.device.memory_config``: a TILE
    tensor cut in whole tiles of its padded shape, a ROW_MAJOR one in even shares of its logical
    rows or columns), or None. More shards than tiles (or rows) would leave cores empty: no vector."""
    from ..device.tensors import sharded_extent

    tiled = t.layout == vocabulary.TILE
    rows, width = sharded_extent(t.shape, tiled)
    side = vocabulary.TILE_SIDE if tiled else 1
    if t.grid is not None and (t.grid[0] > MAX_GRID or t.grid[1] > MAX_GRID):
        return f"grid {list(t.grid)} is larger than the {MAX_GRID}x{MAX_GRID} compute grid"
    cores = t.core_count if t.core_count is not None else t.grid[0] * t.grid[1]
    if cores > MAX_GRID * MAX_GRID:
        return f"{cores} cores: the compute grid has {MAX_GRID * MAX_GRID}"
    if t.memory == vocabulary.L1_HEIGHT_SHARDED:
        splits = [("rows", rows, cores)]
    elif t.memory == vocabulary.L1_WIDTH_SHARDED:
        splits = [("columns", width, cores)]
    elif t.grid is None:
        return None  # block sharding over a core count: the device layer picks the grid
    else:
        splits = [("rows", rows, t.grid[1]), ("columns", width, t.grid[0])]
    for what, size, parts in splits:
        if parts > size // side:
            unit = "tiles" if tiled else what
            return f"grid larger than the tensor: {parts} shards for {size // side} {unit} of {what}"
        if not tiled and size % parts:
            return f"{size} {what} do not split evenly into {parts} shards"
    return None


def _move_problem(record: OpRecord) -> str | None:
    op, source, target = record.op, record.inputs[0], record.output
    takes, gives = ops.MOVE_PLACEMENTS[op]
    if source.memory not in takes:
        return f"{op} takes an input in {', '.join(takes)}, not {source.memory}"
    if None not in gives and target.memory not in gives:
        return f"{op} gives an output in {', '.join(gives)}, not {target.memory}"
    layouts = ops.MOVE_LAYOUTS.get(op)
    if layouts is not None and source.layout != layouts[0]:
        return f"{op} takes a {layouts[0]} input, not {source.layout}"
    same = (source.memory, source.grid, source.core_count, source.layout) == (
        target.memory, target.grid, target.core_count, target.layout)
    if same:
        return "the input already has the output's placement: nothing to move"
    return None


# ------------------------------------------------------------------------------------------------ backends

def host_runs(record: OpRecord, vector: Mapping[str, Any]) -> bool:
    """Whether the host backend runs this vector: torch has no placements, block floats or math
    fidelities, so it runs each op in one placement (``ops.host_placement``), bfloat16 or float32,
    its default layout and fidelity, and with no grid given."""
    op = record.op
    tensors = [*record.inputs, record.output]
    if any(t.dtype not in ops.HOST_DTYPES for t in tensors):
        return False
    source, target = ops.host_placement(op)
    first = record.inputs[0]
    if first.memory != source or record.output.memory != (target or source):
        return False
    if any(t.memory != source for t in record.inputs[1:]):
        return False
    for axis in ("input_memory", "output_memory"):
        value = vector.get(axis)
        if isinstance(value, Mapping) and (value.get("grid") is not None or value.get("core_count") is not None):
            return False
    if "inputs" in vector["case"] and any(t.sharded for t in tensors):
        return False
    if first.layout != ops.MOVE_LAYOUTS.get(op, (vocabulary.TILE,))[0]:
        return False
    return record.attributes.get("math_fidelity") == ops.default_math_fidelity(op)


BACKENDS = ("wormhole", "mock", "host")


def runs_on(backend: str, record: OpRecord, vector: Mapping[str, Any]) -> bool:
    """Whether ``backend`` runs the vector: the device backends run every vector, the host a part."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    return backend != "host" or host_runs(record, vector)
