"""Builds: per-op build factors over shared configurations, records moved to the reference build,
a query naming its build, opcast recalibrate from a few rows, --suggest, and drift's change points."""

import json

import numpy as np
import pandas as pd
import pytest

import opcast
from opcast import vocabulary as v
from opcast.train import builds, dataset, drift, recalibrate

EXP = "ttnn.exp"


def exp_query(h, memory="DRAM_INTERLEAVED"):
    return v.query_json(EXP, [v.Tensor((1, 1, h, 32), memory=memory)])


def records(rows):
    return pd.DataFrame(rows, columns=["op", "query", "kernel_ns", "source", "build", "build_date", "group"])


def test_factors_are_fitted_over_shared_configurations_against_the_newest_build():
    rng = np.random.default_rng(0)
    rows = []
    for h, base in ((32, 1000.0), (64, 1500.0), (128, 2500.0), (256, 4000.0)):
        for build, date, factor in (("old", "2025-01-01", 1.25), ("new", "2026-01-01", 1.0)):
            rows += [(EXP, exp_query(h), base * factor * rng.normal(1, 0.002), "s", build, date, f"g{h}")] * 2
    rows.append((EXP, exp_query(32, "L1_INTERLEAVED"), 900.0, "s", "island", "2024-01-01", "g32"))  # shares nothing
    f = builds.fit_factors(records(rows)).set_index("build")
    assert f.loc["new", "reference"] and f.loc["new", "log_factor"] == 0
    assert f.loc["old", "log_factor"] == pytest.approx(np.log(1.25), abs=0.01)
    assert 0 < f.loc["old", "se"] < 0.01
    assert f.loc["old", "identified"] and not f.loc["island", "identified"]
    assert f.loc["old", "date"] == "2025-01-01" and f.loc["old", "rows"] == 8
    # Sources that recorded no build (named by the source alone, undated) get no factor between them.
    unrecorded = records(rows).assign(source=lambda r: r["build"], build_date=None)
    g = builds.fit_factors(unrecorded).set_index("build")
    assert (g["log_factor"] == 0).all() and g["identified"].sum() == 1 and g.loc["old", "reference"]
    # ... nor between recorded builds of an op whose reference is such a source.
    mixed = pd.concat([unrecorded[unrecorded["build"] == "old"], records(rows)[lambda r: r["build"] != "old"]
                       .assign(build_date=None)])
    m = builds.fit_factors(mixed).set_index("build")
    assert m.loc["old", "reference"] and (m["log_factor"] == 0).all() and m["identified"].sum() == 1

    # Aggregated, every configuration is its time on the newest build, the old build's repeats included.
    configs = dataset.aggregate(records(rows)).set_index("query")
    assert configs.loc[exp_query(64), "kernel_ns"] == pytest.approx(1500, rel=0.01)
    assert configs.loc[exp_query(64), "n_repeats"] == 4 and configs.loc[exp_query(64), "spread"] < 1.02

    t = builds.table(builds.fit_factors(records(rows)), 0.9)
    assert t["default"] == "new" and t["table"]["new"]["log_factor"] == 0
    assert t["table"]["old"]["half_width"] == pytest.approx(1.645 * f.loc["old", "se"], rel=1e-3)
    assert not t["table"]["island"]["identified"]



