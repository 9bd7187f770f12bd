"""tt-mlir's decode matmuls (``ttmlir_decode/<model>__{nods,ds,guard}.matmuls.csv``): every matmul of
one decode step (M = 32) of an LLM compiled by tt-mlir and run traced on an n150: ``M,K,N``,
``cores``, ``ns`` (device kernel time), ``cfg`` (1D mcast / DRAM-sharded), ``act`` (fused
activation), ``in0_mem``/``in1_mem``/``out_mem`` (L1_WS, L1_IL, DRAM_IL, DRAM_WS), ``in1_dtype``,
``bias``, ``fidelity``.

Expressed as ``ttnn.linear`` where there is a bias, else ``ttnn.matmul``: in0 ``[1,1,M,K]``, the
weights ``[1,1,K,N]`` in ``in1_dtype``, the output ``[1,1,M,N]``. Width-sharded L1 tensors are
sharded over ``cores``; DRAM width-sharded weights over all 12 DRAM banks (the bank count is not
recorded: assumed). Not recorded either, and assumed: the activations and the output are bfloat16, the
bias ``[1,1,1,N]`` bfloat16 in DRAM. The program config (``program_config``) and a fused activation
(``fused_activations``) are kept as attributes; the DRAM-sharded program config is the one whose
weights are DRAM width-sharded, which the features see.

The build is tt-mlir's (the file's variant: __nods 99c621da, __ds ae602833, __guard 1fad065b); the
tt-metal version was not stated. ``source`` is the file stem, whose part before ``__`` names the LLM.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, blank, duration, require_op, to_int, word

REQUIRED = ("M", "K", "N", "cores", "ns", "cfg", "in0_mem", "in1_mem", "out_mem", "in1_dtype", "fidelity")
# The placements the files name, as (memory, sharded over `cores`).
PLACEMENTS = {"L1_WS": (vocabulary.L1_WIDTH_SHARDED, True), "L1_IL": (vocabulary.L1_INTERLEAVED, False),
              "DRAM_IL": (vocabulary.DRAM_INTERLEAVED, False), "DRAM_WS": (vocabulary.DRAM_WIDTH_SHARDED, False)}
DRAM_BANKS = 12
TT_MLIR_BUILDS = {"nods": "tt-mlir@99c621da", "ds": "tt-mlir@ae602833", "guard": "tt-mlir@1fad065b"}
PROGRAM_CONFIGS = {"1D mcast": "1d_mcast", "DRAM-sharded": "dram_sharded"}


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def _placement(written: Any, cores: int) -> tuple[str, dict[str, int]]:
    key = str(written).strip()
    if key not in PLACEMENTS:
        raise UnmappableRow("unsupported_memory", repr(written))
    memory, on_cores = PLACEMENTS[key]
    if memory == vocabulary.DRAM_WIDTH_SHARDED:
        return memory, {"core_count": DRAM_BANKS}
    return memory, ({"core_count": cores} if on_cores else {})


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    source = stem.removesuffix(".matmuls")  # <llm>__<variant>
    variant = source.split("__")[-1]
    build = TT_MLIR_BUILDS.get(variant, f"tt-mlir:{variant}")

    def read(i: int, r: dict[str, Any]) -> Measurement:
        m, k, n, cores = (to_int(r[c]) for c in ("M", "K", "N", "cores"))
        if not all(v is not None and v > 0 for v in (m, k, n, cores)):
            raise UnmappableRow("bad_shape", f"M={m} K={k} N={n} cores={cores}")
        biased = not blank(r.get("bias"))
        entry = require_op("ttnn.linear" if biased else "ttnn.matmul", catalogue)
        in0_memory, in0_shards = _placement(r["in0_mem"], cores)
        in1_memory, in1_shards = _placement(r["in1_mem"], cores)
        out_memory, out_shards = _placement(r["out_mem"], cores)
        weights = word(vocabulary.dtype, r["in1_dtype"], reason="unsupported_dtype")
        inputs = [vocabulary.Tensor((1, 1, m, k), vocabulary.BFLOAT16, vocabulary.TILE, in0_memory, **in0_shards),
                  vocabulary.Tensor((1, 1, k, n), weights, vocabulary.TILE, in1_memory, **in1_shards)]
        if biased:
            inputs.append(vocabulary.Tensor((1, 1, 1, n), vocabulary.BFLOAT16, vocabulary.TILE, vocabulary.DRAM_INTERLEAVED))
        attributes: dict[str, Any] = {
            "math_fidelity": word(vocabulary.math_fidelity, r["fidelity"], reason="unsupported_math_fidelity")}
        if str(r["cfg"]).strip() in PROGRAM_CONFIGS:
            attributes["program_config"] = PROGRAM_CONFIGS[str(r["cfg"]).strip()]
        if not blank(r.get("act")):
            attributes["fused_activations"] = [str(r["act"]).strip().upper()]
        return Measurement(
            entry=entry, inputs=inputs, kernel_ns=duration(r["ns"]), source=source, core_count=cores,
            output=vocabulary.output_spec(vocabulary.BFLOAT16, out_memory, **out_shards), attributes=attributes,
            assumed=("in0_dtype", "out_dtype") + (("in1_core_count",) if in1_memory == vocabulary.DRAM_WIDTH_SHARDED else ())
            + (("bias",) if biased else ()), build=build)

    return read


FORMAT = Format(name="ttmlir_decode", matches=_matches, reader=_reader, expected_columns=", ".join(REQUIRED))
