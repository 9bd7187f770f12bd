"""opcast sweep run --budget: the picks are the widest intervals, the ops take turns, no two picks of a
round ask the same thing, the budget is spent in rounds with retraining between them, and the rest
stays for the next run."""

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from opcast.cli import main as opcast  # noqa: E402
from opcast.sweeps import active, harness, vectors  # noqa: E402
from opcast.sweeps.store import Store  # noqa: E402

OP = "ttnn.gelu"


def _queries(todo):
    return [vectors.query_json(w.record) for w in todo]


def test_the_widest_intervals_are_picked_and_a_duplicate_is_not_picked_twice_in_a_round():
    todo = [w for w in harness.plan("host", [OP], ["patchtsmixer_trace", "patchtsmixer_layouts"]) if w.reason is None]
    queries = _queries(todo)
    keys = [vectors.query_key(q) for q in queries]
    # Two vectors of different suites that ask the same query: made the two most uncertain.
    first = next(i for i, k in enumerate(keys) if keys.count(k) > 1)
    twin = next(i for i, k in enumerate(keys) if k == keys[first] and i != first)
    width = np.linspace(1.0, 2.0, len(todo))
    width[first], width[twin] = 10.0, 9.0
    picked = active.select(todo, queries, width, {}, 3)
    assert picked[0] == first and twin not in picked
    assert len(set(keys[i] for i in picked)) == 3
    assert width[picked[1]] >= width[picked[2]]  # the rest follow by width


def test_ops_take_turns_whatever_their_widths():
    todo = [w for w in harness.plan("host", [OP, "ttnn.softmax"], ["space_filling"]) if w.reason is None]
    width = np.array([100.0 if w.op == OP else 1.0 for w in todo])
    picked = active.select(todo, _queries(todo), width, {}, 6)
    assert [todo[i].op for i in picked].count(OP) == 3


def test_nothing_trained_yet_picks_spread_vectors_then_the_farthest_from_what_was_measured():
    todo = [w for w in harness.plan("host", [OP], ["space_filling"]) if w.reason is None]
    queries = _queries(todo)
    inf = np.full(len(todo), math.inf)
    measured = {OP: queries[:20]}
    picked = active.select(todo[20:], queries[20:], inf[20:], measured, 4)
    z = active._standardized(queries)
    from scipy.spatial import cKDTree

    far = cKDTree(z[:20]).query(z[20:], k=1)[0]
    assert far[picked[0]] == far.max()


def test_a_budget_is_spent_in_rounds_with_retraining_and_the_rest_stays(tmp_path):
    calls = []
    with Store(tmp_path / "s.sqlite") as store:
        summary = active.run_budget(store, "host", [OP], ["patchtsmixer_trace", "space_filling"], 8, round_size=4,
                                    models=tmp_path / "models", repeats=2, warmup=0, progress=False,
                                    on_round=lambda n, folder, trained: calls.append((n, len(store.rows()))))
        rows = store.rows()
        left = [w for w in harness.plan("host", [OP], ["patchtsmixer_trace", "space_filling"], store.finished("host"))
                if w.reason is None]
    assert [r.picked for r in summary.rounds] == [4, 4]
    assert calls == [(0, 0), (1, 4), (2, 8)]  # trained before each round and after the last
    assert len(rows) == len({r["vector_id"] for r in rows}) == 8
    assert summary.queued == len(left) > 0
    assert (tmp_path / "models" / "training_summary.csv").is_file()


def test_the_cli_refuses_a_budget_it_cannot_spend(capsys, tmp_path):
    db = str(tmp_path / "s.sqlite")
    assert opcast(["sweep", "run", "--op", OP, "--backend", "mock", "--budget", "4", "--db", db]) == 2
    assert "the mock backend times nothing" in capsys.readouterr().err
    assert opcast(["sweep", "run", "--op", OP, "--backend", "host", "--budget", "4", "--limit", "3", "--db", db]) == 2
    assert "give one" in capsys.readouterr().err
    assert opcast(["sweep", "run", "--op", OP, "--backend", "host", "--budget", "0", "--db", db]) == 2
    assert "at least 1" in capsys.readouterr().err
    mine = tmp_path / "my_models"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert opcast(["sweep", "run", "--op", OP, "--suite", "patchtsmixer_trace", "--backend", "host", "--budget", "2",
                   "--models", str(mine), "--db", db]) == 2
    assert "did not make" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "mine"
