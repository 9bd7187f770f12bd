"""Opening a ttnn device, mock or Wormhole, and the figures it reports (compute grid, L1 per core).

Opening is the only step where the mock n150 and a real Wormhole differ; everything run on the handle
afterwards is the same code, so the mock runs are the test of the hardware path (no hardware where
opcast is developed).

Measured here (2 cores, 24 GB): ``import ttnn`` 0.35-0.55 s; opening the mock device 0.1-0.45 s the
first time in a process, then about 0.01 s.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from . import environment

DEVICE_KINDS = ("mock", "wormhole")
COMPUTE_GRID = (8, 8)  # what ttnn reports for an n150 (x, y): the 8x9 worker grid less one row for dispatch

_current_device: Any = None
_l1_cache: dict[int, dict[str, int]] = {}


@contextlib.contextmanager
def open_device(kind: str = "mock", device_id: int = 0, *, cache_dir: str | os.PathLike | None = None,
                l1_small_size: int | None = None, trace_region_size: int | None = None,
                **open_kwargs: Any) -> Iterator[Any]:
    """A ttnn device handle, closed on exit: ``mock`` (ttnn's mock Wormhole n150, a MeshDevice of one
    wormhole_b0 chip) or ``wormhole`` (a real card, through ``ttnn.open_device``).

    The device becomes the one capture() and the tensor helpers use while the block runs. cache_dir:
    tt-metal's JIT cache of the mock (see environment.mock_environment). l1_small_size (bytes, needed by
    conv2d and a few others), trace_region_size and anything in open_kwargs go to ttnn.open_device.
    """
    if kind not in DEVICE_KINDS:
        raise ValueError(f"unknown device {kind!r}; one of {', '.join(DEVICE_KINDS)}")
    if kind == "mock" and (cache_dir is not None or not environment.mock_environment_applied()):
        environment.apply_mock_environment(cache_dir)
    if kind == "wormhole":
        environment.use_hardware()  # import ttnn without the mock environment
    ttnn = environment.import_ttnn()
    kwargs = dict(open_kwargs)
    if l1_small_size is not None:
        kwargs["l1_small_size"] = l1_small_size
    if trace_region_size is not None:
        kwargs["trace_region_size"] = trace_region_size
    device = ttnn.open_device(device_id=device_id, **kwargs)
    global _current_device
    previous, _current_device = _current_device, device
    try:
        if kind == "mock":  # a check of our cluster descriptor; real hardware is whatever card is there
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
        raise RuntimeError("no ttnn device is open: use `with opcast.device.open_device() as dev:`")
    return _current_device


def compute_grid() -> tuple[int, int]:
    """The open device's compute grid (x, y); an n150's when none is open."""
    if _current_device is None:
        return COMPUTE_GRID
    grid = _current_device.compute_with_storage_grid_size()
    return int(grid.x), int(grid.y)


def l1_limits(device: Any = None) -> dict[str, int]:
    """The L1 allocator's figures, per core (bank), from the device itself.

    l1_bank_size: bytes the allocator hands out per L1 bank (one bank per worker core), the limit:
    1,393,312 on the n150 (1,499,136 bytes of worker L1 less 105,824 reserved below the allocator's
    base); l1_allocator_base: where that region starts; num_l1_banks; worker_l1_size: base + size;
    max_worker_l1_unreserved: ttnn.get_max_worker_l1_unreserved_size() (a larger, pre-allocator figure).
    """
    ttnn = environment.import_ttnn()
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
    ttnn = environment.import_ttnn()
    device = device if device is not None else current_device()
    return int(ttnn.get_memory_view(device, ttnn.BufferType.L1).total_bytes_allocated_per_bank)


def device_info(device: Any = None) -> dict[str, Any]:
    """Arch, compute grid and L1 figures of the device, as plain data."""
    device = device if device is not None else current_device()
    grid = device.compute_with_storage_grid_size()
    return {"arch": str(device.arch()), "compute_grid": [grid.x, grid.y],
            "num_dram_channels": device.dram_grid_size().x * device.dram_grid_size().y, **l1_limits(device)}
