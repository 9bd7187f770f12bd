"""The words of a query and the short-form tensor: their one home in Python.

The enumerations are the C++ parser's (``opcast._core``), so Python and C++ cannot disagree on a
name; validation is the C++ parser's too, with its field paths. Every stage that builds or reads a
query uses this module: importers, baselines, traces and plans, the device layer, sweeps, the tuner.

    >>> from opcast import vocabulary as v
    >>> t = v.Tensor((1, 1, 64, 64), v.BFLOAT16, v.TILE, v.L1_HEIGHT_SHARDED, core_count=2)
    >>> v.query_json("ttnn.exp", [t])
    '{"attributes":{},"inputs":[{"core_count":2,"dtype":"bfloat16",...'
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from . import _core

DTYPES: tuple[str, ...] = _core.DTYPES
LAYOUTS: tuple[str, ...] = _core.LAYOUTS
MEMORIES: tuple[str, ...] = _core.MEMORIES
MATH_FIDELITIES: tuple[str, ...] = _core.MATH_FIDELITIES
# The keys a query may have and the attributes an op call may carry: anything else is refused.
QUERY_KEYS: tuple[str, ...] = _core.QUERY_KEYS
ATTRIBUTE_NAMES: tuple[str, ...] = _core.ATTRIBUTE_NAMES

# The names one at a time, for code that means one of them. Unpacked from the C++ lists: a word
# added or removed there fails here, at import, not as a silently wrong string somewhere else.
BFLOAT16, BFLOAT8_B, BFLOAT4_B, FLOAT32, UINT16, UINT32, INT32 = DTYPES
TILE, ROW_MAJOR = LAYOUTS
(DRAM_INTERLEAVED, L1_INTERLEAVED, L1_HEIGHT_SHARDED, L1_WIDTH_SHARDED, L1_BLOCK_SHARDED,
 DRAM_HEIGHT_SHARDED, DRAM_WIDTH_SHARDED, DRAM_BLOCK_SHARDED) = MEMORIES
LOFI, HIFI2, HIFI3, HIFI4 = MATH_FIDELITIES

L1_SHARDED: frozenset[str] = frozenset({L1_HEIGHT_SHARDED, L1_WIDTH_SHARDED, L1_BLOCK_SHARDED})
# DRAM-sharded tensors are sharded over the 12 DRAM banks (tt-mlir's DRAM-sharded matmul weights).
DRAM_SHARDED: frozenset[str] = frozenset({DRAM_HEIGHT_SHARDED, DRAM_WIDTH_SHARDED, DRAM_BLOCK_SHARDED})
SHARDED: frozenset[str] = L1_SHARDED | DRAM_SHARDED
L1: frozenset[str] = L1_SHARDED | {L1_INTERLEAVED}
# Block-float dtypes store shared exponents per tile face: TILE layout only.
BLOCK_FLOATS: frozenset[str] = frozenset({BFLOAT8_B, BFLOAT4_B})
TILE_SIDE = 32
MAX_RANK = 8


def dtype(name: Any) -> str:
    """The short form's dtype for a name written any way ttnn or a report writes it
    (``DataType.BFLOAT16``, ``bfloat8``); :class:`opcast.QueryError` for anything else."""
    return _core.canonical_dtype(str(name).strip())


def layout(name: Any) -> str:
    return _core.canonical_layout(str(name).strip())


def memory(name: Any) -> str:
    return _core.canonical_memory(str(name).strip())


def math_fidelity(name: Any) -> str:
    return _core.canonical_math_fidelity(str(name).strip())


def memory_of(buffer_type: Any, memory_layout: Any) -> str:
    """A placement from ttnn's two words: buffer type ``L1`` + memory layout ``BLOCK_SHARDED``."""
    def word(v: Any) -> str:
        return str(v).strip().rsplit("::", 1)[-1].rsplit(".", 1)[-1].upper()
    return memory(f"{word(buffer_type)}_{word(memory_layout)}")


