"""What every source format shares: the record one measurement becomes, the reasons a row is skipped,
and the reading of one CSV cell.

A format module (``torp_exp``, ``profiler``, ...) reads each row of a file into a :class:`Measurement`:
the op's catalogue entry, its tensors in the vocabulary's words, the duration and what the source says
beside them. :func:`record` turns that into the canonical record (``RECORD_COLUMNS``), its query
validated by the C++ parser. A row that cannot become a record raises :class:`UnmappableRow`; its reason
is the skip count in the import report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ... import QueryError, vocabulary
from ... import catalogue as _catalogue

RECORD_COLUMNS = [
    "op", "query", "kernel_ns", "source", "group", "format", "file", "row", "op_code", "n_inputs",
    "in0_shape", "in0_dtype", "in0_layout", "in0_memory", "in1_shape", "in1_dtype", "in1_memory",
    "out_dtype", "out_memory", "core_count", "num_tiles", "config_key", "assumed", "build", "build_date",
    "op_to_op_ns",
]


class UnmappableRow(Exception):
    """A row that cannot become a record; ``reason`` is the skip-count key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Measurement:
    """What a format reads from one row: the op's catalogue entry, its tensors, the kernel time, and the
    source's own facts that the record keeps beside the query."""

    entry: dict[str, Any]
    inputs: list[vocabulary.Tensor]
    output: dict[str, Any] | None  # vocabulary.output_spec(dtype, memory, ...), None where not recorded
    kernel_ns: float
    source: str  # <file stem> or <file stem>/<sweep id>
    attributes: dict[str, Any] = field(default_factory=dict)
    op_code: str | None = None
    core_count: int | None = None
    config_key: str | None = None
    assumed: Sequence[str] = ()  # query fields that are assumptions rather than recorded values
    num_tiles: int | None = None  # tiles of input 0 where the source counts them; else from its shape
    # The software that measured it: the tt-metal commit where the source records one, else what the
    # source says of its build (the record falls back to the source itself).
    build: str | None = None
    build_date: str | None = None  # ISO date of the measurement, where the source records it
    op_to_op_ns: float | None = None  # the gap since the previous op ended (profiler reports)


RowReader = Callable[[int, dict[str, Any]], Measurement]


@dataclass(frozen=True)
class Format:
    """A source format: how to tell its files by their columns and how to read their rows.

    ``reader(rows, stem, catalogue)`` sees the whole file first (a format may read facts from the row
    order) and returns the function that reads row ``i`` (its cells by column name) into a
    :class:`Measurement`, raising :class:`UnmappableRow` for a row it cannot use."""

    name: str
    matches: Callable[[set[str]], bool]
    expected_columns: str  # for the message when a file matches no format
    reader: Callable[[pd.DataFrame, str, dict[str, Any]], RowReader]
    csv_options: Mapping[str, Any] = field(default_factory=dict)  # pandas.read_csv keywords


