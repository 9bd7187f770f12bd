"""opcast: empirical op-runtime prediction for TTNN on Tenstorrent Wormhole.

    >>> import opcast
    >>> p = opcast.Predictor("artifacts/models")
    >>> r = p.predict({"op": "ttnn.exp", "inputs": [{"shape": [1, 1, 256, 256], "dtype": "bfloat16",
    ...                "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})
    >>> r.ns, r.lo_ns, r.hi_ns, r.in_domain
"""

from importlib.metadata import PackageNotFoundError, version

from ._core import (
    FEATURE_SCHEMA_VERSION,
    ModelError,
    Prediction,
    QueryError,
    feature_names,
    features,
    features_batch,
    normalize_query,
    roofline,
)
from .catalogue import load_catalogue, op_names
from .predictor import Predictor
from .ttnn_json import query_from_ttnn

try:
    __version__ = version("opcast")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "FEATURE_SCHEMA_VERSION",
    "ModelError",
    "Prediction",
    "Predictor",
    "QueryError",
    "feature_names",
    "features",
    "features_batch",
    "load_catalogue",
    "normalize_query",
    "op_names",
    "query_from_ttnn",
    "roofline",
]
