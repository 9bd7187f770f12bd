"""The importers of the daily eltwise dashboard, tt-mlir's LLM decode matmuls and tt-metal's GEMM_FLOPS
tables: formats told by their columns, what the source did not record assumed and said so."""

import json

import pandas as pd
import pytest

from opcast import vocabulary as v
from opcast.train import importers as im


def queries(df):
    return [json.loads(q) for q in df["query"]]


def test_dashboard_rows_become_default_placed_queries_of_their_build(tmp_path):
    base = {"measurement_date": "2026-04-02T10:00:00", "std_deviation_ns": 10.0, "min_duration_ns": 1.0,
            "max_duration_ns": 2.0, "successful_runs": 3, "source_path": "daily/x.json"}
    rows = [
        {"shape": "1x1x32x32", "tt_metal_git_commit": "abc123", "test_name": "test_abs", "operation_name": "abs",
         "average_duration_ns": 1850.0, "runs": "1800.0;1900.0;1870.0"},
        {"shape": "1x1x1024x1024", "tt_metal_git_commit": "abc123", "test_name": "test_add", "operation_name": "add",
         "average_duration_ns": 30000.0, "runs": "29000.0;31000.0;30500.0"},
        {"shape": "1x1x32x32", "tt_metal_git_commit": "def456", "test_name": "test_add_bw", "operation_name": "add_bw",
         "average_duration_ns": 5000.0, "runs": "5000.0;5000.0;5000.0"},
        {"shape": "1x1x32x32", "tt_metal_git_commit": "def456", "test_name": "test_mean", "operation_name": "mean",
         "average_duration_ns": 3000.0, "runs": "3000.0;2900.0;3100.0"},
    ]
    path = tmp_path / "eltwise_n150_daily.csv"
    pd.DataFrame([{**base, **r} for r in rows]).to_csv(path, index=False)
    assert im.detect_format(path) == "dashboard"
    df, rep = im.load_file(path, report=True)
    assert rep.iloc[0]["skip_op_not_in_catalogue"] == 1  # backward ops are not catalogued
    assert df["op"].tolist() == ["ttnn.abs", "ttnn.add", "ttnn.mean"]
    assert df["kernel_ns"].tolist() == [1870.0, 30500.0, 3000.0]  # the median of the three repeats
    assert df["build"].tolist() == ["abc123", "abc123", "def456"]
    abs_q, add_q, mean_q = queries(df)
    assert abs_q["inputs"] == [v.Tensor((1, 1, 32, 32)).to_dict()]  # bfloat16 TILE DRAM interleaved: assumed
    assert add_q["inputs"] == [v.Tensor((1, 1, 1024, 1024)).to_dict()] * 2
    assert df["assumed"].tolist()[0] == "dtype;layout;memory;output"
    assert "attributes.dim" in df["assumed"].tolist()[2]


def test_decode_matmuls_keep_their_placements_and_program_configs(tmp_path):
    header = "call,M,K,N,K_w,cores,ns,cfg,gather_in0,act,in0_mem,in1_mem,in1_dtype,out_mem,bias,fidelity,pm_ideal_ns,fpu_util"
    lines = [header,
             "1,32,2048,8192,2048,64,88111.0,DRAM-sharded,,SILU,L1_WS,DRAM_WS,BFLOAT8_B,L1_WS,,HiFi2,60562.0,",
             "2,32,2048,2048,2048,32,21000.0,1D mcast,0,,DRAM_IL,DRAM_IL,BFLOAT4_B,DRAM_IL,y,LoFi,9000.0,",
             "3,32,2048,2048,2048,32,21000.0,1D mcast,0,,L1_XX,DRAM_IL,BFLOAT8_B,DRAM_IL,,LoFi,9000.0,"]
    path = tmp_path / "llama_3_2_1b__ds.matmuls.csv"
    path.write_text("\n".join(lines) + "\n")
    df, rep = im.load_file(path, report=True)
    assert rep.iloc[0]["skip_unsupported_memory"] == 1
    assert df["op"].tolist() == ["ttnn.matmul", "ttnn.linear"]  # a bias makes it a linear
    assert df["build"].tolist() == ["tt-mlir@ae602833"] * 2 and df["source"].tolist() == ["llama_3_2_1b__ds"] * 2
    ds, il = queries(df)
    assert ds["inputs"][0] == v.Tensor((1, 1, 32, 2048), memory=v.L1_WIDTH_SHARDED, core_count=64).to_dict()
    assert ds["inputs"][1] == v.Tensor((1, 1, 2048, 8192), v.BFLOAT8_B, memory=v.DRAM_WIDTH_SHARDED,
                                       core_count=12).to_dict()  # over the 12 DRAM banks
    assert ds["attributes"] == {"math_fidelity": v.HIFI2, "program_config": "dram_sharded",
                                "fused_activations": ["SILU"]}
    assert ds["output"] == {"dtype": v.BFLOAT16, "memory": v.L1_WIDTH_SHARDED, "core_count": 64}
    assert len(il["inputs"]) == 3 and il["inputs"][2]["shape"] == [1, 1, 1, 2048]
    assert il["attributes"]["program_config"] == "1d_mcast" and il["inputs"][1]["dtype"] == v.BFLOAT4_B


def test_gemm_tables_give_device_time_from_utilisation(tmp_path):
    row = {"m": 1024, "k": 1024, "n": 2048, "use_trace": False, "grid_size": "(8, 8)", "in0_storage_type": "L1",
           "in1_storage_type": "DRAM", "out_storage_type": "L1", "dtype": "DataType.BFLOAT8_B",
           "math_fidelity": "MathFidelity.LoFi", "inference_time_avg_ns": 99999.0, "tflops": 1.0,
           "host_based_utilization (vs user grid)": 40.0, "host_based_utilization (vs full grid)": 40.0,
           "device_based_utilization (vs user grid)": 80.0, "device_based_utilization (vs full grid)": 80.0,
           "in0_sharded": True, "out_sharded": True, "source_table": "N150 Manually Tuned Configurations",
           "source_table_index": 2}
    path = tmp_path / "gemm_flops_n150_eb8e87af.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    df = im.load_file(path)
    ideal_ns = 1024 * 1024 * 2048 / 32**3 * 16 / 64  # LoFi: 16 cycles per tile, 64 cores
    assert df["kernel_ns"].iloc[0] == pytest.approx(ideal_ns / 0.80)
    q = queries(df)[0]
    assert q["inputs"][0] == v.Tensor((1, 1, 1024, 1024), v.BFLOAT8_B, memory=v.L1_BLOCK_SHARDED, grid=(8, 8)).to_dict()
    assert q["inputs"][1]["memory"] == v.DRAM_INTERLEAVED and q["attributes"] == {"math_fidelity": v.LOFI}
    assert df["build"].iloc[0] == "eb8e87af"
