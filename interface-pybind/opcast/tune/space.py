"""The search space: the output placements (and dtypes) the tuner may give each op.

An option is the op's output tensor placed one way (a :class:`opcast.vocabulary.Tensor`): DRAM or L1
interleaved, or L1 height / width / block sharded over some cores. Sharded options exist only for
tensors whose last two dims are whole tiles, split evenly: the placements ``RuleLegality``'s rules
were written from (the mock's verdicts when the device layer sharded the logical shape). The device
layer now shards a TILE tensor's padded tiles as ttnn does (``opcast.device.memory_config``), which
the mock takes for most of the models' odd shapes too (sweeps/README.md: TTM-R1 height 93.7%, block
80.6%, width 52.3%); but tuned with those options, 4 of 12 plans did not run as planned on the mock
(a mean, a broadcast subtract and a sqrt fell back, 2026-12-03): the refusals behind them (mean's
"FillPadLNSharded: num_slices > 1 not yet supported", softmax on width/block shards, linear's "output
shard grid must lie within extent") are not yet rules. ``--legality mock`` asks the mock instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from .. import vocabulary
from ..vocabulary import Tensor

# The n150's Tensix grid that tensors are sharded over (opcast.device.session.COMPUTE_GRID; repeated
# here because that module imports ttnn's environment, and the tuner runs without ttnn).
GRID = (8, 8)
INTERLEAVED = (vocabulary.DRAM_INTERLEAVED, vocabulary.L1_INTERLEAVED)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What the tuner may choose per op.

    memories: the placements considered (default: DRAM and L1 interleaved, L1 height / width / block
    sharded). shard_options: how many core counts (grids, for block) per sharded placement, the most
    cores that split the tensor's tiles evenly and then about half, a quarter, ... of that.
    dtypes: output dtypes considered; empty keeps every op's own dtype (a different dtype changes the
    numerics: opt in).
    """

    memories: tuple[str, ...] = (*INTERLEAVED, vocabulary.L1_HEIGHT_SHARDED, vocabulary.L1_WIDTH_SHARDED,
                                 vocabulary.L1_BLOCK_SHARDED)
    shard_options: int = 3
    dtypes: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "memories", tuple(vocabulary.memory(m) for m in self.memories))
        object.__setattr__(self, "dtypes", tuple(vocabulary.dtype(d) for d in self.dtypes))
        unsupported = [m for m in self.memories if m not in (*INTERLEAVED, *vocabulary.L1_SHARDED)]
        if unsupported:
            raise ValueError(f"search space memories: {unsupported} cannot be an op's output here; expected "
                             f"some of {', '.join((*INTERLEAVED, *sorted(vocabulary.L1_SHARDED)))}")
        if vocabulary.DRAM_INTERLEAVED not in self.memories:  # where ttnn falls back and tt-mlir spills
            raise ValueError(f"search space memories must include {vocabulary.DRAM_INTERLEAVED}, got {self.memories}")
        if not isinstance(self.shard_options, int) or self.shard_options < 1:
            raise ValueError(f"shard_options must be a positive integer, got {self.shard_options!r}")

    def to_dict(self) -> dict:
        return {"memories": list(self.memories), "shard_options": self.shard_options, "dtypes": list(self.dtypes)}

    def options(self, output: Tensor) -> list[Tensor]:
        """The op's output ``output`` in every placement (and dtype) this space allows for it, the
        interleaved ones first."""
        dtypes = self.dtypes or (output.dtype,)
        out = []
        for dtype in dtypes:
            if dtype in vocabulary.BLOCK_FLOATS and output.layout != vocabulary.TILE:
                continue  # block floats store shared exponents per tile face: TILE only
            tensor = dataclasses.replace(output, dtype=dtype)
            for memory in self.memories:
                if memory in INTERLEAVED:
                    out.append(tensor.placed(memory))
                else:
                    out.extend(tensor.placed(memory, grid, cores)
                               for grid, cores in shard_choices(tensor, memory, self.shard_options))
        return out


def tile_grid(tensor: Tensor) -> tuple[int, int] | None:
    """(tile rows, tile columns) of the tensor collapsed to 2D; None where that collapse is not whole
    tiles (see the module docstring)."""
    shape = tensor.shape
    if tensor.layout != vocabulary.TILE or len(shape) < 2:
        return None
    if shape[-1] % vocabulary.TILE_SIDE or shape[-2] % vocabulary.TILE_SIDE:
        return None
    return math.prod(shape[:-1]) // vocabulary.TILE_SIDE, shape[-1] // vocabulary.TILE_SIDE


def shard_tiles(tensor: Tensor) -> tuple[int, int] | None:
    """(tile rows, tile columns) of one shard of a sharded tensor; None where the search space has no
    such option (not whole tiles, the cores do not split the tensor evenly, or off the grid)."""
    tiles = tile_grid(tensor)
    cores = tensor.core_count
    if tiles is None or cores is None or cores < 1 or cores > GRID[0] * GRID[1]:
        return None
    rows, cols = tiles
    if tensor.memory == vocabulary.L1_HEIGHT_SHARDED:
        return (rows // cores, cols) if rows % cores == 0 else None
    if tensor.memory == vocabulary.L1_WIDTH_SHARDED:
        return (rows, cols // cores) if cols % cores == 0 else None
    if tensor.memory == vocabulary.L1_BLOCK_SHARDED:
        if tensor.grid is None:
            return None
        x, y = tensor.grid  # x cores across the columns, y down the rows (row-major orientation)
        if x > GRID[0] or y > GRID[1] or cols % x or rows % y:
            return None
        return rows // y, cols // x
    return None


def shard_choices(tensor: Tensor, memory: str, count: int) -> list[tuple[tuple[int, int] | None, int]]:
    """Up to ``count`` (grid, core_count) placements of ``tensor`` in ``memory``: the most cores that
    split its tiles evenly, then the most at or below half of that, and so on."""
    tiles = tile_grid(tensor)
    if tiles is None:
        return []
    rows, cols = tiles
    if memory == vocabulary.L1_BLOCK_SHARDED:
        grids = [(x, y) for x in _divisors(cols, GRID[0]) for y in _divisors(rows, GRID[1])]
        by_cores = {}
        for x, y in sorted(grids, key=lambda g: (-g[0] * g[1], abs(g[0] - g[1]))):
            by_cores.setdefault(x * y, (x, y))  # the squarest grid of each size
        return [(by_cores[n], n) for n in _spread(sorted(by_cores, reverse=True), count)]
    split = rows if memory == vocabulary.L1_HEIGHT_SHARDED else cols
    return [(None, n) for n in _spread(_divisors(split, GRID[0] * GRID[1])[::-1], count)]


def _divisors(n: int, bound: int) -> list[int]:
    return [d for d in range(1, min(n, bound) + 1) if n % d == 0]


def _spread(descending: Sequence[int], count: int) -> list[int]:
    """The first value, then each next value at most half the last one taken, up to ``count``."""
    taken: list[int] = []
    for n in descending:
        if len(taken) == count:
            break
        if not taken or n * 2 <= taken[-1]:
            taken.append(n)
    return taken
