"""opcast sweep export and the importers that read it back: the dataset opcast train reads, tt-metal's
current and older result JSON, and results of tt-metal's own sweeps."""

import json

import pytest

from opcast import QueryError, catalogue, vocabulary as v
from opcast.sweeps import export, harness, statuses, vectors
from opcast.sweeps.store import Store
from opcast.train import importers
from opcast.train.importers import records, tt_metal_sweep

OP = "ttnn.gelu"


def _legal(work) -> bool:
    """Whether a Wormhole could run the vector (the rows below pretend one did)."""
    try:
        v.validate(vectors.query_json(work.record))
    except QueryError:
        return False
    return True


def _work(suite="dtypes", limit=3):
    todo = [w for w in harness.plan("wormhole", [OP], [suite]) if w.reason is None and _legal(w)]
    return todo[:limit]


def _keys(works):
    return {vectors.query_key(vectors.query_json(w.record)) for w in works}


def _repeats(i):
    return [1000.0 + 100 * i, 1010.0 + 100 * i, 990.0 + 100 * i]


def _wormhole_rows(store, works, timing="device_kernel"):
    """Rows as a Wormhole sweep with the device profiler records them (no hardware here)."""
    for i, work in enumerate(works):
        repeats = _repeats(i)
        store.record(work.row(backend="wormhole", status=statuses.PASS, timing=timing, repeats_ns=repeats,
                              median_ns=repeats[0], device="Arch.WORMHOLE_B0 8x8", ttnn_version="0.81.1",
                              tt_metal_commit="0123abcd"))


def _read_json(path):
    """A tt-metal result file through its importer, as opcast train would read it."""
    rows = tt_metal_sweep.read_rows(path)
    fmt = next(f for f in (tt_metal_sweep.OPTEST_FORMAT, tt_metal_sweep.LEGACY_FORMAT) if f.matches(set(rows.columns)))
    read = fmt.reader(rows, path.stem, catalogue.load_catalogue())
    kept, skipped = [], []
    for i, cells in enumerate(rows.to_dict("records")):
        try:
            kept.append(records.record(read(i, cells), fmt.name, str(path), i))
        except records.UnmappableRow as e:
            skipped.append(e.reason)
    return fmt.name, kept, skipped


def test_the_dataset_is_read_back_with_every_repeat_and_its_query(tmp_path):
    works = _work()
    with Store(tmp_path / "s.sqlite") as store:
        _wormhole_rows(store, works)
        store.record(works[0].row(backend="mock", status=statuses.PASS, l1_peak_per_core=4096))
        written = export.export(store, tmp_path / "out")
    dataset = tmp_path / "out" / "dataset" / "device_kernel.csv"
    assert dataset in written and not (tmp_path / "out" / "dataset" / "mock.csv").exists()
    found = importers.load(dataset)
    assert set(found["format"]) == {"opcast_sweep"} and len(found) == 9
    assert {vectors.query_key(q) for q in found["query"]} == _keys(works)
    assert set(found["build"]) == {"0123abcd"} and set(found["source"]) == {"device_kernel/wormhole"}


@pytest.mark.parametrize("form", ["results_export", "legacy"])
def test_tt_metal_result_files_are_read_back(tmp_path, form):
    works = _work("grids", 2) + _work("space_filling", 2)
    with Store(tmp_path / "s.sqlite") as store:
        _wormhole_rows(store, works)
        failed = harness.plan("wormhole", [OP], ["ttm_trace"])[0]
        store.record(failed.row(backend="wormhole", status=statuses.FAIL_L1_OUT_OF_MEM, message="Out of Memory"))
        export.export(store, tmp_path / "out")
    folder = tmp_path / "out" / "tt-metal" / "wormhole"
    path = next((folder / "results_export").glob("opcast_*.json")) if form == "results_export" else folder / "opcast.gelu.json"
    written = json.loads(path.read_text())
    if form == "results_export":
        assert {r["status"] for r in written} == {"pass", "fail_l1_out_of_mem"}
        assert {m["metric_name"] for r in written for m in r["metrics"] or []} == {"device_DEVICE KERNEL DURATION [ns]"}
    else:
        assert {r["status"] for r in written} == {"TestStatus.PASS", "TestStatus.FAIL_L1_OUT_OF_MEM"}
    name, kept, skipped = _read_json(path)
    assert name == {"results_export": "tt_metal_optest", "legacy": "tt_metal_sweep_json"}[form]
    assert len(kept) == 12 and skipped == ["not_passed"]
    assert {vectors.query_key(r["query"]) for r in kept} == _keys(works)
    assert sorted(r["kernel_ns"] for r in kept) == sorted(ns for i in range(4) for ns in _repeats(i))


