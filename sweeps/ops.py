"""The ops the sweeps cover, and what a sweep needs to know of each.

The ops are those the two models' traces execute (TTM-R1 512-96 and PatchTSMixer's port configuration
under their default plans), in the order they first appear, followed by the memory moves the tuner
prices between ops. Nothing here lists a model op by hand: a model that starts issuing another op gets
a sweep for it when its module is generated (``python -m opcast.sweeps.generate``).

What differs between ops comes from the catalogue's kind where it can: a matmul's and a
normalization's inputs after the first are weights (placed in DRAM, as the ports place them);
matmul, normalization and reduction kernels take TILE layout only.
"""

from __future__ import annotations

import functools

from .. import catalogue, vocabulary

# The configurations whose traces define the op list and the suites (the public ports').
TRACED_MODELS = {"ttm": "r1-512-96", "patchtsmixer": "common_channel/gated/layernorm/no_pe/std"}
CHANNELS = 7  # ETTh2, the ports' data set

MEMORY_MOVES = ("ttnn.to_memory_config", "ttnn.interleaved_to_sharded", "ttnn.sharded_to_interleaved",
                "ttnn.reshard", "ttnn.tilize", "ttnn.untilize")

# Kinds whose kernels read and write tiles only.
TILE_ONLY_KINDS = ("matmul", "normalization", "reduction")
# Kinds whose inputs after the first are weights.
WEIGHTED_KINDS = ("matmul", "normalization")
# Ops whose model backend passes a math fidelity on to ttnn (the plan's ``math_fidelity`` becomes
# linear's compute kernel config; the backend's layer_norm and softmax do not pass one on).
FIDELITY_OPS = ("ttnn.linear", "ttnn.matmul")

# What a memory move takes and gives: the placements of its input and output (None: the input's).
_INTERLEAVED = (vocabulary.DRAM_INTERLEAVED, vocabulary.L1_INTERLEAVED)
_L1_SHARDED = (vocabulary.L1_HEIGHT_SHARDED, vocabulary.L1_WIDTH_SHARDED, vocabulary.L1_BLOCK_SHARDED)
_PLACEMENTS = _INTERLEAVED + _L1_SHARDED
MOVE_PLACEMENTS: dict[str, tuple[tuple[str, ...], tuple[str | None, ...]]] = {
    "ttnn.to_memory_config": (_PLACEMENTS, _PLACEMENTS),
    "ttnn.interleaved_to_sharded": (_INTERLEAVED, _L1_SHARDED),
    "ttnn.sharded_to_interleaved": (_L1_SHARDED, _INTERLEAVED),
    "ttnn.reshard": (_L1_SHARDED, _L1_SHARDED),
    "ttnn.tilize": (_PLACEMENTS, (None,)),
    "ttnn.untilize": (_PLACEMENTS, (None,)),
}
# The layout a memory move's input has, and the one its output gets.
MOVE_LAYOUTS = {"ttnn.tilize": (vocabulary.ROW_MAJOR, vocabulary.TILE),
                "ttnn.untilize": (vocabulary.TILE, vocabulary.ROW_MAJOR)}

# The host runs an op in torch, where placements do not exist: it runs each op's vectors in one
# placement only (input, output), so that its measurements differ in nothing the host ignores.
HOST_DTYPES = (vocabulary.BFLOAT16, vocabulary.FLOAT32)  # torch has no block-float dtypes
_HOST_MOVE_PLACEMENTS = {
    "ttnn.to_memory_config": (vocabulary.DRAM_INTERLEAVED, vocabulary.L1_INTERLEAVED),
    "ttnn.interleaved_to_sharded": (vocabulary.DRAM_INTERLEAVED, vocabulary.L1_HEIGHT_SHARDED),
    "ttnn.sharded_to_interleaved": (vocabulary.L1_HEIGHT_SHARDED, vocabulary.DRAM_INTERLEAVED),
    "ttnn.reshard": (vocabulary.L1_HEIGHT_SHARDED, vocabulary.L1_WIDTH_SHARDED),
}


def host_placement(op: str) -> tuple[str, str | None]:
    """(input memory, output memory) of the vectors the host backend runs; None: the input's."""
    return _HOST_MOVE_PLACEMENTS.get(op, (vocabulary.DRAM_INTERLEAVED, None))


@functools.lru_cache(maxsize=1)
def traced_ops() -> tuple[str, ...]:
    """Every op the models' traces execute at batch 1, in order of first appearance."""
    from .suites import model_trace

    seen: dict[str, None] = {}
    for model in TRACED_MODELS:
        for record in model_trace(model, 1).ops:
            seen.setdefault(record.op, None)
    return tuple(seen)


def sweep_ops() -> tuple[str, ...]:
    """The ops that have a sweep module: the traced ops, then the memory moves."""
    return traced_ops() + tuple(op for op in MEMORY_MOVES if op not in traced_ops())


@functools.lru_cache(maxsize=None)
def entry(op: str) -> dict:
    """The op's catalogue entry (read once per process: treat it as read-only)."""
    found = catalogue.op_entry(op)
    if found is None:
        raise ValueError(f"{op}: not in the op catalogue ({catalogue.catalogue_path()})")
    return found


def kind(op: str) -> str:
    return entry(op)["kind"]


def is_move(op: str) -> bool:
    return op in MOVE_PLACEMENTS


def tile_only(op: str) -> bool:
    return kind(op) in TILE_ONLY_KINDS


def weight_inputs_from(op: str) -> int | None:
    """The index of the first input that is a weight, or None when the op takes no weights."""
    return 1 if kind(op) in WEIGHTED_KINDS else None


def default_math_fidelity(op: str) -> str | None:
    """The fidelity a sweep uses where it does not vary it: the catalogue's, for ops that take one."""
    if op not in FIDELITY_OPS:
        return None
    return entry(op).get("attributes", {}).get("math_fidelity")


def module_name(op: str) -> str:
    """The sweep module's file stem: ``ttnn.layer_norm`` -> ``layer_norm``."""
    return op.removeprefix("ttnn.")


def sweep_name(op: str) -> str:
    """The sweep's name as tt-metal's runner knows a module copied to ``sweeps/opcast/``."""
    return f"opcast.{module_name(op)}"


def op_of_sweep(name: str) -> str:
    """The op of a sweep name (``opcast.gelu`` -> ``ttnn.gelu``); ValueError for a name no sweep has."""
    for op in sweep_ops():
        if sweep_name(op) == name or module_name(op) == name or op == name:
            return op
    raise ValueError(f"no sweep is named {name!r}; the sweeps are {', '.join(sweep_name(o) for o in sweep_ops())}")
