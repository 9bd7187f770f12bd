"""opcast sweep run --ray on a local Ray cluster of two workers, host backend: every vector recorded once
by the driver, and a worker killed in the middle of a sweep loses only its batch, which is re-queued:
nothing lost, nothing recorded twice. One cluster for the module (starting Ray costs ~10 s)."""

import os
import signal
import sqlite3
import threading
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("ray")

from opcast.sweeps import fleet, harness, statuses  # noqa: E402
from opcast.sweeps.store import Store  # noqa: E402

OP, SUITES = "ttnn.gelu", ["patchtsmixer_trace", "space_filling"]


def test_addresses():
    assert fleet.parse_address("local") == (None, None)
    assert fleet.parse_address("local:3") == (None, 3)
    assert fleet.parse_address("auto") == ("auto", None)
    assert fleet.parse_address("ray://head:10001") == ("ray://head:10001", None)
    for bad in ("local:0", "local:x", ""):
        with pytest.raises(ValueError, match="--ray"):
            fleet.parse_address(bad)


@pytest.fixture(scope="module")
def two_workers():
    with fleet.Fleet("local:2", "host", repeats=2, warmup=0) as f:
        yield f


def _count(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def test_a_sweep_on_two_workers_records_every_vector_once(tmp_path, two_workers):
    todo = harness.plan("host", [OP], SUITES, limit=12)
    with Store(tmp_path / "s.sqlite") as store:
        summary = two_workers.record_work(store, todo, batch=3, progress=False)
        rows = store.rows()
    assert summary.workers == 2 and summary.recorded == {statuses.PASS: 12}
    assert summary.duplicates == 0 and summary.requeued == 0
    assert sorted(r["vector_id"] for r in rows) == sorted(w.vector_id for w in todo)
    assert all(r["timing"] == "host_torch" and len(r["repeats_ns"]) == 2 for r in rows)
    assert summary.environment["device"].startswith("host CPU")


def test_a_worker_killed_mid_sweep_loses_nothing_and_records_nothing_twice(tmp_path, two_workers):
    todo = harness.plan("host", [OP], SUITES, limit=40)
    db = tmp_path / "s.sqlite"
    victim = two_workers.pids()[0]
    killed = threading.Event()

    def kill_when_half_way():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _count(db) < 8:
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)
        killed.set()

    with Store(db) as store:
        killer = threading.Thread(target=kill_when_half_way)
        killer.start()
        summary = two_workers.record_work(store, todo, batch=4, progress=False)
        killer.join()
        rows = store.rows()
    assert killed.is_set()
    assert len(summary.deaths) == 1 and summary.requeued == 4, summary.deaths  # its in-flight batch
    assert summary.duplicates == 0
    ids = [r["vector_id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(todo) and set(ids) == {w.vector_id for w in todo}
    assert summary.recorded == {statuses.PASS: len(todo)}
    assert victim not in two_workers.pids()  # Ray restarted the actor, in a new process


def test_each_card_of_each_host_gets_one_worker():
    nodes = [{"NodeID": "a", "Alive": True, "Resources": {"CPU": 8.0, "wormhole": 2.0}},
             {"NodeID": "b", "Alive": True, "Resources": {"CPU": 8.0, "wormhole": 4.0}},
             {"NodeID": "c", "Alive": False, "Resources": {"wormhole": 4.0}},
             {"NodeID": "d", "Alive": True, "Resources": {"CPU": 2.0}}]
    assert fleet.card_slots(nodes, "wormhole") == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("b", 2), ("b", 3)]
    assert fleet.card_slots(nodes[3:], "wormhole") == []


def test_a_cluster_without_cards_is_refused_for_the_wormhole_backend(two_workers):
    with pytest.raises(ValueError, match="advertises no 'wormhole' resource"):
        fleet.Fleet("local:2", "wormhole")
