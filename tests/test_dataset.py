"""Dataset stage (aggregation, suspects, group split, hash) and ``opcast data fetch``.

Fetch tests serve synthetic files from a local HTTP server on 127.0.0.1; nothing else is reached.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opcast.train import dataset as ds
from opcast.train import fetch as fe
from opcast.train import importers as im






def records(rows):
    """rows: (op, query, kernel_ns, source, group)."""
    return pd.DataFrame(rows, columns=["op", "query", "kernel_ns", "source", "group"])


@pytest.fixture
def recs():
    return records([
        ("ttnn.exp", "qa", 100.0, "s1", "ga"),
        ("ttnn.exp", "qa", 110.0, "s1", "ga"),
        ("ttnn.exp", "qa", 120.0, "s1", "ga"),
        ("ttnn.exp", "qb", 10.0, "s1", "ga"),      # disagreeing repeats: 10x
        ("ttnn.exp", "qb", 100.0, "s1", "ga"),
        ("ttnn.exp", "qc", 50.0, "s2", "gc"),
        ("ttnn.add", "qa", 7.0, "s2", "gx"),       # same query string, other op: another configuration
        ("ttnn.add", "qd", 30.0, "s1", "gy"),      # measured by two sources that disagree 3x
        ("ttnn.add", "qd", 90.0, "s2", "gy"),
    ])


# ------------------------------------------------------------------------------------------------
# aggregate / suspect_report
# ------------------------------------------------------------------------------------------------
def test_aggregate(recs):
    a = ds.aggregate(recs, keep_suspect=True).set_index(["op", "query"])
    assert len(a) == 5
    assert a.loc[("ttnn.exp", "qa"), "kernel_ns"] == 110.0
    assert a.loc[("ttnn.exp", "qa"), "n_repeats"] == 3
    assert a.loc[("ttnn.exp", "qa"), "spread"] == pytest.approx(1.2)
    assert not a.loc[("ttnn.exp", "qa"), "suspect"]
    assert a.loc[("ttnn.exp", "qb"), "kernel_ns"] == 55.0
    assert a.loc[("ttnn.exp", "qb"), "spread"] == pytest.approx(10.0)
    assert a.loc[("ttnn.exp", "qb"), "suspect"]
    assert a.loc[("ttnn.exp", "qc"), "spread"] == 1.0 and a.loc[("ttnn.exp", "qc"), "n_repeats"] == 1
    assert a.loc[("ttnn.add", "qa"), "kernel_ns"] == 7.0
    assert a.loc[("ttnn.add", "qd"), "sources"] == "s1;s2"
    assert a.loc[("ttnn.add", "qd"), "suspect"]
    assert a.loc[("ttnn.exp", "qa"), "group"] == "ga"


def test_aggregate_drops_suspects_by_default_and_factor_is_a_parameter(recs):
    kept = ds.aggregate(recs)
    assert sorted(zip(kept["op"], kept["query"])) == [("ttnn.add", "qa"), ("ttnn.exp", "qa"), ("ttnn.exp", "qc")]
    assert not kept["suspect"].any()
    lax = ds.aggregate(recs, factor=5.0)
    assert ("ttnn.add", "qd") in set(zip(lax["op"], lax["query"]))
    assert ("ttnn.exp", "qb") not in set(zip(lax["op"], lax["query"]))
    with pytest.raises(ValueError):
        ds.aggregate(recs, factor=0.5)


def test_aggregate_real_importer_records(tmp_path):
    p = tmp_path / "exp.csv"
    p.write_text("input_shape_1,input_shape_2,input_shape_3,input_shape_4,bfloat8,bfloat16,float32,uint16,uint32,"
                 "input_DRAM,input_L1,kernel_duration\n"
                 "1,64,96,0,0,1,0,0,0,1,0,1000\n1,64,96,0,0,1,0,0,0,1,0,1200\n1,64,96,0,0,1,0,0,0,1,0,1100\n"
                 "2,3,64,96,0,0,0,0,1,1,0,500\n2,3,64,96,0,0,0,0,1,1,0,50000\n")
    r = im.load(p)
    a = ds.aggregate(r, keep_suspect=True)
    assert a["n_repeats"].tolist() == [3, 2]
    assert a["kernel_ns"].tolist() == [1100.0, 25250.0]
    assert a["suspect"].tolist() == [False, True]
    assert a["in0_shape"].tolist() == ["1x64x96", "2x3x64x96"]
    assert "row" not in a.columns and "file" not in a.columns
    assert len(ds.aggregate(r)) == 1


def test_suspect_report(recs):
    rep = ds.suspect_report(recs).set_index(["op", "source"])
    assert rep.loc[("ttnn.exp", "s1")].to_dict() == {"rows": 5, "configurations": 2, "suspect_configurations": 1,
                                                     "suspect_rows": 2}
    assert rep.loc[("ttnn.exp", "s2")].to_dict() == {"rows": 1, "configurations": 1, "suspect_configurations": 0,
                                                     "suspect_rows": 0}
    # Suspicion is judged over all sources: each source is charged with its own rows.
    assert rep.loc[("ttnn.add", "s1"), "suspect_rows"] == 1 and rep.loc[("ttnn.add", "s2"), "suspect_rows"] == 1
    assert rep["rows"].sum() == len(recs)
    with pytest.raises(ValueError):
        ds.suspect_report(recs, by="nope")


def test_superseded_sources_are_left_out_unless_kept(recs):
    old, new = next(iter(ds.SUPERSEDED_SOURCES.items()))
    both = pd.concat([recs, records([("ttnn.relu", "qr", 2237.0, old, "gr"), ("ttnn.relu", "qr", 1708.0, new, "gr"),
                                     ("ttnn.relu", "qs", 2435.0, old, "gs")])], ignore_index=True)
    assert ds.superseded(both).tolist() == [False] * len(recs) + [True, False, True]
    a = ds.aggregate(both).set_index(["op", "query"])
    assert a.loc[("ttnn.relu", "qr"), "kernel_ns"] == 1708.0 and a.loc[("ttnn.relu", "qr"), "sources"] == new
    assert ("ttnn.relu", "qs") not in a.index  # measured only by the superseded source
    kept = ds.aggregate(both, keep_superseded=True).set_index(["op", "query"])
    assert kept.loc[("ttnn.relu", "qr"), "n_repeats"] == 2 and ("ttnn.relu", "qs") in kept.index
    # The report still shows every source.
    assert old in set(ds.suspect_report(both)["source"])


# ------------------------------------------------------------------------------------------------
# split_groups
# ------------------------------------------------------------------------------------------------
def grouped_frame(groups_per_op: dict[str, int], rows_per_group: int = 3) -> pd.DataFrame:
    rows = []
    for op, n in groups_per_op.items():
        for g in range(n):
            for r in range(rows_per_group):
                rows.append((op, f"q{g}-{r}", 1.0 + r, "s", f"{op}|{g}x32"))
    return records(rows)


def check_split(df, split):
    assert split.index.equals(df.index)
    assert set(split) <= {"train", "test"}
    per_group = pd.DataFrame({"op": df["op"], "group": df["group"], "split": split}).groupby(["op", "group"])["split"]
    assert (per_group.nunique() == 1).all(), "a group landed in two splits"
    by_op = pd.DataFrame({"op": df["op"], "group": df["group"], "split": split}).drop_duplicates()
    for op, g in by_op.groupby("op"):
        if g["group"].nunique() >= 2:
            assert set(g["split"]) == {"train", "test"}, op


def test_split_groups_properties():
    df = grouped_frame({"ttnn.exp": 40, "ttnn.add": 3, "ttnn.relu": 2, "ttnn.gelu": 1, "ttnn.matmul": 7})
    s = ds.split_groups(df)
    check_split(df, s)
    counts = pd.DataFrame({"op": df["op"], "group": df["group"], "s": s}).drop_duplicates().groupby("op")["s"].value_counts()
    assert counts[("ttnn.exp", "test")] == 6 and counts[("ttnn.exp", "train")] == 34
    assert counts[("ttnn.relu", "train")] == 1 and counts[("ttnn.relu", "test")] == 1
    assert s[df["op"] == "ttnn.gelu"].unique().tolist() == ["train"]
    assert (ds.split_groups(df, test_fraction=0.0) == "train").all()


def test_split_groups_deterministic_and_row_order_free():
    df = grouped_frame({"ttnn.exp": 30, "ttnn.add": 12})
    s1 = ds.split_groups(df, seed=3)
    s2 = ds.split_groups(df, seed=3)
    assert s1.equals(s2)
    shuffled = df.sample(frac=1.0, random_state=1)
    s3 = ds.split_groups(shuffled, seed=3)
    assert s3.reindex(df.index).equals(s1)
    assert not ds.split_groups(df, seed=4).equals(s1)  # the seed matters
    # A group's assignment does not depend on the rest of the data of other ops.
    only_exp = df[df["op"] == "ttnn.exp"]
    assert ds.split_groups(only_exp, seed=3).equals(s1[only_exp.index])


def test_split_groups_rejects_bad_input():
    df = grouped_frame({"ttnn.exp": 5})
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="test_fraction"):
            ds.split_groups(df, test_fraction=bad)
    with pytest.raises(ValueError, match="group"):
        ds.split_groups(df.drop(columns="group"))
    with pytest.raises(ValueError, match="folds"):
        ds.fold_groups(df, folds=1)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 30), min_size=1),
       st.integers(0, 10_000), st.sampled_from([0.15, 0.1, 0.33, 0.0]))
def test_split_groups_hypothesis(groups_per_op, seed, test_fraction):
    df = grouped_frame({f"ttnn.{k}": v for k, v in groups_per_op.items()}, rows_per_group=2)
    s = ds.split_groups(df, test_fraction=test_fraction, seed=seed)
    if test_fraction > 0:
        check_split(df, s)
    else:
        assert (s == "train").all()
    assert (s == "train").any()


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(1, 30), min_size=1),
       st.integers(0, 10_000), st.integers(2, 7))
def test_fold_groups_deal_whole_groups_evenly(groups_per_op, seed, folds):
    df = grouped_frame({f"ttnn.{k}": v for k, v in groups_per_op.items()}, rows_per_group=2)
    fold = ds.fold_groups(df, folds=folds, seed=seed)
    assert fold.index.equals(df.index)
    per_group = pd.DataFrame({"op": df["op"], "group": df["group"], "fold": fold}).drop_duplicates()
    assert not per_group.duplicated(["op", "group"]).any(), "a group landed in two folds"
    for op, g in per_group.groupby("op"):
        k = min(folds, g["group"].nunique())
        sizes = g["fold"].value_counts().reindex(range(k), fill_value=0)
        assert set(g["fold"]) == set(range(k)) and sizes.max() - sizes.min() <= 1, (op, sizes.to_dict())
    # Row order does not matter.
    shuffled = df.sample(frac=1.0, random_state=seed)
    assert ds.fold_groups(shuffled, folds=folds, seed=seed).reindex(df.index).equals(fold)


# ------------------------------------------------------------------------------------------------
# dataset_hash
# ------------------------------------------------------------------------------------------------
def test_dataset_hash(recs):
    a = ds.aggregate(recs, keep_suspect=True)
    h = ds.dataset_hash(a)
    assert len(h) == 64 and int(h, 16) >= 0
    assert ds.dataset_hash(a.iloc[::-1]) == h
    assert ds.dataset_hash(a.assign(extra=1)) == h
    b = a.copy()
    b.loc[b.index[0], "kernel_ns"] += 1.0
    assert ds.dataset_hash(b) != h
    a2 = a.assign(split=ds.split_groups(a))
    assert ds.dataset_hash(a2) != h
    assert ds.dataset_hash(a2, columns=["op", "query", "kernel_ns", "n_repeats"]) == h
    with pytest.raises(ValueError):
        ds.dataset_hash(a, columns=["nope"])


# ------------------------------------------------------------------------------------------------
# fetch
# ------------------------------------------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_root(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (root, base_url, request_log)."""
    root = tmp_path / "www"
    root.mkdir()
    seen: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            seen.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _serve(root: Path, src: fe.Source, data: bytes) -> None:
    p = root / src.relpath
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


