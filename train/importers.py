"""Importers: measurement files of several formats -> canonical records (one row per measurement).

Formats (``detect_format`` tells them apart by their columns, never by the file name):

``torp_exp``
    TORP's exp sweep: ``input_shape_1..4`` (0 = absent dim, dropped), one-hot dtype columns
    (``bfloat8`` means bfloat8_b), one-hot buffer (``input_DRAM``/``input_L1``, or
    ``INPUTBUFFER0``/``INPUTBUFFER1`` in TORP's older big_exp_dataset.csv), ``kernel_duration``.
    TILE layout, interleaved. TORP's sweep also varied the *output* memory config, DRAM then L1 (its
    ``exp_sweep.py``: ``output_memory_config: [DRAM_MEMORY_CONFIG, L1_MEMORY_CONFIG]``), running each
    vector twice, and its CSV keeps that order but drops the column. The output placement is read back
    from the order (``output_placement_from_row_order``): in a run of 4 identical consecutive rows the
    first pair wrote to DRAM and the second to L1; a run of 2 is the DRAM pair alone (the L1 output did
    not fit: such runs hold tensors above ~38 MB in L1 or ~80 MB in DRAM). The pairs agree within a
    few percent while the two placements differ by up to 1.5x (32-bit tensors in DRAM). Runs of any
    other length keep the output unrecorded: the query has no ``output`` and mixes both.
``torp_matmul``
    TORP's height-sharded matmul sweep: ``m_size,k_size,n_size,num_cores,duration``. Expressed as
    in0 ``[1,1,m,k]`` L1_HEIGHT_SHARDED on ``num_cores`` cores, in1 ``[1,1,k,n]`` DRAM_INTERLEAVED
    (TORP's code does not say where in1 lived; DRAM interleaved is the assumption), output height
    sharded like in0, everything bfloat16 TILE (dtype not recorded).
``profiler``
    tt-metal ``ops_perf_results_*.csv`` of any version: ``OP CODE`` + unary/binary op type from
    ``ATTRIBUTES`` (``BinaryOpType::ADD``, ``op_chain ... UnaryOpType::EXP``, ``'op_type': ...``) are
    mapped to a TTNN op through the catalogue's ``profiler`` lists only (a match may also name the
    number of tensor inputs, ``{"op_code": "Matmul", "inputs": 3}``, to route a bias matmul to
    ``ttnn.linear``). Shapes from ``INPUT_i_{W,Z,Y,X}`` (plain; older reports) or
    ``INPUT_i_{W,Z,Y,X}_PAD[LOGICAL]`` (``64[50]``: the logical 50 is used); inputs whose columns are
    empty are absent from the query. Memory ``DEV_0_L1_BLOCK_SHARDED`` -> ``L1_BLOCK_SHARDED``, dtype
    lower-cased. A sharded tensor takes grid and core count from a shard spec of the same memory
    layout in ATTRIBUTES (``shard_spec=ShardSpec(grid={[(x=0;y=0) - (x=7;y=3)]}...``), else the
    ``CORE COUNT`` column. ``output`` from ``OUTPUT_0_*``; duration from ``DEVICE KERNEL DURATION [ns]``.
``sweep_table``
    The Wormhole perf-modelling sweep tables (``source_id, record_kind, op_code, op_detail, ...,
    in0_w.., in0_buffer_type, in0_mem_layout, ..., grid_x, grid_y, core_count, kernel_ns,
    config_key``). The op comes from ``op_code`` + the first word of ``op_detail`` through the
    catalogue. Recorded shapes are used (in1 = in0 where in1's shape is missing); dtype bfloat16
    where not recorded (output dtype = input dtype); TILE layout. The row's shard grid applies to
    every sharded tensor of the row. The moving-rectangle start (``grid_start_x/y``) is not part of the
    query, so the placements of one configuration are its repeats. Rows with only ``num_tiles`` (relu)
    get the representative shape ``[1, 1, 32*num_tiles, 32]`` (tile-aligned, shards by height over any
    core count). In the sharded relu sweeps ``num_tiles`` is the per-core shard (the sweep ran the
    same shard on 1 to 64 cores and did not record which) and the kernel time follows the shard, so
    those rows are recorded as the one-core configuration (``grid [1, 1]``, ``core_count 1``).

The canonical record columns (``RECORD_COLUMNS``; missing values are None/NaN):

``op`` (``ttnn.exp``), ``query`` (compact, key-sorted JSON; see ``make_query``), ``kernel_ns``,
``source`` (``<file stem>`` or ``<file stem>/<source_id>``), ``group`` (op + every input's shape:
``ttnn.matmul|1x1x640x96|1x1x96x288``), ``format``, ``file``, ``row`` (0-based data row),
``op_code`` (profiler/sweep op code), ``n_inputs``, ``in0_shape``/``in1_shape`` (``1x1x32x32``),
``in0_dtype``/``in1_dtype``, ``in0_layout``, ``in0_memory``/``in1_memory``, ``out_dtype``,
``out_memory``, ``core_count`` (cores the op ran on or the shard grid's cores, as the source gives),
``num_tiles`` (32x32 tiles of input 0 after tile padding), ``config_key`` (sweep tables),
``assumed`` (``;``-separated list of query fields that are assumptions rather than recorded values).

The query (``make_query``) follows the project's short-form schema: ``op``, ``inputs`` (``shape``,
``dtype``, ``layout``, ``memory``; ``grid`` ``[x, y]`` and/or ``core_count`` for sharded memory),
optional ``output`` (``dtype``, ``memory``, ``grid``/``core_count``), ``attributes``. Attributes are
the catalogue-declared ones the source records (``math_fidelity`` for matmul, ``dim0``/``dim1`` for
transpose, ``dim`` for reductions), with values equal to the catalogue default left out so that
identical configurations from different sources give identical strings; plus, for data-movement ops,
``layout`` when the output layout differs from input 0 (tilize/untilize) and ``shape`` (the output's
logical shape) whenever the op declares no attributes of its own (reshape, slice, permute, concat,
to_layout, to_memory_config; not transpose, whose dims say it; the query parser needs it for
reshape/slice/permute), and ``fused_activations`` for unary chains/binary ops with fused activations.

Skipped rows are counted per file and reason. ``load(paths)`` returns the records with the per-file
summary attached as ``records.attrs["import_report"]``; ``load(paths, report=True)`` returns
``(records, report)``. Reasons: ``host_op`` (``(torch) ...`` rows), ``unknown_op_code`` (op code in
no catalogue ``profiler`` list), ``unknown_op_type`` (op code known, op type not: e.g. Unary ERF),
``op_not_in_catalogue`` (TORP/sweep op missing from the catalogue), ``missing_duration``,
``bad_shape``, ``unsupported_dtype``, ``unsupported_layout``, ``unsupported_memory``,
``bad_one_hot``, ``inputs_outside_catalogue`` (more or fewer tensor inputs than the catalogue entry
takes), ``sharding_unrecorded`` (a sharded tensor with neither grid nor core count: the query
parser needs one), ``inconsistent_shapes`` (binary inputs that do not broadcast, matmul inner dims
that differ: seen where old reports give padded shapes); ``unknown_format`` counts whole files
found in a folder whose columns match no format.

``load_file(path)`` imports one file the same way (its one-row summary in ``attrs`` as well).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .. import catalogue as _catalogue

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# Schema vocabulary
# ----------------------------------------------------------------------------------------------
DTYPES = ("bfloat16", "bfloat8_b", "bfloat4_b", "float32", "uint16", "uint32", "int32")
LAYOUTS = ("TILE", "ROW_MAJOR")
MEMORIES = ("DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_HEIGHT_SHARDED", "L1_WIDTH_SHARDED", "L1_BLOCK_SHARDED")
SHARDED = frozenset(m for m in MEMORIES if m.endswith("_SHARDED"))
MAX_RANK = 8
TILE = 32

RECORD_COLUMNS = [
    "op", "query", "kernel_ns", "source", "group", "format", "file", "row", "op_code", "n_inputs",
    "in0_shape", "in0_dtype", "in0_layout", "in0_memory", "in1_shape", "in1_dtype", "in1_memory",
    "out_dtype", "out_memory", "core_count", "num_tiles", "config_key", "assumed",
]

FORMATS = ("torp_exp", "torp_matmul", "profiler", "sweep_table")

_TORP_EXP_REQUIRED = ("input_shape_1", "input_shape_2", "input_shape_3", "input_shape_4", "kernel_duration")
# One-hot input buffer columns: (DRAM, L1). TORP's older big_exp_dataset.csv names them INPUTBUFFER0/1
# (buffer_type 0 = DRAM, 1 = L1 in its generating script).
_TORP_EXP_BUFFERS = (("input_DRAM", "input_L1"), ("INPUTBUFFER0", "INPUTBUFFER1"))
_TORP_MATMUL_REQUIRED = ("m_size", "k_size", "n_size", "num_cores", "duration")
_PROFILER_REQUIRED = ("OP CODE", "DEVICE KERNEL DURATION [ns]")
_SWEEP_REQUIRED = ("source_id", "op_code", "op_detail", "num_tiles", "in0_buffer_type", "in0_mem_layout",
                   "out0_buffer_type", "out0_mem_layout", "kernel_ns", "config_key")

_EXPECTED_TEXT = (
    f"torp_exp ({', '.join(_TORP_EXP_REQUIRED)}, input_DRAM, input_L1 + one-hot dtype columns); "
    f"torp_matmul ({', '.join(_TORP_MATMUL_REQUIRED)}); "
    "profiler (OP CODE, DEVICE KERNEL DURATION [ns], INPUT_0_W/Z/Y/X or INPUT_0_W_PAD[LOGICAL].., "
    "INPUT_0_MEMORY, ...); "
    f"sweep_table ({', '.join(_SWEEP_REQUIRED)}, in0_w.., grid_x, grid_y, core_count, ...)"
)

# TORP exp one-hot dtype columns -> schema dtype.
_TORP_DTYPE_COLUMNS = {"bfloat8": "bfloat8_b", "bfloat8_b": "bfloat8_b", "bfloat16": "bfloat16",
                       "bfloat4": "bfloat4_b", "bfloat4_b": "bfloat4_b", "float32": "float32",
                       "uint16": "uint16", "uint32": "uint32", "int32": "int32"}


class UnmappableRow(Exception):
    """A row that cannot become a record; ``reason`` is the skip-count key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ----------------------------------------------------------------------------------------------
