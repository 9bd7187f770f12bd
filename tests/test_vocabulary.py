"""The words of a query live in the C++ parser; opcast.vocabulary is their one Python home."""

import json

import pytest

import opcast
from opcast import _core
from opcast import vocabulary as v


def test_the_words_are_the_parsers():
    assert v.DTYPES == _core.DTYPES and v.MEMORIES == _core.MEMORIES and v.LAYOUTS == _core.LAYOUTS
    assert (v.BFLOAT16, v.TILE, v.DRAM_INTERLEAVED, v.HIFI4) == ("bfloat16", "TILE", "DRAM_INTERLEAVED", "HiFi4")
    assert v.SHARDED == {m for m in v.MEMORIES if m.endswith("_SHARDED")}
    for name in v.DTYPES:  # every word reads back as itself through the parser
        assert v.dtype(name) == name


@pytest.mark.parametrize("written, canonical", [
    ("DataType.BFLOAT16", "bfloat16"), ("DataType::BFLOAT8_B", "bfloat8_b"), ("bfloat8", "bfloat8_b"),
    (" FLOAT32 ", "float32"),
])
def test_dtypes_as_ttnn_and_reports_write_them(written, canonical):
    assert v.dtype(written) == canonical


def test_unknown_words_are_query_errors_listing_the_known_ones():
    with pytest.raises(opcast.QueryError, match="unknown dtype \"float64\"; expected bfloat16, .* or int32"):
        v.dtype("float64")
    with pytest.raises(opcast.QueryError, match="unknown memory config"):
        v.memory_of("L2", "INTERLEAVED")
    assert v.memory_of("BufferType::L1", "TensorMemoryLayout.BLOCK_SHARDED") == v.L1_BLOCK_SHARDED


def test_tensor_and_query_round_trip_through_the_parser():
    t = v.Tensor([1, 1, 64, 96], v.BFLOAT8_B, v.TILE, v.L1_BLOCK_SHARDED, grid=[2, 2])
    assert t.to_dict() == {"shape": [1, 1, 64, 96], "dtype": "bfloat8_b", "layout": "TILE",
                           "memory": "L1_BLOCK_SHARDED", "grid": [2, 2], "core_count": 4}
    assert v.Tensor.from_dict(t.to_dict()) == t and t.tiles == 2 * 3 and t.sharded
    text = v.query_json("ttnn.exp", [t], v.output_spec(memory_name=v.DRAM_INTERLEAVED))
    assert text == v.canonical_json(json.loads(text))
    assert v.normalized(text)["output"]["memory"] == v.DRAM_INTERLEAVED
    assert v.normalized(text)["output"]["shape"] == [1, 1, 64, 96]  # derived by the parser


def test_validation_is_the_parsers_with_field_paths():
    bad = v.make_query("ttnn.exp", [v.Tensor([1, 1, 64, 96], memory=v.L1_HEIGHT_SHARDED)])
    with pytest.raises(opcast.QueryError, match=r"inputs\[0\]: sharded memory config needs"):
        v.validate(bad)
    with pytest.raises(opcast.QueryError, match=r"inputs\[1\]\.shape: not broadcastable"):
        v.query_json("ttnn.add", [v.Tensor([64, 96]), v.Tensor([32, 32])])


@pytest.mark.parametrize("shape, tiles", [([32, 32], 1), ([33, 32], 2), ([5], 1), ([3, 2, 64, 65], 3 * 2 * 2 * 3)])
def test_tile_count_pads_the_last_two_dims(shape, tiles):
    assert v.tile_count(shape) == tiles
