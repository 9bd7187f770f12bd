"""ttnn's own objects as the JSON of a query, wherever ttnn is importable (a Wormhole host, the mock).

A ``ttnn.Tensor`` or ``ttnn.TensorSpec`` becomes tt-metal's TensorSpec JSON (:func:`tensor_spec_json`),
a ``ttnn.MemoryConfig`` ttnn's own ``MemoryConfig.to_json()``, an enum its name as ttnn prints it
(``DataType.BFLOAT16``), a ``ttnn.Shape`` a list. ``Predictor.predict`` and ``predict_batch`` read
such objects anywhere in a query (the bindings hand every object of a ``ttnn`` type to
:func:`to_json_value`), and :func:`query_from_ttnn` builds a query from a ttnn call's arguments::

    q = opcast.query_from_ttnn("ttnn::add", a, b, output_memory_config=ttnn.L1_MEMORY_CONFIG)
    predictor.predict(q)        # or predictor.get_runtime_from_model("ttnn::add", a, b, ...)

Nothing here imports ttnn or needs a device: it reads the objects it is given.

ttnn 0.81.1 serializes no TensorSpec from Python (``ttnn.TensorSpec`` and ``ttnn.Tensor`` have no
to_json; the C++ ``ttsl::json::to_json<TensorSpec>`` is not bound), so :func:`tensor_spec_json` builds
the layout that one produces by tt-metal's reflection rules (object keyed by attribute names, enums
as integers, the PageConfig variant as {"index", "value"}: 0 = RowMajorPageConfig, 1 =
TilePageConfig) around ttnn's own MemoryConfig.to_json(); tests/fixtures/tensor_spec_*.json hold two
examples next to the real graph-trace entries they were checked against (opcast.device.fixtures).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from . import vocabulary


def _member(obj: Any, name: str) -> Any:
    """An attribute that is a method on a Tensor and a property on a TensorSpec (memory_config, ...)."""
    value = getattr(obj, name)
    return value() if callable(value) else value


def tensor_spec_json(tensor: Any) -> dict[str, Any]:
    """A ttnn.Tensor's or ttnn.TensorSpec's spec in the JSON layout of tt-metal's C++
    ``ttsl::json::to_json<TensorSpec>``.

    {"logical_shape": [...], "tensor_layout": {"dtype": <DataType int>, "page_config": {"config":
    {"index": 0 | 1, "value": {} | {"tile": {"tile_shape", "face_shape", "num_faces"}}}},
    "memory_config": <ttnn's MemoryConfig.to_json()>, "alignment": [tile_h, tile_w]}}: alignment
    only for TILE layout (its default; ROW_MAJOR's depends on the shard spec and is left out).
    """
    spec = getattr(tensor, "spec", tensor)  # a Tensor's spec, or the TensorSpec itself
    memory = json.loads(_member(spec, "memory_config").to_json())
    layout_json: dict[str, Any] = {"dtype": int(spec.dtype.value)}
    if spec.layout.name == "TILE":
        tile = spec.tile
        tile_shape = [int(v) for v in tile.tile_shape]
        face_shape = [int(v) for v in tile.face_shape]
        layout_json["page_config"] = {"config": {"index": 1, "value": {"tile": {
            "tile_shape": tile_shape, "face_shape": face_shape, "num_faces": int(tile.num_faces)}}}}
        layout_json.update(memory_config=memory, alignment=tile_shape)
    else:
        layout_json["page_config"] = {"config": {"index": 0, "value": {}}}
        layout_json["memory_config"] = memory
    return {"logical_shape": [int(s) for s in spec.shape], "tensor_layout": layout_json}


def _is_ttnn(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module == "ttnn" or module.startswith("ttnn.")


def to_json_value(obj: Any) -> Any:
    """A ttnn object as the JSON a query holds in its place (ValueError for one a query cannot hold)."""
    if isinstance(obj, enum.Enum) or (hasattr(obj, "name") and hasattr(type(obj), "__members__")):
        return f"{type(obj).__name__}.{obj.name}"  # ttnn's pybind enums print so: DataType.BFLOAT16
    if hasattr(obj, "tensor_layout") or hasattr(obj, "spec") or type(obj).__name__ == "TensorSpec":
        return tensor_spec_json(obj)
    if hasattr(obj, "buffer_type") and hasattr(obj, "to_json"):  # MemoryConfig
        return json.loads(obj.to_json())
    if type(obj).__name__ == "Shape":
        return [int(d) for d in obj]
    raise ValueError(f"a {type(obj).__module__}.{type(obj).__name__} has no place in a query; expected a ttnn "
                     "Tensor, TensorSpec, MemoryConfig, Shape or enum")


def _plain(value: Any) -> Any:
    """A call's argument with every ttnn object in it as JSON; an attribute ttnn cannot express in
    JSON (a compute kernel config, ...) as its text, since the query only records it."""
    if _is_ttnn(value):
        try:
            return to_json_value(value)
        except ValueError:
            return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def query_from_ttnn(op: str, *tensors: Any, output_memory_config: Any = None, **attributes: Any) -> dict[str, Any]:
    """The query of a ttnn call: ``op`` as ttnn or tt-metal names it (``ttnn.exp``, ``ttnn::exp``,
    ``exp``), its input tensors (ttnn Tensors, TensorSpecs, or JSON as :func:`tensor_spec_json` or the
    short form write them), the output's memory config (a ttnn.MemoryConfig, its JSON or a short-form
    output) and the op's attributes (ttnn enums welcome: ``math_fidelity=ttnn.MathFidelity.HiFi4``).
    Plain JSON, ready for ``Predictor.predict`` or ``json.dumps``."""
    return vocabulary.call_query(op, [_plain(t) for t in tensors], _plain(output_memory_config),
                                 {k: _plain(v) for k, v in attributes.items()})
