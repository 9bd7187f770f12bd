"""``opcast recalibrate``: a trained models folder moved to a new tt-metal build from a few of its
measurements, without training again; and the configurations worth measuring for it.

``recalibrate(models, records, out)`` copies the folder and adds the new build to every model's build
table (manifest ``builds``, ``opcast.train.builds``), as its default: each measurement is answered on
the model's reference build, and the measured times against those answers give the build's move: a
factor, or for an op's own model (one program's fixed cost) a shift or both, whichever the rows'
leave-one-out answers favour (``builds.recalibrated_move``). A model that answered ``MIN_OWN_ROWS``
of the rows gets its own move; every other model the move of all rows, whose uncertainty adds how
far one op's factor strays from the rest. The half-width each adds to the interval is wide from one
row and narrows as rows come (``builds.recalibrated``). Each manifest is rewritten with its
checksum; the new folder is then loaded and must answer the rows it was fitted on for the new build.

``suggest(models, n, ops)``: the n configurations to measure on a new build, as exact sweep vectors.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .. import catalogue as _catalogue
from ..predictor import Predictor
from . import builds, fit, importers

# From this many rows a model's factor is its own; below, the factor of every row (an op's drift is
# told apart from the build's only once a few rows of it agree).
MIN_OWN_ROWS = 3
# The reference build of a folder trained before builds were recorded.
UNNAMED_BUILD = "trained"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def _manifests(models: Path) -> dict[Path, dict]:
    return {d: json.loads((d / fit.MANIFEST).read_text()) for d in sorted(models.iterdir())
            if d.is_dir() and (d / fit.MANIFEST).is_file()}


def _build_table(manifest: dict) -> dict:
    """The manifest's build table; a folder trained before builds were recorded knows one, its own."""
    if "builds" in manifest:
        return manifest["builds"]
    entry = {"log_factor": 0.0, "half_width": 0.0, "se": 0.0, "rows": 0, "date": None, "fitted": "training",
             "identified": True}
    return {"default": UNNAMED_BUILD, "reference": UNNAMED_BUILD, "coverage": manifest.get("interval", {}).get(
        "coverage", 0.9), "table": {UNNAMED_BUILD: entry}}


def load_measurements(paths) -> pd.DataFrame:
    """Records of the new build's measurements: any importable file or folder, or a sweep store
    (SQLite, exported first)."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    stores = [p for p in paths if p.suffix.lower() in SQLITE_SUFFIXES]
    others = [p for p in paths if p not in stores]
    frames = [importers.load(others)] if others else []
    if stores:
        from ..sweeps.export import export
        from ..sweeps.store import Store

        with tempfile.TemporaryDirectory(prefix="opcast_recal_") as tmp:
            for store in stores:
                if not store.is_file():
                    raise FileNotFoundError(f"{store}: no such sweep store")
                with Store(str(store)) as s:
                    export(s, Path(tmp) / store.stem)
                frames.append(importers.load(Path(tmp) / store.stem))
    for frame in frames:
        frame.attrs.clear()  # the import reports: pandas compares attrs on every concat
    records = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return records[records["kernel_ns"].notna()].reset_index(drop=True) if len(records) else records


def answered_on_reference(models: Path, records: pd.DataFrame) -> pd.DataFrame:
    """Each record with the folder of the model that answers it, that model's answer on its reference
    build (``reference_ns``) and the model's own error there (``model_sd``, ln units)."""
    manifests = _manifests(models)
    predictor = Predictor(models)
    # An answer's source names its model as "<tier>:<op or kind>@<dataset hash>"; the calibrated
    # roofline answers under every kind's name with its one hash. Two op models may share a dataset hash.
    by_tag, roofline_by_hash = {}, {}
    for info in predictor.models():
        tag = info["source"].split(":", 1)[1]
        if info["scope"] == "roofline":
            roofline_by_hash[tag.split("@")[1]] = Path(info["dir"])
        else:
            by_tag[tag] = Path(info["dir"])

    def folder_of(source) -> Path | None:
        if not isinstance(source, str):
            return None
        tag = source.split(":", 1)[1]
        return by_tag.get(tag) or roofline_by_hash.get(tag.split("@")[1])

    answers = predictor.predict_batch(records["query"].tolist(), errors="collect")
    if answers["error"].notna().all():
        raise ValueError(f"{models} answers none of the new build's measurements; the first: {answers['error'].iloc[0]}")
    folder = answers["source"].map(folder_of)
    default = folder.map(lambda d: _build_table(manifests[d])["table"][_build_table(manifests[d])["default"]]
                         if d is not None else None)
    coverage = {d: _build_table(m).get("coverage", 0.9) for d, m in manifests.items()}
    z = folder.map(lambda d: builds._z(coverage[d]) if d is not None else np.nan).to_numpy(dtype=float)
    out = records.assign(folder=folder.to_numpy(), predicted_ns=answers["predicted_ns"].to_numpy(dtype=float),
                         source=answers["source"].to_numpy(), error=answers["error"].to_numpy(),
                         # The model's own error on the configuration, from its answer's interval (ln units).
                         model_sd=np.log(answers["hi_ns"].astype(float) / answers["lo_ns"].astype(float)).to_numpy()
                         / (2 * z))
    # The answer on the reference build behind the answer for the folder's default build.
    out["reference_ns"] = [builds.unmoved(ns, b["log_factor"], b.get("shift_ns", 0.0)) if b is not None else np.nan
                           for ns, b in zip(out["predicted_ns"], default)]
    return out


