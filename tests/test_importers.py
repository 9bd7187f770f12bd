"""Importers and the catalogue loader, on tiny synthetic files written here (no real data in the repo).

The last test (marked shared_data) imports the real Wormhole measurements when ../shared/data is there.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import pickle
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd
import pytest

from opcast import catalogue as cat_mod
from opcast import vocabulary
from opcast.train import dataset
from opcast.train import importers as im
from opcast.train.importers import profiler
from opcast.train.importers.records import parse_dim


def q(op, inputs, output=None, attributes=None):
    d = {"op": op, "inputs": inputs, "attributes": attributes or {}}
    if output is not None:
        d["output"] = output
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def t(shape, dtype="bfloat16", memory="DRAM_INTERLEAVED", layout="TILE", **kw):
    return {"shape": shape, "dtype": dtype, "layout": layout, "memory": memory, **kw}


def summary(rep: pd.DataFrame) -> tuple[int, int, dict[str, int]]:
    """(rows_read, rows_kept, {reason: count}) of a one-file import report."""
    r = rep.iloc[0]
    return int(r["rows_read"]), int(r["rows_kept"]), {k[5:]: int(v) for k, v in r.items()
                                                      if k.startswith("skip_") and v}


@pytest.fixture
def cat():
    """The real catalogue with the matmul/linear routing pinned, so these tests do not move when
    unrelated catalogue entries change: 2 tensor inputs -> ttnn.matmul, 3 (a bias) -> ttnn.linear."""
    c = copy.deepcopy(cat_mod.load_catalogue())
    # The ops test_adding_an_op_to_the_catalogue_is_enough adds.
    c["ops"] = [e for e in c["ops"] if e["name"] not in ("ttnn.erf", "ttnn.embedding")]
    codes = ("Matmul", "MatmulDeviceOperation", "MinimalMatmulOp")
    for e in c["ops"]:
        if e["name"] == "ttnn.matmul":
            e["profiler"] = [{"op_code": k, "inputs": 2} for k in codes]
        if e["name"] == "ttnn.linear":
            e["profiler"] = [{"op_code": k, "inputs": 3} for k in codes]
    return c


def import_in_fresh_process(path: Path, cat: dict, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``importers.load(path, report=True)`` in a fresh process started with $OPCAST_CATALOGUE naming ``cat``:
    the C++ parser that validates the queries reads its catalogue once per process, so only a process
    started with ``cat`` accepts the queries of an op that ``cat`` adds or changes."""
    catalogue_file = tmp_path / "ops.json"
    catalogue_file.write_text(json.dumps(cat))
    result = tmp_path / "imported.pkl"
    code = ("import pickle, sys; from opcast.train import importers; "
            "pickle.dump(importers.load(sys.argv[1], report=True, progress=False), open(sys.argv[2], 'wb'))")
    run = subprocess.run([sys.executable, "-c", code, str(path), str(result)], capture_output=True, text=True,
                         env={**os.environ, cat_mod.ENV_VAR: str(catalogue_file)})
    assert run.returncode == 0, run.stderr
    return pickle.loads(result.read_bytes())


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------------
# Synthetic files, one per format
# ------------------------------------------------------------------------------------------------
EXP_HEADER = ["input_shape_1", "input_shape_2", "input_shape_3", "input_shape_4", "bfloat8", "bfloat16",
              "float32", "uint16", "uint32", "input_DRAM", "input_L1", "kernel_duration"]


@pytest.fixture
def torp_exp(tmp_path):
    return write_csv(tmp_path / "exp_synth.csv", EXP_HEADER, [
        [1, 64, 96, 0, 0, 1, 0, 0, 0, 1, 0, 1000],
        [1, 64, 96, 0, 0, 1, 0, 0, 0, 1, 0, 1100],
        [1, 64, 96, 0, 1, 0, 0, 0, 0, 0, 1, 900],
        [2, 3, 64, 96, 0, 0, 0, 0, 1, 1, 0, 500],
        [2, 3, 64, 96, 0, 0, 0, 0, 1, 1, 0, 50000],  # a repeat that disagrees 100x
        [2, 3, 64, 96, 0, 1, 1, 0, 0, 1, 0, 700],  # two dtypes set
        [2, 3, 64, 96, 0, 1, 0, 0, 0, 1, 0, ""],  # no duration
    ])


@pytest.fixture
def torp_matmul(tmp_path):
    return write_csv(tmp_path / "mm_synth.csv", ["m_size", "k_size", "n_size", "num_cores", "duration"], [
        [640, 96, 288, 10, 4600.0],
        [640, 96, 288, 20, 3000.0],
    ])


NEW_PROFILER_HEADER = (
    ["OP CODE", "OP TYPE", "GLOBAL CALL COUNT", "DEVICE ID", "DEVICE ARCH", "ATTRIBUTES", "MATH FIDELITY",
     "CORE COUNT", "DEVICE KERNEL DURATION [ns]"]
    + [f"INPUT_{i}_{c}" for i in range(3) for c in
       ("W_PAD[LOGICAL]", "Z_PAD[LOGICAL]", "Y_PAD[LOGICAL]", "X_PAD[LOGICAL]", "LAYOUT", "DATATYPE", "MEMORY")]
    + [f"OUTPUT_0_{c}" for c in
       ("W_PAD[LOGICAL]", "Z_PAD[LOGICAL]", "Y_PAD[LOGICAL]", "X_PAD[LOGICAL]", "LAYOUT", "DATATYPE", "MEMORY")]
    + ["PM IDEAL [ns]"]
)

DRAM_MC = ("MemoryConfig(memory_layout=TensorMemoryLayout::INTERLEAVED;buffer_type=BufferType::DRAM;"
           "shard_spec=std::nullopt;nd_shard_spec=std::nullopt;created_with_nd_shard_spec=0)")


