"""The daily Wormhole n150 eltwise dashboard (``eltwise_n150_daily.csv``): one row per (run, op):
``operation_name`` (ttnn name without ``ttnn.``), ``shape`` (1x1x32x32 or 1x1x1024x1024),
``measurement_date``, ``tt_metal_git_commit`` (the build), ``average_duration_ns`` and the three
repeats in ``runs`` (``;``-separated).

What the dashboard did not record is assumed as ttnn's defaults for how its pytest ran, and each
record says so in ``assumed``: bfloat16, TILE layout, DRAM interleaved inputs and output (ttnn's
default memory config); a binary op's second input of the same shape; a reduction over the last dim.
Each value is the device kernel time summed over the device ops of one pytest: one op for most,
several for composite ops (std, var, logit, ...), which their op's learned factor absorbs.

The kernel time of a row is the median of its repeats. Rows of ops the catalogue does not list
(backward ops ``*_bw``, in-place ``*_``, ternary ops) are skipped as ``op_not_in_catalogue``.
"""

from __future__ import annotations

import statistics
from typing import Any

import pandas as pd

from ... import catalogue as _catalogue
from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, blank, duration, parse_dim, to_float

REQUIRED = ("shape", "measurement_date", "tt_metal_git_commit", "operation_name", "average_duration_ns", "runs")
ASSUMED_TENSOR = dict(dtype=vocabulary.BFLOAT16, layout=vocabulary.TILE, memory=vocabulary.DRAM_INTERLEAVED)
ASSUMED = ("dtype", "layout", "memory", "output")


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def _median_of_runs(r: dict[str, Any]) -> float:
    runs = [v for v in (to_float(x) for x in str(r["runs"]).split(";")) if v is not None and v > 0]
    return statistics.median(runs) if runs else duration(r["average_duration_ns"])


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    entries = _catalogue.op_entries_by_any_name(catalogue)

    def read(i: int, r: dict[str, Any]) -> Measurement:
        name = str(r["operation_name"]).strip()
        entry = entries.get(f"ttnn.{name}")
        if entry is None:
            raise UnmappableRow("op_not_in_catalogue", f"ttnn.{name}")
        if blank(r["shape"]):
            raise UnmappableRow("bad_shape", "no shape")
        shape = tuple(parse_dim(d) for d in str(r["shape"]).split("x"))
        n_inputs = 2 if entry["kind"] == "eltwise_binary" else 1
        inputs = [vocabulary.Tensor(shape, **ASSUMED_TENSOR)] * n_inputs
        commit = str(r["tt_metal_git_commit"]).strip()
        build = commit if commit and not blank(commit) else f"{stem}@{str(r['measurement_date'])[:10]}"
        return Measurement(entry=entry, inputs=inputs, output=None, kernel_ns=_median_of_runs(r), source=stem,
                           assumed=ASSUMED + (("attributes.dim",) if entry["kind"] == "reduction" else ()),
                           config_key=str(r.get("test_name", "")), build=build,
                           build_date=str(r["measurement_date"])[:10])

    return read


FORMAT = Format(name="dashboard", matches=_matches, reader=_reader, expected_columns=", ".join(REQUIRED))
