"""A hostile user's campaign against the query library, counted.

Generates N queries (default 10^6) from a seeded generator that aims at the edges: dims near and past
2^31 and 2^63, element counts that overflow int64, numpy and odd integer types, strings with lone
surrogates, bytes that are not UTF-8, unknown names, wrong types, truncated and bit-flipped JSON text.
Every query goes through ``Predictor.predict_batch(errors="collect")`` in batches, and a share of
them through ``Predictor.predict`` one by one. It counts answers, typed errors (QueryError,
ModelError), untyped errors, answers to queries whose element counts overflow int64, answers that
are not finite and positive, batches that do not return one row per query, and the slowest call
(a watchdog aborts the process, with a traceback, on a call that does not return: a hang).

Then it flips every bit of one model folder's manifest.json and manifest.sha256 and loads the
folder each time: each flip must be refused (or load and answer exactly as before: harmless).

    .venv/bin/python benchmarks/fuzz_campaign.py --models artifacts/models [--queries 1000000]
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import opcast

HANG_SECONDS = 30
NAMES = {
    "dtype": ["bfloat16", "bfloat8_b", "bfloat4_b", "float32", "uint16", "uint32", "int32", "BFLOAT16",
              "DataType.BFLOAT16", "float64", "", "bfloat16\ud800"],
    "layout": ["TILE", "ROW_MAJOR", "Layout::TILE", "TILED", "row_major", "\udcff"],
    "memory": ["DRAM_INTERLEAVED", "L1_INTERLEAVED", "L1_HEIGHT_SHARDED", "L1_WIDTH_SHARDED", "L1_BLOCK_SHARDED",
               "L1_SHARDED", "DRAM_HEIGHT_SHARDED", ""],
}
DIMS = [1, 2, 31, 32, 33, 64, 96, 100, 128, 1000, 1024, 4096, 65535, 65536, 100000, 2**20, 2**31 - 1, 2**31,
        2**31 + 1, 2**32, 2**48, 2**62, 2**63 - 1, 2**63, 2**64, 2**100, 0, -1, -(2**63)]


class Weird:
    """An object that claims to be a number and fails when read."""

    def __index__(self):
        raise RuntimeError("weird __index__")


def dim(rng: np.random.Generator):
    r = rng.random()
    if r < 0.85:
        return int(rng.integers(1, 4097))
    if r < 0.95:
        return DIMS[rng.integers(len(DIMS))]
    if r < 0.98:
        return [np.int64(rng.integers(1, 5000)), np.uint64(2**64 - 1), np.int32(-3), np.float32(32.0)][rng.integers(4)]
    return [1.5, "32", None, True, Weird(), [32], 1e300, float("nan")][rng.integers(8)]


def name(rng: np.random.Generator, field: str) -> str:
    """A valid name most of the time (the first ones of each list), else anything on the list."""
    names = NAMES[field]
    valid = {"dtype": 7, "layout": 2, "memory": 5}[field]
    return names[rng.integers(valid if rng.random() < 0.9 else len(names))]


def tensor(rng: np.random.Generator) -> dict:
    t = {"shape": [dim(rng) for _ in range(int(rng.integers(0, 10)) if rng.random() < 0.1 else int(rng.integers(1, 5)))],
         "dtype": name(rng, "dtype"), "layout": name(rng, "layout"), "memory": name(rng, "memory")}
    sharded = t["memory"].endswith("_SHARDED")
    if rng.random() < (0.8 if sharded else 0.05):
        t["grid"] = [int(rng.integers(1, 9)), int(rng.integers(1, 9))] if rng.random() < 0.9 else \
            [int(rng.integers(-1, 10)), int(rng.integers(-1, 10))]
    if rng.random() < (0.5 if sharded else 0.05):
        t["core_count"] = int(rng.integers(1, 65)) if rng.random() < 0.9 else int(rng.integers(-1, 70))
    if rng.random() < 0.03:
        t["\ud800key"] = 1
    return t


def plausible(rng: np.random.Generator, entry: dict) -> dict:
    """A query ttnn could be asked: the op's number of inputs, valid names, dims mostly of real sizes and
    sometimes at the edges (past 2^31, element counts past 2^48 and int64)."""
    rank = int(rng.integers(1, 5))
    shape = [int(rng.choice([1, 1, 32, 64, 96, 128, 224, 512, 1024, 4096])) if rng.random() < 0.95 else DIMS[rng.integers(len(DIMS))]
             for _ in range(rank)]
    def one(shape):
        memory = NAMES["memory"][rng.integers(5)]
        t = {"shape": list(shape), "dtype": NAMES["dtype"][rng.integers(7)], "layout": NAMES["layout"][rng.integers(2)],
             "memory": memory}
        if memory.endswith("_SHARDED"):
            t["core_count" if rng.random() < 0.5 else "grid"] = int(rng.integers(1, 65)) if rng.random() < 0.5 else [
                int(rng.integers(1, 9)), int(rng.integers(1, 9))]
            if isinstance(t.get("grid"), list) or rng.random() < 0.5:
                t.pop("core_count", None)
                t["grid"] = [int(rng.integers(1, 9)), int(rng.integers(1, 9))]
        return t
    inputs = [one(shape)]
    for _ in range(entry["inputs"] - 1):
        inputs.append(one(shape[:-2] + shape[-1:] + [int(rng.choice([32, 64, 288]))] if entry["kind"] == "matmul" and rank >= 2
                          else shape))
    q = {"op": entry["name"], "inputs": inputs}
    if rng.random() < 0.3:
        q["output"] = {"memory": "DRAM_INTERLEAVED" if rng.random() < 0.5 else "L1_INTERLEAVED"}
    if entry["name"] in ("ttnn.reshape", "ttnn.permute", "ttnn.slice"):
        q["attributes"] = {"shape": shape[::-1]}
    return q


def query(rng: np.random.Generator, catalogue: list[dict]) -> object:
    entry = catalogue[rng.integers(len(catalogue))]
    if rng.random() < 0.5:
        return plausible(rng, entry)
    op = entry["name"] if rng.random() < 0.9 else ["ttnn::exp", "exp", "ttnn.frobnicate", "", 42][rng.integers(5)]
    first = tensor(rng)
    # Binary ops and matmuls mostly get a second input that fits the first.
    q: dict = {"op": op, "inputs": [first] + [dict(first) if rng.random() < 0.7 else tensor(rng)
                                              for _ in range(int(rng.integers(0, 3)))]}
    if rng.random() < 0.3:
        q["output"] = tensor(rng) if rng.random() < 0.3 else {"memory": name(rng, "memory")}
    if rng.random() < 0.3:
        q["attributes"] = {"dim": dim(rng), "shape": [dim(rng) for _ in range(int(rng.integers(1, 5)))],
                           "math_fidelity": ["HiFi4", "LoFi", "HiFi9"][rng.integers(3)]}
    r = rng.random()
    if r < 0.80:
        return q
    try:
        text = json.dumps(q, default=str)
    except (ValueError, TypeError):
        return q
    if r < 0.88:
        return text
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    if r < 0.94:
        for _ in range(int(rng.integers(1, 4))):
            data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        return bytes(data)
    return bytes(data[: rng.integers(len(data) + 1)])


def padded_elements(shape) -> int | None:
    """Elements of a shape with its last two dims padded to 32, or None if the shape is not all ints."""
    try:
        dims = [int(d) for d in shape]
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    if not dims or any(isinstance(d, bool) or d < 1 for d in shape if isinstance(d, (int, np.integer))):
        return None
    return math.prod(dims[:-2]) * math.prod(-(-d // 32) * 32 for d in dims[-2:])


def overflows_int64(q) -> bool:
    """Any input's element count past int64: such a query must never be answered."""
    if not isinstance(q, dict) or not isinstance(q.get("inputs"), list):
        return False
    return any(isinstance(t, dict) and isinstance(t.get("shape"), list) and (padded_elements(t["shape"]) or 0) >= 2**63
               for t in q["inputs"])