# Query construction and validation
# ----------------------------------------------------------------------------------------------
def canonical_json(obj: Any) -> str:
    """The one JSON rendering used for queries: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _sharding(memory: str, grid: Sequence[int] | None, core_count: int | None) -> dict[str, Any]:
    """``grid``/``core_count`` of a sharded placement (nothing for interleaved); with a grid and no core
    count, the core count is the grid's area."""
    if memory not in SHARDED:
        return {}
    out: dict[str, Any] = {}
    if grid is not None:
        out["grid"] = [int(grid[0]), int(grid[1])]
        if core_count is None:
            core_count = int(grid[0]) * int(grid[1])
    if core_count is not None:
        out["core_count"] = int(core_count)
    return out


def tensor_spec(shape: Sequence[int], dtype: str, layout: str, memory: str, *,
                grid: Sequence[int] | None = None, core_count: int | None = None) -> dict[str, Any]:
    """One input of a query."""
    return {"shape": [int(d) for d in shape], "dtype": dtype, "layout": layout, "memory": memory,
            **_sharding(memory, grid, core_count)}


def output_spec(dtype: str, memory: str, *, grid: Sequence[int] | None = None,
                core_count: int | None = None) -> dict[str, Any]:
    return {"dtype": dtype, "memory": memory, **_sharding(memory, grid, core_count)}


def make_query(op: str, inputs: Sequence[dict[str, Any]], output: dict[str, Any] | None = None,
               attributes: dict[str, Any] | None = None) -> str:
    """The canonical short-form query string (validated)."""
    q: dict[str, Any] = {"op": op, "inputs": list(inputs), "attributes": dict(attributes or {})}
    if output is not None:
        q["output"] = output
    validate_query(q)
    return canonical_json(q)


