"""Importers: measurement files of several formats -> canonical records (one row per measurement).

One module per source format, each telling its files apart by their columns (never by the file name)
and reading their rows:

``torp_exp``      TORP's exp sweep (:mod:`.torp_exp`)
``torp_matmul``   TORP's height-sharded matmul sweep (:mod:`.torp_matmul`)
``profiler``      tt-metal ``ops_perf_results_*.csv`` of any version (:mod:`.profiler`)
``sweep_table``   the Wormhole perf-modelling sweep tables (:mod:`.sweep_table`)
``dashboard``     the daily n150 eltwise dashboard, 259 ops over hundreds of builds (:mod:`.dashboard`)
``ttmlir_decode`` tt-mlir's LLM decode matmuls with memory and program configs (:mod:`.ttmlir_decode`)
``gemm_flops``    tt-metal's GEMM_FLOPS N150 tables, device time from utilisation (:mod:`.gemm_flops`)
``sweep_store``   opcast's own sweep export, ``opcast sweep export`` (:mod:`.sweep_store`)
``tt_metal_sweep`` tt-metal's sweep results JSON, both forms (:mod:`.tt_metal_sweep`)

A new format is one module that defines ``FORMAT`` (:class:`.records.Format`) and one entry in
``_REGISTERED`` below. What the formats share, the record and the reading of a cell, is in
:mod:`.records`; the op-code routing of profiler reports and sweep tables in :mod:`.op_codes`.

The canonical record columns (``RECORD_COLUMNS``; missing values are None/NaN):

``op`` (``ttnn.exp``), ``query`` (the canonical short-form JSON, ``opcast.vocabulary.query_json``, checked
by the C++ parser), ``kernel_ns``, ``source`` (``<file stem>`` or ``<file stem>/<source_id>``), ``group``
(op + every input's shape: ``ttnn.matmul|1x1x640x96|1x1x96x288``), ``format``, ``file``, ``row`` (0-based
data row), ``op_code`` (profiler/sweep op code), ``n_inputs``, ``in0_shape``/``in1_shape``
(``1x1x32x32``), ``in0_dtype``/``in1_dtype``, ``in0_layout``, ``in0_memory``/``in1_memory``,
``out_dtype``, ``out_memory``, ``core_count`` (cores the op ran on or the shard grid's cores, as the
source gives), ``num_tiles`` (32x32 tiles of input 0 after tile padding), ``config_key`` (sweep
tables), ``assumed`` (``;``-separated list of query fields that are assumptions rather than recorded
values), ``build`` (the tt-metal commit that measured it where the source records one, else what the
source says of its build, else the source), ``build_date`` (the ISO date of the measurement where the
source records it), ``op_to_op_ns`` (a profiler report's OP TO OP LATENCY: the gap since the
previous device op ended).

Skipped rows are counted per file and reason. ``load(paths)`` returns the records;
``load(paths, report=True)`` returns ``(records, report)``, the per-file summary. (The report is not
kept in ``records.attrs``: pandas compares attrs when frames are concatenated, and a DataFrame there
makes ``pd.concat`` of two imports raise.) Reasons: ``host_op`` (``(torch) ...`` rows), ``unknown_op_code`` (op code in
no catalogue ``profiler`` list), ``unknown_op_type`` (op code known, op type not: e.g. Unary ERF),
``op_not_in_catalogue`` (TORP/sweep op missing from the catalogue), ``missing_duration``,
``bad_shape``, ``not_wormhole`` (a profiler row measured on another chip: its DEVICE ARCH, or its
firmware clock far from Wormhole's one cycle per ns), ``unsupported_dtype``, ``unsupported_layout``, ``unsupported_memory``,
``unsupported_math_fidelity`` (a word the query parser does not know), ``bad_one_hot``,
``inputs_outside_catalogue`` (more or fewer tensor inputs than the catalogue entry takes),
``sharding_unrecorded`` (a sharded tensor with neither grid nor core count: the query parser needs
one), ``inconsistent_shapes`` (binary inputs that do not broadcast, matmul inner dims that differ:
seen where old reports give padded shapes), ``query_refused`` (any other query the C++ parser refuses,
e.g. of an op that a ``catalogue=`` override adds but the library's catalogue lacks); ``unknown_format``
counts whole files found in a folder whose columns match no format.

``load_file(path)`` imports one file the same way.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ... import catalogue as _catalogue
from . import dashboard, gemm_flops, profiler, sweep_store, sweep_table, torp_exp, torp_matmul, tt_metal_sweep, ttmlir_decode
from .records import RECORD_COLUMNS, Format, UnmappableRow, make_group, record
from .torp_exp import tt_metal_commit

__all__ = ["FORMATS", "RECORD_COLUMNS", "FileStats", "UnmappableRow", "detect_format", "find_measurement_files", "load",
           "load_file", "make_group", "tt_metal_commit"]

log = logging.getLogger(__name__)

# A file is in the first format whose columns match.
_REGISTERED: tuple[Format, ...] = (profiler.FORMAT, sweep_table.FORMAT, torp_matmul.FORMAT, torp_exp.FORMAT,
                                   dashboard.FORMAT, ttmlir_decode.FORMAT, gemm_flops.FORMAT, sweep_store.FORMAT,
                                   tt_metal_sweep.OPTEST_FORMAT, tt_metal_sweep.LEGACY_FORMAT)
_BY_NAME = {f.name: f for f in _REGISTERED}
FORMATS = tuple(_BY_NAME)


# ----------------------------------------------------------------------------------------------
# Format detection
# ----------------------------------------------------------------------------------------------
def _is_json(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == ".json"


def _read_rows(path: str | os.PathLike[str], text: str | None = None, nrows: int | None = None,
               **csv_options: Any) -> pd.DataFrame:
    """A measurement file's rows: tt-metal's JSON sweep results one row per record, the rest CSV
    (read from ``text`` where given)."""
    if _is_json(path):
        return tt_metal_sweep.read_rows(path, text)
    try:
        return pd.read_csv(path if text is None else io.StringIO(text), nrows=nrows, **csv_options)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def detect_format(path: str | os.PathLike[str], text: str | None = None) -> str:
    """The name of the file's format (one of ``FORMATS``), from its columns (read from ``text`` where
    given); ValueError naming the columns found and those each format needs otherwise."""
    columns = [str(c).strip() for c in _read_rows(path, text, nrows=0).columns]
    found = set(columns)
    for fmt in _REGISTERED:
        if fmt.matches(found):
            return fmt.name
    shown = ", ".join(columns[:20]) + (f", ... ({len(columns)} columns)" if len(columns) > 20 else "")
    expected = "; ".join(f"{f.name} ({f.expected_columns})" for f in _REGISTERED)
    raise ValueError(f"{path}: columns match no known measurement format. Found: [{shown}]. "
                     f"Expected one of: {expected}")


# ----------------------------------------------------------------------------------------------
# The import report
# ----------------------------------------------------------------------------------------------
@dataclass
class FileStats:
    file: str
    format: str
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    why_skipped: dict[int, str] = field(default_factory=dict)  # data row -> "reason: detail"

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
# Importing files
# ----------------------------------------------------------------------------------------------
def _empty_records() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "kernel_ns" else "object") for c in RECORD_COLUMNS})


def _import_file(path: Path, fmt_name: str | None, catalogue: dict[str, Any], text: str | None = None
                 ) -> tuple[pd.DataFrame, FileStats]:
    fmt_name = fmt_name or detect_format(path, text)
    if fmt_name not in _BY_NAME:
        raise ValueError(f"{path}: unknown format {fmt_name!r}; known: {FORMATS}")
    fmt = _BY_NAME[fmt_name]
    rows = _read_rows(path, text, **fmt.csv_options)
    rows.columns = [str(c).strip() for c in rows.columns]
    stats = FileStats(file=str(path), format=fmt.name, rows_read=len(rows))
    read_row = fmt.reader(rows, path.stem, catalogue)
    records = []
    for i, cells in enumerate(rows.to_dict("records")):
        try:
            records.append(record(read_row(i, cells), fmt.name, str(path), i))
        except UnmappableRow as e:
            stats.skipped[e.reason] += 1
            stats.why_skipped[i] = str(e)
    stats.rows_kept = len(records)
    frame = pd.DataFrame(records, columns=RECORD_COLUMNS) if records else _empty_records()
    if records:
        frame["core_count"] = frame["core_count"].astype("Int64")
        frame["num_tiles"] = frame["num_tiles"].astype("Int64")
    if stats.skipped:
        log.info("%s (%s): %d rows read, %d kept, skipped %s", path, fmt.name, stats.rows_read, stats.rows_kept,
                 dict(stats.skipped))
    return frame, stats


def load_file(path: str | os.PathLike[str], fmt: str | None = None, *, report: bool = False,
              catalogue: dict[str, Any] | None = None, text: str | None = None
              ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Import one file. ``fmt`` overrides detection; ``catalogue`` overrides the installed/source
    catalogue (a parsed ops.json dict) for routing rows to ops; ``text``, where given, is the file's CSV
    text as the caller read it (``path`` then only names it). The records' ``row`` is the 0-based data
    row of the file. The one-row summary is returned with ``report=True``; why each skipped row was skipped (``"reason: detail"`` by data row) is
    ``records.attrs["skipped_rows"]``.

    The queries are validated by the C++ parser, which knows the catalogue the library read when the
    process started ($OPCAST_CATALOGUE or the installed one): rows of an op that only ``catalogue`` adds
    are skipped as ``query_refused``; import them in a process started with $OPCAST_CATALOGUE set."""
    cat = catalogue if catalogue is not None else _catalogue.load_catalogue()
    frame, stats = _import_file(Path(path), fmt, cat, text)
    rep = _report_frame([stats])
    frame.attrs["skipped_rows"] = stats.why_skipped
    return (frame, rep) if report else frame


def find_measurement_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
                           ) -> list[tuple[Path, bool]]:
    """(file, given explicitly) for each path; folders are searched recursively for ``*.csv`` and
    ``*.json`` (tt-metal's sweep results)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[tuple[Path, bool]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += [(f, False) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in (".csv", ".json")]
        elif p.is_file():
            out.append((p, True))
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, report: bool = False,
         progress: bool | None = None, catalogue: dict[str, Any] | None = None
         ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Import files and folders (searched recursively for .csv and .json) into one records frame.

    A file named explicitly must be in a known format (else ValueError); files found in a folder whose
    columns match no format are skipped and reported with format ``unknown``. The per-file summary
    (``file, format, rows_read, rows_kept, rows_skipped, skip_<reason>...``) is returned when
    ``report=True``. ``progress`` shows a
    tqdm bar (default: when there are more than 5 files). ``catalogue`` as in :func:`load_file`.
    """
    files = find_measurement_files(paths)
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
        frame, s = _import_file(f, fmt, cat)
        frames.append(frame)
        stats.append(s)
    frames = [f for f in frames if len(f)]
    records = pd.concat(frames, ignore_index=True) if frames else _empty_records()
    rep = _report_frame(stats)
    return (records, rep) if report else records
