"""The sweep store and the harness on the host backend: every repeat kept, re-runs skip what is done,
a hang or a crash costs one vector, and kill -9 in the middle of a sweep loses nothing finished and
records nothing twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

from opcast.sweeps import harness, statuses, worker  # noqa: E402
from opcast.sweeps.store import Store  # noqa: E402

# A suite whose vectors the host runs every one of (PatchTSMixer's own configurations, all in DRAM).
OP, SUITE = "ttnn.gelu", "patchtsmixer_trace"


def _row(vector_id="a" * 56, **fields):
    return {"backend": "host", "vector_id": vector_id, "op": OP, "sweep": "opcast.gelu", "suite": SUITE,
            "vector": {"case": {}}, "status": statuses.PASS, **fields}


def test_a_vector_is_written_once(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store.record(_row(repeats_ns=[1.0, 3.0], median_ns=2.0))
        assert not store.record(_row(repeats_ns=[9.0], median_ns=9.0))
        rows = store.rows()
    assert len(rows) == 1 and rows[0]["repeats_ns"] == [1.0, 3.0]


def test_a_file_that_is_no_store_is_refused(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(ValueError, match="not an opcast sweep store"):
        Store(bad)
    with pytest.raises(ValueError, match="a folder"):
        Store(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        Store(tmp_path / "missing" / "s.sqlite")
    assert bad.read_text().startswith("these are my notes")  # nothing recorded is lost


def test_a_host_sweep_records_every_repeat_and_a_rerun_skips_it(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        first = harness.run_sweep(store, "host", [OP], [SUITE], limit=4, repeats=5, progress=False)
        rows = store.rows()
        again = harness.run_sweep(store, "host", [OP], [SUITE], limit=4, repeats=5, progress=False)
        assert first.recorded[statuses.PASS] == 4 and again.recorded[statuses.PASS] == 4
        assert len(store.rows()) == 8
    ids = [r["vector_id"] for r in rows]
    assert ids == sorted(ids)  # run in the order of their ids
    for r in rows:
        assert r["timing"] == "host_torch" and len(r["repeats_ns"]) == 5
        assert r["median_ns"] == sorted(r["repeats_ns"])[2] and r["median_ns"] > 0
        assert r["query"] and r["device"].startswith("host CPU") and r["finished_at"]


def test_a_hang_and_a_crash_cost_one_vector_each(tmp_path, monkeypatch):
    todo = harness.plan("host", [OP], [SUITE], limit=5)
    hang, crash = todo[1].vector_id, todo[3].vector_id
    monkeypatch.setenv(worker.FAULTS_VARIABLE, f"hang={hang},crash={crash}")
    with Store(tmp_path / "s.sqlite") as store:
        summary = harness.record_work(store, "host", todo, timeout=5, repeats=2, progress=False)
        by_id = {r["vector_id"]: r for r in store.rows()}
    assert summary.recorded == {statuses.PASS: 3, statuses.FAIL_CRASH_HANG: 2}
    assert by_id[hang]["message"].startswith("no result within 5 s running the vector: the worker was killed")
    assert by_id[crash]["message"].startswith("the worker died (signal 11 (SIGSEGV)) running the vector")
    assert by_id[todo[4].vector_id]["status"] == statuses.PASS  # the sweep went on with a new worker


def _count(db):
    """Vectors in the store so far (0 until the sweep has made its table)."""
    try:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_in_the_middle_then_resume_loses_nothing_and_records_nothing_twice(tmp_path):
    db = tmp_path / "s.sqlite"
    command = [sys.executable, "-m", "opcast.cli", "sweep", "run", "--op", OP, "--suite", SUITE, "--backend", "host",
               "--db", str(db), "--repeats", "300", "--quiet"]
    planned = len(harness.plan("host", [OP], [SUITE]))
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not db.exists() or _count(db) < 4):
        time.sleep(0.05)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    with Store(db) as store:
        before = {r["vector_id"]: r for r in store.rows()}
    assert 4 <= len(before) < planned, "the sweep was not killed in the middle"

    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with Store(db) as store:
        after = store.rows()
    ids = [r["vector_id"] for r in after]
    assert len(ids) == len(set(ids)) == planned
    assert all(r["status"] == statuses.PASS for r in after)
    assert {r["vector_id"]: r for r in after if r["vector_id"] in before} == before  # kept as they were
    assert f"{planned - len(before)} of {planned - len(before)} planned vectors recorded" in done.stdout


def test_a_killed_sweep_leaves_no_worker_behind(tmp_path):
    db = tmp_path / "s.sqlite"
    sweep = subprocess.Popen([sys.executable, "-m", "opcast.cli", "sweep", "run", "--op", OP, "--suite", SUITE,
                              "--backend", "host", "--db", str(db), "--repeats", "300", "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not db.exists() or _count(db) < 1):
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(sweep.pid)], capture_output=True, text=True).stdout.split()
    assert workers, "no worker was running"
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in workers):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)


def test_stores_of_two_hosts_merge_into_one_without_a_row_twice(tmp_path, capsys):
    from opcast.cli import main as opcast

    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    with Store(a) as store:
        store.record(_row("a" * 56, repeats_ns=[1.0], median_ns=1.0))
        store.record(_row("b" * 56, repeats_ns=[2.0], median_ns=2.0))
    with Store(b) as store:
        store.record(_row("b" * 56, repeats_ns=[9.0], median_ns=9.0))  # the same vector, measured elsewhere
        store.record(_row("c" * 56, repeats_ns=[3.0], median_ns=3.0))
    assert opcast(["sweep", "merge", "--db", str(a), str(b)]) == 0
    assert "1 rows added, 1 already in" in capsys.readouterr().out
    with Store(a) as store:
        rows = {r["vector_id"][0]: r["median_ns"] for r in store.rows()}
    assert rows == {"a": 1.0, "b": 2.0, "c": 3.0}  # the row a store had is kept as it was
    (tmp_path / "notes.sqlite").write_text("not a store\n" * 100)
    assert opcast(["sweep", "merge", "--db", str(a), str(tmp_path / "notes.sqlite")]) == 2
    assert opcast(["sweep", "merge", "--db", str(a), str(tmp_path / "typo.sqlite")]) == 2
    assert not (tmp_path / "typo.sqlite").exists()


def test_ttnns_refusals_are_told_apart_by_their_messages():
    assert statuses.of_error("TT_FATAL @ binary_ng: Physical shard shape (8, 64) must be tile sized") == \
        statuses.FAIL_ASSERT_EXCEPTION
    assert statuses.of_error("TT_THROW: Out of Memory: Not enough space to allocate 4194304 B L1 buffer") == \
        statuses.FAIL_L1_OUT_OF_MEM
    assert statuses.of_error("TT_THROW @ dataflow_buffer.cpp: Statically allocated dataflow buffers on core range "
                             "[0-0 - 1-0] grow to 9049440 B which is beyond max L1 size of 1499136 B") == \
        statuses.FAIL_L1_OUT_OF_MEM
