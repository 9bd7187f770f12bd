"""tt-metal's GEMM_FLOPS tables for the N150 (``gemm_flops_n150_<commit>.csv``, from
tech_reports/GEMM_FLOPS): square and rectangular matmuls ``m,k,n`` on the 8x8 grid, in0 / in1 / out
in DRAM or L1, sharded or not, one dtype for both operands, a math fidelity, traced or not.

The tables time each op on the host; their device utilisation gives the device time: ideal ns =
M·K·N / 32³ × cycles per tile (LoFi 16, HiFi2 32, HiFi4 64) / 64 cores at 1 GHz, and device ns =
ideal / utilisation ("device_based_utilization (vs full grid)", a percentage). L1 tensors in these
tables are always sharded; the tables do not say how: block sharding over the 8x8 grid is assumed
(the tuned configurations' 2D multicast program shards that way). The output dtype is assumed to be
the operands'. The build is the commit in the file name.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, require_op, to_float, to_int, word

REQUIRED = ("m", "k", "n", "in0_storage_type", "in1_storage_type", "out_storage_type", "dtype", "math_fidelity",
            "device_based_utilization (vs full grid)")
UTILISATION = "device_based_utilization (vs full grid)"
CYCLES_PER_TILE = {vocabulary.LOFI: 16, vocabulary.HIFI2: 32, vocabulary.HIFI3: 48, vocabulary.HIFI4: 64}
GRID = (8, 8)
_COMMIT = re.compile(r"_([0-9a-f]{7,40})$")


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def device_ns(m: int, k: int, n: int, fidelity: str, utilisation_pct: float) -> float:
    """The device kernel time the table's utilisation implies (see the module docstring)."""
    ideal_ns = m * k * n / 32**3 * CYCLES_PER_TILE[fidelity] / (GRID[0] * GRID[1])
    return ideal_ns / (utilisation_pct / 100.0)


def _placement(storage: Any) -> dict[str, Any]:
    s = str(storage).strip().upper()
    if s == "DRAM":
        return {"memory": vocabulary.DRAM_INTERLEAVED}
    if s == "L1":
        return {"memory": vocabulary.L1_BLOCK_SHARDED, "grid": GRID}
    raise UnmappableRow("unsupported_memory", repr(storage))


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    commit = _COMMIT.search(stem)
    build = commit.group(1) if commit else stem

    def read(i: int, r: dict[str, Any]) -> Measurement:
        m, k, n = (to_int(r[c]) for c in ("m", "k", "n"))
        utilisation = to_float(r[UTILISATION])
        if not all(v is not None and v > 0 for v in (m, k, n)):
            raise UnmappableRow("bad_shape", f"m={m} k={k} n={n}")
        if utilisation is None or utilisation <= 0:
            raise UnmappableRow("missing_duration", f"utilisation {r[UTILISATION]!r}")
        dtype = word(vocabulary.dtype, r["dtype"], reason="unsupported_dtype")
        fidelity = word(vocabulary.math_fidelity, r["math_fidelity"], reason="unsupported_math_fidelity")
        out = _placement(r["out_storage_type"])
        inputs = [vocabulary.Tensor((1, 1, m, k), dtype, vocabulary.TILE, **_placement(r["in0_storage_type"])),
                  vocabulary.Tensor((1, 1, k, n), dtype, vocabulary.TILE, **_placement(r["in1_storage_type"]))]
        return Measurement(
            entry=require_op("ttnn.matmul", catalogue), inputs=inputs,
            output=vocabulary.output_spec(dtype, out["memory"], grid=out.get("grid")),
            attributes={"math_fidelity": fidelity}, kernel_ns=device_ns(m, k, n, fidelity, utilisation), source=stem,
            assumed=("sharding", "out_dtype", "kernel_ns from utilisation"), build=build)

    return read


FORMAT = Format(name="gemm_flops", matches=_matches, reader=_reader, expected_columns=", ".join(REQUIRED))
