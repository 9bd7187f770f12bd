"""Host latency and throughput of our op-definition execution (TorchBackend) against the Hugging Face references.

Both run eager in the same process, on the same inputs, with the same weights (copied from a randomly
initialised reference), alternating call by call so that both see the same machine state; the table reports
median latency per call, throughput (sequences per second = batch / median) and the ratio ours / reference.

    python benchmarks/models_host.py                      # PatchTSMixer (TT-NN port config) + TTM-R1, batch 1/32/256
    python benchmarks/models_host.py --models ttm --batch 1 --threads 2 --json out.json

Needs torch, transformers and (for TTM) granite-tsfm.  Run it on an otherwise idle machine: with more runnable
threads than cores, every op of a multi-threaded torch waits for a scheduler time slice.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def bench_pair(ours_fn, ref_fn, min_reps: int, min_seconds: float, warmup: int = 3):
    """Alternate ours/ref calls; at least ``min_reps`` each and ``min_seconds`` in total. Returns the timings."""
    for _ in range(warmup):
        ours_fn()
        ref_fn()
    t_ours, t_ref = [], []
    start = time.perf_counter()
    while len(t_ours) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        ours_fn()
        t1 = time.perf_counter()
        ref_fn()
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_ref.append(t2 - t1)
        if len(t_ours) >= 20 * min_reps:
            break
    return t_ours, t_ref


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["patchtsmixer", "ttm"], choices=["patchtsmixer", "ttm"])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=30, help="minimum timed calls per side (fewer above batch 32)")
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per (model, batch)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="sweep rounds; per (model, batch) the round with the lowest ours + reference median is "
                         "reported (robust to other load on the machine; ours and reference always come from the "
                         "same round)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    import opcast.models as M
    from opcast.models import validate as V
    from opcast.models.backend import TorchBackend
    from opcast.models.reference import build_reference, compare, missing_reference

    import torch

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    specs = {"patchtsmixer": ("PatchTSMixer common_channel gated (TT-NN port)", M.PATCHTSMIXER_PORT),
             "ttm": ("TTM-R1 512-96", M.TTM_R1_512_96.replace(num_input_channels=7))}
    cases = []
    for kind in args.models:
        missing = missing_reference(kind)
        if missing:
            print(f"skipping {kind}: needs {', '.join(missing)}", file=sys.stderr)
            continue
        label, spec = specs[kind]
        ref = build_reference(kind, spec, seed=0)
        ours = V.MODEL_CLASSES[kind].from_reference(ref)
        be = TorchBackend()
        P = ours.bind(be)
        for batch in args.batch:
            x = torch.from_numpy(V.validation_input(batch, spec.context_length, spec.num_input_channels))
            cases.append((kind, label, batch, ours, be, P, ref, x))
    best: dict[tuple[str, int], dict] = {}
    for rnd in range(args.rounds):
        for kind, label, batch, ours, be, P, ref, x in cases:

            def run_ours():
                return ours.forward(be, P, x)

            def run_ref():
                return ref(past_values=x, return_loss=False)

            err = compare(run_ours(), run_ref().prediction_outputs)["max_abs_err"]
            reps = args.reps if batch <= 32 else max(5, args.reps // 4)
            t_ours, t_ref = bench_pair(run_ours, run_ref, reps, args.seconds)
            mo, mr = statistics.median(t_ours), statistics.median(t_ref)
            row = {"model": kind, "label": label, "batch": batch, "threads": args.threads, "reps": len(t_ours),
                   "round": rnd, "ours_ms": mo * 1e3, "ref_ms": mr * 1e3, "ratio": mo / mr,
                   "ours_seq_s": batch / mo, "ref_seq_s": batch / mr, "max_abs_err": err}
            print(f"  round {rnd}: {kind} batch {batch}: ours {row['ours_ms']:.3f} ms, reference "
                  f"{row['ref_ms']:.3f} ms ({len(t_ours)} reps)", file=sys.stderr)
            key = (kind, batch)
            if key not in best or mo + mr < (best[key]["ours_ms"] + best[key]["ref_ms"]) / 1e3:
                best[key] = row
    rows = [best[(c[0], c[2])] for c in cases]

    header = ("model", "batch", "ours ms", "ref ms", "ours/ref", "ours seq/s", "ref seq/s", "max abs err", "reps")
    table = [header] + [(r["model"], str(r["batch"]), f"{r['ours_ms']:.3f}", f"{r['ref_ms']:.3f}",
                         f"{r['ratio']:.2f}", f"{r['ours_seq_s']:,.0f}", f"{r['ref_seq_s']:,.0f}",
                         f"{r['max_abs_err']:.1e}", str(r["reps"])) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(header))]
    print(f"host latency (median per call, best of {args.rounds} rounds), eager, {args.threads} threads, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    for i, t in enumerate(table):
        print("  ".join(c.rjust(w) if j > 1 else c.ljust(w) for j, (c, w) in enumerate(zip(t, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": args.threads, "torch": torch.__version__,
                                               "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
