"""The ttnn mock Wormhole n150 (opcast.device): L1 use and legality of real ttnn calls.

Runs in the Python 3.12 environment of scripts/setup_mock.sh (opcast is installed there):
    cd tests && ../.venv-mock/bin/python -m pytest -m mock test_mock_device.py
and skips where ttnn is not installed (the main 3.11 environment).
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("ttnn") is None:
    pytest.skip("ttnn is not installed (run scripts/setup_mock.sh, then use .venv-mock)", allow_module_level=True)

import numpy as np  # noqa: E402

from opcast import device as md  # noqa: E402
from opcast import vocabulary  # noqa: E402

md.apply_mock_environment()  # before ttnn is imported: it reads the environment when it starts
import ttnn  # noqa: E402

pytestmark = pytest.mark.mock

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WORMHOLE_WORKER_L1 = 1_499_136  # 1464 KiB of L1 per Tensix core


@pytest.fixture(scope="module")
def device():
    with md.open_device() as dev:
        yield dev


def test_device_is_a_mock_wormhole_n150(device):
    grid = device.compute_with_storage_grid_size()
    assert (grid.x, grid.y) == (8, 8)
    assert device.arch() == ttnn.device.Arch.WORMHOLE_B0
    limits = md.l1_limits(device)
    assert limits["num_l1_banks"] == 64
    assert limits["worker_l1_size"] == WORMHOLE_WORKER_L1
    assert 1_000_000 < limits["l1_bank_size"] < WORMHOLE_WORKER_L1
    assert limits["l1_bank_size"] == ttnn.get_memory_view(device, ttnn.BufferType.L1).total_bytes_per_bank


def test_recorded_enum_values_are_ttnns():
    live = md.live_enum_values()
    for name, values in md.ENUMS.items():
        assert live[name] == values, name


def test_eltwise_add_of_two_l1_tiles(device):
    a = md.from_numpy(np.ones((1, 1, 32, 32)), "bfloat16", "TILE", "L1_INTERLEAVED")
    b = md.from_numpy(np.ones((1, 1, 32, 32)), "bfloat16", "TILE", "L1_INTERLEAVED")
    r = md.capture(ttnn.add, a, b)
    assert r.ok and r.error is None, r.error
    assert r.l1_peak_per_core > 0 and r.fits_l1 and r.legal
    assert r.l1_limit_per_core == md.l1_limits(device)["l1_bank_size"]
    assert r.l1_resident_per_core >= 2 * 2048  # the two inputs: one bf16 tile each, allocated per bank
    assert r.ops == ["BinaryNgDeviceOperation"]
    assert r.program_factories[0] and r.peak_cb > 0 and r.cores_used > 0
    (out,) = r.outputs
    assert out["logical_shape"] == [1, 1, 32, 32]
    assert out["tensor_layout"]["memory_config"]["buffer_type"] == md.ENUMS["BufferType"]["L1"]
    json.dumps(r.to_dict())  # plain data


def test_height_sharded_matmul_uses_more_l1_than_dram(device):
    def matmul(memory, **where):
        a = md.empty((1, 1, 256, 128), "bfloat16", "TILE", memory, **where)
        b = md.empty((1, 1, 128, 128), "bfloat16", "TILE", "DRAM_INTERLEAVED")
        return ttnn.matmul(a, b)

    dram = md.capture(matmul, "DRAM_INTERLEAVED")
    sharded = md.capture(matmul, "L1_HEIGHT_SHARDED", grid=[4, 1])
    by_count = md.capture(matmul, "L1_HEIGHT_SHARDED", core_count=4)
    for r in (dram, sharded, by_count):
        assert r.ok, r.error
        assert "MatmulDeviceOperation" in r.ops
    assert sharded.l1_peak_per_core > dram.l1_peak_per_core > 0
    assert sharded.peak_l1_buffers >= 256 * 128 * 2 // 4  # one 64x128 bf16 shard per core
    assert by_count.l1_peak_per_core == sharded.l1_peak_per_core
    assert sharded.cores_used == 4


def test_a_tile_tensor_is_sharded_in_whole_tiles_as_ttnn_pads_it(device):
    # 256 rows = 8 tile rows over 3 cores: shards of 3 tile rows, the last one short; ttnn takes it.
    r = md.capture(md.empty, (1, 1, 256, 128), "bfloat16", "TILE", "L1_HEIGHT_SHARDED", grid=[3, 1])
    assert r.ok and r.legal
    shard = json.loads(md.memory_config("L1_HEIGHT_SHARDED", (1, 1, 256, 128), grid=[3, 1]).to_json())
    assert shard["shard_spec"]["shape"] == [96, 128]
    # [1, 7, 8, 64] lies in 7 tile rows (each 8-row slice padded to a tile): one per core.
    odd = md.memory_config("L1_HEIGHT_SHARDED", (1, 7, 8, 64), core_count=7)
    assert json.loads(odd.to_json())["shard_spec"]["shape"] == [32, 64]
    assert md.capture(ttnn.gelu, md.empty((1, 7, 8, 64), "bfloat16", "TILE", odd)).legal
    # A ROW_MAJOR tensor is sharded by its logical rows, which must divide.
    r = md.capture(md.empty, (1, 1, 256, 128), "bfloat16", "ROW_MAJOR", "L1_HEIGHT_SHARDED", grid=[3, 1])
    assert not r.ok and not r.legal
    assert r.error_type == "RuntimeError" and "Invalid sharding core_grid" in r.error


def test_op_that_rejects_the_layout(device):
    a = md.empty((1, 1, 64, 64), "bfloat16", "ROW_MAJOR", "L1_INTERLEAVED")
    r = md.capture(ttnn.matmul, a, a)
    assert not r.ok
    assert "TT_FATAL" in r.error and "Inputs to matmul must be tilized" in r.error
    assert "backtrace" not in r.error


def test_oversized_l1_does_not_fit(device):
    # 8192x1024 bf16 height-sharded over 4 cores: 4 MiB shards, far beyond one core's L1.
    big_shard = md.capture(md.empty, (1, 1, 8192, 1024), "bfloat16", "TILE", "L1_HEIGHT_SHARDED", grid=[4, 1])
    assert big_shard.ok  # NO_DISPATCH does not check allocations...
    assert big_shard.l1_peak_per_core >= 8192 * 1024 * 2 // 4
    assert not big_shard.fits_l1 and not big_shard.legal  # ...so the comparison with the L1 bank does
    a = md.empty((1, 1, 8192, 8192), "bfloat16", "TILE", "DRAM_INTERLEAVED")
    big_out = md.capture(ttnn.add, a, a, memory_config=ttnn.L1_MEMORY_CONFIG)
    assert big_out.ok and not big_out.fits_l1
    small = md.capture(md.empty, (1, 1, 8192, 1024), "bfloat16", "TILE", "L1_HEIGHT_SHARDED", grid=[8, 8])
    assert small.ok and small.fits_l1


def test_tensors_made_before_the_call_count_as_resident(device):
    before = md.l1_allocated_per_bank(device)
    keep = md.empty((1, 1, 256, 128), "bfloat16", "TILE", "L1_HEIGHT_SHARDED", grid=[4, 1])
    r = md.capture(ttnn.relu, keep)
    assert r.ok
    assert r.l1_resident_per_core - before == 64 * 128 * 2
    assert r.l1_total_per_core == r.l1_resident_per_core + r.l1_peak_per_core
    assert md.l1_allocated_per_bank(device) == before + 64 * 128 * 2  # captures allocate nothing for real
    keep.deallocate()


@pytest.mark.parametrize("name", vocabulary.DTYPES)
def test_dtypes_from_numpy_into_sharded_l1(device, name):
    t = md.from_numpy(np.zeros((1, 1, 64, 64)), name, "TILE", "L1_HEIGHT_SHARDED", core_count=2)
    assert t.dtype == md.ttnn_dtype(name)
    assert t.memory_config().memory_layout == ttnn.TensorMemoryLayout.HEIGHT_SHARDED
    assert int(t.dtype.value) == md.ENUMS["DataType"][name.upper()]
    t.deallocate()


def test_memory_config_short_forms(device):
    shape = (1, 1, 256, 256)
    assert md.memory_config("DRAM_INTERLEAVED", shape) == ttnn.DRAM_MEMORY_CONFIG
    assert md.memory_config("l1_interleaved", shape) == ttnn.L1_MEMORY_CONFIG

    def spec(memory, **where):
        return json.loads(md.memory_config(memory, shape, **where).to_json())

    width = spec("L1_WIDTH_SHARDED", core_count=8)
    assert width["memory_layout"] == 3 and width["shard_spec"]["shape"] == [256, 32]
    block = spec("L1_BLOCK_SHARDED", grid=[4, 2])
    assert block["memory_layout"] == 4 and block["shard_spec"]["shape"] == [128, 64]
    assert spec("L1_BLOCK_SHARDED", core_count=8) == block  # squarest rectangle that divides
    ragged = spec("L1_HEIGHT_SHARDED", core_count=8, grid=[3, 3])  # rows of 3 cores
    assert ragged["shard_spec"]["shape"] == [32, 256]
    cores = [(r["end"]["x"] - r["start"]["x"] + 1) * (r["end"]["y"] - r["start"]["y"] + 1)
             for r in ragged["shard_spec"]["grid"]]
    assert sum(cores) == 8 and max(r["end"]["x"] for r in ragged["shard_spec"]["grid"]) == 2
    with pytest.raises(ValueError):
        md.memory_config("L1_SHARDED", shape, core_count=8)
    with pytest.raises(ValueError):
        md.memory_config("L1_HEIGHT_SHARDED", shape)
    assert spec("L1_HEIGHT_SHARDED", core_count=3)["shard_spec"]["shape"] == [96, 256]  # whole tiles, last short
    with pytest.raises(RuntimeError, match="Invalid sharding core_grid"):
        md.memory_config("L1_HEIGHT_SHARDED", shape, core_count=3, layout="ROW_MAJOR")


@pytest.mark.parametrize("tensor", [
    vocabulary.Tensor((1, 1, 64, 128)),
    vocabulary.Tensor((2, 96, 7), vocabulary.FLOAT32, vocabulary.ROW_MAJOR, vocabulary.L1_INTERLEAVED),
    vocabulary.Tensor((1, 1, 256, 64), vocabulary.BFLOAT8_B, memory=vocabulary.L1_HEIGHT_SHARDED, grid=(8, 1)),
    vocabulary.Tensor((1, 1, 256, 256), memory=vocabulary.L1_BLOCK_SHARDED, grid=(4, 2)),
    vocabulary.Tensor((1, 1, 256, 256), memory=vocabulary.L1_WIDTH_SHARDED, core_count=8),
])
def test_short_form_of_a_device_tensor_is_the_tensor_it_was_made_from(device, tensor):
    made = md.empty(tensor.shape, tensor.dtype, tensor.layout, tensor.memory, tensor.grid, tensor.core_count)
    described = md.short_form(made)
    # core_count alone on an 8x8 grid: the first 8 cores, row by row, i.e. the 8x1 rectangle
    assert described == (tensor if tensor.grid or not tensor.sharded else
                         vocabulary.Tensor(tensor.shape, tensor.dtype, tensor.layout, tensor.memory, (8, 1), 8))
    made.deallocate()


def test_short_form_of_cores_that_are_no_rectangle_has_no_grid(device):
    made = md.empty((1, 1, 256, 256), memory=vocabulary.L1_HEIGHT_SHARDED, grid=[3, 3], core_count=8)
    assert md.short_form(made) == vocabulary.Tensor((1, 1, 256, 256), memory=vocabulary.L1_HEIGHT_SHARDED,
                                                    core_count=8)
    made.deallocate()


@pytest.mark.parametrize("fixture", ["tensor_spec_interleaved.json", "tensor_spec_height_sharded.json"])
def test_tensor_spec_fixtures_are_current(device, fixture):
    recorded = json.loads((FIXTURES / fixture).read_text())
    tensor = md.fixture_examples()[fixture]()
    fresh = md.fixture_document(tensor)
    assert fresh["tensor_spec"] == recorded["tensor_spec"]
    assert fresh["graph_trace"] == recorded["graph_trace"]
    tensor.deallocate()


def test_ops_outside_a_capture_build_with_the_stand_in_compiler(device):
    compiler = Path(ttnn.__file__).parent / "runtime" / "sfpi" / "compiler" / "bin" / "riscv-tt-elf-g++"
    assert compiler.exists()
    a = md.from_numpy(np.ones((1, 1, 32, 64)), "float32", "TILE", "L1_INTERLEAVED")
    out = ttnn.relu(a)  # dispatched to the mock device: program built, nothing computed
    assert list(out.shape) == [1, 1, 32, 64]
    values = np.asarray(out.cpu().to_numpy(), dtype=np.float32)
    assert values.shape == (1, 1, 32, 64) and not values.any()  # the mock device holds zeros


def test_no_torch_was_imported():
    assert "torch" not in sys.modules