def _check_tensor(t: Any, where: str, *, is_output: bool) -> None:
    if not isinstance(t, dict):
        raise ValueError(f"{where}: not an object")
    allowed = {"dtype", "memory", "grid", "core_count"} | (set() if is_output else {"shape", "layout"})
    extra = set(t) - allowed
    if extra:
        raise ValueError(f"{where}: unexpected keys {sorted(extra)}")
    if not is_output:
        shape = t.get("shape")
        if (not isinstance(shape, list) or not 1 <= len(shape) <= MAX_RANK
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
            raise ValueError(f"{where}: shape must be a list of 1..{MAX_RANK} positive ints, got {shape!r}")
        if t.get("layout") not in LAYOUTS:
            raise ValueError(f"{where}: layout must be one of {LAYOUTS}, got {t.get('layout')!r}")
    if t.get("dtype") not in DTYPES:
        raise ValueError(f"{where}: dtype must be one of {DTYPES}, got {t.get('dtype')!r}")
    mem = t.get("memory")
    if mem not in MEMORIES:
        raise ValueError(f"{where}: memory must be one of {MEMORIES}, got {mem!r}")
    if ("grid" in t or "core_count" in t) and mem not in SHARDED:
        raise ValueError(f"{where}: grid/core_count only belong to sharded memory, not {mem}")
    if mem in SHARDED and "grid" not in t and "core_count" not in t:
        raise ValueError(f"{where}: sharded memory needs \"grid\": [x, y] and/or \"core_count\"")
    if "grid" in t:
        g = t["grid"]
        if not (isinstance(g, list) and len(g) == 2 and all(isinstance(v, int) and v > 0 for v in g)):
            raise ValueError(f"{where}: grid must be [x, y] positive ints, got {g!r}")
    if "core_count" in t:
        c = t["core_count"]
        if not (isinstance(c, int) and not isinstance(c, bool) and c > 0):
            raise ValueError(f"{where}: core_count must be a positive int, got {c!r}")


def validate_query(q: str | dict[str, Any]) -> dict[str, Any]:
    """Check a query (string or parsed) against the short-form schema; returns the parsed dict."""
    if isinstance(q, str):
        q = json.loads(q)
    if not isinstance(q, dict):
        raise ValueError("query: not a JSON object")
    extra = set(q) - {"op", "inputs", "output", "attributes"}
    if extra:
        raise ValueError(f"query: unexpected keys {sorted(extra)}")
    if not isinstance(q.get("op"), str) or not q["op"].startswith("ttnn."):
        raise ValueError(f"query: op must be a 'ttnn.*' name, got {q.get('op')!r}")
    inputs = q.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("query: inputs must be a non-empty list")
    for i, t in enumerate(inputs):
        _check_tensor(t, f"query.inputs[{i}]", is_output=False)
    if "output" in q:
        _check_tensor(q["output"], "query.output", is_output=True)
    if not isinstance(q.get("attributes"), dict):
        raise ValueError("query: attributes must be an object")
    return q


def shape_str(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def make_group(op: str, shapes: Iterable[Sequence[int]]) -> str:
    """The split group: op + every input's shape (dtype, memory, cores ignored)."""
    return "|".join([op] + [shape_str(s) for s in shapes])


def tile_count(shape: Sequence[int]) -> int:
    """32x32 tiles after padding the last two dims to tile multiples."""
    dims = [int(d) for d in shape]
    if len(dims) == 1:
        dims = [1] + dims
    batch = math.prod(dims[:-2]) if len(dims) > 2 else 1
    return batch * (-(-dims[-2] // TILE)) * (-(-dims[-1] // TILE))


# ----------------------------------------------------------------------------------------------
# Value normalisation
# ----------------------------------------------------------------------------------------------
def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() in ("", "nan", "NaN", "None")


def norm_dtype(v: Any) -> str:
    s = str(v).strip()
    s = s.rsplit("::", 1)[-1].rsplit(".", 1)[-1].lower()
    if s == "bfloat8":
        s = "bfloat8_b"
    if s == "bfloat4":
        s = "bfloat4_b"
    if s not in DTYPES:
        raise UnmappableRow("unsupported_dtype", repr(v))
    return s


def norm_layout(v: Any) -> str:
    s = str(v).strip().rsplit("::", 1)[-1].rsplit(".", 1)[-1].upper()
    if s.endswith("_LAYOUT"):
        s = s[: -len("_LAYOUT")]
    if s not in LAYOUTS:
        raise UnmappableRow("unsupported_layout", repr(v))
    return s


_DEV_PREFIX = re.compile(r"^DEV_\d+_")


def norm_memory(v: Any) -> str:
    """``DEV_0_L1_BLOCK_SHARDED`` / ``L1_BLOCK_SHARDED`` -> ``L1_BLOCK_SHARDED``."""
    s = _DEV_PREFIX.sub("", str(v).strip().upper())
    if s not in MEMORIES:
        raise UnmappableRow("unsupported_memory", repr(v))
    return s


def memory_from_parts(buffer_type: Any, mem_layout: Any) -> str:
    """Sweep-table ``buffer_type`` + ``mem_layout`` (``L1`` + ``BLOCK_SHARDED``) -> schema memory."""
    bt = str(buffer_type).strip().upper().rsplit("::", 1)[-1]
    ml = str(mem_layout).strip().upper().rsplit("::", 1)[-1]
    return norm_memory(f"{bt}_{ml}")


_PAD_LOGICAL = re.compile(r"^\s*(\d+(?:\.0*)?)\s*\[\s*(\d+(?:\.0*)?)\s*\]\s*$")


def parse_dim(v: Any) -> int:
    """A profiler dim: ``64``, ``64.0`` or ``64[50]`` (padded[logical]; the logical 50 is returned)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if isinstance(v, float) and (math.isnan(v) or v != int(v)):
            raise UnmappableRow("bad_shape", repr(v))
        return int(v)
    s = str(v).strip()
    m = _PAD_LOGICAL.match(s)
    if m:
        return int(float(m.group(2)))
    try:
        f = float(s)
    except ValueError:
        raise UnmappableRow("bad_shape", repr(v)) from None
    if math.isnan(f) or f != int(f):
        raise UnmappableRow("bad_shape", repr(v))
    return int(f)


def _to_int(v: Any) -> int | None:
    if _blank(v):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(f):
        return None
    return int(f)


def _duration(v: Any) -> float:
    """A measured duration in ns; a missing or non-positive one makes the row unusable."""
    dur = _to_float(v)
    if dur is None or dur <= 0:
        raise UnmappableRow("missing_duration")
    return dur


def _to_float(v: Any) -> float | None:
    if _blank(v):
        return None
    try:
        f = float(str(v).replace(",", "")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return f


# ----------------------------------------------------------------------------------------------
# Format detection
# ----------------------------------------------------------------------------------------------
def _columns_of(path: str | os.PathLike[str] | io.StringIO) -> list[str]:
    try:
        cols = pd.read_csv(path, nrows=0).columns
    except pd.errors.EmptyDataError:
        return []
    return [str(c).strip() for c in cols]


def _format_of_columns(cols: Sequence[str]) -> str | None:
    c = set(cols)
    if all(k in c for k in _PROFILER_REQUIRED) and ("INPUT_0_W" in c or "INPUT_0_W_PAD[LOGICAL]" in c
                                                    or any(x.startswith("INPUT_0_W") for x in c)):
        return "profiler"
    if all(k in c for k in _SWEEP_REQUIRED):
        return "sweep_table"
    if all(k in c for k in _TORP_MATMUL_REQUIRED):
        return "torp_matmul"
    if (all(k in c for k in _TORP_EXP_REQUIRED) and any(k in c for k in _TORP_DTYPE_COLUMNS)
            and any(a in c and b in c for a, b in _TORP_EXP_BUFFERS)):
        return "torp_exp"
    return None


def detect_format(path: str | os.PathLike[str], text: str | None = None) -> str:
    """``torp_exp``, ``torp_matmul``, ``profiler`` or ``sweep_table``, from the file's columns (read
    from ``text`` where given)."""
    cols = _columns_of(path if text is None else io.StringIO(text))
    fmt = _format_of_columns(cols)
    if fmt is None:
        shown = ", ".join(cols[:20]) + (f", ... ({len(cols)} columns)" if len(cols) > 20 else "")
        raise ValueError(f"{path}: columns match no known measurement format. Found: [{shown}]. "
                         f"Expected one of: {_EXPECTED_TEXT}")
    return fmt


# ----------------------------------------------------------------------------------------------
# Per-file statistics
# ----------------------------------------------------------------------------------------------
@dataclass
class FileStats:
    file: str
    format: str
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def as_row(self) -> dict[str, Any]:
        d: dict[str, Any] = {"file": self.file, "format": self.format, "rows_read": self.rows_read,
                             "rows_kept": self.rows_kept, "rows_skipped": sum(self.skipped.values())}
        for reason, n in sorted(self.skipped.items()):
            d[f"skip_{reason}"] = n
        return d


def _report_frame(stats: Sequence[FileStats]) -> pd.DataFrame:
    rows = [s.as_row() for s in stats]
    df = pd.DataFrame(rows, columns=None if rows else ["file", "format", "rows_read", "rows_kept", "rows_skipped"])
    skip_cols = sorted(c for c in df.columns if c.startswith("skip_"))
    df = df[["file", "format", "rows_read", "rows_kept", "rows_skipped"] + skip_cols]
    if skip_cols:
        df[skip_cols] = df[skip_cols].fillna(0).astype(int)
    return df


# ----------------------------------------------------------------------------------------------
# Record assembly shared by all importers
# ----------------------------------------------------------------------------------------------
def _check_consistent(entry: dict[str, Any] | None, inputs: list[dict[str, Any]], output: dict[str, Any] | None) -> None:
    """Skip rows the query parser would reject: sharding without cores, input counts or shapes the op
    cannot take."""
    kind = entry.get("kind") if entry else None
    if entry is not None:
        lo, hi = _catalogue.input_range(entry)
        if not lo <= len(inputs) <= hi:
            raise UnmappableRow("inputs_outside_catalogue",
                                f"{entry['name']} takes {lo}..{hi} inputs, the row has {len(inputs)}")
    for t in inputs + ([output] if output else []):
        if t["memory"] in SHARDED and "grid" not in t and "core_count" not in t:
            raise UnmappableRow("sharding_unrecorded", t["memory"])
    if kind == "eltwise_binary" and len(inputs) >= 2:
        a, b = inputs[0]["shape"], inputs[1]["shape"]
        for da, db in zip(reversed(a), reversed(b)):
            if da != db and da != 1 and db != 1:
                raise UnmappableRow("inconsistent_shapes", f"{a} and {b} do not broadcast")
    if kind == "matmul" and len(inputs) >= 2:
        a, b = inputs[0]["shape"], inputs[1]["shape"]
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise UnmappableRow("inconsistent_shapes", f"matmul {a} x {b}")


def _record(*, op: str, inputs: list[dict[str, Any]], output: dict[str, Any] | None, attributes: dict[str, Any],
            kernel_ns: float, source: str, fmt: str, file: str, row: int, op_code: str | None = None,
            core_count: int | None = None, config_key: str | None = None, assumed: Sequence[str] = (),
            num_tiles: int | None = None, entry: dict[str, Any] | None = None) -> dict[str, Any]:
    _check_consistent(entry, inputs, output)
    query = make_query(op, inputs, output, attributes)
    in0 = inputs[0]
    in1 = inputs[1] if len(inputs) > 1 else None
    return {
        "op": op, "query": query, "kernel_ns": float(kernel_ns), "source": source,
        "group": make_group(op, [t["shape"] for t in inputs]), "format": fmt, "file": file, "row": int(row),
        "op_code": op_code, "n_inputs": len(inputs),
        "in0_shape": shape_str(in0["shape"]), "in0_dtype": in0["dtype"], "in0_layout": in0["layout"],
        "in0_memory": in0["memory"],
        "in1_shape": shape_str(in1["shape"]) if in1 else None, "in1_dtype": in1["dtype"] if in1 else None,
        "in1_memory": in1["memory"] if in1 else None,
        "out_dtype": output["dtype"] if output else None, "out_memory": output["memory"] if output else None,
        "core_count": core_count, "num_tiles": num_tiles if num_tiles is not None else tile_count(in0["shape"]),
        "config_key": config_key, "assumed": ";".join(assumed) if assumed else None,
    }


def _require_op(op: str, cat: dict[str, Any]) -> dict[str, Any]:
    entry = _catalogue.op_entry(op, cat)
    if entry is None:
        raise UnmappableRow("op_not_in_catalogue", op)
    return entry


# ----------------------------------------------------------------------------------------------
# TORP exp
# ----------------------------------------------------------------------------------------------
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


def output_placement_from_row_order(df: pd.DataFrame) -> list[str | None]:
    """The output memory of each row of a TORP exp CSV, from its place in its run of identical rows
    (see the module docstring): DRAM, DRAM, L1, L1 for a run of 4, DRAM, DRAM for a run of 2, None
    (unknown) otherwise."""
    config = df.drop(columns="kernel_duration").astype(str)
    run = (config != config.shift()).any(axis=1).cumsum()
    position = run.groupby(run).cumcount().to_numpy()
    length = run.map(run.value_counts()).to_numpy()
    by_length = {4: ("DRAM_INTERLEAVED", "DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_INTERLEAVED"),
                 2: ("DRAM_INTERLEAVED", "DRAM_INTERLEAVED")}
    return [by_length[n][k] if n in by_length else None for n, k in zip(length, position)]


def _import_torp_exp(df: pd.DataFrame, stats: FileStats, source: str, file: str, cat: dict[str, Any]) -> list[dict]:
    op = "ttnn.exp"
    dtype_cols = [c for c in df.columns if c in _TORP_DTYPE_COLUMNS]
    dram_col, l1_col = next((a, b) for a, b in _TORP_EXP_BUFFERS if a in df.columns and b in df.columns)
    placements = output_placement_from_row_order(df)
    out = []
    for i, r in enumerate(df.to_dict("records")):
        try:
            entry = _require_op(op, cat)
            dur = _duration(r["kernel_duration"])
            shape = []
            for k in ("input_shape_1", "input_shape_2", "input_shape_3", "input_shape_4"):
                d = _to_int(r[k])
                if d is None or d < 0:
                    raise UnmappableRow("bad_shape", f"{k}={r[k]!r}")
                if d > 0:
                    shape.append(d)
            if not shape:
                raise UnmappableRow("bad_shape", "all dims 0")
            hot = [c for c in dtype_cols if _to_int(r[c]) == 1]
            if len(hot) != 1:
                raise UnmappableRow("bad_one_hot", f"dtype columns set: {hot}")
            dram, l1 = _to_int(r[dram_col]), _to_int(r[l1_col])
            if (dram, l1) == (1, 0):
                mem = "DRAM_INTERLEAVED"
            elif (dram, l1) == (0, 1):
                mem = "L1_INTERLEAVED"
            else:
                raise UnmappableRow("bad_one_hot", f"{dram_col}={dram}, {l1_col}={l1}")
            dtype = _TORP_DTYPE_COLUMNS[hot[0]]
            inputs = [tensor_spec(shape, dtype, "TILE", mem)]
            placement = placements[i]
            output = output_spec(dtype, placement) if placement else None
            assumed = ("output_from_row_order",) if placement else ("output_unrecorded",)
            out.append(_record(op=op, inputs=inputs, output=output, attributes={}, kernel_ns=dur, source=source,
                               fmt="torp_exp", file=file, row=i, assumed=assumed, entry=entry))
        except UnmappableRow as e:
            stats.skipped[e.reason] += 1
    return out


# ----------------------------------------------------------------------------------------------
# TORP height-sharded matmul
# ----------------------------------------------------------------------------------------------
TORP_MATMUL_IN1_MEMORY = "DRAM_INTERLEAVED"


def _import_torp_matmul(df: pd.DataFrame, stats: FileStats, source: str, file: str, cat: dict[str, Any]) -> list[dict]:
    op = "ttnn.matmul"
    out = []
    for i, r in enumerate(df.to_dict("records")):
        try:
            entry = _require_op(op, cat)
            dur = _duration(r["duration"])
            m, k, n, cores = (_to_int(r[c]) for c in ("m_size", "k_size", "n_size", "num_cores"))
            if not all(v is not None and v > 0 for v in (m, k, n, cores)):
                raise UnmappableRow("bad_shape", f"m={m} k={k} n={n} cores={cores}")
            inputs = [
                tensor_spec([1, 1, m, k], "bfloat16", "TILE", "L1_HEIGHT_SHARDED", core_count=cores),
                tensor_spec([1, 1, k, n], "bfloat16", "TILE", TORP_MATMUL_IN1_MEMORY),
            ]
            output = output_spec("bfloat16", "L1_HEIGHT_SHARDED", core_count=cores)
            out.append(_record(op=op, inputs=inputs, output=output, attributes={}, kernel_ns=dur, source=source,
                               fmt="torp_matmul", file=file, row=i, core_count=cores, entry=entry,
                               assumed=("dtype", "layout", "in1_memory", "math_fidelity")))
        except UnmappableRow as e:
            stats.skipped[e.reason] += 1
    return out


# ----------------------------------------------------------------------------------------------
# Profiler reports
# ----------------------------------------------------------------------------------------------
_ATTR_PAIR = re.compile(r"'([^']+)'\s*:\s*'([^']*)'")
_BINARY_TYPE = re.compile(r"BinaryOpType::(\w+)")
_UNARY_TYPE = re.compile(r"UnaryOpType::(\w+)")
_SHARDED_MEMCFG = re.compile(
    r"memory_layout=TensorMemoryLayout::(\w+);\s*buffer_type=BufferType::(\w+);\s*shard_spec=ShardSpec\(grid=\{([^}]*)\}")
_CORE_RANGE = re.compile(r"\(x=(\d+);\s*y=(\d+)\)\s*-\s*\(x=(\d+);\s*y=(\d+)\)")
_FIDELITY = re.compile(r"math_fidelity=(?:MathFidelity::)?(\w+)")
_TRANSPOSE_DIMS = {"WH": (-2, -1), "HC": (-3, -2), "CN": (-4, -3), "NH": (-4, -2), "NW": (-4, -1), "CW": (-3, -1)}
_REDUCE_DIMS = {"W": -1, "H": -2, "HW": [-2, -1]}
_ACTIVATION_FIELDS = ("activations", "lhs_activations", "rhs_activations", "post_activations",
                      "input_tensor_a_activation", "fused_activation", "user_fused_activation")


def parse_attributes(text: Any) -> dict[str, str]:
    """A profiler ATTRIBUTES cell (``{'key': 'value'; ...}``) -> dict of strings."""
    if _blank(text):
        return {}
    return dict(_ATTR_PAIR.findall(str(text)))


def op_type_of(attributes_text: Any) -> str | None:
    """The unary/binary op type named in ATTRIBUTES (``BinaryOpType::ADD`` -> ``ADD``), binary first."""
    if _blank(attributes_text):
        return None
    s = str(attributes_text)
    m = _BINARY_TYPE.search(s) or _UNARY_TYPE.search(s)
    if m:
        return m.group(1)
    a = parse_attributes(s)
    for key in ("op_type", "binary_op_type", "unary_op_type"):
        if key in a and a[key]:
            return _catalogue.strip_enum_prefix(a[key])
    return None


def parse_core_grid(text: str) -> tuple[int, list[int] | None]:
    """``[(x=0;y=0) - (x=7;y=3)]; ...`` -> (cores, [x, y] when it is one rectangle else None)."""
    ranges = [tuple(int(v) for v in m) for m in _CORE_RANGE.findall(text)]
    if not ranges:
        return 0, None
    cores = sum((x2 - x1 + 1) * (y2 - y1 + 1) for x1, y1, x2, y2 in ranges)
    grid = None
    if len(ranges) == 1:
        x1, y1, x2, y2 = ranges[0]
        grid = [x2 - x1 + 1, y2 - y1 + 1]
    return cores, grid


def shard_specs(attributes_text: Any) -> list[tuple[str, int, list[int] | None]]:
    """Sharded memory configs named in ATTRIBUTES: (schema memory, cores, grid or None)."""
    if _blank(attributes_text):
        return []
    out = []
    for layout, buf, grid_text in _SHARDED_MEMCFG.findall(str(attributes_text)):
        try:
            mem = norm_memory(f"{buf}_{layout}")
        except UnmappableRow:
            continue
        cores, grid = parse_core_grid(grid_text)
        if cores:
            out.append((mem, cores, grid))
    return out


def _profiler_dim_columns(cols: Sequence[str], prefix: str) -> list[str] | None:
    """The W, Z, Y, X columns of one tensor (``INPUT_0`` / ``OUTPUT_0``), plain or PAD[LOGICAL] style."""
    out = []
    colset = set(cols)
    for d in ("W", "Z", "Y", "X"):
        plain = f"{prefix}_{d}"
        if f"{plain}_PAD[LOGICAL]" in colset:
            out.append(f"{plain}_PAD[LOGICAL]")
        elif plain in colset:
            out.append(plain)
        else:
            alt = [c for c in cols if c.startswith(f"{plain}_") and c != f"{plain}_PAD"]
            if not alt:
                return None
            out.append(alt[0])
    return out


def _profiler_tensor_columns(cols: Sequence[str], prefix: str) -> dict[str, Any] | None:
    dims = _profiler_dim_columns(cols, prefix)
    if dims is None:
        return None
    return {"dims": dims, "layout": f"{prefix}_LAYOUT", "dtype": f"{prefix}_DATATYPE", "memory": f"{prefix}_MEMORY"}


def _select_entry(op_code: str, op_type: str | None, n_inputs: int, cat: dict[str, Any],
                  memo: dict | None = None) -> dict[str, Any]:
    """The catalogue entry for a profiler/sweep row (memoised in ``memo`` when given)."""
    if memo is None:
        return _select_entry_uncached(op_code, op_type, n_inputs, cat)
    key = (op_code, op_type, n_inputs)
    if key not in memo:
        try:
            memo[key] = _select_entry_uncached(op_code, op_type, n_inputs, cat)
        except UnmappableRow as e:
            memo[key] = e
    hit = memo[key]
    if isinstance(hit, UnmappableRow):
        raise UnmappableRow(hit.reason, hit.detail)
    return hit


def _select_entry_uncached(op_code: str, op_type: str | None, n_inputs: int,
                           cat: dict[str, Any]) -> dict[str, Any]:
    cands = _catalogue.profiler_candidates(op_code, cat)
    if not cands:
        raise UnmappableRow("unknown_op_code", op_code)
    typed = [(e, m) for e, m in cands if "op_type" in m]
    if typed:
        if op_type is None:
            pool = [(e, m) for e, m in cands if "op_type" not in m]
        else:
            pool = [(e, m) for e, m in typed if _catalogue.strip_enum_prefix(str(m["op_type"])).upper() == op_type.upper()]
            if not pool:
                pool = [(e, m) for e, m in cands if "op_type" not in m]
        if not pool:
            raise UnmappableRow("unknown_op_type", f"{op_code} {op_type}")
    else:
        pool = cands
    # An optional "inputs" key in a profiler match routes rows by their tensor-input count.
    counted = [(e, m) for e, m in pool if "inputs" in m]
    if counted:
        exact = [(e, m) for e, m in counted if int(m["inputs"]) == n_inputs]
        pool = exact or [(e, m) for e, m in pool if "inputs" not in m]
        if not pool:
            raise UnmappableRow("unknown_op_code", f"{op_code} with {n_inputs} inputs")
    names = sorted({e["name"] for e, _ in pool})
    if len(names) > 1:
        log.debug("op code %s (%s) maps to several ops %s; taking %s", op_code, op_type, names, names[0])
    return next(e for e, _ in pool if e["name"] == names[0])


def _attribute_value(key: str, row: dict[str, Any], attrs: dict[str, str], attr_text: str) -> Any:
    if key == "math_fidelity":
        v = row.get("MATH FIDELITY")
        if not _blank(v):
            return str(v).strip().rsplit("::", 1)[-1]
        m = _FIDELITY.search(attr_text)
        return m.group(1) if m else None
    if key in ("dim0", "dim1"):
        d = attrs.get("dim", "")
        pair = _TRANSPOSE_DIMS.get(_catalogue.strip_enum_prefix(d)) if d else None
        if pair is None:
            return None
        return pair[0] if key == "dim0" else pair[1]
    if key == "dim":
        d = attrs.get("dim")
        if d is None:
            return None
        name = _catalogue.strip_enum_prefix(d)
        if name in _REDUCE_DIMS:
            return _REDUCE_DIMS[name]
        iv = _to_int(name)
        return iv
    if key in attrs:
        v = attrs[key]
        iv = _to_int(v)
        if iv is not None and str(iv) == v.strip():
            return iv
        fv = _to_float(v)
        return fv if fv is not None else _catalogue.strip_enum_prefix(v)
    return None


def _fused_activations(entry: dict[str, Any], attrs: dict[str, str], op_type: str | None) -> list[str]:
    acts: list[str] = []
    if entry.get("kind") == "eltwise_unary":
        chain = _UNARY_TYPE.findall(attrs.get("op_chain", ""))
        acts = [a.lower() for a in chain[1:]]
    elif entry.get("kind") == "eltwise_binary":
        for f in _ACTIVATION_FIELDS:
            acts += [a.lower() for a in _UNARY_TYPE.findall(attrs.get(f, ""))]
    return acts


def _profiler_row(r: dict[str, Any], cols: dict[str, Any], cat: dict[str, Any],
                  memo: dict | None = None) -> tuple[dict[str, Any], dict]:
    op_code = str(r.get("OP CODE", "")).strip()
    op_type_col = str(r.get("OP TYPE", "")).strip().lower()
    if op_code.startswith("(") or op_type_col == "python_fallback":
        raise UnmappableRow("host_op", op_code)
    attr_text = "" if _blank(r.get("ATTRIBUTES")) else str(r["ATTRIBUTES"])
    attrs = parse_attributes(attr_text)
    op_type = op_type_of(attr_text)

    present = []
    for tc in cols["inputs"]:
        if not _blank(r.get(tc["memory"])) or not _blank(r.get(tc["dims"][-1])):
            present.append(tc)
    entry = _select_entry(op_code, op_type, len(present), cat, memo)
    dur = _duration(r.get("DEVICE KERNEL DURATION [ns]"))

    core_col = _to_int(r.get("CORE COUNT"))
    specs = shard_specs(attr_text)

    def sharding(mem: str) -> tuple[list[int] | None, int | None]:
        if mem not in SHARDED:
            return None, None
        for smem, cores, grid in specs:
            if smem == mem:
                return grid, cores
        return None, core_col

    inputs = []
    for tc in present:
        shape = [parse_dim(r.get(c)) for c in tc["dims"]]
        if not all(d > 0 for d in shape):
            raise UnmappableRow("bad_shape", str(shape))
        mem = norm_memory(r.get(tc["memory"]))
        grid, cores = sharding(mem)
        inputs.append(tensor_spec(shape, norm_dtype(r.get(tc["dtype"])), norm_layout(r.get(tc["layout"])), mem,
                                  grid=grid, core_count=cores))
    if not inputs:
        raise UnmappableRow("bad_shape", "no input tensor")

    output = None
    oc = cols["output"]
    out_shape = out_layout = None
    if oc is not None and not _blank(r.get(oc["memory"])):
        omem = norm_memory(r.get(oc["memory"]))
        ogrid, ocores = sharding(omem)
        output = output_spec(norm_dtype(r.get(oc["dtype"])), omem, grid=ogrid, core_count=ocores)
        try:
            out_shape = [parse_dim(r.get(c)) for c in oc["dims"]]
        except UnmappableRow:
            out_shape = None
        if not _blank(r.get(oc["layout"])):
            out_layout = norm_layout(r.get(oc["layout"]))

    attributes: dict[str, Any] = {}
    defaults = entry.get("attributes", {}) or {}
    for key, default in defaults.items():
        v = _attribute_value(key, r, attrs, attr_text)
        if v is not None and v != default:
            attributes[key] = v
    if entry.get("kind") == "data_movement":
        # The result shape, for data-movement ops that declare no attributes of their own (reshape,
        # slice, permute, to_layout, ...); transpose's dims already say it.
        if out_shape is not None and not defaults and all(d > 0 for d in out_shape):
            attributes["shape"] = out_shape
        if out_layout is not None and out_layout != inputs[0]["layout"]:
            attributes["layout"] = out_layout
    acts = _fused_activations(entry, attrs, op_type)
    if acts:
        attributes["fused_activations"] = acts
    meta = {"op_code": op_code, "core_count": core_col}
    return {"op": entry["name"], "inputs": inputs, "output": output, "attributes": attributes, "kernel_ns": dur,
            "entry": entry}, meta


def _import_profiler(df: pd.DataFrame, stats: FileStats, source: str, file: str, cat: dict[str, Any]) -> list[dict]:
    cols_list = [str(c) for c in df.columns]
    idx = sorted({int(m.group(1)) for c in cols_list for m in [re.match(r"INPUT_(\d+)_", c)] if m})
    cols = {"inputs": [tc for i in idx if (tc := _profiler_tensor_columns(cols_list, f"INPUT_{i}")) is not None],
            "output": _profiler_tensor_columns(cols_list, "OUTPUT_0")}
    memo: dict = {}
    out = []
    for i, r in enumerate(df.to_dict("records")):
        try:
            q, meta = _profiler_row(r, cols, cat, memo)
            out.append(_record(**q, source=source, fmt="profiler", file=file, row=i, op_code=meta["op_code"],
                               core_count=meta["core_count"]))
        except UnmappableRow as e:
            stats.skipped[e.reason] += 1
    return out


# ----------------------------------------------------------------------------------------------
# Sweep tables
# ----------------------------------------------------------------------------------------------
def _sweep_op(r: dict[str, Any], cat: dict[str, Any], memo: dict | None = None) -> dict[str, Any]:
    op_code = str(r.get("op_code", "")).strip()
    detail = str(r.get("op_detail", "")).strip()
    op_type = detail.split()[0].strip("(),").upper() if detail else None
    n_inputs = 1 if _blank(r.get("in1_buffer_type")) else 2
    try:
        return _select_entry(op_code, op_type, n_inputs, cat, memo)
    except UnmappableRow as e:
        raise UnmappableRow("op_not_in_catalogue", str(e)) from None


def _sweep_shape(r: dict[str, Any], prefix: str) -> list[int] | None:
    vals = [r.get(f"{prefix}_{d}") for d in ("w", "z", "y", "x")]
    if all(_blank(v) for v in vals):
        return None
    if any(_blank(v) for v in vals):
        raise UnmappableRow("bad_shape", f"{prefix}: {vals}")
    shape = [parse_dim(v) for v in vals]
    if not all(d > 0 for d in shape):
        raise UnmappableRow("bad_shape", f"{prefix}: {shape}")
    return shape


def _import_sweep(df: pd.DataFrame, stats: FileStats, stem: str, file: str, cat: dict[str, Any]) -> list[dict]:
    out = []
    memo: dict = {}
    for i, r in enumerate(df.to_dict("records")):
        try:
            entry = _sweep_op(r, cat, memo)
            dur = _duration(r.get("kernel_ns"))
            assumed: list[str] = ["layout"]
            num_tiles = _to_int(r.get("num_tiles"))
            grid_x, grid_y, cores = _to_int(r.get("grid_x")), _to_int(r.get("grid_y")), _to_int(r.get("core_count"))
            grid = [grid_x, grid_y] if grid_x and grid_y else None
            if cores is None and grid is not None:
                cores = grid_x * grid_y

            mem0 = memory_from_parts(r.get("in0_buffer_type"), r.get("in0_mem_layout"))
            shape0 = _sweep_shape(r, "in0")
            if shape0 is None:
                # Only a tile count: a representative [1, 1, 32*n, 32] (tile-aligned, height-shardable).
                if not num_tiles or num_tiles <= 0:
                    raise UnmappableRow("bad_shape", "neither shape nor num_tiles")
                shape0 = [1, 1, TILE * num_tiles, TILE]
                assumed.append("shape")
                if mem0 in SHARDED and grid is None and cores is None:
                    # The sharded relu sweeps record tiles per core (the shard), not the core grid:
                    # the record is the one-core configuration with that shard.
                    grid, cores = [1, 1], 1
                    assumed.append("core_count")
            dtype0 = r.get("in0_dtype")
            if _blank(dtype0):
                dtype0 = "bfloat16"
                assumed.append("dtype")
            dtype0 = norm_dtype(dtype0)

            def shard_kw(mem: str) -> dict[str, Any]:
                if mem not in SHARDED:
                    return {}
                return {"grid": grid, "core_count": cores}

            inputs = [tensor_spec(shape0, dtype0, "TILE", mem0, **shard_kw(mem0))]
            if not _blank(r.get("in1_buffer_type")):
                mem1 = memory_from_parts(r.get("in1_buffer_type"), r.get("in1_mem_layout"))
                shape1 = _sweep_shape(r, "in1") or list(shape0)
                dtype1 = r.get("in1_dtype")
                dtype1 = dtype0 if _blank(dtype1) else norm_dtype(dtype1)
                inputs.append(tensor_spec(shape1, dtype1, "TILE", mem1, **shard_kw(mem1)))
            output = None
            if not _blank(r.get("out0_buffer_type")):
                omem = memory_from_parts(r.get("out0_buffer_type"), r.get("out0_mem_layout"))
                odt = r.get("out0_dtype")
                odt = dtype0 if _blank(odt) else norm_dtype(odt)
                output = output_spec(odt, omem, **shard_kw(omem))
            sid = r.get("source_id")
            source = f"{stem}/{sid}" if not _blank(sid) else stem
            out.append(_record(op=entry["name"], inputs=inputs, output=output, attributes={}, kernel_ns=dur,
                               source=source, fmt="sweep_table", file=file, row=i, entry=entry,
                               op_code=str(r.get("op_code", "")).strip() or None, core_count=cores,
                               config_key=None if _blank(r.get("config_key")) else str(r["config_key"]),
                               assumed=assumed, num_tiles=num_tiles))
        except UnmappableRow as e:
            stats.skipped[e.reason] += 1
    return out


# ----------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------
_IMPORTERS = {"torp_exp": _import_torp_exp, "torp_matmul": _import_torp_matmul,
              "profiler": _import_profiler, "sweep_table": _import_sweep}


def _empty_records() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "kernel_ns" else "object") for c in RECORD_COLUMNS})


def _load_file(path: Path, fmt: str | None, cat: dict[str, Any], text: str | None = None
               ) -> tuple[pd.DataFrame, FileStats]:
    def source() -> Path | io.StringIO:  # the file, or its text where the caller read it already
        return path if text is None else io.StringIO(text)

    fmt = fmt or detect_format(path, text)
    if fmt not in _IMPORTERS:
        raise ValueError(f"{path}: unknown format {fmt!r}; known: {FORMATS}")
    if fmt == "profiler":
        df = pd.read_csv(source(), dtype=str, keep_default_na=False, na_values=[])
    else:
        df = pd.read_csv(source())
    df.columns = [str(c).strip() for c in df.columns]
    stats = FileStats(file=str(path), format=fmt, rows_read=len(df))
    records = _IMPORTERS[fmt](df, stats, path.stem, str(path), cat)
    stats.rows_kept = len(records)
    frame = pd.DataFrame(records, columns=RECORD_COLUMNS) if records else _empty_records()
    if records:
        frame["core_count"] = frame["core_count"].astype("Int64")
        frame["num_tiles"] = frame["num_tiles"].astype("Int64")
    if stats.skipped:
        log.info("%s (%s): %d rows read, %d kept, skipped %s", path, fmt, stats.rows_read, stats.rows_kept,
                 dict(stats.skipped))
    return frame, stats


def load_file(path: str | os.PathLike[str], fmt: str | None = None, *, report: bool = False,
              catalogue: dict[str, Any] | None = None, text: str | None = None
              ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Import one file. ``fmt`` overrides detection; ``catalogue`` overrides the installed/source
    catalogue (a parsed ops.json dict); ``text``, where given, is the file's CSV text as the caller
    read it (``path`` then only names it). The records' ``row`` is the 0-based data row of the file.
    The one-row summary is ``records.attrs["import_report"]``, also returned with ``report=True``."""
    cat = catalogue if catalogue is not None else _catalogue.load_catalogue()
    frame, stats = _load_file(Path(path), fmt, cat, text)
    rep = _report_frame([stats])
    frame.attrs["import_report"] = rep
    return (frame, rep) if report else frame


def find_csv_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[tuple[Path, bool]]:
    """(file, given explicitly) for each path; folders are searched recursively for ``*.csv``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[tuple[Path, bool]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += [(f, False) for f in sorted(p.rglob("*.csv")) if f.is_file()]
        elif p.is_file():
            out.append((p, True))
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, report: bool = False,
         progress: bool | None = None, catalogue: dict[str, Any] | None = None
         ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Import files and folders (searched recursively for .csv) into one records frame.

    A file named explicitly must be in a known format (else ValueError); files found in a folder whose
    columns match no format are skipped and reported with format ``unknown``. The per-file summary
    (``file, format, rows_read, rows_kept, rows_skipped, skip_<reason>...``) is attached as
    ``records.attrs["import_report"]`` and also returned when ``report=True``. ``progress`` shows a
    tqdm bar (default: when there are more than 5 files).
    """
    files = find_csv_files(paths)
    cat = catalogue if catalogue is not None else _catalogue.load_catalogue()
    show = progress if progress is not None else len(files) > 5
    iterator: Iterable[tuple[Path, bool]] = files
    if show:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc="importing", unit="file")
    frames, stats = [], []
    for f, explicit in iterator:
        try:
            fmt = detect_format(f)
        except ValueError:
            if explicit:
                raise
            log.warning("%s: columns match no known format; skipped", f)
            s = FileStats(file=str(f), format="unknown")
            s.skipped["unknown_format"] += 1
            stats.append(s)
            continue
        frame, s = _load_file(f, fmt, cat)
        frames.append(frame)
        stats.append(s)
    frames = [f for f in frames if len(f)]
    records = pd.concat(frames, ignore_index=True) if frames else _empty_records()
    rep = _report_frame(stats)
    records.attrs["import_report"] = rep
    return (records, rep) if report else records