def test_builds_no_configuration_ties_to_the_reference_answer_for_their_own_newest_builds():
    # The dashboard's shape: 1024x1024 runs on early builds (the op went 20x faster among them), 32x32
    # runs on later ones; the last early run timed the wrong size. The early configuration is moved to
    # the level of its newest builds (not the one odd run, not the median of every early build) and says
    # it is not tied to the reference; the table keeps the early builds unidentified at factor 0.
    big, small = exp_query(1024), exp_query(32)
    early = [(f"e{i:02d}", f"2025-07-{i + 1:02d}", 800_000.0 if i < 10 else 40_000.0) for i in range(16)]
    early[-1] = ("e15", "2025-07-16", 2_300.0)  # the odd run
    late = [(f"l{i}", f"2026-0{i + 1}-01", 2_000.0 * (1 + 0.01 * i)) for i in range(5)]
    rows = [(EXP, big, ns, "s", b, d, "g1024") for b, d, ns in early] + \
        [(EXP, small, ns, "s", b, d, "g32") for b, d, ns in late]
    f = builds.fit_factors(records(rows)).set_index("build")
    assert f.loc["l4", "reference"] and f.loc["l0", "identified"]
    assert not f.loc[[b for b, _, _ in early], "identified"].any()
    assert (f.loc[[b for b, _, _ in early], "log_factor"] == 0).all()
    configs = dataset.aggregate(records(rows)).set_index("query")
    assert configs.loc[big, "kernel_ns"] == pytest.approx(40_000, rel=0.01) and not configs.loc[big, "on_reference"]
    assert configs.loc[small, "kernel_ns"] == pytest.approx(2_080, rel=0.01) and configs.loc[small, "on_reference"]
    # One early build that also ran the small size ties every early build to the reference.
    tied = dataset.aggregate(records(rows + [(EXP, small, 2_000.0, "s", "e14", "2025-07-15", "g32")]))
    assert tied.set_index("query").loc[big, "on_reference"]



def test_a_kind_answers_a_named_build_with_each_ops_own_move(tmp_path):
    # Builds move a kind's ops one by one: on the old build exp took 1.5x its newest time, relu 0.8x.
    from opcast.train import fit, kinds

    rng = np.random.default_rng(4)
    rows = []
    for op, old in (("ttnn.exp", 1.5), ("ttnn.relu", 0.8)):
        for h in (32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192):
            q = v.query_json(op, [v.Tensor((1, 1, h, 32))])
            for build, date, f in (("old", "2025-01-01", old), ("new", "2026-01-01", 1.0)):
                rows.append((op, q, (1500 + h) * f * rng.normal(1, 0.002), "s", build, date, f"{op}{h}"))
    recs = records(rows)
    factors = builds.fit_factors(recs)
    t = builds.table(factors, 0.9)
    assert t["ops"]["ttnn.exp"]["log_factors"]["old"] == pytest.approx(np.log(1.5), abs=0.01)
    assert t["ops"]["ttnn.relu"]["log_factors"]["old"] == pytest.approx(np.log(0.8), abs=0.01)
    assert "new" not in t["ops"]["ttnn.exp"]["log_factors"]  # the default: each op as of its newest measurements
    configs = {op: dataset.aggregate(r, build_factors=factors) for op, r in recs.groupby("op")}
    out = tmp_path / "models"
    cfg = fit.TrainConfig(members=2, hidden_layers=(8,), max_epochs=100, patience=20)
    kinds.train_tiers(configs, out, cfg, verbose=False, factors=factors)
    p = opcast.Predictor(out)
    for op, old in (("ttnn.exp", 1.5), ("ttnn.relu", 0.8)):
        q = {"op": op, "inputs": [v.Tensor((1, 1, 512, 32)).to_dict()]}
        now, then = p.predict(q), p.predict({**q, "build": "old"})
        assert then.build == "old" and then.ns / now.ns == pytest.approx(old, rel=0.02), op