def _new_row(op_code, attrs, fid, cores, dur, inputs, output):
    """inputs/output: (W, Z, Y, X, layout, dtype, memory) tuples with PAD[LOGICAL] strings."""
    row = [op_code, "tt_dnn_device", 1, 0, "wormhole_b0", attrs, fid, cores, dur]
    for i in range(3):
        row += list(inputs[i]) if i < len(inputs) else [""] * 7
    row += list(output) + [1]
    return row


T_19x1280 = ("1[1]", "1[1]", "32[19]", "1280[1280]", "TILE", "BFLOAT16", "DEV_0_DRAM_INTERLEAVED")


@pytest.fixture
def profiler_new(tmp_path):
    add_attrs = (f"{{'binary_op_type': 'BinaryOpType::ADD'; 'lhs_activations': 'SmallVector([])'; "
                 f"'memory_config': '{DRAM_MC}'; 'post_activations': 'SmallVector([])'}}")
    mul_attrs = f"{{'binary_op_type': 'BinaryOpType::MUL'; 'memory_config': '{DRAM_MC}'; 'scalar': '0.125'}}"
    exp_attrs = ("{'op_chain': '{BasicUnaryWithParam<float; int; unsigned int>(base=BasicUnaryWithParam<float>"
                 "(op_type=UnaryOpType::EXP;param={0}))}'; 'output_dtype': 'DataType::BFLOAT16'}")
    erf_attrs = exp_attrs.replace("EXP", "ERF")
    mm_attrs = ("{'compute_kernel_config': 'WormholeComputeKernelConfig(math_fidelity=HiFi4;math_approx_mode=0)'; "
                "'output_mem_config': 'std::nullopt'}")
    tr_attrs = f"{{'dim': 'TransposeOpDim::HC'; 'output_mem_config': '{DRAM_MC}'}}"
    w = ("1[1]", "1[1]", "1280[1280]", "1280[1280]", "TILE", "BFLOAT16", "DEV_0_DRAM_INTERLEAVED")
    bias = ("1[1]", "1[1]", "32[1]", "1280[1280]", "TILE", "BFLOAT16", "DEV_0_DRAM_INTERLEAVED")
    tr_in = ("1[1]", "19[19]", "32[20]", "64[64]", "TILE", "BFLOAT16", "DEV_0_DRAM_INTERLEAVED")
    tr_out = ("1[1]", "20[20]", "32[19]", "64[64]", "TILE", "BFLOAT16", "DEV_0_DRAM_INTERLEAVED")
    rows = [
        _new_row("BinaryNgDeviceOperation", add_attrs, "", 64, 2580, [T_19x1280, T_19x1280], T_19x1280),
        _new_row("BinaryNgDeviceOperation", add_attrs, "", 64, 2620, [T_19x1280, T_19x1280], T_19x1280),
        _new_row("BinaryNgDeviceOperation", mul_attrs, "", 64, 1900, [T_19x1280], T_19x1280),
        _new_row("UnaryDeviceOperation", exp_attrs, "HiFi4", 40, 3100, [T_19x1280], T_19x1280),
        _new_row("UnaryDeviceOperation", erf_attrs, "HiFi4", 40, 3300, [T_19x1280], T_19x1280),
        _new_row("MinimalMatmulOp", mm_attrs, "HiFi4", 38, 25000, [T_19x1280, w, bias], T_19x1280),
        _new_row("EmbeddingsDeviceOperation", "{}", "", 1, 5000, [T_19x1280], T_19x1280),
        _new_row("TransposeDeviceOperation", tr_attrs, "", 64, 4000, [tr_in], tr_out),
        _new_row("BinaryNgDeviceOperation", add_attrs, "", 64, "", [T_19x1280, T_19x1280], T_19x1280),
    ]
    return write_csv(tmp_path / "ops_perf_results_new.csv", NEW_PROFILER_HEADER, rows)


OLD_PROFILER_HEADER = (
    ["OP CODE", "OP TYPE", "GLOBAL CALL COUNT", "DEVICE ID", "ATTRIBUTES", "MATH FIDELITY", "CORE COUNT",
     "PARALLELIZATION STRATEGY", "DEVICE FW DURATION [ns]", "DEVICE KERNEL DURATION [ns]"]
    + [f"INPUT_{i}_{c}" for i in range(2) for c in ("W", "Z", "Y", "X", "LAYOUT", "DATATYPE", "MEMORY")]
    + [f"OUTPUT_0_{c}" for c in ("W", "Z", "Y", "X", "LAYOUT", "DATATYPE", "MEMORY")]
)

HS_MC = ("MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED;buffer_type=BufferType::L1;"
         "shard_spec=ShardSpec(grid={[(x=0;y=0) - (x=7;y=3)]};shape={64; 32};orientation=ShardOrientation::ROW_MAJOR;halo=0))")
BS_MC = ("MemoryConfig(memory_layout=TensorMemoryLayout::BLOCK_SHARDED;buffer_type=BufferType::L1;"
         "shard_spec=ShardSpec(grid={[(x=0;y=0) - (x=3;y=1)]};shape={512; 64};orientation=ShardOrientation::ROW_MAJOR;halo=0))")


def _old_row(op_code, op_type, attrs, fid, cores, dur, inputs, output):
    row = [op_code, op_type, 1, 0, attrs, fid, cores, "", dur + 100 if dur != "" else "", dur]
    for i in range(2):
        row += list(inputs[i]) if i < len(inputs) else [""] * 7
    return row + list(output)


