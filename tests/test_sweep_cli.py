"""``opcast sweep``: the counts it lists, the status it reports, and bad input refused naming what is
wrong (exit 2)."""

import json

import pytest

from opcast.cli import main
from opcast.sweeps import harness, module, vectors
from opcast.sweeps.store import Store


def test_list_counts_every_vector_of_every_suite_per_backend(capsys):
    assert main(["sweep", "list", "--op", "sqrt", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    parameters = module.load("ttnn.sqrt").parameters
    assert [r["suite"] for r in rows] == list(parameters)
    for r in rows:
        work = [harness.resolved("ttnn.sqrt", "opcast.sqrt", r["suite"], vec)
                for vec in vectors.permutations(parameters[r["suite"]])]
        valid = [w for w in work if w.reason is None]
        assert r["vectors"] == len(work) and r["invalid"] == len(work) - len(valid)
        assert r["mock"] == r["wormhole"] == len(valid)
        assert r["host"] == sum(vectors.runs_on("host", w.record, w.vector) for w in valid)
    assert 0 < sum(r["host"] for r in rows) < sum(r["mock"] for r in rows)


def test_status_reports_what_the_store_holds(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    work = harness.plan("mock", ["ttnn.sqrt"], ["grids"])
    invalid = [w for w in work if w.reason is not None][:2]
    with Store(db) as store:
        harness.record_work(store, "mock", invalid, progress=False)  # NOT_RUN: no worker needed
    assert main(["sweep", "status", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"backend": "mock", "op": "ttnn.sqrt", "suite": "grids", "PASS": 0, "FAIL_ASSERT_EXCEPTION": 0,
                     "FAIL_L1_OUT_OF_MEM": 0, "FAIL_CRASH_HANG": 0, "FAIL_WATCHER": 0,
                     "FAIL_UNSUPPORTED_DEVICE_PERF": 0, "NOT_RUN": 2, "seconds": 0.0}]


@pytest.mark.parametrize("argv,message", [
    (["sweep", "run", "--op", "exp", "--backend", "host"], "no sweep is named 'exp'"),
    (["sweep", "run", "--op", "gelu", "--suite", "nightly", "--backend", "host"], "ttnn.gelu has no suite ['nightly']"),
    (["sweep", "run", "--op", "gelu", "--backend", "host", "--device-perf"], "--device-perf reads a Wormhole's"),
    (["sweep", "run", "--op", "gelu", "--backend", "mock", "--device", "mock"], "--device mock runs the wormhole"),
    (["sweep", "run", "--op", "gelu", "--backend", "host", "--repeats", "0"], "expected warmup >= 0, repeats >= 1"),
])
def test_bad_input_exits_2_naming_what_is_wrong(tmp_path, capsys, argv, message):
    assert main(argv + ["--db", str(tmp_path / "s.sqlite"), "--limit", "1", "--quiet"]) == 2
    assert message in capsys.readouterr().err