A = b"m_size,k_size,n_size,num_cores,duration\n640,32,32,10,1849.0\n"
B = b"OP CODE,DEVICE KERNEL DURATION [ns]\nMatmul,100\n"


def test_fetch_downloads_verifies_and_is_idempotent(http_root, tmp_path):
    root, base, seen = http_root
    srcs = (fe.Source("owner/repo", "a" * 40, "dir/a file.csv", git_blob=fe.git_blob_id(A)),
            fe.Source("other/repo", "b" * 40, "b.csv"))
    _serve(root, srcs[0], A)
    _serve(root, srcs[1], B)
    dest = tmp_path / "cache"
    res = fe.fetch(dest, srcs, base_url=base, timeout=5)
    assert [r.status for r in res] == ["downloaded", "downloaded"]
    assert (dest / "owner/repo" / ("a" * 40) / "dir/a file.csv").read_bytes() == A
    assert (dest / "other/repo" / ("b" * 40) / "b.csv").read_bytes() == B
    manifest = json.loads((dest / fe.MANIFEST).read_text())["files"]
    assert set(manifest) == {s.relpath for s in srcs}
    n = len(seen)
    res2 = fe.fetch(dest, srcs, base_url=base, timeout=5)
    assert [r.status for r in res2] == ["present", "present"] and len(seen) == n  # nothing downloaded again
    # A corrupted copy is noticed and replaced.
    (dest / srcs[1].relpath).write_bytes(b"garbage,\n")
    res3 = fe.fetch(dest, srcs, base_url=base, timeout=5)
    assert [r.status for r in res3] == ["present", "downloaded"]
    assert (dest / srcs[1].relpath).read_bytes() == B
    assert not list(dest.rglob("*.part"))