def test_a_new_builds_factor_widens_the_interval_less_as_rows_come():
    rng = np.random.default_rng(1)
    ratios = np.log(1.3) + rng.normal(0, 0.03, 30)
    one = builds.recalibrated(ratios[:1], 0.03, 0.5, 0.05, 0.9)
    three = builds.recalibrated(ratios[:3], 0.03, 0.5, 0.05, 0.9)
    ten = builds.recalibrated(ratios[:10], 0.03, 0.5, 0.05, 0.9)
    assert one[2] > three[2] > 1.645 * 0.05 * 0.99  # too few rows to speak for themselves: the ops' spread
    assert ten[0] == pytest.approx(np.log(1.3), abs=0.03)
    # Ten rows that agree narrow it to their own largest distance from the factor (the 10th of 10 at 90%).
    assert ten[2] == pytest.approx(np.max(np.abs(ratios[:10] - ten[0])))
    assert ten[2] < three[2]
    # Rows that disagree never widen it past the ops' spread.
    scattered = builds.recalibrated(np.log(1.3) + rng.normal(0, 1.0, 10), 0.03, 0.5, 0.05, 0.9)
    assert scattered[2] == pytest.approx(builds._z(0.9) * np.hypot(scattered[1], 0.05))
    # Where the model is unsure of a configuration, its measurement says little of the build.
    unsure = builds.recalibrated(ratios[:1], 1.0, 0.05, 0.05, 0.9)
    assert abs(unsure[0]) < 0.01 * abs(one[0]) * 10 and abs(unsure[0]) < abs(one[0]) / 100
    with pytest.raises(ValueError, match="no measurements"):
        builds.recalibrated(np.array([]), 0.03, 0.5, 0.05, 0.9)


def new_build_rows(n, factor=1.5, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(EXP, exp_query(32 * (i + 1)), 5000 * factor * rng.normal(1, 0.02), "daily", "c0ffee12", "2026-08-01",
             f"g{i}") for i in range(n)]
    return records(rows)


def test_recalibrate_writes_a_folder_that_answers_for_the_new_build(tiny_models, tmp_path):
    query = {"op": EXP, "inputs": [v.Tensor((1, 1, 512, 512)).to_dict()]}
    before = opcast.Predictor(tiny_models).predict(query)
    assert before.build is None
    with pytest.raises(opcast.QueryError, match="build"):
        opcast.Predictor(tiny_models).predict({**query, "build": "c0ffee"})

    fitted = recalibrate.recalibrate(tiny_models, new_build_rows(10), tmp_path / "recal")
    assert fitted["exp"]["own"] and fitted["exp"]["factor"] == pytest.approx(1.5, rel=0.03)
    p = opcast.Predictor(tmp_path / "recal")  # loads: every manifest's checksum rewritten
    now = p.predict(query)
    assert now.build == "c0ffee12" and now.ns == pytest.approx(before.ns * fitted["exp"]["factor"], rel=1e-6)
    assert now.hi_ns / now.ns > before.hi_ns / before.ns  # the factor's uncertainty widens the interval
    assert p.predict({**query, "build": "trained"}).ns == pytest.approx(before.ns, rel=1e-6)
    assert p.predict({**query, "build": "c0ff"}).build == "c0ffee12"
    manifest = json.loads((tmp_path / "recal" / "exp" / "manifest.json").read_text())
    assert manifest["builds"]["table"]["c0ffee12"]["rows"] == 10
    # add measured nothing of the new build: it takes the factor of every row.
    assert not fitted["add"]["own"] and fitted["add"]["log_factor"] == pytest.approx(fitted["exp"]["log_factor"], abs=0.02)

    one = recalibrate.recalibrate(tiny_models, new_build_rows(1), tmp_path / "one")
    assert not one["exp"]["own"] and one["exp"]["half_width"] > fitted["exp"]["half_width"]
    with pytest.raises(ValueError, match="1 to 30 rows"):
        recalibrate.recalibrate(tiny_models, new_build_rows(0), tmp_path / "none")
    with pytest.raises(ValueError, match="already knows"):
        recalibrate.recalibrate(tmp_path / "recal", new_build_rows(3), tmp_path / "again")
    two = pd.concat([new_build_rows(2), new_build_rows(2).assign(build="other")])
    with pytest.raises(ValueError, match="--build"):
        recalibrate.recalibrate(tiny_models, two, tmp_path / "two")