@pytest.fixture
def profiler_old(tmp_path):
    relu_attrs = ("{'fp32_dest_acc_en': 'false'; 'op_chain': '{UnaryWithParam(op_type=UnaryOpType::RELU;param={})}'; "
                  "'output_dtype': 'DataType::FLOAT32'}")
    mm_attrs = ("{'bcast_batch': '1'; 'compute_kernel_config': 'WormholeComputeKernelConfig(math_fidelity=LoFi;"
                "math_approx_mode=1)'; 'output_mem_config': 'MemoryConfig(memory_layout=TensorMemoryLayout::"
                "HEIGHT_SHARDED;buffer_type=BufferType::L1;shard_spec=std::nullopt)'}")
    i2s_attrs = f"{{'output_mem_config': '{HS_MC}'}}"
    add_attrs = f"{{'binary_op_type': 'BinaryOpType::ADD'; 'memory_config': '{BS_MC}'}}"
    a = (1.0, 1.0, 32.0, 256.0, "TILE", "FLOAT32", "DEV_0_DRAM_INTERLEAVED")
    hs = (1.0, 1.0, 2048.0, 32.0, "TILE", "BFLOAT8_B", "DEV_0_L1_HEIGHT_SHARDED")
    wt = (1.0, 1.0, 32.0, 64.0, "TILE", "BFLOAT8_B", "DEV_0_DRAM_INTERLEAVED")
    hs_out = (1.0, 1.0, 2048.0, 64.0, "TILE", "BFLOAT8_B", "DEV_1_L1_HEIGHT_SHARDED")
    rm = (1.0, 1.0, 2048.0, 32.0, "ROW_MAJOR", "BFLOAT16", "DEV_0_L1_INTERLEAVED")
    rm_hs = (1.0, 1.0, 2048.0, 32.0, "ROW_MAJOR", "BFLOAT16", "DEV_0_L1_HEIGHT_SHARDED")
    bs = (1.0, 1.0, 1024.0, 256.0, "TILE", "BFLOAT16", "DEV_0_L1_BLOCK_SHARDED")
    big = (1.0, 1.0, 2048.0, 256.0, "TILE", "BFLOAT16", "DEV_0_L1_INTERLEAVED")
    tile = (1.0, 1.0, 32.0, 32.0, "TILE", "BFLOAT16", "DEV_0_DRAM_INTERLEAVED")
    rows = [
        _old_row("(torch) contiguous", "python_fallback", "", "", "", "", [], ("",) * 7),
        _old_row("(torch) __get__", "python_fallback", "", "", "", "", [], ("",) * 7),
        _old_row("UnaryDeviceOperation", "tt_dnn_device", relu_attrs, "HiFi4", 8, 3088, [a], a),
        _old_row("Matmul", "tt_dnn_device", mm_attrs, "LoFi", 32, 9000, [hs, wt], hs_out),
        _old_row("InterleavedToShardedDeviceOperation", "tt_dnn_device", i2s_attrs, "", 32, 2000, [rm], rm_hs),
        _old_row("BinaryDeviceOperation", "tt_dnn_device", add_attrs, "HiFi4", 8, 2500, [bs, bs], bs),
        _old_row("HaloDeviceOperation", "tt_dnn_device", "{}", "", 64, 7000, [rm_hs], rm_hs),
        # Old reports give padded shapes: a scalar operand shows as one 32x32 tile that does not broadcast.
        _old_row("BinaryDeviceOperation", "tt_dnn_device", add_attrs.replace("ADD", "MUL"), "HiFi4", 8, 2600,
                 [big, tile], big),
    ]
    return write_csv(tmp_path / "ops_perf_results_old.csv", OLD_PROFILER_HEADER, rows)


SWEEP_HEADER = ["source_id", "record_kind", "op_code", "op_detail", "core_count", "num_tiles", "tiles_per_core",
                "grid_x", "grid_y", "grid_start_x", "grid_start_y",
                "in0_w", "in0_z", "in0_y", "in0_x", "in0_dtype", "in0_buffer_type", "in0_mem_layout",
                "in1_w", "in1_z", "in1_y", "in1_x", "in1_dtype", "in1_buffer_type", "in1_mem_layout",
                "out0_w", "out0_z", "out0_y", "out0_x", "out0_dtype", "out0_buffer_type", "out0_mem_layout",
                "kernel_ns", "config_key"]


def _sweep_row(sid, op_code, detail, cores, tiles, grid, shape, bufs, dtype0, dur, key):
    """grid: (gx, gy, sx, sy) or None; shape: (w, z, y, x) or None; bufs: [(buffer, layout)] x 3."""
    gx, gy, sx, sy = grid or ("", "", "", "")
    row = [sid, "derived_reduced_columns", op_code, detail, cores, tiles, "", gx, gy, sx, sy]
    for i, (buf, lay) in enumerate(bufs):
        dims = list(shape) if (shape and buf) else ["", "", "", ""]
        row += dims + [dtype0 if i == 0 else "", buf, lay]
    return row + [dur, key]


ADD_DETAIL = "add (in1 shape assumed = in0 shape; dtype not recorded, bf16 per sweep)"