def test_fetch_404_names_the_url(http_root, tmp_path):
    root, base, _ = http_root
    good = fe.Source("owner/repo", "c" * 40, "good.csv")
    missing = fe.Source("owner/repo", "c" * 40, "missing.csv")
    _serve(root, good, A)
    with pytest.raises(fe.FetchError) as e:
        fe.fetch(tmp_path / "cache", (missing, good), base_url=base, timeout=5)
    assert f"{base}/owner/repo/{'c' * 40}/missing.csv" in str(e.value) and "404" in str(e.value)
    assert (tmp_path / "cache" / good.relpath).is_file()  # the others were still fetched


def test_fetch_rejects_wrong_content(http_root, tmp_path):
    root, base, _ = http_root
    pinned = fe.Source("o/r", "d" * 40, "x.csv", git_blob=fe.git_blob_id(A))
    html = fe.Source("o/r", "d" * 40, "y.csv")
    _serve(root, pinned, B)  # not the pinned blob
    _serve(root, html, b"<!DOCTYPE html><html>rate limited</html>")
    with pytest.raises(fe.FetchError) as e:
        fe.fetch(tmp_path / "cache", (pinned, html), base_url=base, timeout=5)
    msg = str(e.value)
    assert "x.csv" in msg and "git blob id" in msg and "y.csv" in msg and "HTML" in msg
    assert not (tmp_path / "cache" / pinned.relpath).exists()


