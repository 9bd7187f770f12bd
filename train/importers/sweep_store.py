"""opcast's own sweep export (``opcast sweep export``: ``dataset/<timing>.csv``): ``op, query,
kernel_ns, repeat, vector_id, backend, sweep, suite, timing, device, ttnn_version, tt_metal_commit,
finished_at``, one row per timed repeat.

The query is the sweep's own (every tensor placed, validated when it was recorded), so nothing is
assumed. The source is ``<file stem>/<backend>``: a host (torch) dataset and a Wormhole one never
share a source. The build is the tt-metal commit where the sweep recorded one, else its device.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, blank, duration, require_op

REQUIRED = ("op", "query", "kernel_ns", "vector_id", "backend", "timing")


def measurement_of_query(query: dict[str, Any], kernel_ns: float, source: str, catalogue: dict[str, Any],
                         build: str | None = None, config_key: str | None = None) -> Measurement:
    """A sweep's short-form query and its measured time as a measurement."""
    entry = require_op(query["op"], catalogue)
    try:
        inputs = [vocabulary.Tensor.from_dict(t) for t in query["inputs"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise UnmappableRow("bad_shape", f"inputs: {exc}") from None
    output = {k: v for k, v in (query.get("output") or {}).items() if k != "shape"} or None
    if output is not None:
        output.setdefault("dtype", inputs[0].dtype)
        output.setdefault("memory", inputs[0].memory)
    return Measurement(entry=entry, inputs=inputs, output=output, kernel_ns=kernel_ns, source=source,
                       attributes=dict(query.get("attributes") or {}), build=build, config_key=config_key)


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    def read(i: int, r: dict[str, Any]) -> Measurement:
        try:
            query = json.loads(r["query"])
        except (TypeError, ValueError):
            raise UnmappableRow("query_refused", f"query is not JSON: {str(r['query'])[:80]}") from None
        if query.get("op") != r["op"]:
            raise UnmappableRow("query_refused", f"op {r['op']} but the query is of {query.get('op')}")
        commit = None if blank(r.get("tt_metal_commit")) else str(r["tt_metal_commit"])
        device = None if blank(r.get("device")) else str(r["device"])
        return measurement_of_query(query, duration(r["kernel_ns"]), f"{stem}/{r['backend']}", catalogue,
                                    build=commit or device, config_key=str(r["vector_id"]))

    return read


FORMAT = Format(name="opcast_sweep", matches=_matches, reader=_reader,
                expected_columns=", ".join(REQUIRED) + ", repeat, sweep, suite, device, ...")
