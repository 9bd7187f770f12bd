"""The L1 schedule: which tensors are alive when each op runs, and the L1 they hold per bank.

Ops run in trace order. An op's output lives from the op until its last consumer has run (the dataflow
a trace records in each op's ``producers``); weights and model inputs placed in L1 live throughout.
Live L1 tensors plus the op's own peak (circular buffers and its output, per core) must fit the L1
allocator's bank: ``opcast.device.l1_limits`` reads it from ttnn, 1,393,312 bytes on the n150
(1,499,136 bytes of worker L1 less 105,824 reserved below the allocator's base; ttnn 0.81.1 mock).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from .. import vocabulary
from ..plans import Trace
from ..vocabulary import Tensor
from .space import GRID, shard_tiles

N150_L1_BANK_SIZE = 1_393_312
L1_BANKS = GRID[0] * GRID[1]  # one L1 bank per worker core

# Bytes of one 32x32 tile (tt-metal): 2-byte and 4-byte elements, and the block floats' 1024 / 512 bytes
# of mantissas plus 64 bytes of shared exponents (the C++ features use the same sizes).
TILE_BYTES = {vocabulary.BFLOAT16: 2048, vocabulary.UINT16: 2048, vocabulary.FLOAT32: 4096,
              vocabulary.UINT32: 4096, vocabulary.INT32: 4096, vocabulary.BFLOAT8_B: 1088,
              vocabulary.BFLOAT4_B: 576}
ELEMENT_BYTES = {vocabulary.BFLOAT16: 2, vocabulary.UINT16: 2, vocabulary.FLOAT32: 4, vocabulary.UINT32: 4,
                 vocabulary.INT32: 4}


def tensor_bytes(tensor: Tensor) -> int:
    """Bytes the whole tensor occupies (TILE: whole tiles)."""
    if tensor.layout == vocabulary.TILE:
        return tensor.tiles * TILE_BYTES[tensor.dtype]
    return math.prod(tensor.shape) * ELEMENT_BYTES.get(tensor.dtype, 4)


def l1_bytes_per_bank(tensor: Tensor) -> int:
    """L1 bytes the tensor holds in every bank. The allocator reserves one address range in all banks
    at once, so a sharded tensor costs its shard in every bank, and an interleaved one the pages of its
    fullest bank (pages go round-robin over the 64 banks from bank 0). Nothing for DRAM."""
    if tensor.memory not in vocabulary.L1:
        return 0
    if tensor.layout == vocabulary.TILE:
        page, pages = TILE_BYTES[tensor.dtype], tensor.tiles
    else:  # a ROW_MAJOR page is one row
        page, pages = tensor.shape[-1] * ELEMENT_BYTES.get(tensor.dtype, 4), math.prod(tensor.shape[:-1])
    if tensor.memory == vocabulary.L1_INTERLEAVED:
        return -(-pages // L1_BANKS) * page
    tiles = shard_tiles(tensor)
    if tiles is None:
        raise ValueError(f"{tensor.to_dict()}: not a placement the device layer can shard (see opcast.tune.space)")
    return tiles[0] * tiles[1] * page


@dataclasses.dataclass(frozen=True)
class Dataflow:
    """Who feeds whom in a trace.

    producers[j]: for each input of op j, the index of the op that made it, or None for a weight or
    model input. last_use[j]: the last op that reads op j's output (j itself when none does).
    """

    producers: tuple[tuple[int | None, ...], ...]
    last_use: tuple[int, ...]

    @classmethod
    def of_trace(cls, trace: Trace) -> "Dataflow":
        index = {r.name: j for j, r in enumerate(trace.ops)}
        producers = []
        for j, r in enumerate(trace.ops):
            if len(r.producers) != len(r.inputs):
                raise ValueError(f"op {j} ({r.name}): the trace records no producer for each input; re-run "
                                 "opcast trace with this opcast (traces record producers since 0.1)")
            producers.append(tuple(index.get(p) for p in r.producers))
        return cls.of_producers(producers)

    @classmethod
    def of_producers(cls, producers: Sequence[Sequence[int | None]]) -> "Dataflow":
        last = list(range(len(producers)))
        for j, inputs in enumerate(producers):
            for p in inputs:
                if p is not None:
                    if not 0 <= p < j:
                        raise ValueError(f"op {j} reads op {p}'s output: producers must come earlier in the trace")
                    last[p] = max(last[p], j)
        return cls(tuple(tuple(p) for p in producers), tuple(last))

    def sources(self, j: int) -> tuple[int, ...]:
        """The distinct ops whose outputs op j reads, in order."""
        return tuple(sorted({p for p in self.producers[j] if p is not None}))

    def consumers(self, j: int) -> tuple[int, ...]:
        """The ops that read op j's output, in order."""
        return tuple(c for c in range(j + 1, self.last_use[j] + 1) if j in self.producers[c])

    def live_before(self, j: int) -> tuple[int, ...]:
        """Ops whose outputs are alive when op j starts (made earlier, read by j or later)."""
        return tuple(p for p in range(j) if self.last_use[p] >= j)
