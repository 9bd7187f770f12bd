"""Program memo: the measured time of every training program, served for queries that run it.

Some ops' time is fixed by the program each core runs, not by the total size: a matmul with a
height-sharded in0 runs per_core_M x K x N on every core, and the ttnn program it gets (blocking,
subblocks) jumps with per_core_M in ways no smooth model reproduces (3200x384x192 takes 222 us on 6
cores, 17 rows each, and 76 us on 7, 15 rows each). Configurations that agree on the catalogue's
``program_keys`` for the op's kind run the same program and, in TORP's data, the same time within a
few percent. The memo keeps the median measured time per program of the training configurations;
the C++ predictor answers a query from it when its program is in the memo (cpp/src/program_memo.*).

Whether an op's memo is served is decided out of fold: only if, looked up in the memo of the other
folds, the configurations whose program was measured there are nearer than the ensemble's
out-of-fold predictions.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd

from .. import _core
from ..catalogue import program_key

FILE_NAME = "program_memo.json"
# The C++ side quantises key features to this many decimals: both sides must group alike.
KEY_DECIMALS = 6
# Fewer leave-one-out ratios than this give no interval worth serving; fewer out-of-fold twins no verdict.
MIN_INTERVAL_RATIOS = 10
MIN_OUT_OF_FOLD_ROWS = 5


@dataclasses.dataclass
class ProgramMemo:
    features: list[str]
    # One row per program: the key features, ns (median), configurations; optionally lo_ratio and
    # hi_ratio, an entry's own interval where it is less sure than the memo's (NaN: the memo's).
    table: pd.DataFrame
    interval_ratio: tuple[float, float]  # measured / memo of a new configuration with a measured program

    def lookup(self, x: np.ndarray) -> np.ndarray:
        """Memo ns for each row of the feature matrix ``x``; NaN where its program was not measured."""
        return self.answers(x)[0]

    def answers(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ns, lo_ns, hi_ns) for each row of ``x``, as the C++ predictor serves them; NaN where its
        program was not measured."""
        keys = pd.DataFrame(_key_values(x, self.features), columns=self.features)
        hit = keys.merge(self.table, on=self.features, how="left")
        ns = hit["ns"].to_numpy(dtype=float)
        own = [hit[c].to_numpy(dtype=float) if c in hit else np.full(len(ns), np.nan) for c in ("lo_ratio", "hi_ratio")]
        lo, hi = (np.where(np.isnan(r), default, r) for r, default in zip(own, self.interval_ratio))
        return ns, ns * lo, ns * hi

    def to_json(self) -> str:
        """The text of ``FILE_NAME`` in a model folder, as the C++ predictor reads it."""
        entries = []
        for row in self.table.to_dict("records"):
            entry = {"key": [float(row[f]) for f in self.features], "ns": float(row["ns"]),
                     "configurations": int(row["configurations"])}
            if not np.isnan(row.get("lo_ratio", np.nan)):
                entry["interval_ratio"] = [float(row["lo_ratio"]), float(row["hi_ratio"])]
            entries.append(entry)
        return json.dumps({"features": self.features, "interval_ratio": list(self.interval_ratio),
                           "entries": entries}) + "\n"


def _key_values(x: np.ndarray, features: list[str]) -> np.ndarray:
    names = list(_core.feature_names())
    return np.round(x[:, [names.index(f) for f in features]], KEY_DECIMALS)


def build(op: str, x: np.ndarray, ns: np.ndarray, coverage: float) -> ProgramMemo | None:
    """The memo of the configurations ``x`` (features) measured at ``ns``, or None when the catalogue
    gives the op's kind no program key or too few programs were measured twice to bound the error."""
    features = program_key(op)
    if not features:
        return None
    frame = pd.DataFrame(_key_values(x, features), columns=features).assign(ns=ns)
    groups = frame.groupby(features, sort=True)["ns"]
    # How far a configuration lands from the median of the other configurations of its program:
    # the error a new configuration of a measured program gets.
    ratios = []
    for values in groups.apply(list):
        if len(values) > 1:
            values = np.asarray(values)
            ratios += [v / np.median(np.delete(values, i)) for i, v in enumerate(values)]
    if len(ratios) < MIN_INTERVAL_RATIOS:
        return None
    tail = (1 - coverage) / 2
    lo, hi = np.quantile(ratios, [tail, 1 - tail])
    table = groups.agg(ns="median", configurations="size").reset_index()
    return ProgramMemo(features, table, (float(min(lo, 1.0)), float(max(hi, 1.0))))
