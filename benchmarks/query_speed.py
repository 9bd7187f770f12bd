"""Query speed: one JSON query from C++ and from Python, and batch throughput from Python, each next
to a baseline that reloads the model folder for every query (TORP's way), measured in the same run.

    .venv/bin/python benchmarks/query_speed.py --models artifacts/models

Builds the C++ benchmark (cpp/bench/query_bench.cpp) into build/bench, brought up to date on every run. Set
OPENBLAS_NUM_THREADS=1 when serving; this script does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

import opcast  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUERIES = {
    "ttnn.exp": {"op": "ttnn.exp", "inputs": [{"shape": [1, 1, 512, 1024], "dtype": "bfloat16", "layout": "TILE",
                                                "memory": "DRAM_INTERLEAVED"}]},
    "ttnn.matmul": {"op": "ttnn.matmul", "inputs": [
        {"shape": [1, 1, 640, 96], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 10},
        {"shape": [1, 1, 96, 288], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}],
        "attributes": {}},
    "ttnn.add": {"op": "ttnn.add", "inputs": [
        {"shape": [1, 1, 1024, 1024], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_BLOCK_SHARDED", "grid": [4, 4]},
        {"shape": [1, 1, 1024, 1024], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_BLOCK_SHARDED", "grid": [4, 4]}]},
}


def per_call_us(fn, calls: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - t0) / calls / 1000)
    return statistics.median(samples)


def cpp_bench(models: Path, queries: list[str]) -> str:
    build = REPO / "build" / "bench"
    exe = build / "cpp" / "opcast_query_bench"
    if not (build / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        "-DOPCAST_BUILD_TRAINER=OFF", "-DOPCAST_BUILD_PYTHON=OFF", "-DOPCAST_BUILD_TESTS=OFF"],
                       check=True, stdout=subprocess.DEVNULL)
    # Always brought up to date: a stale benchmark binary would time (or refuse) another library version.
    subprocess.run(["cmake", "--build", str(build), "--target", "opcast_query_bench"], check=True,
                   stdout=subprocess.DEVNULL)
    return subprocess.run([str(exe), str(models), *queries], check=True, capture_output=True, text=True).stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--batch", type=int, default=100_000)
    args = ap.parse_args()
    models = Path(args.models)
    predictor = opcast.Predictor(models)
    queries = {op: q for op, q in QUERIES.items() if predictor.has_model(op)}
    if not queries:
        print(f"{models} has none of the benchmark ops {list(QUERIES)}", file=sys.stderr)
        return 2

    print("== C++: one JSON query (median ns per query)")
    print(cpp_bench(models, [json.dumps(q) for q in queries.values()]))

    print("== Python: one query (median µs per query)")
    rows = []
    for op, q in queries.items():
        text = json.dumps(q)
        loaded_dict = per_call_us(lambda: predictor.predict(q), 2000, 15)
        loaded_json = per_call_us(lambda: predictor.predict(text), 2000, 15)
        reload = per_call_us(lambda: opcast.Predictor(models).predict(q), 20, 7)
        rows.append({"op": op, "dict [µs]": loaded_dict, "JSON string [µs]": loaded_json,
                     "reload per query [µs]": reload, "reload / dict": reload / loaded_dict})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))

    print(f"\n== Python: batch of {args.batch} queries (predictions per second)")
    ops = list(queries.values())
    batch = [ops[i % len(ops)] for i in range(args.batch)]
    frame = pd.DataFrame({"query": [json.dumps(q) for q in batch]})
    rows = []
    for name, data in (("list of dicts", batch), ("DataFrame of JSON", frame)):
        t = min(_timed(lambda: predictor.predict_batch(data)) for _ in range(3))
        rows.append({"input": name, "predictions/s": args.batch / t})
    n_reload = 200
    t = _timed(lambda: [opcast.Predictor(models).predict(q) for q in batch[:n_reload]])
    rows.append({"input": "reload per query (baseline)", "predictions/s": n_reload / t})
    table = pd.DataFrame(rows)
    table["vs baseline"] = table["predictions/s"] / table["predictions/s"].iloc[-1]
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
