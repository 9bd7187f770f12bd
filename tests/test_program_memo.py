"""The program memo: measured per-core programs answer for every configuration that runs them."""

import json

import numpy as np
import pandas as pd
import pytest

import opcast
from opcast.train import dataset, fit, importers, program_memo

SMALL = fit.TrainConfig(members=3, hidden_layers=(32, 32), max_epochs=300, patience=40, min_configurations=20)
SLOW_ROWS_PER_CORE = {11, 13, 17, 19, 23}  # blocked badly: the kind of jump no smooth model predicts


def synthetic_matmul_csv(path, seed=0):
    """TORP's height-sharded matmul format; time set by the per-core program (rows per core, K, N)."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(640, 3841, 320):
        for k in (96, 192, 384, 576):
            for n in (32, 96, 192):
                for cores in range(2, 11):
                    per_core_m = -(-(m // 32) // cores)
                    work = per_core_m * (k // 32) * (n // 32)
                    slow = 2.5 if per_core_m in SLOW_ROWS_PER_CORE else 1.0
                    ns = (2000 + 70 * work * slow) * rng.normal(1, 0.01)
                    rows.append({"m_size": m, "k_size": k, "n_size": n, "num_cores": cores, "duration": round(ns)})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_build_keeps_the_median_per_program_and_a_leave_one_out_interval():
    names = list(opcast.feature_names())
    key = opcast.catalogue.program_key("ttnn.matmul")
    assert key and set(key) <= set(names) and "log2_cores" not in key
    assert opcast.catalogue.program_key("ttnn.exp") == []
    assert program_memo.build("ttnn.exp", np.zeros((30, len(names))), np.ones(30), 0.9) is None

    x = np.zeros((24, len(names)))
    x[:, names.index("log2_k_tiles")] = np.repeat(np.arange(6), 4)  # 6 programs, 4 configurations each
    ns = np.tile([100.0, 102.0, 98.0, 130.0], 6) * np.repeat(np.arange(1, 7), 4)
    memo = program_memo.build("ttnn.matmul", x, ns, 0.9)
    assert len(memo.table) == 6 and memo.table["configurations"].tolist() == [4] * 6
    assert memo.lookup(x[::4]) == pytest.approx(101.0 * np.arange(1, 7))
    lo, hi = memo.interval_ratio
    assert lo < 1 < hi and hi == pytest.approx(np.quantile(np.tile([100 / 102, 102 / 100, 98 / 102, 130 / 100], 6), 0.95))
    other = x[:1].copy()
    other[0, names.index("log2_n_tiles")] = 3.0
    assert np.isnan(memo.lookup(other)).all()
    # Programs measured once each bound no error: no memo.
    assert program_memo.build("ttnn.matmul", x[::4], ns[::4], 0.9) is None


@pytest.fixture(scope="module")
def memo_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("memo")
    synthetic_matmul_csv(root / "matmul.csv")
    configs = dataset.aggregate(importers.load(root / "matmul.csv"))
    manifest, used = fit.fit_op("ttnn.matmul", configs, root / "models", SMALL, verbose=False)
    return root / "models", manifest, used


def test_memo_is_served_for_measured_programs(memo_model):
    models, manifest, used = memo_model
    report = manifest["program_memo"]
    assert report["used"], report
    memo_file = json.loads((models / "matmul" / program_memo.FILE_NAME).read_text())
    assert len(memo_file["entries"]) == report["programs"]
    assert manifest["files"][program_memo.FILE_NAME]
    served = opcast.Predictor(models).predict_batch(used["query"].tolist())
    assert served["predicted_ns"].to_numpy() == pytest.approx(used["predicted_ns"].to_numpy(), rel=1e-12)
    measured = served["source"].str.startswith("measured-program:ttnn.matmul@").to_numpy()
    train = (used["split"] == "train").to_numpy()
    assert measured[train].all()  # every training configuration's program is in the memo
    test = (used["split"] == "test").to_numpy()
    assert measured[test].any() and served["in_domain"].to_numpy()[measured].all()
    # The slow programs are found by their measurement: within a few percent on unseen shape groups.
    ape = np.abs(used["predicted_ns"] / used["kernel_ns"] - 1).to_numpy()
    assert np.median(ape[test & measured]) < 0.02
    assert manifest["metrics"]["test"]["within_10pct"] >= 0.95, manifest["metrics"]["test"]


def test_memo_is_refused_when_validation_prefers_the_model(tmp_path):
    # Time set by the total, not the per-core program: configurations with one program disagree.
    rng = np.random.default_rng(3)
    rows = [{"m_size": m, "k_size": k, "n_size": 96, "num_cores": c,
             "duration": round((2000 + 5 * (m // 32) * (k // 32) * 3) * rng.normal(1, 0.01))}
            for m in range(640, 3841, 320) for k in (96, 192, 384) for c in range(2, 11)]
    pd.DataFrame(rows).to_csv(tmp_path / "mm.csv", index=False)
    configs = dataset.aggregate(importers.load(tmp_path / "mm.csv"))
    manifest, used = fit.fit_op("ttnn.matmul", configs, tmp_path / "models", SMALL, verbose=False)
    report = manifest["program_memo"]
    assert not report["used"] and report["out_of_fold"]["model"]["within_10pct"] > report["out_of_fold"]["memo"]["within_10pct"]
    assert program_memo.FILE_NAME not in manifest["files"]
    assert not (tmp_path / "models" / "matmul" / program_memo.FILE_NAME).exists()
    assert used["predicted_ns"].notna().all()


def test_report_counts_answers_from_measured_programs(memo_model):
    models, _, used = memo_model
    from opcast.train import report

    table = report.summary_table(report.evaluate(models, [models.parent / "matmul.csv"])).set_index("split")
    assert table.loc["train", "measured program"] == 1.0
    served = opcast.Predictor(models).predict_batch(used["query"].tolist())
    test = (used["split"] == "test").to_numpy()
    share = served["source"].str.startswith("measured-program:").to_numpy()[test].mean()
    assert 0 < table.loc["test", "measured program"] == pytest.approx(share)