@pytest.fixture
def sweep_table(tmp_path):
    s = (1.0, 1.0, 64.0, 128.0)
    iis = [("DRAM", "INTERLEAVED"), ("DRAM", "INTERLEAVED"), ("L1", "BLOCK_SHARDED")]
    ssi = [("L1", "BLOCK_SHARDED"), ("L1", "BLOCK_SHARDED"), ("L1", "INTERLEAVED")]
    relu_i = [("L1", "INTERLEAVED"), ("", ""), ("DRAM", "INTERLEAVED")]
    relu_h = [("L1", "HEIGHT_SHARDED"), ("", ""), ("L1", "HEIGHT_SHARDED")]
    rows = [
        _sweep_row("add_iis", "BinaryDeviceOperation", ADD_DETAIL, 4.0, 8.0, (2.0, 2.0, 0.0, 1.0), s, iis, "", 2000.0, "k1"),
        _sweep_row("add_iis", "BinaryDeviceOperation", ADD_DETAIL, 4.0, 8.0, (2.0, 2.0, 3.0, 3.0), s, iis, "", 2100.0, "k2"),
        _sweep_row("add_ssi_noshard", "BinaryDeviceOperation", ADD_DETAIL, "", 8.0, None, s, ssi, "", 3000.0, "k3"),
        _sweep_row("relu_i", "UnaryDeviceOperation", "relu", "", 10.0, None, None, relu_i, "BFLOAT8_B", 1700.0, "k4"),
        _sweep_row("relu_i", "UnaryDeviceOperation", "relu", "", 10.0, None, None, relu_i, "BFLOAT8_B", 1720.0, "k4"),
        _sweep_row("relu_h", "UnaryDeviceOperation", "relu", "", 16.0, None, None, relu_h, "BFLOAT16", 6150.0, "k5"),
        _sweep_row("relu_h", "UnaryDeviceOperation", "relu", "", 16.0, None, None, relu_h, "BFLOAT16", "", "k5"),
    ]
    return write_csv(tmp_path / "sweep_synth.csv", SWEEP_HEADER, rows)


# ------------------------------------------------------------------------------------------------
# Catalogue
# ------------------------------------------------------------------------------------------------
def test_catalogue_loads_from_source_checkout():
    cat = cat_mod.load_catalogue()
    names = {e["name"] for e in cat["ops"]}
    assert {"ttnn.exp", "ttnn.matmul", "ttnn.add", "ttnn.relu"} <= names
    assert cat_mod.load_catalogue() is cat  # cached
    assert cat_mod.catalogue_path().name == "ops.json"