def tile_count(shape: Sequence[int]) -> int:
    """32x32 tiles of a shape, its last two dims padded to tile multiples (a 1-D shape is one row)."""
    dims = [int(d) for d in shape]
    if len(dims) == 1:
        dims = [1] + dims
    return math.prod(dims[:-2]) * -(-dims[-2] // TILE_SIDE) * -(-dims[-1] // TILE_SIDE)


def _sharding(memory_name: str, grid: Sequence[int] | None, core_count: int | None) -> dict[str, Any]:
    """``grid`` / ``core_count`` of a sharded placement (nothing for an interleaved one); a grid without
    a core count has the grid's area of cores."""
    if memory_name not in SHARDED:
        return {}
    out: dict[str, Any] = {}
    if grid is not None:
        out["grid"] = [int(grid[0]), int(grid[1])]
        if core_count is None:
            core_count = int(grid[0]) * int(grid[1])
    if core_count is not None:
        out["core_count"] = int(core_count)
    return out


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One tensor of a query in the short form: shape, dtype, layout and placement."""

    shape: tuple[int, ...]
    dtype: str = BFLOAT16
    layout: str = TILE
    memory: str = DRAM_INTERLEAVED
    grid: tuple[int, int] | None = None
    core_count: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.grid is not None:
            object.__setattr__(self, "grid", (int(self.grid[0]), int(self.grid[1])))
            if self.core_count is None and self.sharded:  # a shard grid of x by y cores
                object.__setattr__(self, "core_count", self.grid[0] * self.grid[1])

    @property
    def sharded(self) -> bool:
        return self.memory in SHARDED

    @property
    def tiles(self) -> int:
        return tile_count(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "layout": self.layout, "memory": self.memory,
                **_sharding(self.memory, self.grid, self.core_count)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Tensor":
        return cls(tuple(d["shape"]), d.get("dtype", BFLOAT16), d.get("layout", TILE), d.get("memory", DRAM_INTERLEAVED),
                   tuple(d["grid"]) if d.get("grid") is not None else None, d.get("core_count"))

    def placed(self, memory_name: str, grid: Sequence[int] | None = None, core_count: int | None = None) -> "Tensor":
        """The same tensor in another placement."""
        return dataclasses.replace(self, memory=memory_name, grid=None if grid is None else tuple(grid),
                                   core_count=core_count)


def output_spec(dtype_name: str | None = None, memory_name: str | None = None, *, layout_name: str | None = None,
                grid: Sequence[int] | None = None, core_count: int | None = None) -> dict[str, Any]:
    """A query's ``output``: only what differs from what the op derives (input 0's dtype and placement)."""
    out: dict[str, Any] = {}
    if dtype_name is not None:
        out["dtype"] = dtype_name
    if layout_name is not None:
        out["layout"] = layout_name
    if memory_name is not None:
        out["memory"] = memory_name
        out.update(_sharding(memory_name, grid, core_count))
    return out


def canonical_json(obj: Any) -> str:
    """The one JSON rendering of a query: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def make_query(op: str, inputs: Sequence[Tensor | Mapping[str, Any]], output: Mapping[str, Any] | None = None,
               attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A short-form query (not yet validated: :func:`validate` or :func:`query_json` do that)."""
    q: dict[str, Any] = {"op": op, "inputs": [t.to_dict() if isinstance(t, Tensor) else dict(t) for t in inputs],
                         "attributes": dict(attributes or {})}
    if output:
        q["output"] = dict(output)
    return q


def call_query(op: str, tensors: Sequence[Any], output_memory_config: Any = None,
               attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The query of a call in tt-metal's and TORP's shape, ``get_runtime_from_model(op_name,
    tensor_json..., output_memory_config)``: the op as they name it (``ttnn::exp``, ``exp``), the input
    tensors as they serialize them (TensorSpec JSON; TORP's 0-padded shapes and missing
    memory_layout read as ttnn's defaults) or in the short form, the output's MemoryConfig (None or
    {}: not stated) and the op's attributes."""
    q: dict[str, Any] = {"op": op, "inputs": list(tensors)}
    if output_memory_config is not None:
        q["output"] = output_memory_config
    if attributes:
        q["attributes"] = dict(attributes)
    return q


def validate(query: str | Mapping[str, Any], *, legality: bool = True) -> dict[str, Any]:
    """The query, parsed, after the C++ parser accepted it; :class:`opcast.QueryError` names the field
    otherwise. The one validation of a query, for every stage. ``legality=False`` skips the legality
    rules (what a Wormhole refuses): the sweeps ask ttnn itself about such queries."""
    _core.normalize_query(query, legality)
    return json.loads(query) if isinstance(query, str) else dict(query)


def query_json(op: str, inputs: Sequence[Tensor | Mapping[str, Any]], output: Mapping[str, Any] | None = None,
               attributes: Mapping[str, Any] | None = None, *, legality: bool = True) -> str:
    """The validated query in canonical JSON: how datasets, traces and sweeps store queries."""
    q = make_query(op, inputs, output, attributes)
    validate(q, legality=legality)
    return canonical_json(q)


def normalized(query: str | Mapping[str, Any], *, legality: bool = True) -> dict[str, Any]:
    """The query as the library understands it: every field explicit (the derived output included),
    names canonical, TensorSpec JSON turned into the short form."""
    return json.loads(_core.normalize_query(query, legality))
