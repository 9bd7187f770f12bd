"""Where ttnn runs: the mock Wormhole n150's environment, or real hardware; importing ttnn after it is set.

ttnn reads its environment once, when it is imported, so every import of ttnn in opcast goes through
:func:`import_ttnn`: it applies the mock environment first, unless :func:`use_hardware` was called or
the caller set the environment up already.

The mock device needs, besides the variables below, stand-ins for sfpi (tt's RISC-V compiler, which
the ttnn wheel lacks) inside the ttnn package: ``scripts/setup_mock.sh`` writes them (its header says
why and how they work). ``OPCAST_SFPI_STANDIN_LOG=<file>`` makes the stand-in log every call.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

TTNN_VERSION = "0.81.1"
CLUSTER_DESCRIPTOR = Path(__file__).resolve().parent / "wormhole_n150_cluster.yaml"

# Values the caller may already have set (to see tt-metal's logs): kept by apply_mock_environment().
_QUIET_DEFAULTS = {"TT_LOGGER_LEVEL": "off", "LOGURU_LEVEL": "WARNING"}
_hardware = False
_version_checked = False


def ttnn_available() -> bool:
    """Whether ttnn can be imported here (the 3.12 environment of scripts/setup_mock.sh, or a hardware host)."""
    return importlib.util.find_spec("ttnn") is not None


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
    lists), the current directory otherwise; kept under the cache. TT_LOGGER_LEVEL / LOGURU_LEVEL
    quieten tt-metal and ttnn (errors still come back as exceptions, and capture() returns their
    messages).
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


def mock_environment_applied() -> bool:
    return "TT_METAL_MOCK_CLUSTER_DESC_PATH" in os.environ


def use_hardware() -> None:
    """From now on import_ttnn() leaves the environment alone: ttnn finds the real device.

    Call it before anything imports ttnn; ``open_device("wormhole")`` does.
    """
    global _hardware
    _hardware = True


def import_ttnn():
    """ttnn, imported with the mock environment applied (unless use_hardware() was called or the caller
    set it up)."""
    if not _hardware and not mock_environment_applied():
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
            sys.stderr.write(f"opcast.device: written for ttnn {TTNN_VERSION}, found {found}\n")
    return ttnn