def campaign(predictor: opcast.Predictor, n: int, batch: int, single_share: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ops = opcast.load_catalogue()["ops"]
    counts = {"queries": 0, "answered": 0, "query_error": 0, "model_error": 0, "untyped": 0,
              "answered_int64_overflow": 0, "bad_answers": 0, "answers_over_1000s": 0, "short_batches": 0,
              "single_calls": 0}
    slowest = 0.0
    faulthandler.dump_traceback_later(HANG_SECONDS, repeat=True, exit=True)
    with tqdm(total=n, unit="q", desc="fuzzing", mininterval=2) as bar:
        while counts["queries"] < n:
            rows = [query(rng, ops) for _ in range(min(batch, n - counts["queries"]))]
            t0 = time.perf_counter()
            try:
                out = predictor.predict_batch(rows, errors="collect")
            except Exception as e:  # noqa: BLE001 - the campaign counts what escapes
                counts["untyped"] += len(rows)
                print(f"batch raised {type(e).__name__}: {e}", file=sys.stderr)
                out = None
            slowest = max(slowest, (time.perf_counter() - t0) / max(1, len(rows)))
            faulthandler.dump_traceback_later(HANG_SECONDS, repeat=True, exit=True)
            if out is not None:
                counts["short_batches"] += int(len(out) != len(rows))
                answered = out["error"].isna().to_numpy()
                counts["answered"] += int(answered.sum())
                errors = out["error"][~answered]
                counts["model_error"] += int(errors.str.startswith("no model for").sum())
                counts["query_error"] += int((~errors.str.startswith("no model for")).sum())
                ns = out["predicted_ns"][answered].to_numpy(dtype=float)
                lo = out["lo_ns"][answered].to_numpy(dtype=float)
                hi = out["hi_ns"][answered].to_numpy(dtype=float)
                counts["bad_answers"] += int((~(np.isfinite(hi) & (lo > 0) & (lo <= ns) & (ns <= hi))).sum())
                counts["answers_over_1000s"] += int((ns > 1e12).sum())
                counts["answered_int64_overflow"] += sum(overflows_int64(rows[i]) for i in np.flatnonzero(answered))
            for q in rows[: int(len(rows) * single_share)]:
                counts["single_calls"] += 1
                t0 = time.perf_counter()
                try:
                    r = predictor.predict(q)
                    if overflows_int64(q):
                        counts["answered_int64_overflow"] += 1
                    if not (math.isfinite(r.hi_ns) and 0 < r.lo_ns <= r.ns <= r.hi_ns):
                        counts["bad_answers"] += 1
                except (opcast.QueryError, opcast.ModelError):
                    pass
                except Exception as e:  # noqa: BLE001
                    counts["untyped"] += 1
                    print(f"predict raised {type(e).__name__}: {e}", file=sys.stderr)
                slowest = max(slowest, time.perf_counter() - t0)
            counts["queries"] += len(rows)
            bar.update(len(rows))
    faulthandler.cancel_dump_traceback_later()
    counts["slowest_call_us"] = round(slowest * 1e6, 1)
    return counts


def flip_every_bit(models: Path) -> dict:
    """Every single-bit flip of one model folder's manifest.json and manifest.sha256, loaded each time."""
    folder = min((p for p in models.iterdir() if p.is_dir()), key=lambda p: (p / "manifest.json").stat().st_size)
    probe = json.loads(folder.joinpath("manifest.json").read_text())
    with tempfile.TemporaryDirectory(prefix="opcast_flips_") as tmp:
        view = Path(tmp) / "models"
        shutil.copytree(folder, view / folder.name)
        queries = [json.dumps({"op": probe["op"], "inputs": [{"shape": [1, 1, 32 * k, 64], "dtype": "bfloat16",
                                                               "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})
                   for k in (1, 4, 16)]
        try:
            before = opcast.Predictor(view).predict_batch(queries, errors="collect")
        except opcast.ModelError:
            before = None
        result = {"folder": folder.name, "bits": 0, "refused": 0, "harmless": 0, "silent_changes": 0}
        for name in ("manifest.json", "manifest.sha256"):
            path = view / folder.name / name
            original = path.read_bytes()
            for bit in tqdm(range(len(original) * 8), desc=f"flipping {name}", unit="bit", mininterval=2):
                flipped = bytearray(original)
                flipped[bit // 8] ^= 1 << (bit % 8)
                path.write_bytes(bytes(flipped))
                result["bits"] += 1
                try:
                    after = opcast.Predictor(view).predict_batch(queries, errors="collect")
                except opcast.ModelError:
                    result["refused"] += 1
                    continue
                same = before is not None and after.fillna(-1).equals(before.fillna(-1))
                result["harmless" if same else "silent_changes"] += 1
            path.write_bytes(original)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, type=Path, help="a models folder written by opcast train")
    parser.add_argument("--queries", type=int, default=1_000_000, help="queries to generate (default 10^6)")
    parser.add_argument("--batch", type=int, default=2000, help="queries per predict_batch call")
    parser.add_argument("--single-share", type=float, default=0.1, help="share also sent one by one through predict")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-flips", action="store_true", help="only the query campaign")
    args = parser.parse_args()

    predictor = opcast.Predictor(args.models)
    started = time.perf_counter()
    counts = campaign(predictor, args.queries, args.batch, args.single_share, args.seed)
    counts["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(counts, indent=2))
    failed = counts["untyped"] + counts["answered_int64_overflow"] + counts["bad_answers"] + counts["short_batches"]
    if not args.skip_flips:
        flips = flip_every_bit(args.models)
        print(json.dumps(flips, indent=2))
        failed += flips["silent_changes"]
    print("findings:", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
