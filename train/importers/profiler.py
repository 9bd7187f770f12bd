"""tt-metal profiler reports, ``ops_perf_results_*.csv`` of any version.

``OP CODE`` + the unary/binary op type from ``ATTRIBUTES`` (``BinaryOpType::ADD``, ``op_chain ...
UnaryOpType::EXP``, ``'op_type': ...``) are mapped to a TTNN op through the catalogue's ``profiler``
lists only (a match may also name the number of tensor inputs, ``{"op_code": "Matmul", "inputs": 3}``,
to route a bias matmul to ``ttnn.linear``). Shapes from ``INPUT_i_{W,Z,Y,X}`` (plain; older reports) or
``INPUT_i_{W,Z,Y,X}_PAD[LOGICAL]`` (``64[50]``: the logical 50 is used); inputs whose columns are empty
are absent from the query. Memory ``DEV_0_L1_BLOCK_SHARDED`` -> ``L1_BLOCK_SHARDED``. A sharded tensor
takes grid and core count from a shard spec of the same memory layout in ATTRIBUTES
(``shard_spec=ShardSpec(grid={[(x=0;y=0) - (x=7;y=3)]}...``), else the ``CORE COUNT`` column.
``output`` from ``OUTPUT_0_*``; duration from ``DEVICE KERNEL DURATION [ns]``.

Attributes are the catalogue-declared ones the report records (``math_fidelity`` for matmul,
``dim0``/``dim1`` for transpose, ``dim`` for reductions), with values equal to the catalogue default
left out so that identical configurations from different sources give identical queries; plus, for
data-movement ops, ``layout`` when the output layout differs from input 0 (tilize/untilize) and
``shape`` (the output's logical shape) whenever the op declares no attributes of its own (reshape,
slice, permute, concat, to_layout, to_memory_config; not transpose, whose dims say it; the query parser
needs it for reshape/slice/permute), and ``fused_activations`` for unary chains and binary ops with
fused activations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ... import QueryError, vocabulary
from ... import catalogue as _catalogue
from .op_codes import OpCodes
from .records import Format, Measurement, RowReader, UnmappableRow, blank, duration, parse_dim, to_float, to_int, word

REQUIRED = ("OP CODE", "DEVICE KERNEL DURATION [ns]")

_ATTR_PAIR = re.compile(r"'([^']+)'\s*:\s*'([^']*)'")
_BINARY_TYPE = re.compile(r"BinaryOpType::(\w+)")
_UNARY_TYPE = re.compile(r"UnaryOpType::(\w+)")
_SHARDED_MEMCFG = re.compile(
    r"memory_layout=TensorMemoryLayout::(\w+);\s*buffer_type=BufferType::(\w+);\s*shard_spec=ShardSpec\(grid=\{([^}]*)\}")
_CORE_RANGE = re.compile(r"\(x=(\d+);\s*y=(\d+)\)\s*-\s*\(x=(\d+);\s*y=(\d+)\)")
_FIDELITY = re.compile(r"math_fidelity=(?:MathFidelity::)?(\w+)")
_TRANSPOSE_DIMS = {"WH": (-2, -1), "HC": (-3, -2), "CN": (-4, -3), "NH": (-4, -2), "NW": (-4, -1), "CW": (-3, -1)}
_REDUCE_DIMS = {"W": -1, "H": -2, "HW": [-2, -1]}
_ACTIVATION_FIELDS = ("activations", "lhs_activations", "rhs_activations", "post_activations",
                      "input_tensor_a_activation", "fused_activation", "user_fused_activation")
# The report prefixes a tensor's memory config with its device: DEV_0_L1_BLOCK_SHARDED.
_DEVICE_PREFIX = re.compile(r"^DEV_\d+_")
# ttnn's Python names the layouts TILE_LAYOUT and ROW_MAJOR_LAYOUT.
_LAYOUT_SUFFIX = "_LAYOUT"


def memory(written: Any) -> str:
    """A report's memory config (``DEV_0_L1_BLOCK_SHARDED``) in the vocabulary's words."""
    return word(vocabulary.memory, _DEVICE_PREFIX.sub("", str(written).strip().upper()), reason="unsupported_memory")


def _layout(written: Any) -> str:
    return word(vocabulary.layout, str(written).strip().upper().removesuffix(_LAYOUT_SUFFIX),
                reason="unsupported_layout")


def _dtype(written: Any) -> str:
    return word(vocabulary.dtype, written, reason="unsupported_dtype")


def parse_attributes(text: Any) -> dict[str, str]:
    """A profiler ATTRIBUTES cell (``{'key': 'value'; ...}``) -> dict of strings."""
    if blank(text):
        return {}
    return dict(_ATTR_PAIR.findall(str(text)))


def op_type_of(attributes_text: Any) -> str | None:
    """The unary/binary op type named in ATTRIBUTES (``BinaryOpType::ADD`` -> ``ADD``), binary first."""
    if blank(attributes_text):
        return None
    s = str(attributes_text)
    m = _BINARY_TYPE.search(s) or _UNARY_TYPE.search(s)
    if m:
        return m.group(1)
    a = parse_attributes(s)
    for key in ("op_type", "binary_op_type", "unary_op_type"):
        if key in a and a[key]:
            return _catalogue.strip_enum_prefix(a[key])
    return None


def parse_core_grid(text: str) -> tuple[int, list[int] | None]:
    """``[(x=0;y=0) - (x=7;y=3)]; ...`` -> (cores, [x, y] when it is one rectangle else None)."""
    ranges = [tuple(int(v) for v in m) for m in _CORE_RANGE.findall(text)]
    if not ranges:
        return 0, None
    cores = sum((x2 - x1 + 1) * (y2 - y1 + 1) for x1, y1, x2, y2 in ranges)
    grid = None
    if len(ranges) == 1:
        x1, y1, x2, y2 = ranges[0]
        grid = [x2 - x1 + 1, y2 - y1 + 1]
    return cores, grid


def shard_specs(attributes_text: Any) -> list[tuple[str, int, list[int] | None]]:
    """Sharded memory configs named in ATTRIBUTES: (memory, cores, grid or None)."""
    if blank(attributes_text):
        return []
    out = []
    for layout, buffer_type, grid_text in _SHARDED_MEMCFG.findall(str(attributes_text)):
        try:
            mem = vocabulary.memory_of(buffer_type, layout)
        except QueryError:  # a placement queries cannot name (DRAM sharded): no grid to take from it
            continue
        cores, grid = parse_core_grid(grid_text)
        if cores:
            out.append((mem, cores, grid))
    return out


def _dim_columns(columns: Sequence[str], prefix: str) -> list[str] | None:
    """The W, Z, Y, X columns of one tensor (``INPUT_0`` / ``OUTPUT_0``), plain or PAD[LOGICAL] style."""
    out = []
    present = set(columns)
    for d in ("W", "Z", "Y", "X"):
        plain = f"{prefix}_{d}"
        if f"{plain}_PAD[LOGICAL]" in present:
            out.append(f"{plain}_PAD[LOGICAL]")
        elif plain in present:
            out.append(plain)
        else:
            alt = [c for c in columns if c.startswith(f"{plain}_") and c != f"{plain}_PAD"]
            if not alt:
                return None
            out.append(alt[0])
    return out


def _tensor_columns(columns: Sequence[str], prefix: str) -> dict[str, Any] | None:
    dims = _dim_columns(columns, prefix)
    if dims is None:
        return None
    return {"dims": dims, "layout": f"{prefix}_LAYOUT", "dtype": f"{prefix}_DATATYPE", "memory": f"{prefix}_MEMORY"}


def _attribute_value(key: str, row: dict[str, Any], attrs: dict[str, str], attr_text: str) -> Any:
    if key == "math_fidelity":
        v = row.get("MATH FIDELITY")
        if blank(v):
            m = _FIDELITY.search(attr_text)
            v = m.group(1) if m else None
        return None if v is None else word(vocabulary.math_fidelity, v, reason="unsupported_math_fidelity")
    if key in ("dim0", "dim1"):
        d = attrs.get("dim", "")
        pair = _TRANSPOSE_DIMS.get(_catalogue.strip_enum_prefix(d)) if d else None
        if pair is None:
            return None
        return pair[0] if key == "dim0" else pair[1]
    if key == "dim":
        d = attrs.get("dim")
        if d is None:
            return None
        name = _catalogue.strip_enum_prefix(d)
        if name in _REDUCE_DIMS:
            return _REDUCE_DIMS[name]
        return to_int(name)
    if key in attrs:
        v = attrs[key]
        iv = to_int(v)
        if iv is not None and str(iv) == v.strip():
            return iv
        fv = to_float(v)
        return fv if fv is not None else _catalogue.strip_enum_prefix(v)
    return None


def _fused_activations(entry: dict[str, Any], attrs: dict[str, str]) -> list[str]:
    acts: list[str] = []
    if entry.get("kind") == "eltwise_unary":
        chain = _UNARY_TYPE.findall(attrs.get("op_chain", ""))
        acts = [a.lower() for a in chain[1:]]
    elif entry.get("kind") == "eltwise_binary":
        for f in _ACTIVATION_FIELDS:
            acts += [a.lower() for a in _UNARY_TYPE.findall(attrs.get(f, ""))]
    return acts


# Wormhole's AI clock runs at 1 GHz: its firmware counts one cycle per ns (every row of the public
# Wormhole reports gives exactly 1.00); Blackhole's runs at 1.35 GHz. Rows further than this from 1
# were measured on another chip.
_WORMHOLE_CYCLES_PER_NS = 1.0
_CLOCK_TOLERANCE = 0.1


def check_wormhole(r: dict[str, Any]) -> None:
    """Refuses a row measured on another architecture: by its DEVICE ARCH column where the report has
    one, else by its firmware clock (cycles per ns). Wormhole models never learn from or answer them."""
    arch = r.get("DEVICE ARCH")
    if not blank(arch) and "wormhole" not in str(arch).lower():
        raise UnmappableRow("not_wormhole", f"DEVICE ARCH {str(arch).strip()}")
    start, end = to_float(r.get("DEVICE FW START CYCLE")), to_float(r.get("DEVICE FW END CYCLE"))
    ns = to_float(r.get("DEVICE FW DURATION [ns]"))
    if start is not None and end is not None and ns:
        rate = (end - start) / ns
        if abs(rate - _WORMHOLE_CYCLES_PER_NS) > _CLOCK_TOLERANCE:
            raise UnmappableRow("not_wormhole", f"firmware at {rate:.2f} cycles per ns (Wormhole: 1.00)")


def _matches(columns: set[str]) -> bool:
    return all(c in columns for c in REQUIRED) and any(c.startswith("INPUT_0_W") for c in columns)


def _reader(rows: pd.DataFrame, stem: str, catalogue: dict[str, Any]) -> RowReader:
    columns = [str(c) for c in rows.columns]
    numbers = sorted({int(m.group(1)) for c in columns for m in [re.match(r"INPUT_(\d+)_", c)] if m})
    input_columns = [tc for i in numbers if (tc := _tensor_columns(columns, f"INPUT_{i}")) is not None]
    output_columns = _tensor_columns(columns, "OUTPUT_0")
    op_codes = OpCodes(catalogue)

    def read(i: int, r: dict[str, Any]) -> Measurement:
        op_code = str(r.get("OP CODE", "")).strip()
        op_type_column = str(r.get("OP TYPE", "")).strip().lower()
        if op_code.startswith("(") or op_type_column == "python_fallback":
            raise UnmappableRow("host_op", op_code)
        check_wormhole(r)
        attr_text = "" if blank(r.get("ATTRIBUTES")) else str(r["ATTRIBUTES"])
        attrs = parse_attributes(attr_text)

        present = [tc for tc in input_columns if not blank(r.get(tc["memory"])) or not blank(r.get(tc["dims"][-1]))]
        entry = op_codes.entry(op_code, op_type_of(attr_text), len(present))
        dur = duration(r.get("DEVICE KERNEL DURATION [ns]"))

        core_column = to_int(r.get("CORE COUNT"))
        specs = shard_specs(attr_text)

        def sharding(mem: str) -> tuple[list[int] | None, int | None]:
            if mem not in vocabulary.SHARDED:
                return None, None
            for spec_memory, cores, grid in specs:
                if spec_memory == mem:
                    return grid, cores
            return None, core_column

        inputs = []
        for tc in present:
            shape = [parse_dim(r.get(c)) for c in tc["dims"]]
            if not all(d > 0 for d in shape):
                raise UnmappableRow("bad_shape", str(shape))
            mem = memory(r.get(tc["memory"]))
            grid, cores = sharding(mem)
            inputs.append(vocabulary.Tensor(shape, _dtype(r.get(tc["dtype"])), _layout(r.get(tc["layout"])), mem,
                                            grid=grid, core_count=cores))
        if not inputs:
            raise UnmappableRow("bad_shape", "no input tensor")

        output = None
        out_shape = out_layout = None
        if output_columns is not None and not blank(r.get(output_columns["memory"])):
            out_memory = memory(r.get(output_columns["memory"]))
            out_grid, out_cores = sharding(out_memory)
            output = vocabulary.output_spec(_dtype(r.get(output_columns["dtype"])), out_memory, grid=out_grid,
                                            core_count=out_cores)
            try:
                out_shape = [parse_dim(r.get(c)) for c in output_columns["dims"]]
            except UnmappableRow:
                out_shape = None
            if not blank(r.get(output_columns["layout"])):
                out_layout = _layout(r.get(output_columns["layout"]))

        attributes: dict[str, Any] = {}
        defaults = entry.get("attributes", {}) or {}
        for key, default in defaults.items():
            v = _attribute_value(key, r, attrs, attr_text)
            if v is not None and v != default:
                attributes[key] = v
        if entry.get("kind") == "data_movement":
            # The result shape, for data-movement ops that declare no attributes of their own (reshape,
            # slice, permute, to_layout, ...); transpose's dims already say it.
            if out_shape is not None and not defaults and all(d > 0 for d in out_shape):
                attributes["shape"] = out_shape
            if out_layout is not None and out_layout != inputs[0].layout:
                attributes["layout"] = out_layout
        acts = _fused_activations(entry, attrs)
        if acts:
            attributes["fused_activations"] = acts
        return Measurement(entry=entry, inputs=inputs, output=output, attributes=attributes, kernel_ns=dur,
                           source=stem, op_code=op_code, core_count=core_column,
                           op_to_op_ns=to_float(r.get("OP TO OP LATENCY [ns]")))

    return read


FORMAT = Format(
    name="profiler", matches=_matches, reader=_reader,
    expected_columns="OP CODE, DEVICE KERNEL DURATION [ns], INPUT_0_W/Z/Y/X or INPUT_0_W_PAD[LOGICAL].., "
                     "INPUT_0_MEMORY, ...",
    # Every cell as text: PAD[LOGICAL] dims (64[50]) and enum names must reach the parsers as written.
    csv_options={"dtype": str, "keep_default_na": False, "na_values": []})
