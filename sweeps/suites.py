"""The suites of every sweep, built from the models' traces: nothing in them is written by hand.

Per op (the suite names are the keys of a module's ``parameters``):

``<model>_trace``   the exact configurations the model issues at batch 1 to 256 under its default plan
                    (ops the models issue only);
``<model>_layouts`` the same shapes with every activation in one memory layout (DRAM or L1 interleaved,
                    L1 height / width / block sharded): which of a model's configurations a plan can
                    place there, and the L1 they take. For a memory move, the model's activation shapes
                    moved between the placements the move takes and gives;
``placements``      the shapes at batch 1 and 32, input and output in every pair of those layouts;
``dtypes``          the same shapes in bfloat16, bfloat8_b and float32, TILE and ROW_MAJOR where the op's
                    kind reads rows, at every math fidelity for the ops that take one;
``grids``           the models' shapes at batch 32 with 8 channels, sharded over grids from 1x1 to 8x8;
``space_filling``   shapes around the models': the traces of model configurations drawn by a scrambled
                    Sobol sequence over batch, channels, width (d_model) and context length.

Every suite stays within tt-metal's 10,000 vectors.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import vocabulary
from ..plans import OpRecord, Trace, default_plan
from ..vocabulary import Tensor
from . import ops

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PLACEMENT_BATCHES = (1, 32)
GRID_BATCH, GRID_CHANNELS = 32, 8  # 256 rows of leading dims: shapes that shard over many grids
GRIDS = ((1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4), (8, 8))
DTYPES = (vocabulary.BFLOAT16, vocabulary.BFLOAT8_B, vocabulary.FLOAT32)
# The memory layouts a plan can put a model's activations in (sharded ones over the most cores that
# split each tensor's tiles evenly).
LAYOUT_MEMORIES = (vocabulary.DRAM_INTERLEAVED, vocabulary.L1_INTERLEAVED, vocabulary.L1_HEIGHT_SHARDED,
                   vocabulary.L1_WIDTH_SHARDED, vocabulary.L1_BLOCK_SHARDED)
INTERLEAVED = (vocabulary.DRAM_INTERLEAVED, vocabulary.L1_INTERLEAVED)
L1_SHARDED = (vocabulary.L1_HEIGHT_SHARDED, vocabulary.L1_WIDTH_SHARDED, vocabulary.L1_BLOCK_SHARDED)

# Space filling: model configurations drawn per model, and the cases kept per op.
SPACE_FILLING_DRAWS = 64
SPACE_FILLING_CASES = 48
SPACE_FILLING_SEED = 17


# --------------------------------------------------------------------------------------------- model traces

@functools.lru_cache(maxsize=None)
def model_trace(model: str, batch: int, channels: int = ops.CHANNELS, width_scale: float = 1.0,
                context_scale: float = 1.0) -> Trace:
    """The op trace of a traced model (``ops.TRACED_MODELS``) under its default plan; ``width_scale``
    and ``context_scale`` multiply its d_model (and TTM's decoder_d_model) and context length."""
    from ..models import validate

    spec = validate.modes(model)[ops.TRACED_MODELS[model]]
    changes: dict[str, int] = {}
    if width_scale != 1.0:
        changes["d_model"] = max(1, int(spec.d_model * width_scale))
        if hasattr(spec, "decoder_d_model"):
            changes["decoder_d_model"] = max(1, int(spec.decoder_d_model * width_scale))
    if context_scale != 1.0:
        changes["context_length"] = max(spec.patch_length, int(spec.context_length * context_scale))
    if changes:
        spec = spec.replace(**changes)
    return validate.MODEL_CLASSES[model](spec).trace(batch, channels=channels, plan=default_plan(model))


def _records(model: str, batches: tuple[int, ...], **scales: Any) -> list[OpRecord]:
    return [r for batch in batches for r in model_trace(model, batch, **scales).ops]


def exact_case(record: OpRecord) -> dict[str, Any]:
    """A trace record as an exact case: every tensor as the model placed it."""
    output = {k: v for k, v in record.output.to_dict().items() if k != "shape"}
    return {"inputs": [t.to_dict() for t in record.inputs], "output": output, "attributes": dict(record.attributes)}


def template_case(record: OpRecord) -> dict[str, Any]:
    """A trace record as a template case: its shapes and the op's own attributes."""
    return {"shapes": [list(t.shape) for t in record.inputs],
            "attributes": {k: v for k, v in record.attributes.items() if k != "math_fidelity"}}


def activation_case(tensor: Tensor) -> dict[str, Any]:
    """An activation a memory move moves."""
    return {"shapes": [list(tensor.shape)], "attributes": {}}


def _unique(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for case in cases:
        seen.setdefault(vocabulary.canonical_json(case), case)
    return list(seen.values())


def cases(op: str, records: list[OpRecord]) -> list[dict[str, Any]]:
    """The op's template cases in these records (a memory move's: every activation the ops produce)."""
    if ops.is_move(op):
        return _unique([activation_case(r.output) for r in records])
    return _unique([template_case(r) for r in records if r.op == op])


@functools.lru_cache(maxsize=1)
def _space_filling_records() -> list[OpRecord]:
    """The traces of model configurations drawn by a scrambled Sobol sequence, in draw order."""
    from scipy.stats import qmc

    records = []
    for m, model in enumerate(ops.TRACED_MODELS):
        draws = qmc.Sobol(d=4, scramble=True, seed=SPACE_FILLING_SEED + m).random(SPACE_FILLING_DRAWS)
        for u_batch, u_channels, u_width, u_context in draws:
            batch = round(2 ** (u_batch * 8))                 # 1 .. 256
            channels = round(2 ** (u_channels * 5))           # 1 .. 32
            width = 2.0 ** (int(u_width * 4) - 1)             # d_model x 1/2, 1, 2, 4
            context = 2.0 ** (int(u_context * 3) - 1)         # context length x 1/2, 1, 2
            try:
                records += model_trace(model, batch, channels, width, context).ops
            except (ValueError, NotImplementedError):
                continue  # a configuration the model definition refuses
    return records


# --------------------------------------------------------------------------------------------- suites

def _placements(memories: tuple[str | None, ...]) -> list[dict[str, Any] | None]:
    return [None if m is None else {"memory": m} for m in memories]


def _gridded(memories: tuple[str | None, ...]) -> list[dict[str, Any] | None]:
    """Sharded memories over every grid of GRIDS; interleaved ones as they are."""
    out: list[dict[str, Any] | None] = []
    for m in memories:
        if m in vocabulary.L1_SHARDED:
            out += [{"memory": m, "grid": list(g)} for g in GRIDS]
        else:
            out.append(None if m is None else {"memory": m})
    return out


def _axes(dtype: list[str], layout: list[str], input_memory: list, output_memory: list,
          math_fidelity: list[str] | None = None) -> dict[str, list[Any]]:
    out = {"dtype": dtype, "layout": layout, "input_memory": input_memory, "output_memory": output_memory}
    if math_fidelity is not None:
        out["math_fidelity"] = math_fidelity
    return out


def parameters(op: str) -> dict[str, dict[str, list[Any]]]:
    """The op's suites: ``{suite name: {parameter: [values]}}``, tt-metal's ``parameters``."""
    bf16, tile = [vocabulary.BFLOAT16], [vocabulary.TILE]
    suites: dict[str, dict[str, list[Any]]] = {}
    few = [r for model in ops.TRACED_MODELS for r in _records(model, PLACEMENT_BATCHES)]
    gridded = [r for model in ops.TRACED_MODELS for r in _records(model, (GRID_BATCH,), channels=GRID_CHANNELS)]
    spread = cases(op, _space_filling_records())[:SPACE_FILLING_CASES]
    if ops.is_move(op):
        takes, gives = ops.MOVE_PLACEMENTS[op]
        layout = [ops.MOVE_LAYOUTS.get(op, (vocabulary.TILE,))[0]]
        host_in, host_out = ops.host_placement(op)
        host = {"input_memory": [{"memory": host_in}], "output_memory": _placements((host_out,))}
        for model in ops.TRACED_MODELS:
            suites[f"{model}_layouts"] = {"case": cases(op, _records(model, BATCHES)),
                                          **_axes(bf16, layout, _placements(takes), _placements(gives))}
        suites["dtypes"] = {"case": cases(op, few), **_axes(list(DTYPES), layout, **host)}
        # the sharded side over every grid: the input's where the move takes sharded inputs
        grid_in, grid_out = (_gridded(takes), _placements(gives)) if set(takes) & set(L1_SHARDED) else (
            _placements(takes), _gridded(gives))
        suites["grids"] = {"case": cases(op, gridded), **_axes(bf16, layout, grid_in, grid_out)}
        suites["space_filling"] = {"case": spread, **_axes(list(DTYPES), layout, **host)}
        return suites
    layouts = [vocabulary.TILE] if ops.tile_only(op) else [vocabulary.TILE, vocabulary.ROW_MAJOR]
    fidelities = list(vocabulary.MATH_FIDELITIES) if op in ops.FIDELITY_OPS else None
    memories = _placements(LAYOUT_MEMORIES)
    for model in ops.TRACED_MODELS:
        records = [r for r in _records(model, BATCHES) if r.op == op]
        if records:
            suites[f"{model}_trace"] = {"case": _unique([exact_case(r) for r in records])}
            suites[f"{model}_layouts"] = {"case": cases(op, records), **_axes(bf16, tile, memories, [None])}
    suites["placements"] = {"case": cases(op, few), **_axes(bf16, tile, memories, memories)}
    suites["dtypes"] = {"case": cases(op, few), **_axes(list(DTYPES), layouts, _placements(INTERLEAVED), [None],
                                                          fidelities)}
    suites["grids"] = {"case": cases(op, gridded), **_axes(bf16, tile, _gridded(L1_SHARDED), [None])}
    suites["space_filling"] = {"case": spread, **_axes(list(DTYPES), tile, _placements(INTERLEAVED), [None])}
    return suites


def suite_size(suite: dict[str, list[Any]]) -> int:
    size = 1
    for values in suite.values():
        size *= len(values)
    return size
