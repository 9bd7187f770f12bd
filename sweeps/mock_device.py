"""A mock Wormhole n150 for ttnn: per-core L1 use and legality of a TTNN op call, without hardware.

Needs the Python 3.12 environment made by ``scripts/setup_mock.sh`` (``.venv-mock``: ttnn 0.81.1,
numpy, and stand-ins for tt's RISC-V compiler). Imports nothing but the standard library at import
time; ttnn is imported on first use, after the mock environment variables are set, because ttnn
reads them when it starts. Never imports torch (ttnn's own Python I/O recording would, so it is
switched off during captures).

Usage::

    from sweeps import mock_device as md          # opcast.sweeps.mock_device once installed
    with md.open_device() as dev:                  # mock n150: one wormhole_b0, 8x8 compute grid
        a = md.from_numpy(np.zeros((1, 1, 32, 32)), dtype="bfloat16", memory="L1_INTERLEAVED")
        r = md.capture(ttnn.add, a, a)
        r.ok, r.error, r.l1_peak_per_core, r.l1_limit_per_core, r.fits_l1, r.ops

How it works: the op runs inside ``ttnn.graph.begin_graph_capture(RunMode.NO_DISPATCH)`` (with
Python I/O recording disabled); ttnn validates the call and builds its program (compiling kernels
with the stand-in compiler), nothing is dispatched, outputs hold no data. The per-core L1 peak is
``ttnn.graph.extract_resource_usage_per_core(trace).peak_total`` (circular/dataflow buffers,
L1 buffers and scratchpads; buffers that borrow an existing tensor's memory are not counted
twice). NO_DISPATCH allocations are not checked against the allocator, so ``fits_l1`` compares
the peak, plus the L1 already allocated per bank before the call (tensors made outside ``fn``),
with the allocator's L1 bank size: ``ttnn.get_memory_view(device, BufferType.L1).total_bytes_per_bank``
(1,393,312 bytes on the mock n150: 1,499,136 bytes of worker L1 minus 105,824 reserved below the
allocator's base). Make inputs inside ``fn`` to count them in the peak, or outside to count them
as resident; the total is the same.

ttnn 0.81.1 enum values (``int(member.value)``; the C++ JSON serializers write these integers)
---------------------------------------------------------------------------------------------
DataType:           BFLOAT16=0 FLOAT32=1 UINT32=2 BFLOAT8_B=3 BFLOAT4_B=4 UINT8=5 UINT16=6
                    INT32=7 FP8_E4M3=8 INT8=9 INVALID=10
BufferType:         DRAM=0 L1=1 L1_SMALL=3 TRACE=4              (2 is unused here)
TensorMemoryLayout: INTERLEAVED=0 HEIGHT_SHARDED=2 WIDTH_SHARDED=3 BLOCK_SHARDED=4 ND_SHARDED=5
Layout:             ROW_MAJOR=0 TILE=1 INVALID=2
MathFidelity:       LoFi=0 HiFi2=2 HiFi3=3 HiFi4=4 Invalid=255
ShardOrientation:   ROW_MAJOR=0 COL_MAJOR=1
(``ENUMS`` below holds them; ``live_enum_values()`` reads them back from ttnn.)

TensorSpec and JSON in ttnn 0.81.1
----------------------------------
No Python API serializes a TensorSpec: ``ttnn.TensorSpec`` has no to_json/from_json, nor does
``ttnn.Tensor``; the graph trace describes tensors as text (``TensorSpec(logical_shape=Shape([..]),
tensor_layout=TensorLayout(dtype=DataType::BFLOAT16,page_config=PageConfig(config=TilePageConfig(
tile=Tile(tile_shape={32, 32},face_shape={16, 16},num_faces=4))),memory_config=MemoryConfig(..),
alignment=Alignment([32, 32])))`` in device-op arguments) and as ``tensor`` nodes whose params carry
shape/dtype/layout/memory_config as strings. The C++ library has ``ttsl::json::to_json<TensorSpec>``
(symbol present in _ttnncpp.so) but it is not bound to Python. Python does expose ``to_json()`` /
``from_json()`` on MemoryConfig, ShardSpec, NdShardSpec, CoreRangeSet, CoreRange, CoreCoord and the
matmul program configs; MemoryConfig.to_json() writes enums as integers, e.g.
``{"buffer_type":1,"created_with_nd_shard_spec":false,"memory_layout":2,"per_core_allocation":false,
"shard_spec":{"grid":[{"end":{"x":7,"y":0},"start":{"x":0,"y":0}}],"orientation":0,"shape":[32,64]}}``.
``tensor_spec_json()`` builds the layout that the C++ ``to_json<TensorSpec>`` produces by
tt-metal's reflection rules (object keyed by attribute names, enums as integers, the PageConfig
variant as {"index", "value"}: 0 = RowMajorPageConfig, 1 = TilePageConfig) around ttnn's own
MemoryConfig.to_json(); tests/fixtures/tensor_spec_*.json hold two examples next to the real
trace entries they were checked against.

Measured here (2 cores, 24 GB): ``scripts/setup_mock.sh`` from scratch 39 s (most of it the
100 MB ttnn wheel's download and install), 3.5 s when everything is in place; ``import ttnn``
0.35-0.55 s; opening the device 0.1-0.45 s the first time in a process, then about 0.01 s; one
capture 1-10 ms when the op's program was built before in the process, 10-50 ms when its
placeholder kernels are in TT_METAL_CACHE from an earlier process, 0.1-0.7 s the first time ever
(the JIT build runs the stand-in compiler a few times per kernel). tests/test_mock_device.py:
about 5 s, 8 s with an empty cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

TTNN_VERSION = "0.81.1"
CLUSTER_DESCRIPTOR = Path(__file__).resolve().parent / "wormhole_n150_cluster.yaml"
COMPUTE_GRID = (8, 8)  # what ttnn reports for an n150 (x, y); checked on open

ENUMS: dict[str, dict[str, int]] = {
    "DataType": {"BFLOAT16": 0, "FLOAT32": 1, "UINT32": 2, "BFLOAT8_B": 3, "BFLOAT4_B": 4, "UINT8": 5,
                 "UINT16": 6, "INT32": 7, "FP8_E4M3": 8, "INT8": 9, "INVALID": 10},
    "BufferType": {"DRAM": 0, "L1": 1, "L1_SMALL": 3, "TRACE": 4},
    "TensorMemoryLayout": {"INTERLEAVED": 0, "HEIGHT_SHARDED": 2, "WIDTH_SHARDED": 3, "BLOCK_SHARDED": 4,
                           "ND_SHARDED": 5},
    "Layout": {"ROW_MAJOR": 0, "TILE": 1, "INVALID": 2},
    "MathFidelity": {"LoFi": 0, "HiFi2": 2, "HiFi3": 3, "HiFi4": 4, "Invalid": 255},
    "ShardOrientation": {"ROW_MAJOR": 0, "COL_MAJOR": 1},
}

DTYPES = ("bfloat16", "bfloat8_b", "bfloat4_b", "float32", "uint16", "uint32", "int32")
MEMORIES = ("DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_HEIGHT_SHARDED", "L1_WIDTH_SHARDED", "L1_BLOCK_SHARDED")

# Exceptions that mean "ttnn rejected this call" (TT_FATAL/TT_THROW surface as RuntimeError; ttnn's
# Python helpers raise RuntimeError/ValueError; nanobind raises TypeError for arguments it cannot
# bind). Anything else (NameError, AttributeError, ...) is a bug in the caller and propagates.
REJECTIONS = (RuntimeError, ValueError, TypeError)

_QUIET_DEFAULTS = {"TT_LOGGER_LEVEL": "off", "LOGURU_LEVEL": "WARNING"}
_current_device: Any = None
_l1_cache: dict[int, dict[str, int]] = {}
_version_checked = False
_hardware = False


# --------------------------------------------------------------------------- environment

def default_cache_dir() -> Path:
    """Where tt-metal's JIT cache goes: $OPCAST_MOCK_CACHE, else $XDG_CACHE_HOME/opcast/tt-metal-mock."""
    if os.environ.get("OPCAST_MOCK_CACHE"):
        return Path(os.environ["OPCAST_MOCK_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "opcast" / "tt-metal-mock"


def mock_environment(cache_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Environment variables for ttnn's mock n150 (apply them before ``import ttnn``).

    TT_METAL_MOCK_CLUSTER_DESC_PATH: the cluster descriptor of one wormhole_b0 n150 (this folder).
    TT_METAL_CACHE: tt-metal's JIT cache; it appends to the value as a string, hence the trailing
    separator. TT_METAL_LOGS_PATH: where tt-metal writes generated/ (fabric maps, watcher kernel
    lists) — the current directory otherwise; kept under the cache. TT_LOGGER_LEVEL / LOGURU_LEVEL quieten tt-metal and ttnn (errors still come back as
    exceptions, and capture() returns their messages); apply_mock_environment() keeps values the
    caller already set for these two.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return {
        "TT_METAL_MOCK_CLUSTER_DESC_PATH": str(CLUSTER_DESCRIPTOR),
        "TT_METAL_CACHE": str(cache.resolve()) + os.sep,
        "TT_METAL_LOGS_PATH": str(cache.resolve() / "logs") + os.sep,
        **_QUIET_DEFAULTS,
    }


def apply_mock_environment(cache_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Set the mock environment in os.environ (creating the cache folder); returns what is in effect."""
    env = mock_environment(cache_dir)
    Path(env["TT_METAL_LOGS_PATH"]).mkdir(parents=True, exist_ok=True)
    for key, value in env.items():
        if key in _QUIET_DEFAULTS:
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
    return {key: os.environ[key] for key in env}


def use_hardware() -> None:
    """Use these helpers with real hardware: import_ttnn() no longer applies the mock environment.

    Call it before anything imports ttnn, then open the device with ``ttnn.open_device`` (``open_device()``
    here is the mock's). Everything else (capture_on, memory_config, from_numpy, l1_limits, ...) takes the
    device handle as it comes. Used by ``opcast trace --device wormhole``.
    """
    global _hardware
    _hardware = True


def import_ttnn():
    """Import ttnn with the mock environment applied (unless the caller set it up, or use_hardware())."""
    if not _hardware and "TT_METAL_MOCK_CLUSTER_DESC_PATH" not in os.environ:
        apply_mock_environment()
    import ttnn

    global _version_checked
    if not _version_checked:
        _version_checked = True
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("ttnn")
        except PackageNotFoundError:  # pragma: no cover - a source build of ttnn
            found = TTNN_VERSION
        if found != TTNN_VERSION:
            sys.stderr.write(f"mock_device: written for ttnn {TTNN_VERSION}, found {found}\n")
    return ttnn


# --------------------------------------------------------------------------- device

@contextlib.contextmanager
def open_device(device_id: int = 0, *, cache_dir: str | os.PathLike | None = None,
                l1_small_size: int | None = None, trace_region_size: int | None = None,
                **open_kwargs: Any) -> Iterator[Any]:
    """Open the mock n150 (a ttnn MeshDevice of one wormhole_b0 chip) and close it on exit.

    The device becomes the one capture() and the tensor helpers use while the block runs.
    l1_small_size (bytes, needed by conv2d and a few others) and trace_region_size go to
    ttnn.open_device, as does anything in open_kwargs.
    """
    global _current_device
    if cache_dir is not None or "TT_METAL_MOCK_CLUSTER_DESC_PATH" not in os.environ:
        apply_mock_environment(cache_dir)
    ttnn = import_ttnn()
    kwargs = dict(open_kwargs)
    if l1_small_size is not None:
        kwargs["l1_small_size"] = l1_small_size
    if trace_region_size is not None:
        kwargs["trace_region_size"] = trace_region_size
    device = ttnn.open_device(device_id=device_id, **kwargs)
    previous, _current_device = _current_device, device
    try:
        grid = device.compute_with_storage_grid_size()
        if (grid.x, grid.y) != COMPUTE_GRID or device.arch() != ttnn.device.Arch.WORMHOLE_B0:
            raise RuntimeError(f"expected a wormhole_b0 with an 8x8 compute grid, got {device.arch()} {grid}")
        yield device
    finally:
        _current_device = previous
        _l1_cache.pop(id(device), None)
        ttnn.close_device(device)


def current_device() -> Any:
    """The device of the innermost open_device() block."""
    if _current_device is None:
        raise RuntimeError("no mock device is open: use `with mock_device.open_device() as dev:`")
    return _current_device


def l1_limits(device: Any = None) -> dict[str, int]:
    """The L1 allocator's figures, per core (bank), from the device itself.

    l1_bank_size: bytes the allocator hands out per L1 bank (one bank per worker core) — the limit;
    l1_allocator_base: address where that region starts; num_l1_banks; worker_l1_size: base + size;
    max_worker_l1_unreserved: ttnn.get_max_worker_l1_unreserved_size() (a larger, pre-allocator figure).
    """
    ttnn = import_ttnn()
    device = device if device is not None else current_device()
    cached = _l1_cache.get(id(device))
    if cached is None:
        view = ttnn.get_memory_view(device, ttnn.BufferType.L1)
        base = int(ttnn.get_allocator_base_address(device, ttnn.BufferType.L1))
        cached = {
            "l1_bank_size": int(view.total_bytes_per_bank),
            "num_l1_banks": int(view.num_banks),
            "l1_allocator_base": base,
            "worker_l1_size": base + int(view.total_bytes_per_bank),
            "max_worker_l1_unreserved": int(ttnn.get_max_worker_l1_unreserved_size()),
        }
        _l1_cache[id(device)] = cached
    return dict(cached)


def l1_allocated_per_bank(device: Any = None) -> int:
    """L1 bytes per bank held by live tensors right now (allocations are in lockstep across banks)."""
    ttnn = import_ttnn()
    device = device if device is not None else current_device()
    return int(ttnn.get_memory_view(device, ttnn.BufferType.L1).total_bytes_allocated_per_bank)


def device_info(device: Any = None) -> dict[str, Any]:
    """Arch, compute grid and L1 figures of the device, as plain data."""
    device = device if device is not None else current_device()
    grid = device.compute_with_storage_grid_size()
    return {"arch": str(device.arch()), "compute_grid": [grid.x, grid.y],
            "num_dram_channels": device.dram_grid_size().x * device.dram_grid_size().y, **l1_limits(device)}


# --------------------------------------------------------------------------- tensors

def ttnn_dtype(name: Any):
    """bfloat16, bfloat8_b, bfloat4_b, float32, uint16, uint32, int32 (any case; also uint8, int8,
    fp8_e4m3) -> ttnn.DataType; a ttnn.DataType passes through."""
    ttnn = import_ttnn()
    if isinstance(name, ttnn.DataType):
        return name
    key = str(name).strip().upper()
    if key.startswith("DATATYPE."):
        key = key[len("DATATYPE."):]
    if key not in ENUMS["DataType"] or key == "INVALID":
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return getattr(ttnn.DataType, key)


def ttnn_layout(name: Any):
    """TILE / ROW_MAJOR (any case) -> ttnn.Layout."""
    ttnn = import_ttnn()
    if isinstance(name, ttnn.Layout):
        return name
    key = str(name).strip().upper().removeprefix("LAYOUT.").removesuffix("_LAYOUT")
    if key not in ("TILE", "ROW_MAJOR"):
        raise ValueError(f"unknown layout {name!r}; expected TILE or ROW_MAJOR")
    return getattr(ttnn.Layout, key)


def memory_config(memory: Any, shape: Sequence[int], grid: Sequence[int] | None = None,
                  core_count: int | None = None, orientation: str = "ROW_MAJOR"):
    """The project's short memory form -> ttnn.MemoryConfig.

    memory: DRAM_INTERLEAVED, L1_INTERLEAVED, L1_HEIGHT_SHARDED, L1_WIDTH_SHARDED or L1_BLOCK_SHARDED
    (a ttnn.MemoryConfig passes through). shape: the tensor's logical shape; sharding sees it as
    [prod(shape[:-1]), shape[-1]], as ttnn.create_sharded_memory_config does. grid: [x, y] cores;
    core_count: number of cores. Interleaved memory ignores both. Sharded memory needs at least one:
      - grid alone, or grid with core_count == x*y: the rectangle (0,0)..(x-1,y-1), built by
        ttnn.create_sharded_memory_config (its own errors, e.g. "Invalid sharding core_grid");
      - height/width sharding with core_count: the first core_count cores, row by row, of grid
        (default: the device's compute grid), via ttnn.num_cores_to_corerangeset and an explicit
        ShardSpec; the sharded dimension must divide evenly, like ttnn's helper requires;
      - block sharding with core_count and no grid: the squarest x*y == core_count rectangle within
        the compute grid whose shards divide the shape (the squarest one if none does).
    The shard shape is [rows / cores, width] (height), [rows, width / cores] (width) or
    [rows / y, width / x] (block, row-major orientation).
    """
    ttnn = import_ttnn()
    if isinstance(memory, ttnn.MemoryConfig):
        return memory
    key = str(memory).strip().upper()
    if key == "DRAM_INTERLEAVED":
        return ttnn.DRAM_MEMORY_CONFIG
    if key == "L1_INTERLEAVED":
        return ttnn.L1_MEMORY_CONFIG
    strategies = {"L1_HEIGHT_SHARDED": ttnn.ShardStrategy.HEIGHT, "L1_WIDTH_SHARDED": ttnn.ShardStrategy.WIDTH,
                  "L1_BLOCK_SHARDED": ttnn.ShardStrategy.BLOCK}
    if key not in strategies:
        raise ValueError(f"unknown memory {memory!r}; expected one of {', '.join(MEMORIES)}")
    strategy = strategies[key]
    orient = getattr(ttnn.ShardOrientation, str(orientation).strip().upper())
    if grid is None and core_count is None:
        raise ValueError(f"{key} needs grid=[x, y] and/or core_count")
    shape = [int(s) for s in shape]
    rows, width = math.prod(shape[:-1]), shape[-1]
    bound = _compute_grid()
    if grid is not None:
        gx, gy = (int(g) for g in grid)
        if core_count is None or int(core_count) == gx * gy:
            return ttnn.create_sharded_memory_config(shape, core_grid=ttnn.CoreGrid(x=gx, y=gy),
                                                     strategy=strategy, orientation=orient)
        bound = (gx, gy)
    n = int(core_count)
    if strategy == ttnn.ShardStrategy.BLOCK:
        if grid is not None:
            raise ValueError(f"L1_BLOCK_SHARDED needs core_count == x*y of grid {list(grid)}, got {n}")
        gx, gy = _block_grid(n, rows, width, bound, col_major=(orient == ttnn.ShardOrientation.COL_MAJOR))
        return ttnn.create_sharded_memory_config(shape, core_grid=ttnn.CoreGrid(x=gx, y=gy),
                                                 strategy=strategy, orientation=orient)
    if n < 1 or n > bound[0] * bound[1]:
        raise ValueError(f"core_count {n} does not fit the {bound[0]}x{bound[1]} grid")
    cores = ttnn.num_cores_to_corerangeset(n, ttnn.CoreCoord(bound[0], bound[1]), True)
    split = rows if strategy == ttnn.ShardStrategy.HEIGHT else width
    if split % n:
        raise RuntimeError(f"Invalid sharding core_grid: {split} does not split evenly over {n} cores")
    shard = [rows // n, width] if strategy == ttnn.ShardStrategy.HEIGHT else [rows, width // n]
    layout_enum = (ttnn.TensorMemoryLayout.HEIGHT_SHARDED if strategy == ttnn.ShardStrategy.HEIGHT
                   else ttnn.TensorMemoryLayout.WIDTH_SHARDED)
    return ttnn.MemoryConfig(layout_enum, ttnn.BufferType.L1, ttnn.ShardSpec(cores, shard, orient))


def _compute_grid() -> tuple[int, int]:
    if _current_device is None:
        return COMPUTE_GRID
    grid = _current_device.compute_with_storage_grid_size()
    return int(grid.x), int(grid.y)


def _block_grid(n: int, rows: int, width: int, bound: tuple[int, int], col_major: bool) -> tuple[int, int]:
    options = [(x, n // x) for x in range(1, bound[0] + 1) if n % x == 0 and n // x <= bound[1]]
    if not options:
        raise ValueError(f"no x*y == {n} rectangle fits the {bound[0]}x{bound[1]} grid")
    options.sort(key=lambda g: (abs(g[0] - g[1]), -g[0]))
    for gx, gy in options:
        across_rows, across_width = (gx, gy) if col_major else (gy, gx)
        if rows % across_rows == 0 and width % across_width == 0:
            return gx, gy
    return options[0]


def _numpy_for(array: Any, dt: Any):
    import numpy as np

    ttnn = import_ttnn()
    target = {ttnn.DataType.UINT16: np.uint16, ttnn.DataType.UINT32: np.uint32, ttnn.DataType.INT32: np.int32,
              ttnn.DataType.UINT8: np.uint8, ttnn.DataType.INT8: np.int8}.get(dt, np.float32)
    return np.ascontiguousarray(np.asarray(array), dtype=target)


def from_numpy(array: Any, dtype: Any = "bfloat16", layout: Any = "TILE", memory: Any = "DRAM_INTERLEAVED",
               grid: Sequence[int] | None = None, core_count: int | None = None, device: Any = None):
    """A device tensor holding `array`, with the given dtype, layout and memory (short form or MemoryConfig).

    Built on host by ttnn (which tilizes and packs bfloat8_b/bfloat4_b), then moved with
    ttnn.to_device(memory_config=...): that path works for every dtype and memory layout, where
    creating a sharded tensor directly from a numpy array fails for non-float32 dtypes in 0.81.1.
    The mock device stores nothing: reading the tensor back gives zeros.
    """
    ttnn = import_ttnn()
    dt, lay = ttnn_dtype(dtype), ttnn_layout(layout)
    device = device if device is not None else current_device()
    host_data = _numpy_for(array, dt)
    mc = memory_config(memory, host_data.shape, grid=grid, core_count=core_count)
    host = ttnn.Tensor(tensor=host_data, data_type=dt, layout=lay)
    return ttnn.to_device(host, device, memory_config=mc)


def empty(shape: Sequence[int], dtype: Any = "bfloat16", layout: Any = "TILE", memory: Any = "DRAM_INTERLEAVED",
          grid: Sequence[int] | None = None, core_count: int | None = None, device: Any = None):
    """An uninitialised device tensor (ttnn.empty): the cheap way to make inputs, since data never matters."""
    ttnn = import_ttnn()
    dt, lay = ttnn_dtype(dtype), ttnn_layout(layout)
    device = device if device is not None else current_device()
    mc = memory_config(memory, shape, grid=grid, core_count=core_count)
    return ttnn.empty([int(s) for s in shape], dt, lay, device, mc)


def tensor_spec_json(tensor: Any) -> dict[str, Any]:
    """A tensor's spec in the JSON layout of tt-metal's C++ ``ttsl::json::to_json<TensorSpec>``.

    {"logical_shape": [...], "tensor_layout": {"dtype": <DataType int>, "page_config": {"config":
    {"index": 0 | 1, "value": {} | {"tile": {"tile_shape", "face_shape", "num_faces"}}}},
    "memory_config": <ttnn's MemoryConfig.to_json()>, "alignment": [tile_h, tile_w]}} — alignment
    only for TILE layout (its default; ROW_MAJOR's depends on the shard spec and is left out).
    ttnn 0.81.1 cannot serialize a TensorSpec from Python; this is assembled from the tensor's
    Python attributes and MemoryConfig.to_json() (see the module docstring).
    """
    ttnn = import_ttnn()
    spec = tensor.spec
    memory = json.loads(tensor.memory_config().to_json())
    if spec.layout == ttnn.Layout.TILE:
        tile = spec.tile
        tile_shape = [int(v) for v in tile.tile_shape]
        face_shape = [int(v) for v in tile.face_shape]
        page = {"index": 1, "value": {"tile": {"tile_shape": tile_shape, "face_shape": face_shape,
                                                "num_faces": int(tile.num_faces)}}}
        layout_json = {"dtype": int(spec.dtype.value), "page_config": {"config": page},
                       "memory_config": memory, "alignment": tile_shape}
    else:
        layout_json = {"dtype": int(spec.dtype.value), "page_config": {"config": {"index": 0, "value": {}}},
                       "memory_config": memory}
    return {"logical_shape": [int(s) for s in tensor.shape], "tensor_layout": layout_json}


# --------------------------------------------------------------------------- capture

@dataclasses.dataclass
class CaptureResult:
    """What one call did on the mock device.

    ok / error / error_type: whether ttnn accepted the call; ttnn's message (backtrace cut) if not.
    l1_peak_per_core: peak L1 bytes per core the call used (ttnn's peak_total; breakdown in
    peak_cb, peak_dataflow_buffer, peak_l1_buffers, peak_scratchpad).
    l1_resident_per_core: L1 bytes per bank held by live tensors before the call.
    l1_limit_per_core: the allocator's L1 bank size. fits_l1: resident + peak <= limit.
    ops: device operations issued, in order (e.g. "BinaryNgDeviceOperation"); program_factories:
    the program factory each one picked (None where none was recorded); calls: every function the
    trace recorded. cores_used: distinct cores holding the call's circular/dataflow buffers (some
    ops, e.g. binary_ng, put them on the whole grid however few cores have work).
    outputs: tensor_spec_json() of the tensors fn returned. seconds: wall time of the call.
    trace: the raw graph trace (capture_on(..., keep_trace=True) only).
    """

    ok: bool
    error: str | None
    error_type: str | None
    l1_peak_per_core: int
    l1_limit_per_core: int
    l1_resident_per_core: int
    fits_l1: bool
    ops: list[str]
    program_factories: list[str | None]
    calls: list[str]
    peak_cb: int
    peak_dataflow_buffer: int
    peak_l1_buffers: int
    peak_scratchpad: int
    cores_used: int
    outputs: list[dict[str, Any]]
    seconds: float
    trace: list[dict[str, Any]] | None = None

    @property
    def legal(self) -> bool:
        """ttnn accepted the call and it fits in L1."""
        return self.ok and self.fits_l1

    @property
    def l1_total_per_core(self) -> int:
        return self.l1_resident_per_core + self.l1_peak_per_core

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("trace")
        return out


def capture(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> CaptureResult:
    """Run fn(*args, **kwargs) under a NO_DISPATCH graph capture on the current mock device."""
    return capture_on(current_device(), fn, args, kwargs)


def capture_on(device: Any, fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None,
               *, keep_trace: bool = False) -> CaptureResult:
    """capture() with an explicit device, and optionally keeping the raw trace."""
    ttnn = import_ttnn()
    limit = l1_limits(device)["l1_bank_size"]
    resident = l1_allocated_per_bank(device)
    error = error_type = None
    value = None
    start = time.perf_counter()
    with _quiet_logger("ttnn.graph"):  # its per-capture note about fast runtime mode
        ttnn.graph.begin_graph_capture(ttnn.graph.RunMode.NO_DISPATCH)
    ttnn.graph.disable_python_io_recording()  # recording would import torch
    try:
        value = fn(*args, **(kwargs or {}))
    except REJECTIONS as exc:
        error, error_type = _clean_error(exc), type(exc).__name__
    finally:
        trace = ttnn.graph.end_graph_capture()
    seconds = time.perf_counter() - start
    usage = ttnn.graph.extract_resource_usage_per_core(trace)
    peak = int(usage.peak_total)
    ops, factories, calls = _trace_calls(trace)
    return CaptureResult(
        ok=error is None, error=error, error_type=error_type,
        l1_peak_per_core=peak, l1_limit_per_core=limit, l1_resident_per_core=resident,
        fits_l1=resident + peak <= limit,
        ops=ops, program_factories=factories, calls=calls,
        peak_cb=int(usage.peak_cb), peak_dataflow_buffer=int(getattr(usage, "peak_dataflow_buffer", 0)),
        peak_l1_buffers=int(usage.peak_l1), peak_scratchpad=int(getattr(usage, "peak_scratchpad", 0)),
        cores_used=_cores_used(trace), outputs=_output_specs(value) if error is None else [],
        seconds=seconds, trace=trace if keep_trace else None,
    )


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    try:
        from loguru import logger
    except ImportError:  # pragma: no cover - loguru comes with ttnn
        yield
        return
    logger.disable(name)
    try:
        yield
    finally:
        logger.enable(name)


def _clean_error(exc: BaseException) -> str:
    text = str(exc)
    cut = text.find("\nbacktrace:")
    return (text[:cut] if cut >= 0 else text).strip()


def _is_device_op(name: str, params: dict[str, Any]) -> bool:
    return "program_factory_type" in params or (name.endswith("Operation") and "::" not in name)


def _trace_calls(trace: list[dict[str, Any]]) -> tuple[list[str], list[str | None], list[str]]:
    ops, factories, calls = [], [], []
    for node in trace:
        if node.get("node_type") != "function_start":
            continue
        params = node.get("params") or {}
        name = str(params.get("name", ""))
        calls.append(name)
        if _is_device_op(name, params):
            ops.append(name)
            factories.append(params.get("program_factory_type"))
    return ops, factories, calls


_CORE_RANGE = re.compile(r"\[(\d+)-(\d+) - (\d+)-(\d+)\]")


def _cores_used(trace: list[dict[str, Any]]) -> int:
    cores: set[tuple[int, int]] = set()
    for node in trace:
        if node.get("node_type") not in ("circular_buffer_allocate", "dataflow_buffer_allocate"):
            continue
        for x0, y0, x1, y1 in _CORE_RANGE.findall(str((node.get("params") or {}).get("core_range_set", ""))):
            cores.update((x, y) for x in range(int(x0), int(x1) + 1) for y in range(int(y0), int(y1) + 1))
    return len(cores)


def _output_specs(value: Any) -> list[dict[str, Any]]:
    ttnn = import_ttnn()
    items = value if isinstance(value, (list, tuple)) else [value]
    specs = []
    for item in items:
        if isinstance(item, ttnn.Tensor):
            try:
                specs.append(tensor_spec_json(item))
            except Exception as exc:  # a description must never fail a capture
                specs.append({"error": f"{type(exc).__name__}: {exc}"})
    return specs


# --------------------------------------------------------------------------- checks and fixtures

def live_enum_values() -> dict[str, dict[str, int]]:
    """The enum values as ttnn reports them (compare with ENUMS)."""
    ttnn = import_ttnn()
    return {name: {k: int(v.value) for k, v in getattr(ttnn, name).__members__.items()} for name in ENUMS}


def _fixture_examples() -> dict[str, Callable[[], Any]]:
    return {
        "tensor_spec_interleaved.json": lambda: empty((1, 1, 64, 128), "bfloat16", "TILE", "DRAM_INTERLEAVED"),
        "tensor_spec_height_sharded.json": lambda: empty((1, 1, 256, 64), "bfloat16", "TILE", "L1_HEIGHT_SHARDED",
                                                         grid=[8, 1]),
    }


def fixture_document(tensor: Any) -> dict[str, Any]:
    """tensor_spec_json(tensor) next to the real graph-trace entries for the same tensor."""
    ttnn = import_ttnn()
    result = capture_on(current_device(), ttnn.relu, (tensor,), keep_trace=True)
    op_args = next(n["arguments"] for n in result.trace if n["node_type"] == "function_start"
                   and _is_device_op(n["params"].get("name", ""), n["params"]))
    spec_repr = next(re.search(r"tensor_spec=(TensorSpec\(.*\)\))\)", a).group(1)
                     for a in op_args if "tensor_spec=TensorSpec(" in a)
    node = next(n["params"] for n in result.trace if n["node_type"] == "tensor")
    node = {k: v for k, v in node.items() if k not in ("address", "device_tensors", "device_id", "tensor_id")}
    return {
        "_about": (
            "ttnn 0.81.1 exposes no Python serializer for TensorSpec. 'tensor_spec' follows the layout of "
            "tt-metal's C++ ttsl::json::to_json<TensorSpec> (reflection: attribute names as keys, enums as "
            "integers, PageConfig variant as {index, value} with 1 = TilePageConfig); it was built by "
            "sweeps.mock_device.tensor_spec_json from a live mock-device tensor, and its memory_config is "
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
    for name, make in _fixture_examples().items():
        path = folder / name
        path.write_text(json.dumps(fixture_document(make()), indent=2) + "\n")
        written.append(path)
    return written


def smoke() -> CaptureResult:
    """Open the mock device and capture ttnn.add of two L1-interleaved bfloat16 tiles."""
    import numpy as np

    ttnn = import_ttnn()
    with open_device() as device:
        a = from_numpy(np.ones((1, 1, 32, 32)), "bfloat16", "TILE", "L1_INTERLEAVED")
        b = from_numpy(np.ones((1, 1, 32, 32)), "bfloat16", "TILE", "L1_INTERLEAVED")
        result = capture(ttnn.add, a, b)
        summary = {k: v for k, v in result.to_dict().items() if k not in ("outputs", "calls")}
        print("device:", json.dumps(device_info(device)))
        print("capture of ttnn.add (2 L1-interleaved bfloat16 tiles):", json.dumps(summary))
    if not (result.ok and result.l1_peak_per_core > 0 and result.fits_l1 and result.ops):
        raise SystemExit("mock_device smoke check failed")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="opcast's ttnn mock device (Wormhole n150)")
    parser.add_argument("--smoke", action="store_true", help="open the device and capture one op")
    parser.add_argument("--info", action="store_true", help="print device figures and ttnn's enum values")
    parser.add_argument("--write-fixtures", metavar="DIR", help="write tensor_spec_*.json examples to DIR")
    args = parser.parse_args(argv)
    if args.smoke:
        smoke()
    if args.info:
        with open_device() as device:
            print(json.dumps({"device": device_info(device), "enums": live_enum_values()}, indent=1))
    if args.write_fixtures:
        with open_device():
            for path in write_fixtures(args.write_fixtures):
                print(path)
    if not (args.smoke or args.info or args.write_fixtures):
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
