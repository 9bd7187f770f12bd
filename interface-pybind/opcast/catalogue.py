"""The op catalogue loader: the one ``ops.json`` that every stage reads.

Where the file is looked up, in order:

1. ``$OPCAST_CATALOGUE`` (a path to an ``ops.json``), for experiments and tests;
2. the installed package data file ``opcast/data/ops.json`` (the build installs it there);
3. ``<repo>/catalogue/ops.json`` in a source checkout (this file lives in ``<repo>/interface-pybind/opcast/``).

The C++ library embeds the same file at build time and reads ``$OPCAST_CATALOGUE`` instead where it
is set (``opcast._core.catalogue_json()``), so the query library and the Python stages always agree
on the ops. Every file is checked against ``ops.schema.json`` (beside it) when it is loaded.

``load_catalogue()`` parses it once and caches the result; treat the returned dict as read-only
(``load_catalogue.cache_clear()`` forgets it).

Helpers that other stages use instead of tables of their own:

* ``op_entries()`` / ``op_entry(name)``: the entries by TTNN op name;
* ``profiler_candidates(op_code)``: the (entry, profiler-match) pairs whose ``profiler`` list names that
  tt-metal op code. A match is a dict with ``op_code`` and optionally ``op_type`` (the unary/binary
  op type without its ``UnaryOpType::``/``BinaryOpType::`` prefix) and ``inputs`` (the number of
  tensor inputs the profiler row must have). The importer picks among them; see
  ``opcast.train.importers``. Adding an op, or another op code for an op, is one catalogue edit.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

ENV_VAR = "OPCAST_CATALOGUE"
PACKAGE_RESOURCE = ("data", "ops.json")
SCHEMA_NAME = "ops.schema.json"


def _source_checkout_path() -> Path:
    return Path(__file__).resolve().parents[2] / "catalogue" / "ops.json"


def _built_in_path() -> Path:
    """The catalogue this opcast was built with: the package's data file, else the checkout's."""
    try:
        from importlib import resources

        res = resources.files("opcast").joinpath(*PACKAGE_RESOURCE)
        if res.is_file():
            # Installed wheels are plain directories; as_file would also cover zipped installs.
            return Path(str(res))
    except (ModuleNotFoundError, TypeError, FileNotFoundError, NotADirectoryError):
        pass
    p = _source_checkout_path()
    if p.is_file():
        return p
    raise FileNotFoundError(
        "op catalogue not found: neither the package data file opcast/data/ops.json "
        f"nor the source-checkout file {p} exists (set {ENV_VAR} to point at an ops.json)"
    )


def _schema_path(catalogue_file: Path) -> Path:
    """The schema beside the catalogue, else the one this opcast was built with (an $OPCAST_CATALOGUE
    copy usually stands alone)."""
    beside = catalogue_file.with_name(SCHEMA_NAME)
    return beside if beside.is_file() else _built_in_path().with_name(SCHEMA_NAME)


def catalogue_path() -> Path:
    """The ``ops.json`` that ``load_catalogue()`` reads (see the module docstring for the order)."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{ENV_VAR}={env!r} names no file")
        return p
    return _built_in_path()


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    import jsonschema

    with open(path, encoding="utf-8") as f:
        cat = json.load(f)
    schema = json.loads(_schema_path(Path(path)).read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(cat))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"{path}: not an op catalogue: at {where}: {error.message}")
    names = [e["name"] for e in cat["ops"]]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: an op is listed twice: {sorted({n for n in names if names.count(n) > 1})}")
    return cat


def load_catalogue(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The parsed catalogue (cached per file). ``path`` overrides the lookup."""
    return _load(str(Path(path) if path is not None else catalogue_path()))


load_catalogue.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


def op_entries(catalogue: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Catalogue entries by TTNN op name."""
    cat = catalogue if catalogue is not None else load_catalogue()
    return {e["name"]: e for e in cat["ops"]}


def op_entries_by_any_name(catalogue: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Catalogue entries by TTNN op name and by each of their aliases (``ttnn.sub`` -> ttnn.subtract's)."""
    cat = catalogue if catalogue is not None else load_catalogue()
    return {name: e for e in cat["ops"] for name in [e["name"], *e.get("aliases", [])]}


def op_entry(name: str, catalogue: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The entry for one TTNN op name, or None when the catalogue lacks it."""
    return op_entries(catalogue).get(name)


def strip_enum_prefix(value: str) -> str:
    """``UnaryOpType::EXP`` -> ``EXP``; ``EXP`` -> ``EXP``."""
    return value.rsplit("::", 1)[-1].strip()


def profiler_candidates(
    op_code: str, catalogue: dict[str, Any] | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(entry, match) pairs whose profiler list names ``op_code`` (exact, case-sensitive)."""
    cat = catalogue if catalogue is not None else load_catalogue()
    out = []
    for entry in cat["ops"]:
        for match in entry.get("profiler", []) or []:
            if match.get("op_code") == op_code:
                out.append((entry, match))
    return out


def input_range(entry: dict[str, Any]) -> tuple[int, int]:
    """(min, max) tensor inputs of a catalogue entry: max ``inputs``, min ``inputs - optional_inputs``."""
    n = int(entry.get("inputs", 1))
    return n - int(entry.get("optional_inputs", 0)), n


def op_names(catalogue: dict[str, Any] | None = None) -> list[str]:
    """Every TTNN op name in catalogue order."""
    cat = catalogue if catalogue is not None else load_catalogue()
    return [e["name"] for e in cat["ops"]]


def program_key(name: str, catalogue: dict[str, Any] | None = None) -> list[str]:
    """The feature names that fix the per-core program of op ``name`` (its kind's ``program_keys``
    entry), or [] when the catalogue gives none for its kind."""
    cat = catalogue if catalogue is not None else load_catalogue()
    entry = op_entry(name, cat)
    if entry is None:
        raise ValueError(f"unknown op {name!r}; the catalogue has {op_names(cat)}")
    return list(cat.get("program_keys", {}).get(entry["kind"], []))
