"""Batch throughput of one Predictor shared by 1, 2 and 4 threads.

Each thread answers the same batches with ``predict_batch`` (and, in the second half, one ``predict``
per query) for a fixed time; the total predictions per second and the ratio to one thread are
printed, for batches of JSON text (parsed and answered without the GIL) and of dicts (turned into
the C++ query under the GIL, answered without it). On a machine with C free cores the ideal ratio at
T threads is min(T, C).

    .venv/bin/python benchmarks/thread_throughput.py --models artifacts/models [--seconds 3] [--batch 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import opcast

THREADS = (1, 2, 4)


def queries(n: int) -> list[dict]:
    """exp and matmul queries over a spread of shapes (the same set for every run)."""
    out = []
    for i in range(n):
        rows, cols = 32 * (1 + i % 64), 32 * (1 + (i // 64) % 32)
        if i % 2:
            out.append({"op": "ttnn.exp", "inputs": [{"shape": [1, 1, rows, cols], "dtype": "bfloat16", "layout": "TILE",
                                                      "memory": "DRAM_INTERLEAVED"}]})
        else:
            out.append({"op": "ttnn.matmul", "inputs": [
                {"shape": [1, 1, rows, 96], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"},
                {"shape": [1, 1, 96, cols], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})
    return out


def rate(call, threads: int, seconds: float) -> float:
    """Calls of ``call`` (each returning its number of predictions) per second, over all threads."""
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        while time.perf_counter() < stop:
            done[k] += call()

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="a models folder written by opcast train")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--batch", type=int, default=20_000, help="queries per predict_batch call")
    args = ap.parse_args()
    if not os.path.isdir(args.models):
        print(f"no models at {args.models}: run opcast train first", file=sys.stderr)
        return 2
    p = opcast.Predictor(args.models)
    dicts = queries(args.batch)
    texts = [json.dumps(q) for q in dicts]
    singles = texts[:2000]
    cases = {
        "predict_batch, JSON text": lambda: len(p.predict_batch(texts)),
        "predict_batch, dicts": lambda: len(p.predict_batch(dicts)),
        "predict, JSON text one by one": lambda: sum(1 for q in singles if p.predict(q)),
    }
    print(f"cores available: {len(os.sched_getaffinity(0))}; batch {args.batch}; {args.seconds} s per figure")
    print("| case | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in THREADS) + " |")
    print("|---|" + "---|" * len(THREADS))
    for name, call in cases.items():
        rates = [rate(call, t, args.seconds) for t in THREADS]
        cells = [f"{rates[0]:,.0f}/s"] + [f"{r:,.0f}/s ({r / rates[0]:.2f}x)" for r in rates[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