def test_catalogue_env_override(tmp_path, monkeypatch):
    real = cat_mod.load_catalogue()
    custom = {"schema_version": real["schema_version"], "kinds": real["kinds"], "kind_defaults": real["kind_defaults"],
              "ops": [{"name": "ttnn.foo", "kind": "eltwise_unary", "inputs": 1, "profiler": [{"op_code": "Foo"}]}]}
    p = tmp_path / "ops.json"
    p.write_text(json.dumps(custom))
    monkeypatch.setenv(cat_mod.ENV_VAR, str(p))
    assert cat_mod.catalogue_path() == p
    assert [e["name"] for e in cat_mod.load_catalogue()["ops"]] == ["ttnn.foo"]
    monkeypatch.setenv(cat_mod.ENV_VAR, str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        cat_mod.catalogue_path()


# ------------------------------------------------------------------------------------------------
# Format detection
# ------------------------------------------------------------------------------------------------
def test_detect_format(torp_exp, torp_matmul, profiler_new, profiler_old, sweep_table, tmp_path):
    assert im.detect_format(torp_exp) == "torp_exp"
    assert im.detect_format(torp_matmul) == "torp_matmul"
    assert im.detect_format(profiler_new) == "profiler"
    assert im.detect_format(profiler_old) == "profiler"
    assert im.detect_format(sweep_table) == "sweep_table"
    # The name says nothing: a profiler report called exp.csv is still a profiler report.
    renamed = tmp_path / "exp_wormhole_n150.csv"
    renamed.write_bytes(profiler_old.read_bytes())
    assert im.detect_format(renamed) == "profiler"


def test_detect_format_unknown_names_file_and_expected_columns(tmp_path):
    p = write_csv(tmp_path / "mystery.csv", ["a", "b"], [[1, 2]])
    with pytest.raises(ValueError) as e:
        im.detect_format(p)
    msg = str(e.value)
    assert "mystery.csv" in msg and "a, b" in msg
    assert "m_size" in msg and "OP CODE" in msg and "kernel_duration" in msg and "config_key" in msg


# ------------------------------------------------------------------------------------------------
# TORP
# ------------------------------------------------------------------------------------------------
def test_torp_exp(torp_exp):
    df, rep = im.load_file(torp_exp, report=True)
    assert list(df.columns) == im.RECORD_COLUMNS
    assert summary(rep) == (7, 5, {"bad_one_hot": 1, "missing_duration": 1})
    assert df["op"].unique().tolist() == ["ttnn.exp"]
    # A run of 2 identical rows is the DRAM-output pair; a lone row's output is unknown.
    dram_out = {"dtype": "bfloat16", "memory": "DRAM_INTERLEAVED"}
    assert df["query"].tolist()[:3] == [
        q("ttnn.exp", [t([1, 64, 96])], dram_out),
        q("ttnn.exp", [t([1, 64, 96])], dram_out),
        q("ttnn.exp", [t([1, 64, 96], "bfloat8_b", "L1_INTERLEAVED")]),
    ]
    assert df["query"].iloc[3] == q("ttnn.exp", [t([2, 3, 64, 96], "uint32")], {"dtype": "uint32",
                                                                                "memory": "DRAM_INTERLEAVED"})
    assert df["assumed"].tolist()[1:3] == ["output_from_row_order", "output_unrecorded"]
    assert df["kernel_ns"].tolist() == [1000.0, 1100.0, 900.0, 500.0, 50000.0]
    assert df["group"].tolist() == ["ttnn.exp|1x64x96"] * 3 + ["ttnn.exp|2x3x64x96"] * 2
    assert df["source"].unique().tolist() == ["exp_synth"]
    assert df["num_tiles"].tolist()[:1] == [6]  # 2 x 3 tiles
    assert df["in0_shape"].iloc[3] == "2x3x64x96"


def test_tt_metal_commit_is_known_only_where_published():
    # TORP's README pins its exp data to tt-metal 87144607; the shared copy and the fetched file agree.
    assert im.tt_metal_commit("exp_wormhole_n150") == "87144607f757092c2c0cc817d12a8942d30fbfc9"
    assert im.tt_metal_commit("final_exp_dataset") == im.tt_metal_commit("exp_wormhole_n150")
    assert im.tt_metal_commit("binary_add_wormhole/perfmodel_add_iis_extracted") is None
    assert im.tt_metal_commit("matmul_height_sharded_wormhole_n150") is None


def test_torp_exp_output_placement_from_row_order(tmp_path):
    """TORP's sweep ran the output in DRAM, then in L1, twice each, in that row order."""
    rows = [[1, 1, 64, 96, 0, 0, 1, 0, 0, 1, 0, ns] for ns in (5500, 5600, 3900, 3950)]  # DRAM, DRAM, L1, L1
    rows += [[1, 1, 64, 96, 0, 0, 1, 0, 0, 0, 1, ns] for ns in (4000, 4100)]  # L1 input: the DRAM pair alone
    rows += [[1, 1, 32, 96, 0, 0, 1, 0, 0, 1, 0, ns] for ns in (3000, 3100, 3200)]  # a run of 3: unknown
    df = im.load_file(write_csv(tmp_path / "order.csv", EXP_HEADER, rows))
    D, L = "DRAM_INTERLEAVED", "L1_INTERLEAVED"
    assert df["out_memory"].fillna("unknown").tolist() == [D, D, L, L, D, D] + ["unknown"] * 3
    assert df["out_dtype"].tolist()[:2] == ["float32", "float32"]
    # The placement splits what were repeats of one configuration into two consistent configurations.
    configs = dataset.aggregate(df[df["in0_memory"] == D])
    by_output = configs.groupby(configs["out_memory"].fillna("unknown"))["kernel_ns"].apply(sorted).to_dict()
    assert by_output == {D: [5550.0], L: [3925.0], "unknown": [3100.0]}


def test_torp_exp_older_buffer_columns(tmp_path):
    p = write_csv(tmp_path / "big.csv", ["input_shape_1", "input_shape_2", "input_shape_3", "input_shape_4",
                                         "bfloat8", "bfloat16", "INPUTBUFFER0", "INPUTBUFFER1", "kernel_duration"],
                  [[1760, 800, 0, 0, 0, 1, 0, 1, 43150]])
    df = im.load_file(p)
    assert df["query"].tolist() == [q("ttnn.exp", [t([1760, 800], memory="L1_INTERLEAVED")])]


def test_torp_matmul(torp_matmul):
    df, rep = im.load_file(torp_matmul, report=True)
    assert summary(rep) == (2, 2, {})
    expected = q("ttnn.matmul",
                 [t([1, 1, 640, 96], memory="L1_HEIGHT_SHARDED", core_count=10), t([1, 1, 96, 288])],
                 {"dtype": "bfloat16", "memory": "L1_HEIGHT_SHARDED", "core_count": 10})
    assert df["query"].iloc[0] == expected
    assert df["kernel_ns"].tolist() == [4600.0, 3000.0]
    # All core counts of one (m, k, n) are one group.
    assert df["group"].unique().tolist() == ["ttnn.matmul|1x1x640x96|1x1x96x288"]
    assert df["core_count"].tolist() == [10, 20]
    assert "in1_memory" in df["assumed"].iloc[0]


# ------------------------------------------------------------------------------------------------
# Profiler reports
# ------------------------------------------------------------------------------------------------
def test_profiler_new_style(profiler_new, cat):
    df, rep = im.load_file(profiler_new, report=True, catalogue=cat)
    assert summary(rep) == (9, 6, {"unknown_op_type": 1, "unknown_op_code": 1, "missing_duration": 1})
    assert df["op"].tolist() == ["ttnn.add", "ttnn.add", "ttnn.multiply", "ttnn.exp", "ttnn.linear", "ttnn.transpose"]
    x = t([1, 1, 19, 1280])
    out = {"dtype": "bfloat16", "memory": "DRAM_INTERLEAVED"}
    assert df["query"].iloc[0] == q("ttnn.add", [x, x], out)
    assert df["query"].iloc[0] == df["query"].iloc[1]
    assert df["query"].iloc[2] == q("ttnn.multiply", [x], out)  # scalar operand: one tensor input
    assert df["query"].iloc[3] == q("ttnn.exp", [x], out)
    assert df["query"].iloc[4] == q("ttnn.linear", [x, t([1, 1, 1280, 1280]), t([1, 1, 1, 1280])], out,
                                    {"math_fidelity": "HiFi4"})
    assert df["query"].iloc[5] == q("ttnn.transpose", [t([1, 19, 20, 64])], out, {"dim0": -3, "dim1": -2})
    assert df["kernel_ns"].tolist() == [2580.0, 2620.0, 1900.0, 3100.0, 25000.0, 4000.0]
    assert df["group"].iloc[4] == "ttnn.linear|1x1x19x1280|1x1x1280x1280|1x1x1x1280"
    assert df["op_code"].iloc[0] == "BinaryNgDeviceOperation"
    assert df["n_inputs"].tolist() == [2, 2, 1, 1, 3, 1]


def test_profiler_old_style(profiler_old, cat):
    df, rep = im.load_file(profiler_old, report=True, catalogue=cat)
    assert summary(rep) == (8, 4, {"host_op": 2, "unknown_op_code": 1, "inconsistent_shapes": 1})
    assert df["op"].tolist() == ["ttnn.relu", "ttnn.matmul", "ttnn.interleaved_to_sharded", "ttnn.add"]
    f32 = t([1, 1, 32, 256], "float32")
    assert df["query"].iloc[0] == q("ttnn.relu", [f32], {"dtype": "float32", "memory": "DRAM_INTERLEAVED"})
    # Sharded matmul: no shard spec in ATTRIBUTES -> CORE COUNT column; DEV_1_ prefix stripped.
    assert df["query"].iloc[1] == q(
        "ttnn.matmul",
        [t([1, 1, 2048, 32], "bfloat8_b", "L1_HEIGHT_SHARDED", core_count=32), t([1, 1, 32, 64], "bfloat8_b")],
        {"dtype": "bfloat8_b", "memory": "L1_HEIGHT_SHARDED", "core_count": 32},
        {"math_fidelity": "LoFi"})
    # Output shard spec from ATTRIBUTES: an 8x4 grid.
    # (a memory move keeps its shape: no result shape among its attributes)
    assert df["query"].iloc[2] == q(
        "ttnn.interleaved_to_sharded", [t([1, 1, 2048, 32], memory="L1_INTERLEAVED", layout="ROW_MAJOR")],
        {"dtype": "bfloat16", "memory": "L1_HEIGHT_SHARDED", "grid": [8, 4], "core_count": 32})
    # Block-sharded inputs take the shard spec of the same layout (a 4x2 grid), not CORE COUNT (8 too here).
    bs = t([1, 1, 1024, 256], memory="L1_BLOCK_SHARDED", grid=[4, 2], core_count=8)
    assert df["query"].iloc[3] == q("ttnn.add", [bs, bs],
                                    {"dtype": "bfloat16", "memory": "L1_BLOCK_SHARDED", "grid": [4, 2], "core_count": 8})
    assert df["kernel_ns"].tolist() == [3088.0, 9000.0, 2000.0, 2500.0]


def test_profiler_parsers():
    assert parse_dim("64[50]") == 50
    assert parse_dim("1[1]") == 1
    assert parse_dim("32.0") == 32
    assert parse_dim(7.0) == 7
    with pytest.raises(im.UnmappableRow) as e:
        parse_dim("abc")
    assert e.value.reason == "bad_shape"
    assert profiler.memory("DEV_0_L1_BLOCK_SHARDED") == "L1_BLOCK_SHARDED"
    assert profiler.memory("DEV_1_L1_INTERLEAVED") == "L1_INTERLEAVED"
    assert profiler.memory("DEV_0_DRAM_INTERLEAVED") == "DRAM_INTERLEAVED"
    with pytest.raises(im.UnmappableRow) as e:
        profiler.memory("DEV_0_SYSTEM_MEMORY")
    assert e.value.reason == "unsupported_memory"
    assert profiler.op_type_of("{'binary_op_type': 'BinaryOpType::ADD'; 'activations': 'UnaryOpType::RELU'}") == "ADD"
    assert profiler.op_type_of("{'op_chain': '{UnaryWithParam(op_type=UnaryOpType::EXP;param={})}'}") == "EXP"
    assert profiler.op_type_of("{'op_type': 'GELU'}") == "GELU"
    assert profiler.parse_core_grid("[(x=0;y=0) - (x=7;y=6)]; [(x=0;y=7) - (x=3;y=7)]") == (60, None)
    assert profiler.parse_core_grid("[(x=1;y=2) - (x=2;y=2)]") == (2, [2, 1])


def test_words_the_parser_refuses_are_counted_skips(tmp_path, cat):
    relu = "{'op_chain': '{UnaryWithParam(op_type=UnaryOpType::RELU;param={})}'}"

    def tensor(y=32.0, x=256.0, layout="TILE", dtype="BFLOAT16", memory="DEV_0_DRAM_INTERLEAVED"):
        return (1.0, 1.0, y, x, layout, dtype, memory)

    rows = [
        _old_row("UnaryDeviceOperation", "tt_dnn_device", relu, "", 8, 3000, [tensor(dtype="UINT8")], tensor()),
        _old_row("UnaryDeviceOperation", "tt_dnn_device", relu, "", 8, 3000, [tensor(layout="STRIDED")], tensor()),
        _old_row("UnaryDeviceOperation", "tt_dnn_device", relu, "", 8, 3000,
                 [tensor(memory="DEV_0_SYSTEM_MEMORY")], tensor()),
        _old_row("Matmul", "tt_dnn_device", "{}", "HiFi5", 8, 9000, [tensor(), tensor(256.0, 64.0)], tensor(x=64.0)),
        # The spellings of enum-prefixed dtypes and of ttnn's Python layout names are read.
        _old_row("UnaryDeviceOperation", "tt_dnn_device", relu, "", 8, 3000,
                 [tensor(layout="Layout.TILE_LAYOUT", dtype="DataType::BFLOAT16")], tensor()),
    ]
    df, rep = im.load_file(write_csv(tmp_path / "ops_perf_results_words.csv", OLD_PROFILER_HEADER, rows),
                           report=True, catalogue=cat)
    assert summary(rep) == (5, 1, {"unsupported_dtype": 1, "unsupported_layout": 1, "unsupported_memory": 1,
                                   "unsupported_math_fidelity": 1})
    assert df["query"].tolist() == [q("ttnn.relu", [t([1, 1, 32, 256])], {"dtype": "bfloat16",
                                                                          "memory": "DRAM_INTERLEAVED"})]

    s = (1.0, 1.0, 64.0, 128.0)
    nd_sharded = [("DRAM", "ND_SHARDED"), ("DRAM", "INTERLEAVED"), ("DRAM", "INTERLEAVED")]  # no short-form word
    dram = [("DRAM", "INTERLEAVED")] * 3
    sweep = write_csv(tmp_path / "sweep_words.csv", SWEEP_HEADER, [
        _sweep_row("add", "BinaryDeviceOperation", ADD_DETAIL, 4.0, 8.0, (2.0, 2.0, 0.0, 0.0), s, nd_sharded, "",
                   2000.0, "k1"),
        _sweep_row("add", "BinaryDeviceOperation", ADD_DETAIL, 4.0, 8.0, None, s, dram, "FLOAT16", 2000.0, "k2"),
        _sweep_row("add", "BinaryDeviceOperation", ADD_DETAIL, 4.0, 8.0, None, s, dram, "BFLOAT4_B", 2000.0, "k3"),
    ])
    df, rep = im.load_file(sweep, report=True)
    assert summary(rep) == (3, 1, {"unsupported_memory": 1, "unsupported_dtype": 1})
    assert df["in0_dtype"].tolist() == ["bfloat4_b"]


def test_adding_an_op_to_the_catalogue_is_enough(profiler_new, cat, tmp_path):
    cat2 = copy.deepcopy(cat)
    # Two ops no catalogue has, for the two rows the fixture catalogue cannot route (ERF, Embeddings).
    cat["ops"].append({"name": "ttnn.test_erf", "kind": "eltwise_unary", "inputs": 1, "cycles_per_tile": 640,
                       "profiler": [{"op_code": "UnaryDeviceOperation", "op_type": "ERF"}]})
    cat["ops"].append({"name": "ttnn.test_embedding", "kind": "data_movement", "inputs": 1,
                       "profiler": [{"op_code": "EmbeddingsDeviceOperation"}]})
    # $OPCAST_CATALOGUE reaches both the importer's routing and the C++ parser that validates the queries.
    df, rep = import_in_fresh_process(profiler_new, cat, tmp_path)
    assert summary(rep) == (9, 8, {"missing_duration": 1})
    assert "ttnn.test_erf" in df["op"].tolist() and "ttnn.test_embedding" in df["op"].tolist()
    # A catalogue= override routes rows to the new ops, but the parser of this process knows only the
    # catalogue it started with and refuses their queries.
    df, rep = im.load_file(profiler_new, report=True, catalogue=cat)
    assert summary(rep) == (9, 6, {"query_refused": 2, "missing_duration": 1})
    # ... and removing one is enough for its rows to be skipped.
    cat2["ops"] = [e for e in cat2["ops"] if e["name"] not in ("ttnn.matmul", "ttnn.linear")]
    df2, rep2 = im.load_file(profiler_new, report=True, catalogue=cat2)
    assert "ttnn.linear" not in df2["op"].tolist() and summary(rep2)[2]["unknown_op_code"] == 2


def test_profiler_input_count_routing(profiler_new, cat, tmp_path):
    # A profiler match may carry "inputs"; without it, every input count maps to the entry, and the
    # entry's own input range decides whether the row is kept.
    for e in cat["ops"]:
        if e["name"] == "ttnn.matmul":
            e["profiler"] = [{"op_code": "MinimalMatmulOp"}]
        if e["name"] == "ttnn.linear":
            e["profiler"] = []
    df, rep = im.load_file(profiler_new, catalogue=cat, report=True)
    assert "MinimalMatmulOp" not in df["op_code"].tolist()
    assert summary(rep)[2]["inputs_outside_catalogue"] == 1  # ttnn.matmul takes 2 inputs, the row has 3
    for e in cat["ops"]:
        if e["name"] == "ttnn.matmul":
            e["inputs"], e["optional_inputs"] = 3, 1
    # A matmul with a third input is a query only a parser that read this catalogue accepts.
    df, _ = import_in_fresh_process(profiler_new, cat, tmp_path)
    assert df.loc[df["op_code"] == "MinimalMatmulOp", "op"].tolist() == ["ttnn.matmul"]
    for e in cat["ops"]:
        if e["name"] == "ttnn.linear":
            e["profiler"] = [{"op_code": "MinimalMatmulOp", "inputs": 3}]
    df = im.load_file(profiler_new, catalogue=cat)
    assert df.loc[df["op_code"] == "MinimalMatmulOp", "op"].tolist() == ["ttnn.linear"]


# ------------------------------------------------------------------------------------------------
# Sweep tables
# ------------------------------------------------------------------------------------------------
def test_sweep_table(sweep_table):
    df, rep = im.load_file(sweep_table, report=True)
    # The shard grid of the ssi "noshard" rows is not recorded: the query parser could not take them.
    assert summary(rep) == (7, 5, {"missing_duration": 1, "sharding_unrecorded": 1})
    assert df["op"].tolist() == ["ttnn.add"] * 2 + ["ttnn.relu"] * 3
    x = t([1, 1, 64, 128])
    iis = q("ttnn.add", [x, x], {"dtype": "bfloat16", "memory": "L1_BLOCK_SHARDED", "grid": [2, 2], "core_count": 4})
    # Two placements (grid start) of one configuration: the same query, two measurements.
    assert df["query"].iloc[0] == iis and df["query"].iloc[1] == iis
    # relu: only num_tiles -> [1, 1, 32 * n, 32]; the output dtype follows the input's.
    assert df["query"].iloc[2] == q("ttnn.relu", [t([1, 1, 320, 32], "bfloat8_b", "L1_INTERLEAVED")],
                                    {"dtype": "bfloat8_b", "memory": "DRAM_INTERLEAVED"})
    # sharded relu: num_tiles is the per-core shard; recorded as the one-core configuration.
    assert df["query"].iloc[4] == q(
        "ttnn.relu", [t([1, 1, 512, 32], memory="L1_HEIGHT_SHARDED", grid=[1, 1], core_count=1)],
        {"dtype": "bfloat16", "memory": "L1_HEIGHT_SHARDED", "grid": [1, 1], "core_count": 1})
    assert df["source"].tolist()[:3] == ["sweep_synth/add_iis", "sweep_synth/add_iis", "sweep_synth/relu_i"]
    assert df["config_key"].tolist() == ["k1", "k2", "k4", "k4", "k5"]
    assert df["group"].iloc[0] == "ttnn.add|1x1x64x128|1x1x64x128"
    assert df["num_tiles"].tolist() == [8, 8, 10, 10, 16]
    assert "dtype" in df["assumed"].iloc[0] and "shape" in df["assumed"].iloc[2]
    assert "core_count" in df["assumed"].iloc[4]


# ------------------------------------------------------------------------------------------------
# load(): folders, reports, progress
# ------------------------------------------------------------------------------------------------
def test_load_folder_and_report(tmp_path, torp_exp, torp_matmul, profiler_new, profiler_old, sweep_table, cat):
    sub = tmp_path / "nested" / "deeper"
    sub.mkdir(parents=True)
    (sub / "notes.csv").write_text("x,y\n1,2\n")
    (tmp_path / "readme.txt").write_text("not a csv")
    records, report = im.load(tmp_path, report=True, progress=False, catalogue=cat)
    assert len(records) == 5 + 2 + 6 + 4 + 5
    assert len(pd.concat([records, im.load(torp_exp, catalogue=cat)])) == len(records) + 5  # two imports concatenate
    assert set(report["format"]) == {"torp_exp", "torp_matmul", "profiler", "sweep_table", "unknown"}
    r = report.set_index(report["file"].map(lambda f: Path(f).name))
    assert r.loc["ops_perf_results_old.csv", "skip_host_op"] == 2
    assert r.loc["ops_perf_results_new.csv", "rows_kept"] == 6
    assert r.loc["notes.csv", "skip_unknown_format"] == 1
    assert (report["rows_read"] == report["rows_kept"] + report["rows_skipped"]).loc[report["format"] != "unknown"].all()
    assert (report.filter(like="skip_").sum(axis=1) == report["rows_skipped"]).loc[report["format"] != "unknown"].all()
    for s in records["query"]:  # canonical JSON of a query the parser accepts
        assert vocabulary.canonical_json(vocabulary.validate(s)) == s
    # Explicitly named unknown files are an error.
    with pytest.raises(ValueError, match="notes.csv"):
        im.load(sub / "notes.csv")
    # Same input, same output.
    again = im.load([torp_exp, torp_matmul, profiler_new, profiler_old, sweep_table], progress=False, catalogue=cat)
    assert sorted(again["query"]) == sorted(records["query"])


def test_load_progress_bar(tmp_path, torp_matmul, capsys):
    files = []
    for i in range(6):
        p = tmp_path / f"m{i}.csv"
        p.write_bytes(torp_matmul.read_bytes())
        files.append(p)
    df = im.load(files)  # more than 5 files: a tqdm bar on stderr
    assert len(df) == 12
    assert "importing" in capsys.readouterr().err


def test_load_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        im.load(tmp_path / "nope")


def test_empty_result_has_record_columns(tmp_path):
    p = write_csv(tmp_path / "e.csv", EXP_HEADER, [[1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, ""]])
    df, report = im.load(p, report=True)
    assert df.empty and list(df.columns) == im.RECORD_COLUMNS
    assert report["skip_missing_duration"].tolist() == [1]


# ------------------------------------------------------------------------------------------------
# The real data
# ------------------------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_real_data_broad_facts(shared_data):
    data = shared_data
    records, report = im.load(data, report=True, progress=False)
    names = report["file"].map(lambda f: Path(f).relative_to(data).as_posix())
    # Every file of the shared data is in a format opcast reads, each format told by its columns.
    expected = {"dashboard/*.csv": "dashboard", "matmul/ttmlir_decode/*.csv": "ttmlir_decode",
                "matmul/gemm_flops_n150_*.csv": "gemm_flops", "profiler/*.csv": "profiler", "sweeps/*.csv": "sweep_table",
                "torp/exp_*.csv": "torp_exp", "torp/matmul_*.csv": "torp_matmul"}
    for name, fmt in zip(names, report["format"]):
        assert [f for p, f in expected.items() if fnmatch(name, p)] == [fmt], name
    decode = report[report["format"] == "ttmlir_decode"]
    assert len(decode) == 28 and decode["rows_kept"].sum() == decode["rows_read"].sum() == 3948
    assert {"ttnn.matmul", "ttnn.add", "ttnn.relu", "ttnn.exp", "ttnn.linear", "ttnn.gelu"} <= set(records["op"])
    exp = records[records["source"] == "exp_wormhole_n150"]
    # TORP exp: 3,180 runs of identical rows; runs of 4 split into a DRAM- and an L1-output configuration,
    # runs of 2 are DRAM-output pairs, the 62 runs of 3 keep the output unrecorded. The legality rules
    # refuse 52 rows whose L1-interleaved input (11 runs, 6 of them runs of 3) or output no n150 holds.
    runs = exp.groupby(exp["in0_shape"] + exp["in0_dtype"] + exp["in0_memory"])["out_memory"]
    assert runs.ngroups == 3180 - 11
    assert exp["query"].nunique() == 2 * 2610 + 508 + 62 - 23
    assert exp["out_memory"].isna().sum() == 3 * (62 - 6)
    mm = records[records["source"] == "matmul_height_sharded_wormhole_n150"]
    assert mm["query"].nunique() == len(mm) == 3072
    assert records["source"].str.startswith("relu_wormhole/").sum() == 3197
    add = report[report["file"].str.endswith("binary_add_wormhole.csv")].iloc[0]
    assert add["rows_read"] == 6031 and add["rows_kept"] == records["source"].str.startswith("binary_add_wormhole/").sum()
    assert add["rows_skipped"] == add["skip_sharding_unrecorded"] == 245  # the ssi "noshard" rows
    # Host rows of the older SegFormer report are skipped and counted.
    seg = report[report["file"].str.contains("segformer")].iloc[0]
    assert seg["skip_host_op"] > 0 and seg["rows_read"] == seg["rows_kept"] + seg["rows_skipped"]
    for s in records["query"].unique():  # canonical JSON of a query the parser accepts
        assert vocabulary.canonical_json(vocabulary.validate(s)) == s
    assert records["kernel_ns"].gt(0).all()
    assert not records[["op", "query", "kernel_ns", "source", "group"]].isna().any().any()
