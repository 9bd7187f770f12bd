"""tt-metal's sweep results, as tt-metal's own runner writes them (``sweeps_runner.py --device-perf``),
in both of its JSON forms:

``tt_metal_optest``       the current ``results_export/<sweep>_<digest>_<ts>.json``: a list of OpTest
                          records (or an ``oprun_*.json`` holding them under ``tests``): ``full_test_name``,
                          ``test_case_name``, ``status`` (``pass``, ...), ``input_hash``, ``git_sha``,
                          ``card_type``, ``metrics`` [{``metric_name``: ``device_DEVICE KERNEL DURATION [ns]``,
                          ``metric_value``}], ``op_params_set`` (the vector flattened to dotted names);
``tt_metal_sweep_json``   the older ``results_export/<module>.json`` that TORP's scripts read:
                          ``sweep_name``, ``suite_name``, ``vector_id``, ``status`` (``TestStatus.PASS``),
                          ``device_perf`` {``DEVICE KERNEL DURATION [ns]``}, ``original_vector_data``,
                          ``git_hash``.

Only passed vectors with a device kernel duration become records (others: ``not_passed``,
``missing_duration``). The vector becomes the query: an opcast sweep's (``opcast.<op>``, also
``opcast sweep export``'s files) through that sweep's own resolution, so every placement is the one it
ran; any other sweep of a one-input op through tt-metal's usual parameter names (``input_shape``,
``input_a_dtype``, ``input_a_layout``, ``input_a_memory_config``, ``output_memory_config``), with
the op from the sweep's last name (``eltwise.unary.exp.exp`` -> ``ttnn.exp``); the rest are skipped
as ``vector_unrecognised``.

These are JSON files: :func:`read_rows` reads one into the rows (one per record) that the
:class:`~.records.Format` readers take.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

import pandas as pd

from ... import vocabulary
from .records import Format, Measurement, RowReader, UnmappableRow, blank, duration, word
from .sweep_store import measurement_of_query

KERNEL = "DEVICE KERNEL DURATION [ns]"
OPTEST_COLUMNS = ("full_test_name", "status", "metrics", "op_params_set")
LEGACY_COLUMNS = ("sweep_name", "suite_name", "status", "original_vector_data")
_TT_METAL_MEMORY_CONFIGS = {"DRAM_MEMORY_CONFIG": vocabulary.DRAM_INTERLEAVED,
                            "L1_MEMORY_CONFIG": vocabulary.L1_INTERLEAVED}


def read_rows(path: str | os.PathLike, text: str | None = None) -> pd.DataFrame:
    """A tt-metal result file's records as rows (nested values kept as Python objects); ``text``, where
    given, is the file's content."""
    if text is None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("tests"), list):  # an oprun_*.json
        data = data["tests"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{path}: not tt-metal sweep results (expected a JSON list of records)")
    return pd.DataFrame.from_records(data)


def _passed(status: Any) -> None:
    from ...sweeps import statuses

    try:
        passed = statuses.from_file(status) == statuses.PASS
    except ValueError as exc:
        raise UnmappableRow("not_passed", str(exc)) from None
    if not passed:
        raise UnmappableRow("not_passed", str(status))


def _unflattened(dotted: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in dotted.items():
        *parents, last = name.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _literal(value: Any) -> Any:
    """A value as tt-metal serialized it: ``"[1, 32]"`` and ``"(1, 32)"`` read back, the rest as is."""
    if isinstance(value, str) and value[:1] in "[(":
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def _memory(value: Any) -> dict[str, Any]:
    """A memory config as tt-metal writes one (``DRAM_MEMORY_CONFIG``, a MemoryConfig's JSON, or its
    ``{"type", "data"}`` wrapper) as a placement: memory, and for a shard the cores of its grid."""
    if isinstance(value, dict) and set(value) == {"type", "data"}:
        value = json.loads(value["data"]) if isinstance(value["data"], str) else value["data"]
    if isinstance(value, str):
        name = value.rsplit(".", 1)[-1]
        if name in _TT_METAL_MEMORY_CONFIGS:
            return {"memory": _TT_METAL_MEMORY_CONFIGS[name]}
        return {"memory": word(vocabulary.memory, name, reason="unsupported_memory")}
    if not isinstance(value, dict) or "buffer_type" not in value:
        raise UnmappableRow("vector_unrecognised", f"memory config {str(value)[:80]}")
    buffer = {0: "DRAM", 1: "L1"}.get(value["buffer_type"], value["buffer_type"])
    layout = {0: "INTERLEAVED", 2: "HEIGHT_SHARDED", 3: "WIDTH_SHARDED", 4: "BLOCK_SHARDED"}.get(
        value.get("memory_layout"), value.get("memory_layout"))
    out: dict[str, Any] = {"memory": word(vocabulary.memory_of, buffer, layout, reason="unsupported_memory")}
    ranges = (value.get("shard_spec") or {}).get("grid") or []
    if ranges:
        areas = [(r["end"]["x"] - r["start"]["x"] + 1) * (r["end"]["y"] - r["start"]["y"] + 1) for r in ranges]
        out["core_count"] = sum(areas)
        first = ranges[0]
        if len(ranges) == 1 and (first["start"]["x"], first["start"]["y"]) == (0, 0):
            out["grid"] = [first["end"]["x"] + 1, first["end"]["y"] + 1]
    return out


def query_of_vector(sweep: str, vector: dict[str, Any], catalogue: dict[str, Any]) -> dict[str, Any]:
    """The short-form query a sweep vector ran (see the module doc)."""
    from ... import QueryError
    from ...sweeps import ops as sweep_ops
    from ...sweeps import vectors as sweep_vectors

    if "case" in vector:
        try:
            op = sweep_ops.op_of_sweep(sweep)
            return json.loads(sweep_vectors.query_json(sweep_vectors.resolve(op, vector)))
        except (ValueError, QueryError) as exc:
            raise UnmappableRow("vector_unrecognised", f"{sweep}: {exc}") from None
    op = "ttnn." + str(sweep).split(".")[-1]
    entry = next((e for e in catalogue["ops"] if e["name"] == op), None)
    if entry is None or entry["kind"] != "eltwise_unary" or "input_shape" not in vector:
        raise UnmappableRow("vector_unrecognised", f"{sweep}: parameters {sorted(vector)[:8]}")
    shape = _literal(vector["input_shape"])
    if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise UnmappableRow("bad_shape", str(vector["input_shape"]))
    dtype = word(vocabulary.dtype, vector.get("input_a_dtype", vocabulary.BFLOAT16), reason="unsupported_dtype")
    layout = word(vocabulary.layout, vector.get("input_a_layout", vocabulary.TILE), reason="unsupported_layout")
    source = _memory(vector.get("input_a_memory_config", "DRAM_MEMORY_CONFIG"))
    target = _memory(vector["output_memory_config"]) if not blank(vector.get("output_memory_config")) else source
    tensor = vocabulary.Tensor(tuple(shape), dtype, layout, source["memory"], source.get("grid"),
                               source.get("core_count"))
    return vocabulary.make_query(op, [tensor], vocabulary.output_spec(dtype, target["memory"], grid=target.get("grid"),
                                                                     core_count=target.get("core_count")))


def _build(*values: Any) -> str | None:
    found = [str(v) for v in values if not blank(v) and str(v) not in ("unknown", "n/a")]
    return found[0] if found else None


def _optest_reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    def read(i: int, r: dict[str, Any]) -> Measurement:
        _passed(r["status"])
        metrics = {m["metric_name"]: m["metric_value"] for m in (r.get("metrics") or []) if isinstance(m, dict)}
        found = [metrics.get(f"device_{KERNEL}{suffix}") for suffix in ("", "_cached", "_uncached")]
        ns = duration(next((v for v in found if v is not None), None))
        params = {}
        for p in r.get("op_params_set") or []:
            value = next((p.get(k) for k in ("param_value_numeric", "param_value_text", "param_value_json")
                          if p.get(k) is not None), None)
            params[p["param_name"]] = int(value) if isinstance(value, float) and value.is_integer() else value
        query = query_of_vector(r["full_test_name"], _unflattened(params), catalogue)
        return measurement_of_query(query, ns, f"{stem}/{r['full_test_name']}", catalogue,
                                    build=_build(r.get("git_sha"), r.get("card_type")),
                                    config_key=None if blank(r.get("input_hash")) else str(r["input_hash"]))

    return read


def _legacy_reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    def read(i: int, r: dict[str, Any]) -> Measurement:
        _passed(r["status"])
        perf = r.get("device_perf")
        if isinstance(perf, dict) and isinstance(perf.get("cached"), dict):
            perf = perf["cached"]
        ns = duration(perf.get(KERNEL) if isinstance(perf, dict) else None)
        vector = {k: _literal(v) for k, v in (r.get("original_vector_data") or {}).items()}
        query = query_of_vector(r["sweep_name"], vector, catalogue)
        vector_id = r.get("vector_id")
        return measurement_of_query(query, ns, f"{stem}/{r['sweep_name']}", catalogue,
                                    build=_build(r.get("git_hash"), r.get("device")),
                                    config_key=None if blank(vector_id) else str(vector_id))

    return read


OPTEST_FORMAT = Format(name="tt_metal_optest", matches=lambda columns: all(c in columns for c in OPTEST_COLUMNS),
                       reader=_optest_reader, expected_columns="JSON records with " + ", ".join(OPTEST_COLUMNS))
LEGACY_FORMAT = Format(name="tt_metal_sweep_json", matches=lambda columns: all(c in columns for c in LEGACY_COLUMNS),
                       reader=_legacy_reader, expected_columns="JSON records with " + ", ".join(LEGACY_COLUMNS))
