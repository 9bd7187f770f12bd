"""Legality: may this op run with these input placements and this output placement, and how much L1
per core does it take?

The tuner asks through one small interface (:class:`Legality`): ``legal(query)`` answers a
:class:`Verdict` (legal, reason, l1_per_core: the op's own peak per core, circular buffers and its
output, without its inputs), ``legal_many(queries)`` many at once. Two implementations:

- :class:`RuleLegality`: ttnn's rules as read from its refusals on the mock n150 (ttnn 0.81.1), no
  device needed; the L1 peak is an estimate (below).
- :class:`MockLegality`: ttnn's own verdict and L1 peak, measured on the mock n150 by the sweeps'
  oracle (``opcast.sweeps.oracle.LegalityOracle``, which runs the op through ``opcast.device``'s
  capture in the mock environment and keeps every answer in its sweep store); ops the sweeps do not
  cover get the rules' answer, and the verdict says which answered.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from .. import QueryError, catalogue, vocabulary
from ..vocabulary import Tensor
from .schedule import N150_L1_BANK_SIZE, TILE_BYTES, l1_bytes_per_bank
from .space import shard_tiles

RULES = "rules"
MOCK = "mock"
LAYER_NORM = "ttnn.layer_norm"
LINEAR = "ttnn.linear"
ADD = "ttnn.add"
TYPECAST = "ttnn.typecast"
WIDENED_OPS = ("ttnn.reshape", "ttnn.mean")  # run in bfloat16 on a block-float input (see added_ops)


class Verdict(NamedTuple):
    """legal: the op runs as asked and fits in L1 beside its inputs. reason: why not (None when legal).
    l1_per_core: the op's own peak L1 bytes per core (None where unknown). source: who answered
    (``rules`` or ``mock``). added: queries of the device ops ttnn issues beside the op's own for this
    placement (they cost time and a dispatch gap each)."""

    legal: bool
    reason: str | None
    l1_per_core: int | None
    source: str
    added: tuple[dict[str, Any], ...] = ()


class Legality(Protocol):
    """What the tuner asks of a legality oracle."""

    name: str
    l1_limit: int  # the L1 bank size the verdicts were checked against

    def legal(self, query: Mapping[str, Any]) -> Verdict: ...

    def legal_many(self, queries: Sequence[Mapping[str, Any]]) -> list[Verdict]: ...


# Circular buffers per core besides the output, in tiles of input 0's dtype: the upper envelope of what
# ttnn 0.81.1 allocated on the mock n150 for every option of both models (TTM-R1, PatchTSMixer; batch 1
# and 32): double-buffered pages for eltwise and data movement, 11 tiles for a reduction, matmul's in0 /
# in1 / out blocks from interleaved inputs (a sharded in0 is read whole: up to 6x its shard).
_CB_TILES = {"eltwise_unary": 4, "eltwise_binary": 8, "data_movement": 4, "memory_move": 4, "reduction": 11,
             "matmul": 12}
_SHARDED_MATMUL_CB = 6  # times in0's shard


class RuleLegality:
    """ttnn's placement rules (0.81.1), as its refusals on the mock n150 state them.

    Every tensor: block-float dtypes need TILE layout; a sharded tensor must be buildable by the device
    layer (whole 32x32 tiles, an even split over cores within the 8x8 grid; :mod:`opcast.tune.space`);
    DRAM-sharded tensors are not placed (the device layer places DRAM and L1 interleaved, L1 sharded).
    Per op: layer_norm refuses a height-sharded input (layernorm_device_operation.cpp:227) and writes a
    sharded input's placement (:231, :359); a matmul writes a sharded output only placed like a sharded
    in0 (matmul_program_config.cpp:683, :766; from an interleaved in0 ttnn derives the output's shards
    from the program it picks and refused every sharded output of both models, tensor_spec.cpp:173, or
    placed it elsewhere); a data-movement op (reshape, transpose, ...) with a sharded input writes
    interleaved or the input's placement (ttnn's reshape of a sharded tensor is a view that keeps the
    input's placement whatever is asked). The op must fit in L1 beside its inputs: its peak is its
    output's L1 per bank plus circular buffers estimated per kind (``_CB_TILES``). The device ops ttnn
    adds for a placement are :func:`added_ops`.
    """

    name = RULES

    def __init__(self, l1_limit: int = N150_L1_BANK_SIZE):
        self.l1_limit = int(l1_limit)

    def legal(self, query: Mapping[str, Any]) -> Verdict:
        try:
            q = vocabulary.normalized(query)
        except QueryError as exc:  # e.g. a shard grid off the 8x8 Tensix grid
            return Verdict(False, f"the query parser refuses it: {exc}", None, RULES)
        op, inputs, output = q["op"], [Tensor.from_dict(t) for t in q["inputs"]], Tensor.from_dict(q["output"])
        kind = catalogue.op_entry(op)["kind"]
        reason = _tensor_refusal(inputs, output) or _op_refusal(op, kind, inputs, output)
        if reason is not None:
            return Verdict(False, reason, None, RULES)
        peak = l1_bytes_per_bank(output) + _cb_bytes(op, kind, inputs[0])
        resident = sum(l1_bytes_per_bank(t) for t in inputs)
        if resident + peak > self.l1_limit:
            return Verdict(False, f"does not fit L1: {resident} B of inputs + {peak} B for the op per core, "
                                  f"{self.l1_limit} B in the bank", peak, RULES)
        return Verdict(True, None, peak, RULES, added_ops(op, inputs, output))

    def legal_many(self, queries: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        return [self.legal(q) for q in queries]


def _tensor_refusal(inputs: Sequence[Tensor], output: Tensor) -> str | None:
    for where, t in [*((f"inputs[{i}]", t) for i, t in enumerate(inputs)), ("output", output)]:
        if t.dtype in vocabulary.BLOCK_FLOATS and t.layout != vocabulary.TILE:
            return f"{where}: {t.dtype} needs {vocabulary.TILE} layout"
        if t.memory in vocabulary.DRAM_SHARDED:
            return f"{where}: {t.memory} is not placed by the device layer"
        if t.sharded and shard_tiles(t) is None:
            return (f"{where}: {t.memory} over {t.core_count} cores of {list(t.shape)} is not whole 32x32 tiles "
                    "split evenly within the 8x8 grid")
    return None


def _same_placement(a: Tensor, b: Tensor) -> bool:
    """Same memory over as many cores (ttnn may lay the same cores out as a column or a row)."""
    return (a.memory, a.core_count) == (b.memory, b.core_count)


def _op_refusal(op: str, kind: str, inputs: Sequence[Tensor], output: Tensor) -> str | None:
    first = inputs[0]
    if op == LAYER_NORM:
        if first.memory == vocabulary.L1_HEIGHT_SHARDED:
            return f"{op}: height-sharded inputs are not supported"
        if first.sharded and not _same_placement(first, output):
            return f"{op}: a sharded input writes an output sharded the same way"
        return None
    if kind == "matmul" and output.sharded and not _same_placement(first, output):
        return f"{op}: a sharded output needs input 0 sharded the same way"
    if kind == "data_movement" and first.sharded and output.sharded and not _same_placement(first, output):
        return f"{op}: a sharded input writes an interleaved output or one placed like the input"
    return None


def _cb_bytes(op: str, kind: str, first: Tensor) -> int:
    tile = TILE_BYTES.get(first.dtype, TILE_BYTES[vocabulary.FLOAT32])
    width_tiles = -(-first.shape[-1] // vocabulary.TILE_SIDE)
    if op == LAYER_NORM:  # keeps whole rows: 80 tiles up to 3 tiles wide, 108 at 6 (mock, as above)
        return max(80, 18 * width_tiles) * tile
    if kind == "normalization":  # softmax: 11-14 tiles up to 3 tiles wide, 25 at 6
        return (16 + 2 * width_tiles) * tile
    if kind == "matmul" and first.sharded:
        return _SHARDED_MATMUL_CB * l1_bytes_per_bank(first)
    return _CB_TILES.get(kind, max(_CB_TILES.values())) * tile


def added_ops(op: str, inputs: Sequence[Tensor], output: Tensor) -> tuple[dict[str, Any], ...]:
    """The device ops ttnn (0.81.1, seen on the mock n150) issues beside the op's own for a placement:

    - ttnn.linear with a bias fuses it only when in0 and the output are both in DRAM; otherwise it adds
      the bias in a binary op of its own (MatmulDeviceOperation, BinaryNgDeviceOperation: every linear
      of TTM-R1's default L1 plan);
    - ttnn.reshape and ttnn.mean of a block-float tensor run between two TypecastDeviceOperations (to
      bfloat16 and back).
    """
    first = inputs[0]
    if op == LINEAR and len(inputs) >= 3 and not (first.memory == output.memory == vocabulary.DRAM_INTERLEAVED):
        return (vocabulary.make_query(ADD, [output, inputs[2]], output.to_dict()),)
    if op in WIDENED_OPS and first.dtype in vocabulary.BLOCK_FLOATS:
        wide = dataclasses.replace(first, dtype=vocabulary.BFLOAT16)
        narrow_out = dataclasses.replace(output, dtype=vocabulary.BFLOAT16)
        return (vocabulary.make_query(TYPECAST, [first], wide.to_dict()),
                vocabulary.make_query(TYPECAST, [narrow_out], output.to_dict()))
    return ()


class MockLegality:
    """Legality and L1 per core measured on ttnn's mock n150 by the sweeps' oracle, kept in its sweep
    store (``db``; measured once, read back after); the rules answer ops the sweeps do not cover.

    Beyond ttnn's verdict the output must be placed as asked: ttnn may keep another placement (a
    reshape of a sharded tensor is a view), which would not be the plan the tuner priced. The device ops
    ttnn adds beside an op are the rules' (:func:`added_ops`): the sweep store does not keep them.
    """

    name = MOCK

    def __init__(self, db: str | os.PathLike | None = None, *, measure: bool = True,
                 rules: RuleLegality | None = None):
        from ..sweeps import ops
        from ..sweeps.oracle import LegalityOracle
        from ..sweeps.store import DEFAULT_DB

        self.oracle = LegalityOracle(db or DEFAULT_DB, measure=measure)
        self.covered = frozenset(ops.sweep_ops())
        self.rules = rules or RuleLegality()
        self.l1_limit = self.rules.l1_limit

    def legal(self, query: Mapping[str, Any]) -> Verdict:
        return self.legal_many([query])[0]

    def legal_many(self, queries: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        asked = [i for i, q in enumerate(queries) if q["op"] in self.covered]
        verdicts: list[Verdict | None] = [None] * len(queries)
        for i, answer in zip(asked, self.oracle.check_many([queries[i] for i in asked])):
            verdicts[i] = self._verdict(queries[i], answer)
            if answer.l1_limit_per_core:
                self.l1_limit = int(answer.l1_limit_per_core)  # the bank size ttnn reports
        rest = [i for i, v in enumerate(verdicts) if v is None]
        for i, v in zip(rest, self.rules.legal_many([queries[i] for i in rest])):
            verdicts[i] = v
        return verdicts

    @staticmethod
    def _verdict(query: Mapping[str, Any], answer: Any) -> Verdict:
        peak = answer.l1_peak_per_core
        if not answer.legal:
            return Verdict(False, " ".join((answer.message or answer.status).split())[:400], peak, MOCK)
        q = vocabulary.normalized(query, legality=False)  # what ttnn accepted
        asked = Tensor.from_dict(q["output"])
        made = described(answer.output[0]) if answer.output else None
        if made is None or not _same_placement(asked, made):
            got = "nothing" if made is None else made.to_dict()
            return Verdict(False, f"ttnn placed the output as {got}, not as asked", peak, MOCK)
        return Verdict(True, None, peak, MOCK, added_ops(q["op"], [Tensor.from_dict(t) for t in q["inputs"]], asked))


def described(tensor_spec: Mapping[str, Any]) -> Tensor:
    """A tensor from ttnn's TensorSpec JSON, read by the query parser (which takes TensorSpec inputs)."""
    query = {"op": "ttnn.relu", "inputs": [dict(tensor_spec)]}
    return Tensor.from_dict(vocabulary.normalized(query, legality=False)["inputs"][0])
