"""``opcast predict --input ops_perf_results.csv``: every device-op row gets an answer or its own
reason, rows measured on another chip are refused, and stdout summarises the report per op code."""

import numpy as np
import pandas as pd

import opcast
from opcast import cli
from conftest import constant_members, write_model

EXP_ATTRS = ("{'op_chain': '{BasicUnaryWithParam<float; int; unsigned int>(base=BasicUnaryWithParam<float>"
             "(op_type=UnaryOpType::EXP;param={0}))}'; 'output_dtype': 'DataType::BFLOAT16'}")


def _row(op_code, arch, ns, fw_cycles_per_ns=1.0, attrs=EXP_ATTRS):
    fw_ns = ns + 500
    return {"OP CODE": op_code, "OP TYPE": "tt_dnn_device", "DEVICE ARCH": arch, "ATTRIBUTES": attrs,
            "DEVICE FW START CYCLE": 1000, "DEVICE FW END CYCLE": 1000 + round(fw_ns * fw_cycles_per_ns),
            "DEVICE FW DURATION [ns]": fw_ns, "DEVICE KERNEL DURATION [ns]": ns,
            "INPUT_0_W_PAD[LOGICAL]": "1[1]", "INPUT_0_Z_PAD[LOGICAL]": "1[1]", "INPUT_0_Y_PAD[LOGICAL]": "256[256]",
            "INPUT_0_X_PAD[LOGICAL]": "256[256]", "INPUT_0_LAYOUT": "TILE", "INPUT_0_DATATYPE": "BFLOAT16",
            "INPUT_0_MEMORY": "DEV_0_DRAM_INTERLEAVED"}


def test_a_report_gets_answers_reasons_and_a_summary_per_op_code(tmp_path, capsys):
    n = len(opcast.feature_names())
    write_model(tmp_path / "models", "ttnn.exp", constant_members(n, [np.log(5000.0)] * 2))
    rows = [_row("UnaryDeviceOperation", "wormhole_b0", 5200), _row("UnaryDeviceOperation", "wormhole_b0", 8000),
            _row("UnaryDeviceOperation", "blackhole", 4000),
            _row("UnaryDeviceOperation", "", 4000, fw_cycles_per_ns=1.35),
            _row("FrobnicateDeviceOperation", "wormhole_b0", 7000)]
    pd.DataFrame(rows).to_csv(tmp_path / "ops_perf_results.csv", index=False)
    assert cli.main(["predict", "--models", str(tmp_path / "models"), "--input", str(tmp_path / "ops_perf_results.csv"),
                     "--output", str(tmp_path / "out.csv")]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["predicted_ns"][:2].round().tolist() == [5000, 5000]
    assert out["source"][0].startswith("mlp-ensemble:ttnn.exp@")
    assert out["error"][2] == "not importable as a profiler row: not_wormhole: DEVICE ARCH blackhole"
    assert out["error"][3] == "not importable as a profiler row: not_wormhole: firmware at 1.35 cycles per ns (Wormhole: 1.00)"
    assert out["error"][4] == "not importable as a profiler row: unknown_op_code: FrobnicateDeviceOperation"

    printed = capsys.readouterr().out
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
             for line in printed.splitlines() if line.startswith("| ") and "op_code" not in line}
    # rows, answered, device time of every row, measured and predicted time of the answered ones, within ±10%
    assert lines["UnaryDeviceOperation"] == ["4", "2", "21.2", "13.2", "10", "0.5"]
    assert lines["FrobnicateDeviceOperation"][:3] == ["1", "0", "7"]
    assert lines["TOTAL"] == ["5", "2", "28.2", "13.2", "10", "0.5"]