def recalibrate(models: str | os.PathLike, records: pd.DataFrame, out: str | os.PathLike, *,
                build: str | None = None, date: str | None = None) -> dict:
    """Writes ``out``: ``models`` with the new build (``build``, else the one build the records name)
    in every model's build table, as the default. Returns per model folder the factor fitted."""
    models, out = Path(models), Path(out)
    if records.empty:
        raise ValueError("no measurements of the new build: recalibration needs 1 to 30 rows of it")
    named = sorted(records["build"].fillna(records["source"]).astype(str).unique())
    if build is None:
        if len(named) != 1:
            raise ValueError(f"the measurements name {len(named)} builds ({', '.join(named[:5])}); say which one "
                             "they are with --build")
        build = named[0]
    if date is None and "build_date" in records and records["build_date"].notna().any():
        date = str(pd.to_datetime(records["build_date"], errors="coerce").max().date())
    known = [d.name for d, m in _manifests(models).items() if build in _build_table(m)["table"]]
    if known:
        raise ValueError(f"{models} already knows the build {build} ({', '.join(known[:5])}): recalibration adds a "
                         "build it has not seen")
    rows = answered_on_reference(models, records)
    rows = rows[rows["error"].isna()]
    if out.resolve() == models.resolve():
        raise ValueError(f"--out must be a new folder, not the models folder {models}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(models, out)
    manifests = _manifests(models)
    coverage = max((_build_table(m).get("coverage", 0.9) for m in manifests.values()), default=0.9)
    measured = rows["kernel_ns"].to_numpy(dtype=float)
    reference = rows["reference_ns"].to_numpy(dtype=float)
    # A ratio's scatter around the build's factor: the model's error on it, and at least a repeat's.
    row_sd = np.maximum(rows["model_sd"].to_numpy(dtype=float), builds.MIN_ROW_SD)
    tables = [_build_table(m) for m in manifests.values() if "builds" in m]
    between = float(np.median([builds.between_ops_sd(t) for t in tables])) if tables else builds.DEFAULT_BETWEEN_OPS_SD
    prior = float(np.median([builds.prior_sd(t) for t in tables])) if tables else builds.DEFAULT_PRIOR_SD
    # A fixed cost belongs to one op's program: an op model's own rows may be fitted with a shift; rows
    # of several ops move by one factor (each dashboard op moved on its own, 723 changes in 128 ops,
    # and a shift fitted across a few of them took up to all of a later build's answers past ±10%).
    pooled = builds.recalibrated_move(measured, reference, row_sd, prior, between, coverage, forms=("factor",))
    fitted = {}
    for folder, manifest in manifests.items():
        here = (rows["folder"] == folder).to_numpy()
        own = int(here.sum()) >= MIN_OWN_ROWS
        forms = builds.FORMS if manifest.get("scope", "op") == "op" else ("factor",)  # the C++ loader's default
        move = (builds.recalibrated_move(measured[here], reference[here], row_sd[here], prior, between, coverage,
                                         forms) if own else pooled)
        table = _build_table(manifest)
        table["table"][build] = {"log_factor": move["log_factor"], "shift_ns": move["shift_ns"],
                                 "half_width": move["half_width"], "se": move["se"], "form": move["form"],
                                 "rows": int(here.sum() if own else len(measured)), "date": date,
                                 "fitted": "recalibration", "identified": True,
                                 "from": "its own rows" if own else "every row"}
        table["default"] = build
        manifest["builds"] = table
        fit.write_manifest(out / folder.name, manifest)
        fitted[folder.name] = {**move, "factor": math.exp(move["log_factor"]), "rows": int(here.sum()), "own": own}
    check_served(out, rows, build, fitted)
    return fitted


def check_served(out: Path, rows: pd.DataFrame, build: str, fitted: dict) -> None:
    """The recalibrated folder loads (checksums verified) and answers for the new build by default, its
    answers the reference answers moved by the factor and shift fitted (where the same model answers: a wider
    interval may hand a kind model's answer to the calibrated roofline)."""
    served = Predictor(out).predict_batch(rows["query"].tolist())
    if not (served["build"] == build).all():
        raise RuntimeError(f"{out}: answers for {set(served['build'])}, not the new build {build}")
    same = (served["source"].to_numpy() == rows["source"].to_numpy())
    rows, served = rows[same], served[same]
    expected = [builds.moved(ns, fitted[d.name]["log_factor"], fitted[d.name]["shift_ns"])
                for ns, d in zip(rows["reference_ns"], rows["folder"])]
    got = served["predicted_ns"].to_numpy(dtype=float)
    if not np.allclose(got, np.asarray(expected, dtype=float), rtol=1e-6):
        raise RuntimeError(f"{out}: served answers differ from the reference answers moved by the fitted factors and "
                           "shifts")


# ------------------------------------------------------------------------------------------------ suggest

SUGGEST_SHAPES = ([1, 1, 32, 32], [1, 1, 256, 256], [1, 1, 1024, 1024], [1, 1, 2048, 2048])
SUGGEST_MEMORIES = ("DRAM_INTERLEAVED", "L1_INTERLEAVED")


def candidates(ops: list[str]) -> pd.DataFrame:
    """Configurations a new build could be measured on: each op at a few sizes, from one tile to
    4,096, in DRAM and in L1, bfloat16, TILE, as the op's kind takes its inputs (a binary op's second
    input alike, a matmul's square weights in DRAM)."""
    from .. import vocabulary

    entries = _catalogue.op_entries()
    rows = []
    for op in ops:
        entry = entries.get(op)
        if entry is None:
            raise ValueError(f"unknown op {op!r}: not in the catalogue")
        lo, hi = _catalogue.input_range(entry)
        for shape in SUGGEST_SHAPES:
            for memory in SUGGEST_MEMORIES:
                t = vocabulary.Tensor(tuple(shape), vocabulary.BFLOAT16, vocabulary.TILE, memory)
                if entry["kind"] == "matmul":
                    w = vocabulary.Tensor((shape[-1], shape[-1]), vocabulary.BFLOAT16, vocabulary.TILE,
                                          vocabulary.DRAM_INTERLEAVED)
                    inputs = [t, w]
                else:
                    inputs = [t] * max(lo, min(hi, 2 if entry["kind"] == "eltwise_binary" else 1))
                try:
                    query = vocabulary.query_json(op, inputs, None, {})
                except Exception:  # a configuration the op cannot take is no candidate
                    continue
                rows.append({"op": op, "kind": entry["kind"], "query": query, "size": int(np.prod(shape)),
                             "memory": memory})
    return pd.DataFrame(rows)


def suggest(models: str | os.PathLike, n: int, configurations: pd.DataFrame) -> pd.DataFrame:
    """The ``n`` of ``configurations`` (``op``, ``query``) whose measurements pin a new build's factor
    down best: spread over kinds, sizes and placements (strata taken in turn, the least measured
    first), and within each the configuration the model answers most surely (the narrowest interval:
    its measured ratio is the build's factor, not the model's error)."""
    if n < 1:
        raise ValueError(f"--suggest needs N >= 1, got {n}")
    answers = Predictor(models).predict_batch(configurations["query"].tolist(), errors="collect")
    c = configurations.assign(width=np.log(answers["hi_ns"].astype(float) / answers["lo_ns"].astype(float)).to_numpy(),
                              error=answers["error"].to_numpy())
    c = c[c["error"].isna()].copy()
    if "kind" not in c:
        kinds = {op: e["kind"] for op, e in _catalogue.op_entries().items()}
        c["kind"] = c["op"].map(kinds)
    if "size" not in c or "memory" not in c:
        parsed = c["query"].map(json.loads)
        c["size"] = parsed.map(lambda q: int(np.prod(q["inputs"][0]["shape"])))
        c["memory"] = parsed.map(lambda q: q["inputs"][0]["memory"])
    c["size_class"] = np.where(c["size"] <= 64 * 1024, "small", "large")
    c = c.sort_values(["width", "query"]).reset_index(drop=True)
    strata = [("kind",), ("size_class",), ("memory",), ("op",)]
    chosen: list[int] = []
    seen: dict[tuple, dict] = {s: {} for s in strata}
    while len(chosen) < min(n, len(c)):
        rest = c.drop(index=chosen)
        # The configuration whose kind, size, placement and op have been measured least, narrowest first.
        score = sum(rest[list(s)].apply(tuple, axis=1).map(lambda v, s=s: seen[s].get(v, 0)) for s in strata)
        best = int(score.sort_values(kind="stable").index[0])
        chosen.append(best)
        for s in strata:
            v = tuple(c.loc[best, list(s)])
            seen[s][v] = seen[s].get(v, 0) + 1
    return c.loc[chosen].reset_index(drop=True)


def as_vectors(chosen: pd.DataFrame) -> list[dict]:
    """The chosen configurations as sweep vectors of the exact form (every tensor placed), each with
    its op, sweep and suite, as ``opcast sweep run --vectors`` reads them."""
    from ..sweeps import ops as sweep_ops

    out = []
    for op, query in zip(chosen["op"], chosen["query"]):
        q = json.loads(query)
        case = {"inputs": q["inputs"], "output": {k: v for k, v in q.get("output", {}).items() if k != "shape"},
                "attributes": q.get("attributes", {})}
        out.append({"op": op, "sweep": sweep_ops.sweep_name(op), "suite": "recalibrate", "vector": {"case": case}})
    return out
