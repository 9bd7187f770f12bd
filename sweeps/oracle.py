"""The legality and L1 oracle: is this op, with these input specs and this output memory config,
legal on a Wormhole n150, and how much L1 per core does it take?

Answered from the mock results in the sweep store (any vector whose query is the same, however it was
written), and measured on the ttnn mock device when the store has none: the question becomes an
exact vector of the op's sweep (suite ``oracle``), run by the harness like any other and kept.

    from opcast.sweeps.oracle import LegalityOracle
    oracle = LegalityOracle("opcast_sweeps.sqlite")
    a = oracle.check({"op": "ttnn.gelu", "inputs": [{"shape": [1, 1, 256, 256], "dtype": "bfloat16",
                      "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "grid": [8, 1]}],
                      "output": {"memory": "L1_INTERLEAVED"}})
    a.legal, a.status, a.message, a.l1_peak_per_core, a.l1_total_per_core, a.fits_l1, a.source
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import vocabulary
from . import harness, ops, statuses, vectors
from .store import DEFAULT_DB, Store

ORACLE_SUITE = "oracle"


@dataclasses.dataclass(frozen=True)
class Legality:
    """The mock device's verdict on one query.

    legal: ttnn accepted the op and it fits in L1 beside its inputs. status / message: the sweep status
    and ttnn's message (or the invalidation reason). l1_peak_per_core: the op's own L1 peak per core
    (circular buffers, output); l1_resident_per_core: its inputs' L1 per bank; l1_total_per_core:
    their sum; l1_limit_per_core: the L1 bank. output: the output tensors' TensorSpec JSON. source:
    ``store`` (found) or ``mock`` (measured now). vector_id: the store row that answered.
    """

    legal: bool
    status: str
    message: str | None
    l1_peak_per_core: int | None
    l1_resident_per_core: int | None
    l1_total_per_core: int | None
    l1_limit_per_core: int | None
    fits_l1: bool | None
    output: list[dict[str, Any]] | None
    source: str
    vector_id: str

    @classmethod
    def of_row(cls, row: Mapping[str, Any], source: str) -> "Legality":
        return cls(row["status"] == statuses.PASS, row["status"], row["message"], row["l1_peak_per_core"],
                   row["l1_resident_per_core"], row["l1_total_per_core"], row["l1_limit_per_core"], row["fits_l1"],
                   row["output"], source, row["vector_id"])


class LegalityOracle:
    """Legality and L1 per core from the sweep store's mock results (``db``), measuring on the mock
    device what the store lacks (``measure=False``: a KeyError instead)."""

    def __init__(self, db: str | os.PathLike = DEFAULT_DB, *, measure: bool = True,
                 timeout: float = harness.DEFAULT_TIMEOUT):
        self.db, self.measure, self.timeout = db, measure, timeout

    def check(self, query: str | Mapping[str, Any]) -> Legality:
        return self.check_many([query])[0]

    def check_many(self, queries: Sequence[str | Mapping[str, Any]]) -> list[Legality]:
        """One verdict per query, in order; the ones the store lacks are measured in one mock run."""
        asked = [exact_vector(q) for q in queries]
        with Store(self.db) as store:
            found = {key: store.find("mock", key) for _, _, key in asked}
            missing = {key: (op, vector) for op, vector, key in asked if found[key] is None}
            if missing and not self.measure:
                raise KeyError(f"the store {self.db} has no mock result for {len(missing)} of the queries "
                               f"(first: {next(iter(missing))})")
            if missing:
                _measure(store, missing.values(), self.timeout)
                found.update({key: store.find("mock", key) for key in missing})
        return [Legality.of_row(found[key], "mock" if key in missing else "store") for _, _, key in asked]


def exact_vector(query: str | Mapping[str, Any]) -> tuple[str, dict[str, Any], str]:
    """(op, the exact vector that asks the query, the query's key). The query is read first (without
    the legality rules, which this oracle checks): :class:`opcast.QueryError` names a bad field."""
    full = vocabulary.normalized(query, legality=False)  # the oracle answers what opcast's rules refuse too
    op = full["op"]
    if op not in ops.sweep_ops():
        raise ValueError(f"{op}: the sweeps cover {', '.join(ops.sweep_ops())}")
    given = json.loads(query) if isinstance(query, str) else dict(query)
    case = {"inputs": [vocabulary.Tensor.from_dict(t).to_dict() for t in full["inputs"]],
            "output": {k: v for k, v in full["output"].items() if k != "shape"},
            "attributes": dict(given.get("attributes") or {})}
    record = vectors.resolve(op, {"case": case})
    return op, {"case": case}, vectors.query_key(vectors.query_json(record))


def _measure(store: Store, asked: Sequence[tuple[str, dict[str, Any]]], timeout: float) -> None:
    work = [harness.resolved(op, ops.sweep_name(op), ORACLE_SUITE, vector) for op, vector in asked]
    harness.record_work(store, "mock", work, timeout=timeout, progress=False)
