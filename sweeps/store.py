"""The sweep store: one SQLite file (write-ahead log), one row per backend and vector.

A row is written once, when its vector finishes, and committed at once: a sweep killed at any moment
keeps every vector it finished, and a vector already in the store is never written again (the
backend and vector id are the primary key; a second insert is ignored). Re-running a sweep skips the
vectors the store has for that backend, whatever their status.

Columns: backend, vector_id, op, sweep, suite, vector (canonical JSON), query (the short-form query
the vector resolves to; NULL where it resolves to none), query_key (the query with every field
explicit, ``vectors.query_key``: how the legality oracle finds it), device, ttnn_version,
tt_metal_commit, opcast_version, status, message (ttnn's message, the invalidation reason, the crash),
timing (``device_kernel``: the device profiler's DEVICE KERNEL DURATION; ``trace_replay``: host
wall-clock of trace replays; ``host_torch``: the op in torch on the CPU), repeats_ns (every repeat,
JSON), median_ns, l1_peak_per_core, l1_resident_per_core (L1 per bank held by the inputs),
l1_total_per_core, l1_limit_per_core, fits_l1, output (the output tensors' TensorSpec JSON), seconds
(the worker's time for the vector), finished_at (UTC, ISO 8601).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

DEFAULT_DB = "opcast_sweeps.sqlite"
SCHEMA_VERSION = 1
JSON_COLUMNS = ("vector", "repeats_ns", "output")
COLUMNS = ("backend", "vector_id", "op", "sweep", "suite", "vector", "query", "query_key", "device", "ttnn_version",
           "tt_metal_commit", "opcast_version", "status", "message", "timing", "repeats_ns", "median_ns",
           "l1_peak_per_core", "l1_resident_per_core", "l1_total_per_core", "l1_limit_per_core", "fits_l1",
           "output", "seconds", "finished_at")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    backend TEXT NOT NULL, vector_id TEXT NOT NULL, op TEXT NOT NULL, sweep TEXT NOT NULL, suite TEXT NOT NULL,
    vector TEXT NOT NULL, query TEXT, query_key TEXT, device TEXT, ttnn_version TEXT, tt_metal_commit TEXT,
    opcast_version TEXT, status TEXT NOT NULL, message TEXT, timing TEXT, repeats_ns TEXT, median_ns REAL,
    l1_peak_per_core INTEGER, l1_resident_per_core INTEGER, l1_total_per_core INTEGER, l1_limit_per_core INTEGER,
    fits_l1 INTEGER, output TEXT, seconds REAL, finished_at TEXT,
    PRIMARY KEY (backend, vector_id));
CREATE INDEX IF NOT EXISTS results_by_query ON results (backend, query_key);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""


class Store:
    """An open sweep store (a context manager). ``path`` is created when missing."""

    def __init__(self, path: str | os.PathLike = DEFAULT_DB):
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"{self.path}: a folder; the sweep store is a SQLite file (e.g. {DEFAULT_DB})")
        if not self.path.absolute().parent.is_dir():
            raise ValueError(f"{self.path}: its folder {self.path.absolute().parent} does not exist")
        try:
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a commit survives the process being killed
            self.db.executescript(_SCHEMA)
            version = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path}: not an opcast sweep store (SQLite says: {exc})") from None
        if int(version) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: sweep store schema {version}; this opcast reads schema {SCHEMA_VERSION}")
        self.db.row_factory = sqlite3.Row

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def record(self, row: dict[str, Any]) -> bool:
        """Write one finished vector and commit; False (and nothing written) when the store has it."""
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise ValueError(f"unknown store columns {unknown}")
        values = [json.dumps(row[c]) if c in JSON_COLUMNS and row.get(c) is not None else row.get(c) for c in COLUMNS]
        with self.db:
            cursor = self.db.execute(
                f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                "ON CONFLICT (backend, vector_id) DO NOTHING", values)
        return cursor.rowcount == 1

    def merge(self, other: str | os.PathLike) -> tuple[int, int]:
        """Copy every row of another store (a host's own) into this one; (rows added, rows this store had
        already, kept as they were). ValueError for a file that is not a sweep store of this schema."""
        if not Path(other).is_file():
            raise ValueError(f"{other}: no such sweep store to merge")
        with Store(other) as theirs:  # checks it is a store of this schema
            total = theirs.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        columns = ", ".join(COLUMNS)
        self.db.execute("ATTACH DATABASE ? AS theirs", (str(other),))
        try:
            with self.db:
                added = self.db.execute(f"INSERT INTO results ({columns}) SELECT {columns} FROM theirs.results "
                                        "ORDER BY rowid ON CONFLICT (backend, vector_id) DO NOTHING").rowcount
        finally:
            self.db.execute("DETACH DATABASE theirs")
        return added, total - added

    def finished(self, backend: str) -> set[str]:
        """The ids of the vectors the store has for ``backend``."""
        return {r[0] for r in self.db.execute("SELECT vector_id FROM results WHERE backend = ?", (backend,))}

    def rows(self, backend: str | None = None, ops: Iterable[str] | None = None,
             statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (JSON columns decoded), in the order they were finished."""
        where, args = [], []
        for column, values in (("backend", None if backend is None else [backend]), ("op", ops), ("status", statuses)):
            if values is not None:
                values = list(values)
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                args += values
        sql = "SELECT * FROM results" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY rowid"
        return [_decoded(r) for r in self.db.execute(sql, args)]

    def find(self, backend: str, query_key: str) -> dict[str, Any] | None:
        """The first finished row of ``backend`` whose query is ``query_key`` (an invalidated vector
        counts only when no vector of that query ran)."""
        row = self.db.execute("SELECT * FROM results WHERE backend = ? AND query_key = ? "
                              "ORDER BY status = 'NOT_RUN', rowid LIMIT 1", (backend, query_key)).fetchone()
        return None if row is None else _decoded(row)

    def counts(self) -> list[dict[str, Any]]:
        """Rows per backend, op, suite and status."""
        sql = ("SELECT backend, op, suite, status, COUNT(*) AS n, SUM(seconds) AS seconds FROM results "
               "GROUP BY backend, op, suite, status ORDER BY backend, op, suite, status")
        return [dict(r) for r in self.db.execute(sql)]


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for column in JSON_COLUMNS:
        if out.get(column) is not None:
            out[column] = json.loads(out[column])
    if out.get("fits_l1") is not None:
        out["fits_l1"] = bool(out["fits_l1"])
    return out