# ----------------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------------
def shape_str(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def make_group(op: str, shapes: Iterable[Sequence[int]]) -> str:
    """The split group: op + every input's shape (dtype, memory, cores ignored)."""
    return "|".join([op] + [shape_str(s) for s in shapes])


def _check_consistent(entry: dict[str, Any], inputs: Sequence[vocabulary.Tensor],
                      output: dict[str, Any] | None) -> None:
    """Name the source's defect for rows the query parser would refuse: more or fewer inputs than the
    op takes, sharding without cores, shapes the op cannot take (old reports give padded shapes)."""
    lo, hi = _catalogue.input_range(entry)
    if not lo <= len(inputs) <= hi:
        raise UnmappableRow("inputs_outside_catalogue",
                            f"{entry['name']} takes {lo}..{hi} inputs, the row has {len(inputs)}")
    for t in inputs:
        if t.sharded and t.grid is None and t.core_count is None:
            raise UnmappableRow("sharding_unrecorded", t.memory)
    if output and output["memory"] in vocabulary.SHARDED and "grid" not in output and "core_count" not in output:
        raise UnmappableRow("sharding_unrecorded", output["memory"])
    kind = entry.get("kind")
    if kind == "eltwise_binary" and len(inputs) >= 2:
        a, b = inputs[0].shape, inputs[1].shape
        for da, db in zip(reversed(a), reversed(b)):
            if da != db and da != 1 and db != 1:
                raise UnmappableRow("inconsistent_shapes", f"{list(a)} and {list(b)} do not broadcast")
    if kind == "matmul" and len(inputs) >= 2:
        a, b = inputs[0].shape, inputs[1].shape
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise UnmappableRow("inconsistent_shapes", f"matmul {list(a)} x {list(b)}")


def record(m: Measurement, fmt: str, file: str, row: int) -> dict[str, Any]:
    """The canonical record of one measurement (``RECORD_COLUMNS``); the query is validated by the C++
    parser, and a query it refuses skips the row as ``query_refused``."""
    op = m.entry["name"]
    _check_consistent(m.entry, m.inputs, m.output)
    try:
        query = vocabulary.query_json(op, m.inputs, m.output, m.attributes)
    except QueryError as e:
        raise UnmappableRow("query_refused", str(e)) from None
    in0 = m.inputs[0]
    in1 = m.inputs[1] if len(m.inputs) > 1 else None
    return {
        "op": op, "query": query, "kernel_ns": float(m.kernel_ns), "source": m.source,
        "group": make_group(op, [t.shape for t in m.inputs]), "format": fmt, "file": file, "row": int(row),
        "op_code": m.op_code, "n_inputs": len(m.inputs),
        "in0_shape": shape_str(in0.shape), "in0_dtype": in0.dtype, "in0_layout": in0.layout, "in0_memory": in0.memory,
        "in1_shape": shape_str(in1.shape) if in1 else None, "in1_dtype": in1.dtype if in1 else None,
        "in1_memory": in1.memory if in1 else None,
        "out_dtype": m.output["dtype"] if m.output else None, "out_memory": m.output["memory"] if m.output else None,
        "core_count": m.core_count, "num_tiles": m.num_tiles if m.num_tiles is not None else in0.tiles,
        "config_key": m.config_key, "assumed": ";".join(m.assumed) if m.assumed else None,
        "build": m.build or m.source, "build_date": m.build_date, "op_to_op_ns": m.op_to_op_ns,
    }


def require_op(op: str, catalogue: dict[str, Any]) -> dict[str, Any]:
    """The catalogue entry of an op a format names itself (TORP's sweeps measure one op each)."""
    entry = _catalogue.op_entry(op, catalogue)
    if entry is None:
        raise UnmappableRow("op_not_in_catalogue", op)
    return entry


# ----------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------
def blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() in ("", "nan", "NaN", "None")


def word(canonical: Callable[..., str], *written: Any, reason: str) -> str:
    """A dtype / layout / memory config / math fidelity as a source writes it, in the vocabulary's
    spelling (``canonical`` is ``vocabulary.dtype``, ``vocabulary.memory_of``, ...); a word the parser
    refuses skips the row, counted under ``reason``."""
    try:
        return canonical(*written)
    except QueryError:
        raise UnmappableRow(reason, " ".join(repr(w) for w in written)) from None


def to_int(v: Any) -> int | None:
    if blank(v):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(f):
        return None
    return int(f)


def to_float(v: Any) -> float | None:
    if blank(v):
        return None
    try:
        f = float(str(v).replace(",", "")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return f


def duration(v: Any) -> float:
    """A measured duration in ns; a missing or non-positive one makes the row unusable."""
    dur = to_float(v)
    if dur is None or dur <= 0:
        raise UnmappableRow("missing_duration")
    return dur


_PAD_LOGICAL = re.compile(r"^\s*(\d+(?:\.0*)?)\s*\[\s*(\d+(?:\.0*)?)\s*\]\s*$")


def parse_dim(v: Any) -> int:
    """A dim: ``64``, ``64.0`` or the profiler's ``64[50]`` (padded[logical]; the logical 50 is returned)."""
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
