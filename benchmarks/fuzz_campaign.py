"""A hostile user's campaign against the query library, counted.

Generates N queries (default 10^6) from a seeded generator that aims at the edges: dims near and past
2^31 and 2^63, element counts that overflow int64, numpy and odd integer types, strings with lone
surrogates, bytes that are not UTF-8, unknown names, wrong types, truncated and bit-flipped JSON text,
unknown top-level keys and attributes, and configurations a Wormhole refuses (block floats in
ROW_MAJOR, tensors past the DRAM, L1-interleaved tensors past an L1 bank, shards past a core's L1,
TensorSpec shard shapes that are not whole tiles, block-sharded core counts that are not the grid's
area).
Every query goes through ``Predictor.predict_batch(errors="collect")`` in batches, and a share of
them through ``Predictor.predict`` one by one. It counts answers, typed errors (QueryError,
ModelError), untyped errors, answers to queries whose element counts overflow int64, answers to
queries of the invalid classes (judged here, independently of the C++ rules), answers over 1000 s,
answers that are not finite and positive, batches that do not return one row per query, and the slowest call
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
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

import opcast

HANG_SECONDS = 30
# Wormhole n150 as ttnn's allocator sizes it (opcast.device.l1_limits; 12 DRAM banks of 1 GiB).
L1_BANK_BYTES, L1_BANKS, DRAM_BYTES = 1_393_312, 64, 12 * 2**30
TILE_BYTES = {"bfloat16": 2048, "uint16": 2048, "bfloat8_b": 1088, "bfloat4_b": 576, "float32": 4096, "uint32": 4096,
              "int32": 4096}
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


def illegal(rng: np.random.Generator) -> dict:
    """A well-formed query of one of the classes a Wormhole refuses (or a misspelt key)."""
    shape = [1, 1, int(rng.choice([32, 64, 96, 2048, 8192])), int(rng.choice([32, 64, 1024, 8192]))]
    t = {"shape": shape, "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}
    case = int(rng.integers(8))
    if case == 0:
        t.update(dtype=str(rng.choice(["bfloat8_b", "bfloat4_b"])), layout="ROW_MAJOR")
    elif case == 1:
        t["shape"] = [int(rng.integers(4, 64)), 1024, 1024, 1024]
    elif case == 2:
        t.update(memory="L1_INTERLEAVED", dtype=str(rng.choice(["bfloat16", "float32"])))
    elif case == 3:
        t.update(memory=str(rng.choice(["L1_HEIGHT_SHARDED", "L1_WIDTH_SHARDED"])), core_count=int(rng.integers(1, 65)))
    elif case == 4:
        t.update(memory="L1_BLOCK_SHARDED", grid=[int(rng.integers(1, 9)), int(rng.integers(1, 9))],
                 core_count=int(rng.integers(1, 65)))
    elif case == 5:  # a TensorSpec whose shard shape may not be whole tiles
        rows = int(rng.integers(1, 9)) * int(rng.choice([16, 30, 32, 48, 64]))
        cores = int(rng.integers(1, 9))
        return {"op": "ttnn.relu", "inputs": [{"logical_shape": [1, 1, rows * cores, 64], "tensor_layout": {
            "dtype": 0, "memory_config": {"buffer_type": 1, "memory_layout": 2, "shard_spec": {
                "grid": [{"start": {"x": 0, "y": 0}, "end": {"x": cores - 1, "y": 0}}], "shape": [rows, 64]}},
            "page_config": {"config": {"index": int(rng.integers(2))}}}}]}
    elif case == 6:
        return {"op": "ttnn.relu", "inputs": [t], str(rng.choice(["bulid", "inputz", "attribute"])): 1}
    else:
        return {"op": "ttnn.relu", "inputs": [t], "attributes": {str(rng.choice(["dimm", "program", "eps"])): 1}}
    return {"op": "ttnn.relu", "inputs": [t]}


def invalid_class(q: object) -> str | None:
    """The class of configurations a Wormhole refuses that the query falls in, judged from its short-form
    tensors and TensorSpec shard shapes without the C++ rules; None for a query of none (or one not
    read here: not a dict of well-formed tensors)."""
    if not isinstance(q, dict) or not isinstance(q.get("inputs"), list):
        return None
    if set(q) - set(opcast.vocabulary.QUERY_KEYS):
        return "unknown_key"
    if isinstance(q.get("attributes"), dict) and set(q["attributes"]) - set(opcast.vocabulary.ATTRIBUTE_NAMES):
        return "unknown_attribute"
    for t in q["inputs"]:
        if not isinstance(t, dict):
            continue
        if "logical_shape" in t:
            try:
                shard = t["tensor_layout"]["memory_config"]["shard_spec"]["shape"]
                tile = t["tensor_layout"]["page_config"]["config"]["index"] == 1
            except (KeyError, TypeError):
                continue
            if tile and any(int(s) % 32 for s in shard):
                return "shard_not_whole_tiles"
            continue
        try:
            dims = [int(d) for d in t["shape"]]
            dtype = opcast.vocabulary.dtype(t["dtype"])
            layout = opcast.vocabulary.layout(t["layout"])
            memory = opcast.vocabulary.memory(t["memory"])
        except Exception:  # noqa: BLE001 - a tensor the parser refuses anyway
            continue
        if not dims or any(isinstance(d, bool) or d < 1 for d in dims) or len(dims) > 8:
            continue
        if dtype in opcast.vocabulary.BLOCK_FLOATS and layout == "ROW_MAJOR":
            return "block_float_row_major"
        tile_rows = math.prod(dims[:-2]) * -(-(dims[-2] if len(dims) > 1 else 1) // 32)
        tile_cols = -(-dims[-1] // 32)
        if layout != "TILE":
            continue  # the size rules below count tiles
        size = tile_rows * tile_cols * TILE_BYTES[dtype]
        if size > DRAM_BYTES:
            return "larger_than_dram"
        if memory == "L1_INTERLEAVED" and -(-tile_rows * tile_cols // L1_BANKS) * TILE_BYTES[dtype] > L1_BANK_BYTES:
            return "l1_interleaved_past_l1"
        if memory not in ("L1_HEIGHT_SHARDED", "L1_WIDTH_SHARDED", "L1_BLOCK_SHARDED"):
            continue
        grid, cores = t.get("grid"), t.get("core_count")
        if not (isinstance(grid, list) and len(grid) == 2 and all(isinstance(g, int) and 1 <= g <= 8 for g in grid)):
            grid = None
        if not (isinstance(cores, int) and not isinstance(cores, bool) and 1 <= cores <= 64):
            cores = None
        if grid is None and cores is None:
            continue
        if grid is None:
            grid = [min(cores, 8), -(-cores // 8)]
        cores = cores if cores is not None else grid[0] * grid[1]
        if cores > grid[0] * grid[1]:
            continue
        if memory == "L1_BLOCK_SHARDED":
            if cores != grid[0] * grid[1]:
                return "block_core_count_not_grid_area"
            across_rows, across_cols = grid[1], grid[0]
        elif memory == "L1_HEIGHT_SHARDED":
            across_rows, across_cols = cores, 1
        else:
            across_rows, across_cols = 1, cores
        if -(-tile_rows // across_rows) * -(-tile_cols // across_cols) * TILE_BYTES[dtype] > L1_BANK_BYTES:
            return "shard_past_l1"
    return None


def query(rng: np.random.Generator, catalogue: list[dict]) -> object:
    entry = catalogue[rng.integers(len(catalogue))]
    if rng.random() < 0.1:
        return illegal(rng)
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
              "single_calls": 0, "answered_invalid": 0}
    invalid_seen: Counter = Counter()
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
                classes = [invalid_class(q) for q in rows]
                invalid_seen.update(c for c in classes if c)
                counts["answered_invalid"] += sum(classes[i] is not None for i in np.flatnonzero(answered))
            for q in rows[: int(len(rows) * single_share)]:
                counts["single_calls"] += 1
                t0 = time.perf_counter()
                try:
                    r = predictor.predict(q)
                    if overflows_int64(q):
                        counts["answered_int64_overflow"] += 1
                    if invalid_class(q) is not None:
                        counts["answered_invalid"] += 1
                    if r.ns > 1e12:
                        counts["answers_over_1000s"] += 1
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
    counts["invalid_queries_by_class"] = dict(sorted(invalid_seen.items()))
    return counts


def flip_every_bit(models: Path) -> dict:
    """Every single-bit flip of one model folder's manifest.json and manifest.sha256, loaded each time."""
    # The smallest op model's folder (kind models and the calibrated roofline name no op to ask).
    op_folders = [p for p in models.iterdir() if p.is_dir() and json.loads((p / "manifest.json").read_text()).get("op")]
    folder = min(op_folders, key=lambda p: (p / "manifest.json").stat().st_size)
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
    failed = (counts["untyped"] + counts["answered_int64_overflow"] + counts["bad_answers"] + counts["short_batches"]
              + counts["answered_invalid"] + counts["answers_over_1000s"])
    if not args.skip_flips:
        flips = flip_every_bit(args.models)
        print(json.dumps(flips, indent=2))
        failed += flips["silent_changes"]
    print("findings:", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