def test_a_build_that_added_a_fixed_cost_is_recalibrated_as_a_shift(tiny_models, tmp_path):
    # relu's sweep sources differ by ~0.5 us per op, not by a factor: ten rows of a build that added 800 ns
    # to every answer are fitted as a shift (leave one out: nearer than any one factor), and served so.
    model = opcast.Predictor(tiny_models)
    queries = [v.query_json("ttnn.add", [v.Tensor((1, 1, 32 * 2 ** i, 64))] * 2) for i in range(10)]
    reference = model.predict_batch(queries)["predicted_ns"].to_numpy()
    assert reference.max() > 4 * reference.min()  # sizes far apart: a factor cannot pass for a shift
    rng = np.random.default_rng(3)
    rows = records([("ttnn.add", q, (ns + 800) * rng.normal(1, 0.005), "daily", "5h1f7000", "2026-09-01", f"g{i}")
                    for i, (q, ns) in enumerate(zip(queries, reference))])
    fitted = recalibrate.recalibrate(tiny_models, rows, tmp_path / "shifted")
    assert fitted["add"]["form"] == "shift" and fitted["add"]["shift_ns"] == pytest.approx(800, rel=0.1)
    served = opcast.Predictor(tmp_path / "shifted").predict_batch(queries)["predicted_ns"].to_numpy()
    assert served == pytest.approx(reference + fitted["add"]["shift_ns"], rel=1e-6)
    manifest = json.loads((tmp_path / "shifted" / "add" / "manifest.json").read_text())
    assert manifest["builds"]["table"]["5h1f7000"]["form"] == "shift"
    # A folder recalibrated with a shift is recalibrated again from its reference answers, not its shifted ones.
    again = recalibrate.recalibrate(tmp_path / "shifted", rows.assign(build="5h1f7001"), tmp_path / "again")
    assert again["add"]["shift_ns"] == pytest.approx(fitted["add"]["shift_ns"], rel=1e-6)
    # The same rows scaled instead: one factor.
    scaled = rows.assign(kernel_ns=reference * 1.3 * rng.normal(1, 0.005, len(rows)), build="5ca1ed00")
    assert recalibrate.recalibrate(tiny_models, scaled, tmp_path / "scaled")["add"]["form"] == "factor"

def test_suggest_spreads_over_ops_and_placements_and_writes_runnable_vectors(tiny_models, tmp_path):
    from opcast.sweeps import vectors

    chosen = recalibrate.suggest(tiny_models, 4, recalibrate.candidates(["ttnn.add", EXP]))
    assert len(chosen) == 4 and set(chosen["op"]) == {"ttnn.add", EXP}
    assert set(chosen["memory"]) == set(recalibrate.SUGGEST_MEMORIES)
    assert chosen["size_class"].nunique() == 2
    wanted = {vectors.query_key(q) for q in chosen["query"]}
    got = {vectors.query_key(vectors.query_json(vectors.resolve(e["op"], e["vector"])))  # exact: every tensor placed
           for e in recalibrate.as_vectors(chosen)}
    assert got == wanted
    # The sweep harness reads them as they are written (ttnn.add has a sweep module; exp does not).
    from opcast.sweeps import harness

    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(recalibrate.as_vectors(chosen[chosen["op"] == "ttnn.add"])))
    work = harness.plan_file("host", path)
    assert {vectors.query_key(vectors.query_json(w.record)) for w in work} <= wanted and len(work) >= 1
    with pytest.raises(ValueError, match="N >= 1"):
        recalibrate.suggest(tiny_models, 0, recalibrate.candidates([EXP]))


def test_drift_flags_a_step_beyond_the_noise_and_not_the_noise():
    rng = np.random.default_rng(2)
    dates = pd.date_range("2026-01-01", periods=40, freq="D")
    ns = np.where(np.arange(40) < 25, 1800.0, 1900.0) * rng.normal(1, 0.003, 40)
    one = pd.DataFrame({"op": "ttnn.relu", "query": "q", "build": [f"b{i}" for i in range(40)], "date": dates,
                        "ns": ns, "shape": "1x1x32x32"})
    found = drift.changes(one)
    assert len(found) == 1 and found[0]["date"] == "2026-01-26" and found[0]["kind"] == "regression"
    assert found[0]["change_pct"] == pytest.approx(100 * (1900 / 1800 - 1), abs=1)
    flat = one.assign(ns=1800.0 * rng.normal(1, 0.003, 40))
    assert drift.changes(flat) == []
