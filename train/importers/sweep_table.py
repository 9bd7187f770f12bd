"""The Wormhole perf-modelling sweep tables (``binary_add_wormhole.csv``, ``relu_wormhole.csv``):
``source_id, record_kind, op_code, op_detail, ..., in0_w.., in0_buffer_type, in0_mem_layout, ...,
grid_x, grid_y, core_count, kernel_ns, config_key``.

The op comes from ``op_code`` + the first word of ``op_detail`` through the catalogue. Recorded shapes
are used (in1 = in0 where in1's shape is missing); dtype bfloat16 where not recorded (output dtype =
input dtype); TILE layout. The row's shard grid applies to every sharded tensor of the row. The
moving-rectangle start (``grid_start_x/y``) is not part of the query, so the placements of one
configuration are its repeats. Rows with only ``num_tiles`` (relu) get the representative shape
``[1, 1, 32*num_tiles, 32]`` (tile-aligned, shards by height over any core count). In the sharded relu
sweeps ``num_tiles`` is the per-core shard (the sweep ran the same shard on 1 to 64 cores and did not
record which) and the kernel time follows the shard, so those rows are recorded as the one-core
configuration (``grid [1, 1]``, ``core_count 1``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ... import vocabulary
from .op_codes import OpCodes
from .records import Format, Measurement, RowReader, UnmappableRow, blank, duration, parse_dim, to_int, word

REQUIRED = ("source_id", "op_code", "op_detail", "num_tiles", "in0_buffer_type", "in0_mem_layout",
            "out0_buffer_type", "out0_mem_layout", "kernel_ns", "config_key")
UNRECORDED_DTYPE = vocabulary.BFLOAT16  # the sweeps ran bfloat16 where they do not say


def _memory(r: dict[str, Any], prefix: str) -> str:
    """``in0_buffer_type`` + ``in0_mem_layout`` (``L1`` + ``BLOCK_SHARDED``) in the vocabulary's words."""
    return word(vocabulary.memory_of, r.get(f"{prefix}_buffer_type"), r.get(f"{prefix}_mem_layout"),
                reason="unsupported_memory")


def _dtype(written: Any) -> str:
    return word(vocabulary.dtype, written, reason="unsupported_dtype")


def _shape(r: dict[str, Any], prefix: str) -> list[int] | None:
    values = [r.get(f"{prefix}_{d}") for d in ("w", "z", "y", "x")]
    if all(blank(v) for v in values):
        return None
    if any(blank(v) for v in values):
        raise UnmappableRow("bad_shape", f"{prefix}: {values}")
    shape = [parse_dim(v) for v in values]
    if not all(d > 0 for d in shape):
        raise UnmappableRow("bad_shape", f"{prefix}: {shape}")
    return shape


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    op_codes = OpCodes(catalogue)

    def op_entry(r: dict[str, Any]) -> dict[str, Any]:
        detail = str(r.get("op_detail", "")).strip()
        op_type = detail.split()[0].strip("(),").upper() if detail else None
        n_inputs = 1 if blank(r.get("in1_buffer_type")) else 2
        try:
            return op_codes.entry(str(r.get("op_code", "")).strip(), op_type, n_inputs)
        except UnmappableRow as e:
            raise UnmappableRow("op_not_in_catalogue", str(e)) from None

    def read(i: int, r: dict[str, Any]) -> Measurement:
        entry = op_entry(r)
        dur = duration(r.get("kernel_ns"))
        assumed: list[str] = ["layout"]
        num_tiles = to_int(r.get("num_tiles"))
        grid_x, grid_y, cores = to_int(r.get("grid_x")), to_int(r.get("grid_y")), to_int(r.get("core_count"))
        grid = [grid_x, grid_y] if grid_x and grid_y else None
        if cores is None and grid is not None:
            cores = grid_x * grid_y

        memory0 = _memory(r, "in0")
        shape0 = _shape(r, "in0")
        if shape0 is None:
            # Only a tile count: a representative [1, 1, 32*n, 32] (tile-aligned, height-shardable).
            if not num_tiles or num_tiles <= 0:
                raise UnmappableRow("bad_shape", "neither shape nor num_tiles")
            shape0 = [1, 1, vocabulary.TILE_SIDE * num_tiles, vocabulary.TILE_SIDE]
            assumed.append("shape")
            if memory0 in vocabulary.SHARDED and grid is None and cores is None:
                # The sharded relu sweeps record tiles per core (the shard), not the core grid:
                # the record is the one-core configuration with that shard.
                grid, cores = [1, 1], 1
                assumed.append("core_count")
        if blank(r.get("in0_dtype")):
            dtype0 = UNRECORDED_DTYPE
            assumed.append("dtype")
        else:
            dtype0 = _dtype(r.get("in0_dtype"))

        # The row's grid belongs to every sharded tensor of the row; the vocabulary drops it from the others.
        inputs = [vocabulary.Tensor(shape0, dtype0, vocabulary.TILE, memory0, grid=grid, core_count=cores)]
        if not blank(r.get("in1_buffer_type")):
            memory1 = _memory(r, "in1")
            shape1 = _shape(r, "in1") or list(shape0)
            dtype1 = dtype0 if blank(r.get("in1_dtype")) else _dtype(r.get("in1_dtype"))
            inputs.append(vocabulary.Tensor(shape1, dtype1, vocabulary.TILE, memory1, grid=grid, core_count=cores))
        output = None
        if not blank(r.get("out0_buffer_type")):
            out_memory = _memory(r, "out0")
            out_dtype = dtype0 if blank(r.get("out0_dtype")) else _dtype(r.get("out0_dtype"))
            output = vocabulary.output_spec(out_dtype, out_memory, grid=grid, core_count=cores)
        sweep = r.get("source_id")
        return Measurement(
            entry=entry, inputs=inputs, output=output, kernel_ns=dur,
            source=f"{stem}/{sweep}" if not blank(sweep) else stem,
            op_code=str(r.get("op_code", "")).strip() or None, core_count=cores,
            config_key=None if blank(r.get("config_key")) else str(r["config_key"]), assumed=assumed,
            num_tiles=num_tiles)

    return read


FORMAT = Format(name="sweep_table", matches=_matches, reader=_reader,
                expected_columns=f"{', '.join(REQUIRED)}, in0_w.., grid_x, grid_y, core_count, ...")
