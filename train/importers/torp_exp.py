"""TORP's exp sweep (Tenstorrent's ttnn-op-runtime-predictor, ``exp_wormhole_n150.csv``).

Columns: ``input_shape_1..4`` (0 = absent dim, dropped), one-hot dtype columns (``bfloat8`` means
bfloat8_b), one-hot input buffer (``input_DRAM``/``input_L1``, or ``INPUTBUFFER0``/``INPUTBUFFER1`` in
TORP's older big_exp_dataset.csv), ``kernel_duration``. TILE layout, interleaved.

TORP's sweep also varied the *output* memory config, DRAM then L1 (its ``exp_sweep.py``:
``output_memory_config: [DRAM_MEMORY_CONFIG, L1_MEMORY_CONFIG]``), running each vector twice, and its CSV
keeps that order but drops the column. The output placement is read back from the order
(:func:`output_placement_from_row_order`): in a run of 4 identical consecutive rows the first pair
wrote to DRAM and the second to L1; a run of 2 is the DRAM pair alone (the L1 output did not fit: such
runs hold tensors above ~38 MB in L1 or ~80 MB in DRAM). The pairs agree within a few percent while the
two placements differ by up to 1.5x (32-bit tensors in DRAM). Runs of any other length keep the output
unrecorded: the query has no ``output`` and mixes both.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, duration, require_op, to_int

OP = "ttnn.exp"
SHAPE_COLUMNS = ("input_shape_1", "input_shape_2", "input_shape_3", "input_shape_4")
REQUIRED = SHAPE_COLUMNS + ("kernel_duration",)
# TORP's one-hot dtype columns, in TORP's spelling (the vocabulary reads bfloat8 as bfloat8_b).
DTYPE_COLUMNS = {c: vocabulary.dtype(c) for c in
                 ("bfloat8", "bfloat8_b", "bfloat16", "bfloat4", "bfloat4_b", "float32", "uint16", "uint32", "int32")}
# One-hot input buffer columns: (DRAM, L1). TORP's older big_exp_dataset.csv names them INPUTBUFFER0/1
# (buffer_type 0 = DRAM, 1 = L1 in its generating script).
BUFFER_COLUMNS = (("input_DRAM", "input_L1"), ("INPUTBUFFER0", "INPUTBUFFER1"))

# The tt-metal commit a source file was measured with, where its publisher says so, by the file's stem
# (the shared copy and the file `opcast data fetch` downloads). TORP's README pins its exp model's data to
# tt-metal 87144607; no other source records a commit.
TT_METAL_COMMITS = {
    "exp_wormhole_n150": "87144607f757092c2c0cc817d12a8942d30fbfc9",
    "final_exp_dataset": "87144607f757092c2c0cc817d12a8942d30fbfc9",
}


def tt_metal_commit(source: str) -> str | None:
    """The tt-metal commit of a record's ``source`` (``file`` or ``file/sweep``), None where unknown."""
    return TT_METAL_COMMITS.get(source.split("/")[0])


def output_placement_from_row_order(rows: pd.DataFrame) -> list[str | None]:
    """The output memory of each row, from its place in its run of identical rows (see the module
    docstring): DRAM, DRAM, L1, L1 for a run of 4, DRAM, DRAM for a run of 2, None (unknown) otherwise."""
    config = rows.drop(columns="kernel_duration").astype(str)
    run = (config != config.shift()).any(axis=1).cumsum()
    position = run.groupby(run).cumcount().to_numpy()
    length = run.map(run.value_counts()).to_numpy()
    dram, l1 = vocabulary.DRAM_INTERLEAVED, vocabulary.L1_INTERLEAVED
    by_length = {4: (dram, dram, l1, l1), 2: (dram, dram)}
    return [by_length[n][k] if n in by_length else None for n, k in zip(length, position)]


def _matches(columns: set[str]) -> bool:
    return (all(c in columns for c in REQUIRED) and any(c in columns for c in DTYPE_COLUMNS)
            and any(a in columns and b in columns for a, b in BUFFER_COLUMNS))


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    dtype_columns = [c for c in rows.columns if c in DTYPE_COLUMNS]
    dram_column, l1_column = next((a, b) for a, b in BUFFER_COLUMNS if a in rows.columns and b in rows.columns)
    placements = output_placement_from_row_order(rows)

    def read(i: int, r: dict[str, Any]) -> Measurement:
        entry = require_op(OP, catalogue)
        dur = duration(r["kernel_duration"])
        shape = []
        for k in SHAPE_COLUMNS:
            d = to_int(r[k])
            if d is None or d < 0:
                raise UnmappableRow("bad_shape", f"{k}={r[k]!r}")
            if d > 0:
                shape.append(d)
        if not shape:
            raise UnmappableRow("bad_shape", "all dims 0")
        hot = [c for c in dtype_columns if to_int(r[c]) == 1]
        if len(hot) != 1:
            raise UnmappableRow("bad_one_hot", f"dtype columns set: {hot}")
        dram, l1 = to_int(r[dram_column]), to_int(r[l1_column])
        if (dram, l1) == (1, 0):
            memory = vocabulary.DRAM_INTERLEAVED
        elif (dram, l1) == (0, 1):
            memory = vocabulary.L1_INTERLEAVED
        else:
            raise UnmappableRow("bad_one_hot", f"{dram_column}={dram}, {l1_column}={l1}")
        dtype = DTYPE_COLUMNS[hot[0]]
        placement = placements[i]
        return Measurement(
            entry=entry, inputs=[vocabulary.Tensor(shape, dtype, vocabulary.TILE, memory)],
            output=vocabulary.output_spec(dtype, placement) if placement else None, kernel_ns=dur, source=stem,
            assumed=("output_from_row_order",) if placement else ("output_unrecorded",))

    return read


FORMAT = Format(
    name="torp_exp", matches=_matches, reader=_reader,
    expected_columns=f"{', '.join(REQUIRED)}, input_DRAM, input_L1 + one-hot dtype columns")
