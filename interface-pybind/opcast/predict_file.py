"""``opcast predict --input FILE --output FILE``: every input row kept, in order, with predictions added.

Input: a CSV in any importable format (TORP, tt-metal profiler report, sweep table), a CSV with a
``query`` column, or JSON lines of queries. Output: CSV, or JSON lines when the output name ends in
.jsonl. Rows that cannot be answered get their reason in ``error`` and empty predictions; a line
that is not UTF-8 text, or a CSV line with more fields than its header, is such a row: one bad line
never costs the others their answers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .predictor import Predictor

ADDED = ["predicted_ns", "lo_ns", "hi_ns", "in_domain", "error"]
JSON_LINES = (".jsonl", ".ndjson")


@dataclass
class Lines:
    """The data lines of a file, each decoded or with the reason it could not be."""

    header: str | None
    text: list[str]            # the decoded line ("" where it could not be decoded)
    number: list[int]          # 1-based line number in the file
    error: list[str | None]


def _read_lines(path: Path, *, has_header: bool) -> Lines:
    """Splits the file into lines and decodes each on its own, skipping blank ones (as pandas does)."""
    lines = Lines(None, [], [], [])
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
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


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[str | None], str]:
    """Every data row as strings, a row error per row, and the CSV text of the rows without one.

    A line is one row (a quoted field does not span lines in the formats opcast reads)."""
    lines = _read_lines(path, has_header=True)
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


def _queries_for_rows(path: Path, table: pd.DataFrame, row_errors: list[str | None], good_text: str) -> list:
    """One query (or None) per data row; rows without one get their reason in ``row_errors``."""
    if "query" in table.columns:
        return [q if e is None else None for q, e in zip(table["query"], row_errors)]
    from .train import importers

    fmt = importers.detect_format(path, good_text)
    records = importers.load_file(path, fmt, text=good_text)
    by_good_row = records.groupby("row")["query"].first()
    good_rows = [i for i, e in enumerate(row_errors) if e is None]
    queries: list = [None] * len(table)
    for k, i in enumerate(good_rows):
        queries[i] = by_good_row.get(k)
        if queries[i] is None:
            row_errors[i] = f"row not importable as a {fmt} query (unknown op or missing fields)"
    return queries


def predict_file(predictor: Predictor, input_path: Path, output_path: Path) -> dict:
    if not input_path.is_file():
        raise FileNotFoundError(f"--input {input_path}: no such file")
    if output_path.is_dir():
        raise ValueError(f"--output {output_path}: is a folder; expected a file name (.csv or .jsonl)")
    if input_path.suffix in JSON_LINES:
        lines = _read_lines(input_path, has_header=False)
        table = pd.DataFrame({"query": lines.text})
        row_errors = list(lines.error)
        queries = [q if e is None else None for q, e in zip(lines.text, row_errors)]
    else:
        table, row_errors, good_text = _read_csv(input_path)
        queries = _queries_for_rows(input_path, table, row_errors, good_text)

    answerable = [i for i, q in enumerate(queries) if q is not None]
    answers = predictor.predict_batch([queries[i] for i in answerable], errors="collect")
    out = table.copy()
    for col in ADDED:
        out[col] = pd.Series([None] * len(table), dtype=object)
    for k, i in enumerate(answerable):
        row = answers.iloc[k]
        if pd.isna(row["error"]):
            for col in ("predicted_ns", "lo_ns", "hi_ns"):
                out.at[i, col] = round(float(row[col]), 1)
            out.at[i, "in_domain"] = bool(row["in_domain"])
        else:
            out.at[i, "error"] = row["error"]
    for i, e in enumerate(row_errors):
        if e is not None:
            out.at[i, "error"] = e

    output_path.parent.mkdir(parents=True, exist_ok=True)
    if output_path.suffix in JSON_LINES:
        out.to_json(output_path, orient="records", lines=True)
    else:
        out.to_csv(output_path, index=False)
    n_err = int(out["error"].notna().sum())
    return {"rows": len(out), "answered": len(out) - n_err, "errors": n_err}