def test_results_of_tt_metals_own_unary_sweeps_are_read(tmp_path):
    records_written = [
        {"sweep_name": "eltwise.unary.exp.exp", "suite_name": "nightly", "vector_id": "v1",
         "status": "TestStatus.PASS", "device_perf": {"DEVICE KERNEL DURATION [ns]": 5123.0},
         "original_vector_data": {"input_shape": "(1, 1, 64, 96)", "input_a_dtype": "DataType.BFLOAT8_B",
                                  "input_a_layout": "Layout.TILE", "input_a_memory_config": "L1_MEMORY_CONFIG",
                                  "output_memory_config": {"type": "ttnn._ttnn.tensor.MemoryConfig",
                                                           "data": json.dumps({"buffer_type": 0, "memory_layout": 0})}},
         "git_hash": "feedbeef"},
        {"sweep_name": "eltwise.unary.exp.exp", "suite_name": "nightly", "vector_id": "v2",
         "status": "TestStatus.FAIL_ASSERT_EXCEPTION", "device_perf": None, "original_vector_data": {}},
        {"sweep_name": "matmul.short.matmul", "suite_name": "nightly", "vector_id": "v3", "status": "TestStatus.PASS",
         "device_perf": {"DEVICE KERNEL DURATION [ns]": 1.0}, "original_vector_data": {"m_size": 32}},
    ]
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(records_written))
    _, kept, skipped = _read_json(path)
    assert skipped == ["not_passed", "vector_unrecognised"]
    query = json.loads(kept[0]["query"])
    assert query["op"] == "ttnn.exp" and kept[0]["kernel_ns"] == 5123.0 and kept[0]["build"] == "feedbeef"
    assert query["inputs"] == [{"shape": [1, 1, 64, 96], "dtype": v.BFLOAT8_B, "layout": v.TILE,
                                "memory": v.L1_INTERLEAVED}]
    assert query["output"]["memory"] == v.DRAM_INTERLEAVED


def test_a_file_that_is_no_result_list_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not tt-metal sweep results"):
        tt_metal_sweep.read_rows(path)


def test_the_host_loop_sweep_export_train(tmp_path):
    """Real measurements end to end: a host sweep of two ops, exported, trained by opcast train."""
    pytest.importorskip("torch")
    from opcast.cli import main

    db, out, models = tmp_path / "s.sqlite", tmp_path / "out", tmp_path / "models"
    for op in ("gelu", "linear"):
        assert main(["sweep", "run", "--op", op, "--suite", "space_filling", "--backend", "host", "--db", str(db),
                     "--limit", "120", "--repeats", "3", "--quiet"]) == 0
    assert main(["sweep", "export", "--db", str(db), "--out", str(out)]) == 0
    # --keep-suspect as budgeted sweeps train on the host: a loaded CPU gives most configurations repeats
    # more than 2x apart, which would otherwise leave an op below the training minimum.
    assert main(["train", "--data", str(out / "dataset" / "host_torch.csv"), "--out", str(models), "--quiet",
                 "--keep-suspect"]) == 0
    for op in ("gelu", "linear"):
        manifest = json.loads((models / op / "manifest.json").read_text())
        assert manifest["op"] == f"ttnn.{op}" and manifest["dataset"]["sources"] == ["host_torch/host"]
