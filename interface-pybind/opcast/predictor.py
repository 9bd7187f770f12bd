"""Python face of the C++ predictor: single queries, and vectorised batches from lists or DataFrames."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from . import _core, vocabulary

PREDICTION_COLUMNS = ["predicted_ns", "lo_ns", "hi_ns", "in_domain"]


class Predictor:
    """Loads a folder of per-op models once; answers in microseconds.

    Parameters
    ----------
    models_dir : folder with one subfolder per op (manifest.json, weights.bin, ...), as written by
        ``opcast train``. Corrupt, mismatched or missing models raise :class:`opcast.ModelError`.
    """

    def __init__(self, models_dir: str | Path):
        self.models_dir = Path(models_dir)
        self._impl = _core.Predictor(str(self.models_dir))

    def predict(self, query: dict | str) -> _core.Prediction:
        """One query (dict or JSON string, TensorSpec or short form) -> Prediction(ns, lo_ns, hi_ns, in_domain, source,
        build). A query may name ``"build"`` (a tt-metal commit prefix or a source, as the models' build
        tables name them); without it the answer is for the newest build the model knows.

        Where ttnn is importable a dict may hold ttnn's own objects (Tensors, TensorSpecs, MemoryConfigs,
        enums; :mod:`opcast.ttnn_json`). Raises :class:`opcast.QueryError` (a ValueError) naming the bad
        field or the legality rule the query breaks, or :class:`opcast.ModelError` when no model covers
        the op. The answer has ``to_dict()``, ``to_json()`` and pickles. The GIL is released while the
        query is answered (and while JSON text is parsed): threads sharing a Predictor run side by side.
        """
        return self._impl.predict(query)

    def get_runtime_from_model(self, op_name: str, *tensor_jsons: Any, output_memory_config: Any = None,
                               **attributes: Any) -> _core.Prediction:
        """tt-metal's and TORP's call shape: ``get_runtime_from_model("exp", tensor_json)``,
        ``get_runtime_from_model("ttnn::add", a, b, output_memory_config={"buffer_type": 1})``; answered
        as :meth:`predict` answers (:func:`opcast.vocabulary.call_query`). The op as tt-metal, ttnn or
        TORP names it; each tensor as TORP sends it (TensorSpec JSON, 0-padded shapes), in the short
        form, or a ttnn object; keyword arguments are the op's attributes. TORP's own keyword for its
        one tensor, ``tensor_json=``, is read as the first tensor, so TORP's usage.py runs unchanged."""
        if "tensor_json" in attributes:
            tensor_jsons = (attributes.pop("tensor_json"), *tensor_jsons)
        return self._impl.predict(vocabulary.call_query(op_name, tensor_jsons, output_memory_config, attributes))

    def predict_batch(self, queries: Iterable[dict | str] | pd.DataFrame, errors: str = "raise") -> pd.DataFrame:
        """Many queries at once -> DataFrame with predicted_ns, lo_ns, hi_ns, in_domain, source, build, error.

        ``queries`` is a list of dicts / JSON strings, or a DataFrame with a ``query`` column (the
        format ``opcast.train`` importers produce). With ``errors="raise"`` the first bad query raises;
        with ``errors="collect"`` bad rows get their message in ``error`` and <NA> predictions.
        """
        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
        if isinstance(queries, pd.DataFrame):
            if "query" not in queries.columns:
                raise ValueError(f"DataFrame needs a 'query' column of JSON strings or dicts; it has {list(queries.columns)}")
            index = queries.index
            queries = queries["query"].tolist()
        else:
            queries = list(queries)
            index = pd.RangeIndex(len(queries))
        cols = self._impl.predict_columns(queries, errors == "collect")
        valid = cols["valid"]
        frame = pd.DataFrame(index=index)
        for name, key in (("predicted_ns", "ns"), ("lo_ns", "lo_ns"), ("hi_ns", "hi_ns")):
            frame[name] = pd.array(cols[key], dtype="Float64")
            frame.loc[~valid, name] = pd.NA
        frame["in_domain"] = pd.array(cols["in_domain"], dtype="boolean")
        frame.loc[~valid, "in_domain"] = pd.NA
        frame["source"] = cols["source"]
        frame["build"] = cols["build"]
        frame["error"] = cols["error"]
        return frame

    def models(self) -> list[dict]:
        """One dict per loaded model: scope ("op", "kind" or "roofline"), op (op models), kind, dir, source,
        target, dataset_hash, members, memo_programs."""
        return self._impl.models()

    def has_model(self, op: str) -> bool:
        """Whether some tier (the op's model, its kind's, the calibrated roofline) answers this op."""
        return self._impl.has_model(op)

    def __repr__(self) -> str:
        ops = ", ".join(m["op"] or f'{m["scope"]}:{m["kind"] or "all kinds"}' for m in self.models())
        return f"Predictor({str(self.models_dir)!r}: {ops})"

