"""The sweeps on ttnn's mock Wormhole n150 (Python 3.12 environment of scripts/setup_mock.sh):
    cd tests && ../.venv-mock/bin/python -m pytest -q -m mock test_sweep_mock.py

A bounded mock sweep of every op (legality with ttnn's message, L1 per core), the legality oracle,
the Wormhole backend's code path as far as the mock goes, and a module run as tt-metal's runner runs it.
"""

import importlib.util
import json

import pytest

if importlib.util.find_spec("ttnn") is None:
    pytest.skip("ttnn is not installed (run scripts/setup_mock.sh, then use .venv-mock)", allow_module_level=True)

from opcast import device as md  # noqa: E402
from opcast import vocabulary as v  # noqa: E402
from opcast.sweeps import harness, module, ops, statuses, vectors  # noqa: E402
from opcast.sweeps.oracle import LegalityOracle  # noqa: E402
from opcast.sweeps.store import Store  # noqa: E402

pytestmark = pytest.mark.mock
PER_OP = 12  # vectors per op in CI: every op, a bounded sample of its suites


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    db = tmp_path_factory.mktemp("sweep") / "mock.sqlite"
    with Store(db) as store:
        for op in ops.sweep_ops():
            harness.run_sweep(store, "mock", [op], limit=PER_OP, progress=False)
        return store.rows()


def test_every_op_is_swept_on_the_mock_device_with_its_l1(swept):
    assert {r["op"] for r in swept} == set(ops.sweep_ops())
    for op in ops.sweep_ops():
        mine = [r for r in swept if r["op"] == op]
        assert len(mine) == PER_OP
        ran = [r for r in mine if r["status"] != statuses.NOT_RUN]
        assert all(r["status"] != statuses.FAIL_CRASH_HANG for r in ran), op
        for r in ran:
            assert r["l1_limit_per_core"] == 1_393_312 or r["message"].startswith("making the inputs"), op
    passed = [r for r in swept if r["status"] == statuses.PASS]
    assert {r["op"] for r in passed} >= set(ops.traced_ops())
    for r in passed:
        # A move out of L1 shards into DRAM reads the shards in place: its program allocates no L1.
        out_of_l1 = ops.is_move(r["op"]) and json.loads(r["query"])["output"]["memory"] == v.DRAM_INTERLEAVED
        assert (r["l1_peak_per_core"] > 0 or out_of_l1) and r["fits_l1"] and r["output"], r["query"]
        assert r["l1_total_per_core"] == r["l1_peak_per_core"] + r["l1_resident_per_core"]
        assert r["device"].endswith("(ttnn mock device)") and r["ttnn_version"] == "0.81.1"


def test_illegal_vectors_keep_ttnns_message(swept):
    refused = [r for r in swept if r["status"] in (statuses.FAIL_ASSERT_EXCEPTION, statuses.FAIL_L1_OUT_OF_MEM)]
    assert refused
    for r in refused:
        if r["status"] == statuses.FAIL_L1_OUT_OF_MEM:
            assert statuses.OUT_OF_MEMORY in r["message"] or statuses.CIRCULAR_BUFFERS_BEYOND_L1 in r["message"]
        else:
            assert "TT_FATAL" in r["message"] or "TT_THROW" in r["message"], r["message"]
    not_run = [r for r in swept if r["status"] == statuses.NOT_RUN]
    assert not_run and all(r["message"] for r in not_run)


def _gelu(memory, shape=(1, 1, 256, 256), **where):
    return {"op": "ttnn.gelu", "inputs": [{"shape": list(shape), "dtype": v.BFLOAT16, "layout": v.TILE,
                                           "memory": memory, **where}]}


def test_the_oracle_measures_what_the_store_lacks_and_keeps_it(tmp_path):
    oracle = LegalityOracle(tmp_path / "o.sqlite")
    legal = oracle.check({**_gelu(v.L1_HEIGHT_SHARDED, grid=[8, 1]), "output": {"memory": v.L1_INTERLEAVED}})
    assert legal.legal and legal.source == "mock" and legal.status == statuses.PASS
    assert legal.l1_resident_per_core == 256 * 256 * 2 // 8  # the input's shard per core
    assert legal.l1_peak_per_core > 0 and legal.fits_l1
    assert legal.output[0]["logical_shape"] == [1, 1, 256, 256]
    again = oracle.check({**_gelu("l1_height_sharded", grid=[8, 1]), "output": {"memory": "L1_INTERLEAVED"}})
    assert again.source == "store" and again.vector_id == legal.vector_id

    too_big = oracle.check(_gelu(v.L1_INTERLEAVED, shape=(1, 1, 8192, 8192)))
    assert not too_big.legal and too_big.status == statuses.FAIL_L1_OUT_OF_MEM
    assert statuses.OUT_OF_MEMORY in too_big.message
    refused = oracle.check({"op": "ttnn.tilize", "inputs": [{"shape": [1, 1, 32, 8], "dtype": v.BFLOAT16,
                                                            "layout": v.ROW_MAJOR, "memory": v.DRAM_INTERLEAVED}],
                            "output": {"layout": v.TILE, "memory": v.DRAM_INTERLEAVED}})
    assert refused.status == statuses.FAIL_ASSERT_EXCEPTION and "must be divisible by tile width" in refused.message
    with pytest.raises(KeyError, match="no mock result"):
        LegalityOracle(tmp_path / "o.sqlite", measure=False).check(_gelu(v.DRAM_INTERLEAVED))


def test_the_oracle_answers_from_a_sweeps_results(swept, tmp_path):
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        summary = harness.run_sweep(store, "mock", ["ttnn.softmax"], ["patchtsmixer_trace"], limit=2, progress=False)
        rows = store.rows()
    assert summary.recorded[statuses.PASS] == 2
    for row in rows:
        answer = LegalityOracle(db, measure=False).check(row["query"])
        assert answer.source == "store" and answer.vector_id == row["vector_id"] and answer.legal


def test_the_wormhole_backend_on_the_mock_device_goes_as_far_as_the_mock_allows(tmp_path):
    todo = [w for w in harness.plan("wormhole", ["ttnn.gelu"], ["space_filling"]) if w.reason is None][:2]
    with Store(tmp_path / "w.sqlite") as store:
        with pytest.raises(OSError, match="TT_METAL_DEVICE_PROFILER requires a Tracy-enabled build"):
            harness.record_work(store, "wormhole", todo, device="mock", device_perf=True, progress=False)
        assert store.rows() == []  # nothing recorded that a profiler build would have to redo
        # Without the profiler: trace replays, which crash the mock device; each crash costs one vector.
        summary = harness.record_work(store, "wormhole", todo, device="mock", repeats=2, progress=False)
        rows = store.rows()
    assert summary.recorded == {statuses.FAIL_CRASH_HANG: 2}
    assert all("SIGSEGV" in r["message"] for r in rows)


def test_a_module_runs_as_tt_metals_runner_runs_it():
    mod = module.load("ttnn.add")
    vector = next(vec for vec in vectors.permutations(mod.parameters["ttm_trace"]))
    assert mod.invalidate_vector(vector) == (False, None)
    stored = {**vector, "suite_name": "ttm_trace", "sweep_name": "opcast.add", "validity": "VectorValidity.VALID"}
    with md.open_device("mock") as dev:
        (ok, message), e2e_ns = mod.run(**stored, device=dev)
    assert ok and message.startswith("ttnn.add {") and e2e_ns > 0
