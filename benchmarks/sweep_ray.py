"""Ray throughput on this machine: the same host vectors swept by one worker process without Ray, and by
local Ray clusters of 1 and 2 workers; then 2 workers again with one killed a third of the way in.

Each run records into a fresh store; the rate is vectors recorded per second of the run, Ray's start-up
(``ray.init`` and the actors) printed apart. The killed run reports what the driver saw: the worker's
death, the vectors re-queued, the store's rows against the planned vectors, writes ignored.

    python benchmarks/sweep_ray.py --out artifacts/sweep_ray            # about 3 minutes

On a shared 2-core machine two workers can at best double the rate; other load takes its share.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

from opcast.sweeps import fleet, harness
from opcast.sweeps.store import Store

OPS = ("ttnn.gelu", "ttnn.softmax", "ttnn.tilize")


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def _run_ray(out: Path, name: str, workers: int, todo, args, kill_at: int | None = None) -> dict:
    db = out / f"{name}.sqlite"
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    with fleet.Fleet(f"local:{workers}", "host", repeats=args.repeats, warmup=2) as f, Store(db) as store:
        victim = f.pids()[0]
        started = time.perf_counter() - start
        killer = None
        if kill_at is not None:
            def kill():
                while _rows(db) < kill_at:
                    time.sleep(0.02)
                os.kill(victim, signal.SIGKILL)
            killer = threading.Thread(target=kill, daemon=True)
            killer.start()
        summary = f.record_work(store, todo, batch=args.batch, progress=False)
        rows = store.rows()
    ids = [r["vector_id"] for r in rows]
    result = {"run": name, "workers": workers, "ray_start_s": started, "seconds": summary.seconds,
              "recorded": sum(summary.recorded.values()), "rate": summary.rate, "deaths": len(summary.deaths),
              "requeued": summary.requeued, "ignored_writes": summary.duplicates, "rows": len(ids),
              "distinct_rows": len(set(ids)), "planned": len(todo),
              "all_planned_recorded": set(ids) == {w.vector_id for w in todo}}
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="artifacts/sweep_ray")
    ap.add_argument("--per-op", type=int, default=80, help="vectors per op")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [w for op in OPS for w in harness.plan("host", [op], limit=args.per_op)]
    print(f"{len(todo)} host vectors of {', '.join(OPS)}", flush=True)

    results = []
    db = out / "plain.sqlite"
    db.unlink(missing_ok=True)
    with Store(db) as store:
        plain = harness.record_work(store, "host", todo, repeats=args.repeats, progress=False)
    results.append({"run": "one worker process, no Ray", "workers": 1, "ray_start_s": 0.0, "seconds": plain.seconds,
                    "recorded": sum(plain.recorded.values()), "rate": plain.rate})
    print(json.dumps(results[-1]), flush=True)
    results.append(_run_ray(out, "ray_1", 1, todo, args))
    results.append(_run_ray(out, "ray_2", 2, todo, args))
    results.append(_run_ray(out, "ray_2_killed", 2, todo, args, kill_at=len(todo) // 3))

    print("\n| run | workers | Ray start-up s | sweep s | vectors/s | vs one worker without Ray |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['run']} | {r['workers']} | {r['ray_start_s']:.1f} | {r['seconds']:.1f} | {r['rate']:.1f} | "
              f"{r['rate'] / results[0]['rate']:.2f}x |")
    killed = results[-1]
    print(f"\nkilled run: {killed['deaths']} worker killed, {killed['requeued']} vectors re-queued; store "
          f"{killed['rows']} rows, {killed['distinct_rows']} distinct, of {killed['planned']} planned "
          f"(all recorded: {killed['all_planned_recorded']}); writes the store ignored: {killed['ignored_writes']}")
    (out / "sweep_ray.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
