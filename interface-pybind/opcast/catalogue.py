"""The op catalogue, as the C++ library embeds it (cpp/catalogue/ops.json): one list every stage reads."""

import functools
import json

from ._core import catalogue_json


@functools.cache
def catalogue() -> dict:
    """The parsed catalogue: {"schema_version", "kinds", "ops": [{"name", "kind", "inputs", "profiler", ...}]}."""
    return json.loads(catalogue_json())


def op_names() -> list[str]:
    return [op["name"] for op in catalogue()["ops"]]
