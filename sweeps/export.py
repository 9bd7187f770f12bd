"""``opcast sweep export``: the store as a training dataset and as tt-metal's result files.

``<out>/dataset/<timing>.csv``  one row per timed repeat of every PASS vector, one file per kind of
    timing (``device_kernel``, ``trace_replay``, ``host_torch``: different quantities, never mixed):
    ``op, query, kernel_ns, repeat, vector_id, backend, sweep, suite, timing, device, ttnn_version,
    tt_metal_commit, finished_at``. ``opcast train --data <out>/dataset/host_torch.csv`` reads it
    (importer ``opcast_sweep``): the repeats of a vector become its configuration's median.
``<out>/tt-metal/<backend>/results_export/<sweep>_<digest>_<timestamp>.json``  tt-metal's current
    result files: a list of OpTest records per sweep (status words ``pass``, ``skipped``, ...; the
    vector flattened into ``op_params_set``; metrics ``device_DEVICE KERNEL DURATION [ns]``,
    ``e2e_perf_ms`` for trace replays, ``opcast_host_torch_ns`` for the host,
    ``peak_l1_memory_per_core_bytes`` for the mock device), one record per timed repeat.
``<out>/tt-metal/<backend>/<sweep>.json``  the older per-module form that TORP's scripts read:
    ``sweep_name, suite_name, vector_id, status ("TestStatus.PASS"), message, device_perf ({"DEVICE
    KERNEL DURATION [ns]": ...}), e2e_perf, original_vector_data, git_hash, ...``, one record per repeat.

The dataset is what training reads; the tt-metal files are for tt-metal's tools (and opcast's
importers of them): train on one or the other, not both.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from . import statuses
from .store import Store

DATASET_COLUMNS = ("op", "query", "kernel_ns", "repeat", "vector_id", "backend", "sweep", "suite", "timing", "device",
                   "ttnn_version", "tt_metal_commit", "finished_at")
KERNEL_METRIC = "DEVICE KERNEL DURATION [ns]"
HOST_METRIC = "opcast_host_torch_ns"


def export(store: Store, out: str | Path) -> list[Path]:
    """Write the dataset and the tt-metal result files of every row in ``store``; the paths written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: not a folder")
    rows = store.rows()
    written = write_dataset(rows, out / "dataset")
    by_sweep: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_sweep[(row["backend"], row["sweep"])].append(row)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d_%H%M%S")
    for (backend, sweep), sweep_rows in sorted(by_sweep.items()):
        folder = out / "tt-metal" / backend
        digest = hashlib.sha256(sweep.encode("utf-8")).hexdigest()[:12]
        written.append(_write_json(folder / "results_export" / f"{sweep.split('.')[0]}_{digest}_{stamp}.json",
                                   [r for row in sweep_rows for r in optest_records(row)]))
        written.append(_write_json(folder / f"{sweep}.json", [r for row in sweep_rows for r in legacy_records(row)]))
    return written


def _repeats(row: dict[str, Any]) -> list[float | None]:
    """The timed repeats of a row, or one None for a row without timing (a record per repeat)."""
    return list(row["repeats_ns"]) if row["status"] == statuses.PASS and row.get("repeats_ns") else [None]


def write_dataset(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """``folder/<timing>.csv`` of the timed PASS rows among ``rows``; the paths written."""
    by_timing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] == statuses.PASS and row.get("timing") and row.get("repeats_ns"):
            for i, ns in enumerate(row["repeats_ns"]):
                by_timing[row["timing"]].append({**{c: row.get(c) for c in DATASET_COLUMNS}, "kernel_ns": ns,
                                                 "repeat": i})
    written = []
    for timing, lines in sorted(by_timing.items()):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{timing}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=DATASET_COLUMNS)
            writer.writeheader()
            writer.writerows(lines)
        written.append(path)
    return written


def _write_json(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2) + "\n")
    return path


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """A nested dict as dotted keys, lists kept whole (tt-metal's ``op_params_set`` flattening)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _param(name: str, value: Any) -> dict[str, Any]:
    out = {"param_name": name, "param_value_numeric": None, "param_value_text": None, "param_value_json": None}
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        out["param_value_json"] = value
    elif isinstance(value, (int, float)):
        out["param_value_numeric"] = float(value)
    else:
        out["param_value_text"] = str(value)
    return out


def _metrics(row: dict[str, Any], ns: float | None) -> list[dict[str, Any]] | None:
    metrics = []
    if ns is not None:
        name, value = {"device_kernel": (f"device_{KERNEL_METRIC}", ns), "trace_replay": ("e2e_perf_ms", ns / 1e6),
                       "host_torch": (HOST_METRIC, ns)}[row["timing"]]
        metrics.append({"metric_name": name, "metric_value": value})
    if row.get("l1_peak_per_core") is not None:
        metrics.append({"metric_name": "peak_l1_memory_per_core_bytes", "metric_value": float(row["l1_peak_per_core"])})
    return sorted(metrics, key=lambda m: m["metric_name"]) or None


def optest_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row as tt-metal's current result records (OpTest), one per timed repeat."""
    sweep = row["sweep"]
    failed = row["status"] not in (statuses.PASS, statuses.NOT_RUN)
    base = {
        "github_job_id": None, "full_test_name": sweep, "test_start_ts": row["finished_at"],
        "test_end_ts": row["finished_at"], "test_case_name": row["suite"], "filepath": sweep,
        "success": row["status"] == statuses.PASS, "skipped": row["status"] == statuses.NOT_RUN,
        "error_message": row["message"] if failed else None,
        "error_hash": hashlib.sha256(row["message"].encode("utf-8")).hexdigest()[:16] if failed else None,
        "config": None, "frontend": "ttnn.op", "model_name": "n/a", "op_kind": sweep.split(".")[0],
        "op_name": sweep.split(".")[-1], "framework_op_name": "sweep", "inputs": None, "outputs": None,
        "op_params": None, "git_sha": row.get("tt_metal_commit") or "unknown",
        "status": statuses.OPTEST_STATUS[row["status"]], "card_type": row.get("device") or "n/a", "backend": "n/a",
        "data_source": "ttnn op test", "input_hash": row["vector_id"], "message": row["message"],
        "exception": row["message"] if failed else None,
        "op_params_set": [_param(name, value) for name, value in flatten(row["vector"])],
    }
    return [{**base, "metrics": _metrics(row, ns)} for ns in _repeats(row)]


def legacy_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row in the older per-module form (TORP's create_dataset.py reads it), one per timed repeat."""
    out = []
    for ns in _repeats(row):
        record = {"sweep_name": row["sweep"], "suite_name": row["suite"], "vector_id": row["vector_id"],
                  "input_hash": row["vector_id"], "status": f"TestStatus.{row['status']}", "message": row["message"],
                  "exception": row["message"] if row["status"] not in (statuses.PASS, statuses.NOT_RUN) else None,
                  "e2e_perf": ns / 1e6 if ns is not None and row["timing"] == "trace_replay" else None,
                  "device_perf": {KERNEL_METRIC: ns} if ns is not None and row["timing"] == "device_kernel" else None,
                  "original_vector_data": row["vector"], "git_hash": row.get("tt_metal_commit") or "unknown",
                  "start_time_ts": row["finished_at"], "end_time_ts": row["finished_at"], "device": row.get("device")}
        if ns is not None and row["timing"] == "host_torch":
            record[HOST_METRIC] = ns
        out.append(record)
    return out