def test_sources_table_and_urls():
    assert len(fe.SOURCES) == 40
    assert len({s.relpath for s in fe.SOURCES}) == 40
    assert all(len(s.commit) == 40 and s.repo.count("/") == 1 for s in fe.SOURCES)
    s = fe.Source("tenstorrent/tt-perf-report", "47849a48e211e9c8f7920099041336b72fb7e6de", "tests/data/wh_clip_encoder_2.csv")
    assert s in fe.SOURCES
    assert s.url() == ("https://raw.githubusercontent.com/tenstorrent/tt-perf-report/"
                       "47849a48e211e9c8f7920099041336b72fb7e6de/tests/data/wh_clip_encoder_2.csv")
    assert fe.git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


def test_find_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(fe.ENV_SHARED, str(tmp_path))
    assert fe.find_data_dir() == tmp_path
    monkeypatch.setenv(fe.ENV_CACHE, str(tmp_path / "c"))
    assert fe.default_cache_dir() == tmp_path / "c"
    monkeypatch.setenv(fe.ENV_SHARED, str(tmp_path / "absent"))
    monkeypatch.setattr(fe, "_repo_root", lambda: tmp_path / "x" / "repo")
    monkeypatch.chdir(tmp_path)
    assert fe.find_data_dir() == tmp_path / "c"


def test_cli(http_root, tmp_path, monkeypatch, capsys):
    root, base, _ = http_root
    src = fe.Source("o/r", "e" * 40, "z.csv")
    _serve(root, src, A)
    monkeypatch.setattr(fe, "SOURCES", (src,))
    parser = argparse.ArgumentParser(prog="opcast")
    fe.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "fetch", "--dest", str(tmp_path / "d"), "--base-url", base])
    assert args.func(args) == 0
    assert (tmp_path / "d" / src.relpath).read_bytes() == A
    assert "1 downloaded" in capsys.readouterr().out
    args = parser.parse_args(["data", "fetch", "--dest", str(tmp_path / "d2"), "--base-url", base + "/nothing"])
    assert args.func(args) == 1
    assert "404" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# The real data
# ------------------------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_real_exp_suspects_and_split(shared_data):
    data = shared_data
    r = im.load(data / "torp" / "exp_wormhole_n150.csv")
    a = ds.aggregate(r, keep_suspect=True)
    # 3,180 row runs, most split by their output placement (importers.py); 23 configurations (52 rows) are
    # refused: an L1-interleaved input or output of up to 135 MB, which no n150 holds (89 MB of L1).
    assert len(a) == 5767
    assert a["spread"].max() > 50  # TORP's exp has rank-4 configurations whose repeats differ ~100x
    assert 0 < a["suspect"].sum() < 0.05 * len(a)
    worst = a.sort_values("spread").iloc[-1]
    assert len(worst["in0_shape"].split("x")) == 4
    s = ds.split_groups(a)
    check_split(a, s)


@pytest.mark.shared_data
def test_real_relu_keeps_one_tt_metal_build(shared_data):
    r = im.load(shared_data / "sweeps" / "relu_wormhole.csv")
    assert set(ds.SUPERSEDED_SOURCES) <= set(r["source"])
    a = ds.aggregate(r)
    assert not any(s in ds.SUPERSEDED_SOURCES for v in a["sources"] for s in v.split(";"))
    # One bfloat16 tile from L1 to L1: the December re-run alone, not a median across two builds.
    one = a[(a["num_tiles"] == 1) & (a["in0_memory"] == "L1_INTERLEAVED") & (a["out_memory"] == "L1_INTERLEAVED")
            & (a["in0_dtype"] == "bfloat16")]
    assert len(one) == 1 and 1650 < one["kernel_ns"].iloc[0] < 1750 and one["spread"].iloc[0] < 1.05
