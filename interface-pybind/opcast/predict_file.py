"""``opcast predict --input FILE --output FILE``: every input row kept, in order, with predictions added.

Input: a CSV in any importable format (TORP, tt-metal profiler report, sweep table), a CSV with a
``query`` column, or JSON lines of queries. Output: CSV, or JSON lines when the output name ends in
.jsonl. Rows that cannot be answered get their reason in ``error`` and empty predictions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .predictor import Predictor

ADDED = ["predicted_ns", "lo_ns", "hi_ns", "in_domain", "error"]


def _read_jsonl(path: Path) -> pd.DataFrame:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame({"query": lines})


def _queries_for_rows(path: Path, table: pd.DataFrame) -> tuple[list, list]:
    """One query (or None) and one error message (or None) per data row of an importable CSV."""
    if "query" in table.columns:
        return table["query"].tolist(), [None] * len(table)
    from .train import importers

    fmt = importers.detect_format(path)
    records = importers.load_file(path, fmt)
    by_row = records.groupby("row")["query"].first()
    queries = [by_row.get(i) for i in range(len(table))]
    errors = [None if q is not None else f"row not importable as a {fmt} query (unknown op or missing fields)"
              for q in queries]
    return queries, errors


def predict_file(predictor: Predictor, input_path: Path, output_path: Path) -> dict:
    if not input_path.is_file():
        raise FileNotFoundError(f"--input {input_path}: no such file")
    if input_path.suffix in (".jsonl", ".ndjson"):
        table = _read_jsonl(input_path)
        queries, import_errors = table["query"].tolist(), [None] * len(table)
    else:
        table = pd.read_csv(input_path, dtype=str, keep_default_na=False)
        queries, import_errors = _queries_for_rows(input_path, table)

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
    for i, e in enumerate(import_errors):
        if e is not None:
            out.at[i, "error"] = e

    output_path.parent.mkdir(parents=True, exist_ok=True)
    if output_path.suffix in (".jsonl", ".ndjson"):
        out.to_json(output_path, orient="records", lines=True)
    else:
        out.to_csv(output_path, index=False)
    n_err = int(out["error"].notna().sum())
    return {"rows": len(out), "answered": len(out) - n_err, "errors": n_err}
