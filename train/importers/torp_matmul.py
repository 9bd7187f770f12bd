"""TORP's height-sharded matmul sweep (``matmul_height_sharded_wormhole_n150.csv``):
``m_size,k_size,n_size,num_cores,duration``.

Expressed as in0 ``[1,1,m,k]`` L1_HEIGHT_SHARDED on ``num_cores`` cores, in1 ``[1,1,k,n]``
DRAM_INTERLEAVED (TORP's code does not say where in1 lived; DRAM interleaved is the assumption), output
height sharded like in0, everything bfloat16 TILE (dtype not recorded).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, duration, require_op, to_int

OP = "ttnn.matmul"
REQUIRED = ("m_size", "k_size", "n_size", "num_cores", "duration")
DTYPE = vocabulary.BFLOAT16  # not recorded
IN0_MEMORY = vocabulary.L1_HEIGHT_SHARDED  # and the output, on in0's cores
IN1_MEMORY = vocabulary.DRAM_INTERLEAVED  # assumed


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    def read(i: int, r: dict[str, Any]) -> Measurement:
        entry = require_op(OP, catalogue)
        dur = duration(r["duration"])
        m, k, n, cores = (to_int(r[c]) for c in ("m_size", "k_size", "n_size", "num_cores"))
        if not all(v is not None and v > 0 for v in (m, k, n, cores)):
            raise UnmappableRow("bad_shape", f"m={m} k={k} n={n} cores={cores}")
        return Measurement(
            entry=entry,
            inputs=[vocabulary.Tensor((1, 1, m, k), DTYPE, vocabulary.TILE, IN0_MEMORY, core_count=cores),
                    vocabulary.Tensor((1, 1, k, n), DTYPE, vocabulary.TILE, IN1_MEMORY)],
            output=vocabulary.output_spec(DTYPE, IN0_MEMORY, core_count=cores), kernel_ns=dur, source=stem,
            core_count=cores, assumed=("dtype", "layout", "in1_memory", "math_fidelity"))

    return read


FORMAT = Format(name="torp_matmul", matches=_matches, reader=_reader, expected_columns=", ".join(REQUIRED))
