"""TORP's recipe as a baseline: a 3x128 ReLU MLP on raw features and raw nanoseconds.

This is Tenstorrent's ttnn-op-runtime-predictor ``mlp_config`` (hidden layers [128, 128, 128], Adam,
standard-scaled inputs, raw duration as the target), rebuilt with scikit-learn so that it trains
on exactly the split opcast trains on. Raw features are what TORP feeds its models: the input
shapes (4 dims each, 0 for absent), one-hot dtype and buffer/memory layout, and the core count.
It is a yardstick, never a served model.
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..vocabulary import DTYPES, MEMORIES


def _tensor(t: dict | None) -> list[float]:
    if t is None:
        return [0.0] * (4 + len(DTYPES) + len(MEMORIES))
    dims = [0.0] * 4 + [float(d) for d in t.get("shape", [])]
    dims = dims[-4:]
    return (dims + [float(t.get("dtype") == d) for d in DTYPES]
            + [float(t.get("memory") == m) for m in MEMORIES])


def raw_features(query: str | dict) -> list[float]:
    q = json.loads(query) if isinstance(query, str) else query
    inputs = q["inputs"]
    first = inputs[0]
    out = q.get("output") or {}
    cores = first.get("core_count") or (np.prod(first["grid"]) if "grid" in first else 0)
    return (_tensor(first) + _tensor(inputs[1] if len(inputs) > 1 else None)
            + [float(out.get("memory", first["memory"]) == m) for m in MEMORIES] + [float(cores)])


class TorpRecipe:
    """fit(queries, ns) / predict(queries) -> ns, like TORP's MLP on raw features and raw ns."""

    def __init__(self, hidden_layers=(128, 128, 128), learning_rate: float = 1e-3, batch_size: int = 64,
                 max_iter: int = 500, seed: int = 0):
        self.model = make_pipeline(
            StandardScaler(),
            MLPRegressor(hidden_layer_sizes=hidden_layers, activation="relu", solver="adam",
                         learning_rate_init=learning_rate, batch_size=batch_size, max_iter=max_iter,
                         tol=1e-5, n_iter_no_change=30, random_state=seed))

    def fit(self, queries, ns) -> "TorpRecipe":
        self.model.fit(np.array([raw_features(q) for q in queries]), np.asarray(ns, float))
        return self

    def predict(self, queries) -> np.ndarray:
        return self.model.predict(np.array([raw_features(q) for q in queries]))
