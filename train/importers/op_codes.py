"""A tt-metal op code (+ the unary/binary op type, + the number of tensor inputs) -> the TTNN op it
measures, through the catalogue's ``profiler`` lists only: profiler reports and sweep tables name ops
this way. Adding an op code for an op is one catalogue edit."""

from __future__ import annotations

import logging
from typing import Any

from ... import catalogue as _catalogue
from .records import UnmappableRow

log = logging.getLogger(__name__)


class OpCodes:
    """The catalogue entries of one catalogue's op codes, remembered per (op code, op type, inputs)
    for the rows of one file."""

    def __init__(self, catalogue: dict[str, Any]):
        self.catalogue = catalogue
        self._seen: dict[tuple[str, str | None, int], dict[str, Any] | UnmappableRow] = {}

    def entry(self, op_code: str, op_type: str | None, n_inputs: int) -> dict[str, Any]:
        key = (op_code, op_type, n_inputs)
        if key not in self._seen:
            try:
                self._seen[key] = _select_entry(op_code, op_type, n_inputs, self.catalogue)
            except UnmappableRow as e:
                self._seen[key] = e
        hit = self._seen[key]
        if isinstance(hit, UnmappableRow):
            raise UnmappableRow(hit.reason, hit.detail)
        return hit


def _select_entry(op_code: str, op_type: str | None, n_inputs: int, catalogue: dict[str, Any]) -> dict[str, Any]:
    cands = _catalogue.profiler_candidates(op_code, catalogue)
    if not cands:
        raise UnmappableRow("unknown_op_code", op_code)
    typed = [(e, m) for e, m in cands if "op_type" in m]
    if typed:
        if op_type is None:
            pool = [(e, m) for e, m in cands if "op_type" not in m]
        else:
            pool = [(e, m) for e, m in typed if _catalogue.strip_enum_prefix(str(m["op_type"])).upper() == op_type.upper()]
            if not pool:
                pool = [(e, m) for e, m in cands if "op_type" not in m]
        if not pool:
            raise UnmappableRow("unknown_op_type", f"{op_code} {op_type}")
    else:
        pool = cands
    # An optional "inputs" key in a profiler match routes rows by their tensor-input count.
    counted = [(e, m) for e, m in pool if "inputs" in m]
    if counted:
        exact = [(e, m) for e, m in counted if int(m["inputs"]) == n_inputs]
        pool = exact or [(e, m) for e, m in pool if "inputs" not in m]
        if not pool:
            raise UnmappableRow("unknown_op_code", f"{op_code} with {n_inputs} inputs")
    names = sorted({e["name"] for e, _ in pool})
    if len(names) > 1:
        log.debug("op code %s (%s) maps to several ops %s; taking %s", op_code, op_type, names, names[0])
    return next(e for e, _ in pool if e["name"] == names[0])
