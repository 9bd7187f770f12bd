"""Tensors on a ttnn device, in the vocabulary's words: ttnn's dtypes, layouts and memory configs from
the query's names, device tensors made from them, and a device tensor described back as a query's
short-form tensor or as ttnn's TensorSpec JSON.

ttnn 0.81.1 enum values (``int(member.value)``; the C++ JSON serializers write these integers)
---------------------------------------------------------------------------------------------
DataType:           BFLOAT16=0 FLOAT32=1 UINT32=2 BFLOAT8_B=3 BFLOAT4_B=4 UINT8=5 UINT16=6
                    INT32=7 FP8_E4M3=8 INT8=9 INVALID=10
BufferType:         DRAM=0 L1=1 L1_SMALL=3 TRACE=4              (2 is unused here)
TensorMemoryLayout: INTERLEAVED=0 HEIGHT_SHARDED=2 WIDTH_SHARDED=3 BLOCK_SHARDED=4 ND_SHARDED=5
Layout:             ROW_MAJOR=0 TILE=1 INVALID=2
MathFidelity:       LoFi=0 HiFi2=2 HiFi3=3 HiFi4=4 Invalid=255
ShardOrientation:   ROW_MAJOR=0 COL_MAJOR=1
(``ENUMS`` below holds them; ``live_enum_values()`` reads them back from ttnn.)

TensorSpec and JSON
-------------------
A device tensor as ttnn's TensorSpec JSON is :func:`opcast.ttnn_json.tensor_spec_json` (re-exported
here), which needs ttnn's objects but no device: queries are made from ttnn objects there.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .. import vocabulary
from ..ttnn_json import tensor_spec_json  # noqa: F401  (opcast.device's name for it)
from .environment import import_ttnn
from .session import COMPUTE_GRID, compute_grid, current_device

ENUMS: dict[str, dict[str, int]] = {
    "DataType": {"BFLOAT16": 0, "FLOAT32": 1, "UINT32": 2, "BFLOAT8_B": 3, "BFLOAT4_B": 4, "UINT8": 5,
                 "UINT16": 6, "INT32": 7, "FP8_E4M3": 8, "INT8": 9, "INVALID": 10},
    "BufferType": {"DRAM": 0, "L1": 1, "L1_SMALL": 3, "TRACE": 4},
    "TensorMemoryLayout": {"INTERLEAVED": 0, "HEIGHT_SHARDED": 2, "WIDTH_SHARDED": 3, "BLOCK_SHARDED": 4,
                           "ND_SHARDED": 5},
    "Layout": {"ROW_MAJOR": 0, "TILE": 1, "INVALID": 2},
    "MathFidelity": {"LoFi": 0, "HiFi2": 2, "HiFi3": 3, "HiFi4": 4, "Invalid": 255},
    "ShardOrientation": {"ROW_MAJOR": 0, "COL_MAJOR": 1},
}


def live_enum_values() -> dict[str, dict[str, int]]:
    """The enum values as ttnn reports them (compare with ENUMS)."""
    ttnn = import_ttnn()
    return {name: {k: int(v.value) for k, v in getattr(ttnn, name).__members__.items()} for name in ENUMS}


# --------------------------------------------------------------------------- the vocabulary's words in ttnn
# ttnn's member names are the vocabulary's words (upper-cased for dtypes): the vocabulary canonicalises
# any spelling, ttnn's objects pass through.

def ttnn_dtype(name: Any):
    """A dtype name in any spelling the vocabulary reads -> ttnn.DataType."""
    ttnn = import_ttnn()
    if isinstance(name, ttnn.DataType):
        return name
    return getattr(ttnn.DataType, vocabulary.dtype(name).upper())


def ttnn_layout(name: Any):
    """TILE / ROW_MAJOR in any spelling the vocabulary reads -> ttnn.Layout."""
    ttnn = import_ttnn()
    if isinstance(name, ttnn.Layout):
        return name
    return getattr(ttnn.Layout, vocabulary.layout(name))


def ttnn_math_fidelity(name: Any):
    """LoFi / HiFi2 / HiFi3 / HiFi4 in any spelling the vocabulary reads -> ttnn.MathFidelity."""
    ttnn = import_ttnn()
    if isinstance(name, ttnn.MathFidelity):
        return name
    return getattr(ttnn.MathFidelity, vocabulary.math_fidelity(name))


def memory_config(memory: Any, shape: Sequence[int], grid: Sequence[int] | None = None,
                  core_count: int | None = None, *, col_major: bool = False, layout: Any = vocabulary.TILE):
    """A placement in the vocabulary's words -> ttnn.MemoryConfig (a ttnn.MemoryConfig passes through).

    shape: the tensor's logical shape, seen as [prod(shape[:-1]), shape[-1]]. A TILE tensor is sharded
    as ttnn lays it out, padded: every dim but the last folded into rows of whole tiles (the second
    last padded to 32 first), the last padded to 32, each shard whole tiles, the last shard along a
    dim possibly short ([1, 7, 8, 64] height-sharded on 4 cores: 7 tile rows, shards of 2). A
    ROW_MAJOR tensor is sharded by its logical shape, as ttnn.create_sharded_memory_config does, the
    sharded dim dividing evenly. grid: [x, y] cores; core_count: number of cores. Interleaved memory
    ignores both. Sharded memory needs at least one:
      - grid alone, or grid with core_count == x*y: the rectangle (0,0)..(x-1,y-1);
      - height/width sharding with core_count: the first core_count cores, row by row, of grid
        (default: the device's compute grid), via ttnn.num_cores_to_corerangeset;
      - block sharding with core_count and no grid: the squarest x*y == core_count rectangle within
        the compute grid whose shards divide the (tile) shape (the squarest one if none does).
    The shard shape is [rows / cores, width] (height), [rows, width / cores] (width) or
    [rows / y, width / x] (block, row-major orientation; col_major=True for column-major).
    """
    ttnn = import_ttnn()
    if isinstance(memory, ttnn.MemoryConfig):
        return memory
    name = vocabulary.memory(memory)
    if name == vocabulary.DRAM_INTERLEAVED:
        return ttnn.DRAM_MEMORY_CONFIG
    if name == vocabulary.L1_INTERLEAVED:
        return ttnn.L1_MEMORY_CONFIG
    layouts = {vocabulary.L1_HEIGHT_SHARDED: ttnn.TensorMemoryLayout.HEIGHT_SHARDED,
               vocabulary.L1_WIDTH_SHARDED: ttnn.TensorMemoryLayout.WIDTH_SHARDED,
               vocabulary.L1_BLOCK_SHARDED: ttnn.TensorMemoryLayout.BLOCK_SHARDED}
    if name not in layouts:
        raise ValueError(f"{name}: the device layer places DRAM_INTERLEAVED, L1_INTERLEAVED and "
                         f"{', '.join(layouts)}")
    orient = ttnn.ShardOrientation.COL_MAJOR if col_major else ttnn.ShardOrientation.ROW_MAJOR
    if grid is None and core_count is None:
        raise ValueError(f"{name} needs grid=[x, y] and/or core_count")
    tiled = vocabulary.layout(layout) == vocabulary.TILE
    rows, width = sharded_extent([int(s) for s in shape], tiled)
    # The unit a shard is cut in: a tile side for TILE (a shard is whole tiles), one row or column else.
    unit = vocabulary.TILE_SIDE if tiled else 1
    bound = compute_grid()
    if grid is not None:
        gx, gy = (int(g) for g in grid)
        if core_count is not None and int(core_count) != gx * gy:
            if name == vocabulary.L1_BLOCK_SHARDED:
                raise ValueError(f"{name} needs core_count == x*y of grid {list(grid)}, got {int(core_count)}")
            bound = (gx, gy)
            grid = None
    if name == vocabulary.L1_BLOCK_SHARDED:
        if grid is None:
            gx, gy = _block_grid(int(core_count), rows // unit, width // unit, bound, col_major)
        across_rows, across_width = (gx, gy) if col_major else (gy, gx)
        shard = [_cut(rows, across_rows, unit), _cut(width, across_width, unit)]
        cores = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(gx - 1, gy - 1))})
        return ttnn.MemoryConfig(layouts[name], ttnn.BufferType.L1, ttnn.ShardSpec(cores, shard, orient))
    if grid is not None:
        n = gx * gy
        cores = ttnn.CoreRangeSet({ttnn.CoreRange(ttnn.CoreCoord(0, 0), ttnn.CoreCoord(gx - 1, gy - 1))})
    else:
        n = int(core_count)
        if n < 1 or n > bound[0] * bound[1]:
            raise ValueError(f"core_count {n} does not fit the {bound[0]}x{bound[1]} grid")
        cores = ttnn.num_cores_to_corerangeset(n, ttnn.CoreCoord(bound[0], bound[1]), True)
    split = rows if name == vocabulary.L1_HEIGHT_SHARDED else width
    if not tiled and split % n:
        raise RuntimeError(f"Invalid sharding core_grid: {split} does not split evenly over {n} cores")
    shard = [_cut(rows, n, unit), width] if name == vocabulary.L1_HEIGHT_SHARDED else [rows, _cut(width, n, unit)]
    return ttnn.MemoryConfig(layouts[name], ttnn.BufferType.L1, ttnn.ShardSpec(cores, shard, orient))


def sharded_extent(shape: Sequence[int], tiled: bool) -> tuple[int, int]:
    """(rows, width) a shard grid cuts: the logical ones, or a TILE tensor's padded to whole tiles."""
    shape = [int(d) for d in shape] or [1]
    if not tiled:
        return math.prod(shape[:-1]), shape[-1]
    side = vocabulary.TILE_SIDE
    second_last = shape[-2] if len(shape) > 1 else 1
    return math.prod(shape[:-2]) * -(-second_last // side) * side, -(-shape[-1] // side) * side


def _cut(extent: int, parts: int, unit: int) -> int:
    """One part's share of ``extent`` cut into ``parts`` shards of whole ``unit``s (the last may be short)."""
    return -(-(extent // unit) // parts) * unit


def _block_grid(n: int, rows: int, width: int, bound: tuple[int, int], col_major: bool) -> tuple[int, int]:
    options = [(x, n // x) for x in range(1, bound[0] + 1) if n % x == 0 and n // x <= bound[1]]
    if not options:
        raise ValueError(f"no x*y == {n} rectangle fits the {bound[0]}x{bound[1]} grid")
    options.sort(key=lambda g: (abs(g[0] - g[1]), -g[0]))
    for gx, gy in options:
        across_rows, across_width = (gx, gy) if col_major else (gy, gx)
        if rows % across_rows == 0 and width % across_width == 0:
            return gx, gy
    return options[0]


def auto_shard(memory: str, shape: Sequence[int], grid_size: tuple[int, int] = COMPUTE_GRID,
               layout: Any = vocabulary.TILE) -> dict[str, Any]:
    """Shard placement when a plan gives none: the most cores that split the tensor's tiles evenly
    (a ROW_MAJOR tensor's rows or columns too: it is sharded by its logical shape, ``memory_config``).

    Height: cores dividing the tile rows; width: cores dividing the tile columns; block: a grid
    (columns x rows) of the largest divisors of the tile columns and rows that fit the compute grid.
    """
    shape = [int(d) for d in shape] or [1]
    tiled = vocabulary.layout(layout) == vocabulary.TILE
    # A TILE tensor is cut in whole tiles; a ROW_MAJOR one must split its rows or columns evenly too.
    rows, width = (None, None) if tiled else (math.prod(shape[:-1]), shape[-1])
    padded_rows, padded_width = sharded_extent(shape, True)
    tile_rows, tile_cols = padded_rows // vocabulary.TILE_SIDE, padded_width // vocabulary.TILE_SIDE
    cores = grid_size[0] * grid_size[1]

    def largest(n_tiles: int, n_logical: int | None, bound: int) -> int:
        return max(d for d in range(1, bound + 1)
                   if n_tiles % d == 0 and (n_logical is None or n_logical % d == 0))

    if memory == vocabulary.L1_HEIGHT_SHARDED:
        return {"core_count": largest(tile_rows, rows, cores)}
    if memory == vocabulary.L1_WIDTH_SHARDED:
        return {"core_count": largest(tile_cols, width, cores)}
    if memory == vocabulary.L1_BLOCK_SHARDED:
        return {"grid": [largest(tile_cols, width, grid_size[0]), largest(tile_rows, rows, grid_size[1])]}
    raise ValueError(f"{memory}: auto_shard places {vocabulary.L1_HEIGHT_SHARDED}, {vocabulary.L1_WIDTH_SHARDED} "
                     f"or {vocabulary.L1_BLOCK_SHARDED}")


# --------------------------------------------------------------------------- device tensors

def _numpy_for(array: Any, dt: Any):
    import numpy as np

    ttnn = import_ttnn()
    target = {ttnn.DataType.UINT16: np.uint16, ttnn.DataType.UINT32: np.uint32, ttnn.DataType.INT32: np.int32,
              ttnn.DataType.UINT8: np.uint8, ttnn.DataType.INT8: np.int8}.get(dt, np.float32)
    return np.ascontiguousarray(np.asarray(array), dtype=target)


def from_numpy(array: Any, dtype: Any = vocabulary.BFLOAT16, layout: Any = vocabulary.TILE,
               memory: Any = vocabulary.DRAM_INTERLEAVED, grid: Sequence[int] | None = None,
               core_count: int | None = None, device: Any = None):
    """A device tensor holding `array`, with the given dtype, layout and memory (a name or a MemoryConfig).

    Built on host by ttnn (which tilizes and packs bfloat8_b/bfloat4_b), then moved with
    ttnn.to_device(memory_config=...): that path works for every dtype and memory layout, where
    creating a sharded tensor directly from a numpy array fails for non-float32 dtypes in 0.81.1.
    The mock device stores nothing: reading the tensor back gives zeros.
    """
    ttnn = import_ttnn()
    dt, lay = ttnn_dtype(dtype), ttnn_layout(layout)
    device = device if device is not None else current_device()
    host_data = _numpy_for(array, dt)
    mc = memory_config(memory, host_data.shape, grid=grid, core_count=core_count, layout=layout)
    host = ttnn.Tensor(tensor=host_data, data_type=dt, layout=lay)
    return ttnn.to_device(host, device, memory_config=mc)


def empty(shape: Sequence[int], dtype: Any = vocabulary.BFLOAT16, layout: Any = vocabulary.TILE,
          memory: Any = vocabulary.DRAM_INTERLEAVED, grid: Sequence[int] | None = None,
          core_count: int | None = None, device: Any = None):
    """An uninitialised device tensor (ttnn.empty): the cheap way to make inputs, since data never matters."""
    ttnn = import_ttnn()
    dt, lay = ttnn_dtype(dtype), ttnn_layout(layout)
    device = device if device is not None else current_device()
    mc = memory_config(memory, shape, grid=grid, core_count=core_count, layout=layout)
    return ttnn.empty([int(s) for s in shape], dt, lay, device, mc)


# --------------------------------------------------------------------------- a device tensor described

def short_form(tensor: Any) -> vocabulary.Tensor:
    """A device tensor as a query's short-form tensor: what an op actually consumed or produced.

    A shard grid is stated where the cores form the rectangle from core (0, 0); the core count always.
    """
    mc = tensor.memory_config()
    grid = core_count = None
    if mc.is_sharded() and mc.shard_spec is not None:
        cores = mc.shard_spec.grid
        core_count = int(cores.num_cores())
        box = cores.bounding_box()
        width, height = box.end.x - box.start.x + 1, box.end.y - box.start.y + 1
        if width * height == core_count and (box.start.x, box.start.y) == (0, 0):
            grid = (int(width), int(height))
    return vocabulary.Tensor(tuple(int(d) for d in tensor.shape), vocabulary.dtype(tensor.dtype.name),
                             vocabulary.layout(tensor.layout.name),
                             vocabulary.memory_of(mc.buffer_type, mc.memory_layout), grid, core_count)
