"""tests/fixtures/tensor_spec_*.json: tensor_spec_json() of two live tensors next to what ttnn's own graph
capture records for them, so that the JSON layout can be checked against ttnn whenever ttnn changes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from .. import vocabulary
from .capture import capture_on, is_device_op
from .environment import TTNN_VERSION, import_ttnn
from .session import current_device
from .tensors import empty, tensor_spec_json


def fixture_examples() -> dict[str, Callable[[], Any]]:
    """Fixture file name -> a function making its tensor on the open device."""
    return {
        "tensor_spec_interleaved.json": lambda: empty((1, 1, 64, 128), vocabulary.BFLOAT16, vocabulary.TILE,
                                                      vocabulary.DRAM_INTERLEAVED),
        "tensor_spec_height_sharded.json": lambda: empty((1, 1, 256, 64), vocabulary.BFLOAT16, vocabulary.TILE,
                                                         vocabulary.L1_HEIGHT_SHARDED, grid=[8, 1]),
    }


def fixture_document(tensor: Any) -> dict[str, Any]:
    """tensor_spec_json(tensor) next to the real graph-trace entries for the same tensor."""
    ttnn = import_ttnn()
    result = capture_on(current_device(), ttnn.relu, (tensor,), keep_trace=True)
    op_args = next(n["arguments"] for n in result.trace if n["node_type"] == "function_start"
                   and is_device_op(n["params"].get("name", ""), n["params"]))
    spec_repr = next(re.search(r"tensor_spec=(TensorSpec\(.*\)\))\)", a).group(1)
                     for a in op_args if "tensor_spec=TensorSpec(" in a)
    node = next(n["params"] for n in result.trace if n["node_type"] == "tensor")
    node = {k: v for k, v in node.items() if k not in ("address", "device_tensors", "device_id", "tensor_id")}
    return {
        "_about": (
            "ttnn 0.81.1 exposes no Python serializer for TensorSpec. 'tensor_spec' follows the layout of "
            "tt-metal's C++ ttsl::json::to_json<TensorSpec> (reflection: attribute names as keys, enums as "
            "integers, PageConfig variant as {index, value} with 1 = TilePageConfig); it was built by "
            "opcast.device.tensor_spec_json from a live mock-device tensor, and its memory_config is "
            "ttnn's own MemoryConfig.to_json(). 'graph_trace' holds what ttnn's graph capture itself recorded "
            "for the same tensor (input of ttnn.relu): the TensorSpec text from the device op's arguments and "
            "the tensor node's params (address/ids dropped)."),
        "ttnn_version": TTNN_VERSION,
        "tensor_spec": tensor_spec_json(tensor),
        "graph_trace": {"spec_repr": spec_repr, "tensor_node": node},
    }


def write_fixtures(folder: str | os.PathLike) -> list[Path]:
    """Write tests/fixtures/tensor_spec_*.json (needs an open device)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in fixture_examples().items():
        path = folder / name
        path.write_text(json.dumps(fixture_document(make()), indent=2) + "\n")
        written.append(path)
    return written
