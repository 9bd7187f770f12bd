"""``opcast predict --input FILE --output FILE``: every input row kept, in order, with predictions added.

Input: a CSV in any importable format (TORP, tt-metal profiler report, sweep table), a CSV with a
``query`` column, or JSON lines of queries (a file ending in .jsonl / .ndjson, or ``-``, standard
input, whose first line is a JSON object). Output (a file, or ``-``: standard output): CSV, JSON lines
(``json``, and the default for a .jsonl name) or a Markdown table (``table``), with ``predicted_ns``, ``lo_ns``, ``hi_ns``, ``in_domain``, ``source`` (which tier answered) and
``error`` added. Rows that cannot be answered get their own reason in ``error`` (the importer's:
unknown op code X, measured on another architecture, ...) and empty predictions; a line that is not
UTF-8 text, or a CSV line with more fields than its header, is such a row: one bad line never costs
the others their answers. Where the file records measured times (a profiler report), a summary per
op code compares measured and predicted device time.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .predictor import Predictor

ADDED = ["predicted_ns", "lo_ns", "hi_ns", "in_domain", "source", "build", "error"]
JSON_LINES = (".jsonl", ".ndjson")
STDIO = "-"  # standard input as --input, standard output as --output
FORMATS = ("json", "csv", "table")
PROFILER_DURATION = "DEVICE KERNEL DURATION [ns]"


@dataclass
class Lines:
    """The data lines of a file, each decoded or with the reason it could not be."""

    header: str | None
    text: list[str]            # the decoded line ("" where it could not be decoded)
    number: list[int]          # 1-based line number in the file
    error: list[str | None]


def _read_lines(path: Path, data: bytes, *, has_header: bool) -> Lines:
    """Splits the file's bytes into lines and decodes each on its own, skipping blank ones (as pandas does)."""
    lines = Lines(None, [], [], [])
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            text, error = raw.decode("utf-8"), None
        except UnicodeDecodeError as e:
            text = ""
            error = (f"line {number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                     "expected UTF-8")
        if error is None and not text.strip():
            continue
        if has_header and lines.header is None:
            if error is not None:
                raise ValueError(f"--input {path}: the header {error}")
            lines.header = text
            continue
        lines.text.append(text)
        lines.number.append(number)
        lines.error.append(error)
    return lines


def _read_csv(path: Path, data: bytes) -> tuple[pd.DataFrame, list[str | None], str]:
    """Every data row as strings, a row error per row, and the CSV text of the rows without one.

    A line is one row (a quoted field does not span lines in the formats opcast reads)."""
    lines = _read_lines(path, data, has_header=True)
    if lines.header is None:
        raise ValueError(f"--input {path}: empty file; expected a CSV with a header line")
    header = next(csv.reader([lines.header]))
    rows, errors = [], []
    good = io.StringIO()
    writer = csv.writer(good, lineterminator="\n")
    writer.writerow(header)
    for text, number, error in zip(lines.text, lines.number, lines.error):
        fields = next(csv.reader([text])) if error is None else []
        if error is None and len(fields) > len(header):
            error = f"line {number}: {len(fields)} fields, the header names {len(header)}"
        if error is None:
            writer.writerow(fields)
        rows.append((fields + [""] * len(header))[:len(header)])
        errors.append(error)
    return pd.DataFrame(rows, columns=header, dtype=str), errors, good.getvalue()


@dataclass
class Rows:
    """Per data row of an input file: its query (or None), the measured time where the file records
    one, and the name a summary groups it by (the profiler's OP CODE, else the op)."""

    queries: list
    measured_ns: list
    group: list


def _importable_rows(path: Path, table: pd.DataFrame, row_errors: list[str | None], good_text: str) -> Rows:
    """Rows of a CSV in a measurement format (or with a ``query`` column); a row the importer skips gets
    the importer's own reason in ``row_errors`` (unknown op code X, not Wormhole, ...)."""
    n = len(table)
    if "query" in table.columns:
        return Rows([q if e is None else None for q, e in zip(table["query"], row_errors)], [None] * n,
                    [None] * n)
    from .train import importers

    fmt = importers.detect_format(path, good_text)
    records = importers.load_file(path, fmt, text=good_text)
    by_good_row = records.groupby("row").first()
    skipped = records.attrs["skipped_rows"]
    rows = Rows([None] * n, [None] * n, [None] * n)
    op_codes = table["OP CODE"] if "OP CODE" in table.columns else None
    # A profiler report times every row, those no model can take too: the summary counts them all.
    kernel_ns = pd.to_numeric(table.get(PROFILER_DURATION, pd.Series([None] * n)), errors="coerce")
    for k, i in enumerate(i for i, e in enumerate(row_errors) if e is None):
        if op_codes is not None:
            rows.group[i] = op_codes.iloc[i].strip()
        if pd.notna(kernel_ns.iloc[i]):
            rows.measured_ns[i] = float(kernel_ns.iloc[i])
        if k in by_good_row.index:
            record = by_good_row.loc[k]
            rows.queries[i], rows.measured_ns[i] = record["query"], float(record["kernel_ns"])
            rows.group[i] = rows.group[i] or record["op"]
        else:
            row_errors[i] = f"not importable as a {fmt} row: {skipped.get(k, 'no query')}"
    return rows


def summary(out: pd.DataFrame) -> pd.DataFrame:
    """Per group (op code) and in total, as tt-perf-report shows a report: rows, rows answered, the
    device time of all rows, the measured and predicted device time of the answered ones, and the share
    of those within ±10%."""
    d = out.assign(answered=out["error"].isna(), measured=pd.to_numeric(out["measured_ns"]),
                   predicted=pd.to_numeric(out["predicted_ns"]))
    d["group"] = d["group"].fillna("(no op code)")
    scored = d["answered"] & d["measured"].notna()
    d["within"] = scored & ((d["predicted"] - d["measured"]).abs() <= 0.10 * d["measured"])

    def one(g: pd.DataFrame) -> dict:
        s = g[g["answered"] & g["measured"].notna()]
        return {"rows": len(g), "answered": int(g["answered"].sum()), "device_us": g["measured"].sum() / 1e3,
                "measured_us": s["measured"].sum() / 1e3, "predicted_us": s["predicted"].sum() / 1e3,
                "within_10pct": s["within"].mean() if len(s) else float("nan")}

    table = pd.DataFrame([{"op_code": k, **one(g)} for k, g in d.groupby("group", sort=False)])
    table = table.sort_values("device_us", ascending=False)
    return pd.concat([table, pd.DataFrame([{"op_code": "TOTAL", **one(d)}])], ignore_index=True)


def _read_input(input_path: Path | str) -> tuple[Path, bytes, bool]:
    """(the name rows are reported under, the bytes, whether they are JSON lines)."""
    if str(input_path) == STDIO:
        data = sys.stdin.buffer.read()
        first = next((line.strip() for line in data.splitlines() if line.strip()), b"")
        return Path("<stdin>"), data, first.startswith(b"{")
    path = Path(input_path)
    if not path.is_file():
        raise FileNotFoundError(f"--input {path}: no such file")
    return path, path.read_bytes(), path.suffix in JSON_LINES


def write_table(out: pd.DataFrame, output_path: Path | str, fmt: str | None = None) -> str:
    """Writes ``out`` to a file or, for ``-``, standard output, as ``fmt`` (json: JSON lines; csv;
    table: Markdown); without ``fmt``, JSON lines for a .jsonl / .ndjson name, else CSV. Returns the format."""
    to_stdout = str(output_path) == STDIO
    if fmt is None:
        fmt = "json" if not to_stdout and Path(output_path).suffix in JSON_LINES else "csv"
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    text = {"json": lambda: out.to_json(orient="records", lines=True),
            "csv": lambda: out.to_csv(index=False),
            "table": lambda: out.to_markdown(index=False) + "\n"}[fmt]()
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        path = Path(output_path)
        if path.is_dir():
            raise ValueError(f"--output {path}: is a folder; expected a file name (.csv, .jsonl or .md)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return fmt


def predict_file(predictor: Predictor, input_path: Path | str, output_path: Path | str, fmt: str | None = None) -> dict:
    """Writes every row of ``input_path`` with predictions added to ``output_path`` (either may be
    ``-``: standard input / output) as ``fmt`` (:func:`write_table`); returns the counts and, where the
    file records measured times, the per-op-code summary (``summary``)."""
    if str(output_path) != STDIO and Path(output_path).is_dir():
        raise ValueError(f"--output {output_path}: is a folder; expected a file name (.csv, .jsonl or .md)")
    input_path, data, json_lines = _read_input(input_path)
    if json_lines:
        lines = _read_lines(input_path, data, has_header=False)
        table = pd.DataFrame({"query": lines.text})
        row_errors = list(lines.error)
        n = len(table)
        rows = Rows([q if e is None else None for q, e in zip(lines.text, row_errors)], [None] * n, [None] * n)
    else:
        table, row_errors, good_text = _read_csv(input_path, data)
        rows = _importable_rows(input_path, table, row_errors, good_text)

    answerable = [i for i, q in enumerate(rows.queries) if q is not None]
    answers = predictor.predict_batch([rows.queries[i] for i in answerable], errors="collect")
    out = table.copy()
    for col in ADDED:
        out[col] = pd.Series([None] * len(table), dtype=object)
    for k, i in enumerate(answerable):
        row = answers.iloc[k]
        if pd.isna(row["error"]):
            for col in ("predicted_ns", "lo_ns", "hi_ns"):
                out.at[i, col] = round(float(row[col]), 1)
            out.at[i, "in_domain"] = bool(row["in_domain"])
            out.at[i, "source"] = row["source"]
            out.at[i, "build"] = row["build"]
        else:
            out.at[i, "error"] = row["error"]
    for i, e in enumerate(row_errors):
        if e is not None:
            out.at[i, "error"] = e

    write_table(out, output_path, fmt)
    n_err = int(out["error"].notna().sum())
    counts = {"rows": len(out), "answered": len(out) - n_err, "errors": n_err, "summary": None}
    if any(m is not None for m in rows.measured_ns):
        counts["summary"] = summary(out.assign(measured_ns=rows.measured_ns, group=rows.group))
    return counts
