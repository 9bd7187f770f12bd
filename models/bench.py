"""``opcast bench``: a model under the default, the tt-mlir-style and a tuned plan, side by side.

    opcast tune ttm --batch 32 --models artifacts/models --out ttm_b32.json
    opcast bench ttm --batch 32 --plan ttm_b32.json --backend host            # .venv (torch)
    .venv-mock/bin/opcast bench ttm --batch 32 --plan ttm_b32.json --backend mock   # ttnn's mock n150

The summary has the columns of pytorch2.0_ttnn's model report (model, batch, first run, throughput,
latency, accuracy against the reference, ops on device, to/from-device transfers), one row per plan, with
the predicted latency and its interval, priced as ``opcast tune`` prices a plan (every device op,
ttnn's added ones too, and the dispatch gap between them; the models of ``--models``), beside what the
backend measured; then every op's placement and predicted time under each plan, and
what was measured of it. Written to ``--out`` as Markdown, JSON and a PNG (per-op bars).

Backends:

- ``host``: the definition in torch on this machine against the Hugging Face reference; plans change
  nothing there (host numerics ignore them), so the measurement is the same under each. Per-op host
  times, timed op to op. Compare with a predictor trained on host sweeps (``--models``).
- ``mock``: every op of every plan issued on ttnn's mock n150 (``capture_model``): ttnn's verdict and L1
  per core per op, the DRAM fallbacks; a plan passes when every op ran as planned and fit L1. The mock
  times nothing and computes zeros: no latency or accuracy.
- ``wormhole``: the mock's path on ``ttnn.open_device(0)`` plus end-to-end timing (random weights);
  per-op device times need tt-metal's profiler. No hardware exists where opcast is developed: this path
  has never run.

The tt-mlir-style plan comes from the plan file's ``tuning`` section (``opcast tune`` writes it); a plan
file without one is compared with the default plan only.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..plans import Plan, Trace, default_plan
from .backend import TorchBackend

BACKENDS = ("host", "mock", "wormhole")
TUNED = "tuned"
TT_MLIR = "tt-mlir-style"


def workload(kind: str, mode: str | None = None):
    """(model built from shapes only, input channels, mode name) as ``opcast trace`` picks them."""
    from .cli import spec_for
    from .validate import MODEL_CLASSES

    mode, spec = spec_for(kind, mode, None)
    mixing = "mix_channel" in (getattr(spec, "mode", ""), getattr(spec, "decoder_mode", ""))
    channels = spec.num_input_channels if mixing else 7
    return MODEL_CLASSES[kind](spec), channels, mode


def register(subparsers) -> None:
    """Add ``bench`` to an argparse sub-parsers object (``opcast.models.cli.register_cli`` calls it)."""
    from .cli import MODELS

    b = subparsers.add_parser(
        "bench", help="run a model under the default, tt-mlir-style and tuned plans and report them side by side",
        description=__doc__.split("\n\n")[2])
    b.add_argument("model", choices=MODELS, help="the model whose plans are run")
    b.add_argument("--plan", required=True, metavar="FILE", help="the tuned plan (opcast tune --out)")
    b.add_argument("--backend", choices=BACKENDS, required=True, help="where the plans run: host, the mock device or a Wormhole")
    b.add_argument("--batch", type=int, help="batch size (default: the plan's tuning batch, else 1)")
    b.add_argument("--mode", help="model mode (default: the plan's tuning mode, else the port's)")
    b.add_argument("--models", metavar="DIR", help="models for the predicted column (default: the plan's tuning "
                                                   "models); for --backend host, a predictor trained on host sweeps")
    b.add_argument("--runs", type=int, default=20, help="timed runs after the first (host, wormhole; default 20)")
    b.add_argument("--out", metavar="DIR", help="where bench.md, bench.json and bench.png go "
                                                "(default bench_<model>_b<batch>_<backend>)")
    b.set_defaults(func=cmd_bench)


# ---------------------------------------------------------------------------------------------------------
# What is compared and what each plan is predicted to take
# ---------------------------------------------------------------------------------------------------------


def bench_plans(model: str, plan_file: str | Path) -> tuple[dict[str, Plan], dict[str, Any]]:
    """The plans side by side (default, tt-mlir-style where the file keeps one, tuned) and the file's
    tuning section ({} for a plan not written by opcast tune)."""
    from ..tune.output import read_tuning

    tuning = read_tuning(plan_file) or {}
    if tuning and tuning.get("model") != model:
        raise ValueError(f"{plan_file} was tuned for {tuning.get('model')}, not {model}")
    plans = {"default": default_plan(model)}
    if TT_MLIR in tuning.get("plans", {}):
        plans[TT_MLIR] = Plan(tuning["plans"][TT_MLIR])
    plans[TUNED] = Plan.load(plan_file)
    return plans, tuning


@dataclasses.dataclass
class PlanBench:
    """One plan's row: its trace and predicted cost (as the tuner prices it), and what the backend measured."""

    name: str
    trace: Trace
    predicted: Any  # opcast.tune.costs.PlanCost
    first_run_ms: float | None = None
    latency_ms: float | None = None
    accuracy: dict[str, Any] | None = None
    ops_on_device: int | None = None
    uploads: int | None = None
    downloads: int | None = None
    legal: bool | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    per_op_measured: list[Any] | None = None  # host: µs per op; mock / wormhole: the DeviceRun per op


# ---------------------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------------------


class TimedTorchBackend(TorchBackend):
    """TorchBackend that stamps the host clock as each op starts: an op's time runs to the next op's start."""

    def __init__(self):
        super().__init__()
        self.stamps: list[float] = []

    def _log(self, method: str, name: str):
        self.stamps.append(time.perf_counter())

    def op_microseconds(self, end: float) -> list[float]:
        marks = self.stamps + [end]
        return [(b - a) * 1e6 for a, b in zip(marks, marks[1:])]


def run_host(benches: dict[str, PlanBench], shapes, channels: int, batch: int, runs: int) -> None:
    """The definition (``shapes``: the model built from shapes only) on the host, timed, against the
    reference with the same random weights; the same numbers for every plan."""
    from .reference import build_reference, compare, missing_reference, reference_output
    from .validate import validation_input

    spec, cls = shapes.spec, type(shapes)
    missing = missing_reference(shapes.kind)
    reference = None if missing else build_reference(shapes.kind, spec, seed=0)
    model = cls.random(spec, seed=0) if reference is None else cls.from_reference(reference)
    x = validation_input(batch, spec.context_length, channels)
    be = TimedTorchBackend()
    start = time.perf_counter()
    y = model.run(x, be)  # the first run uploads the weights
    first_ms = (time.perf_counter() - start) * 1e3
    latencies, per_op = [], []
    for _ in range(max(runs, 1)):
        be.stamps.clear()
        start = time.perf_counter()
        y = model.run(x, be)
        end = time.perf_counter()
        latencies.append((end - start) * 1e3)
        per_op.append(be.op_microseconds(end))
    accuracy = ({"against": "Hugging Face reference", **compare(y, reference_output(reference, x))} if reference is not None
                else {"against": f"nothing: the reference needs {', '.join(missing)}"})
    median_op = list(np.median(np.array(per_op), axis=0))
    for b in benches.values():
        b.first_run_ms, b.latency_ms, b.accuracy = first_ms, float(np.median(latencies)), accuracy
        b.ops_on_device, b.uploads, b.downloads = 0, len(model.params) + 1, 1
        b.per_op_measured = median_op if len(median_op) == len(b.trace.ops) else None


def run_device(benches: dict[str, PlanBench], plans: dict[str, Plan], shapes, channels: int, batch: int,
               device_kind: str, runs: int) -> None:
    """Every op of every plan on a ttnn device, captured one by one (legality, L1 per core, fallbacks);
    on a Wormhole also timed end to end (random weights)."""
    from ..device.environment import ttnn_available
    from ..device.session import open_device
    from . import ttnn_backend as tb

    if not ttnn_available():
        raise ValueError(f"--backend {device_kind} needs ttnn: run scripts/setup_mock.sh and use .venv-mock/bin/opcast")
    with open_device(device_kind) as device:
        for name, plan in plans.items():
            b = benches[name]
            run = tb.capture_model(shapes, batch, device=device, channels=channels, plan=plan, device_kind=device_kind)
            d = run.meta["device"]
            b.per_op_measured = [r.device for r in run.ops]
            b.problems = ([f"failed: {n}" for n in d["failed"]] + [f"fallback: {f['name']}" for f in d["fallbacks"]]
                          + [f"inserted: {n}" for n in d["inserted"]] + [f"over L1: {n}" for n in d["not_fitting_l1"]])
            b.legal = not b.problems
            b.ops_on_device = d["device_ops"]
            b.uploads, b.downloads = len(run.tensors), 1
            if device_kind == "wormhole":
                b.first_run_ms, b.latency_ms = _time_on_device(type(shapes).random(shapes.spec, seed=0), plan, device,
                                                               batch, channels, runs)


def _time_on_device(model, plan: Plan, device, batch: int, channels: int, runs: int):
    """First run and median latency (ms) of the plain (not captured) run on the device."""
    from ..device.environment import import_ttnn
    from .params import ShapeOnly
    from .ttnn_backend import TtnnBackend

    ttnn = import_ttnn()
    be = TtnnBackend(plan, device, trace=model.trace(batch, channels=channels, plan=plan))
    P = model.bind(be)
    x = be.from_torch(ShapeOnly((batch, model.spec.context_length, channels)), name="past_values")
    times = []
    for _ in range(max(runs, 1) + 1):
        start = time.perf_counter()
        model.forward(be, P, x)
        ttnn.synchronize_device(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times[0], float(np.median(times[1:]))


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def summary_rows(benches: dict[str, PlanBench], kind: str, batch: int, backend: str) -> list[dict[str, Any]]:
    rows = []
    for b in benches.values():
        p = b.predicted
        acc = b.accuracy or {}
        ops = "n/a" if b.ops_on_device is None else str(b.ops_on_device)
        rows.append({
            "model": kind, "batch": batch, "plan": b.name,
            "first run (ms)": _ms(b.first_run_ms),
            "throughput (seq/s)": "n/a" if b.latency_ms is None else f"{batch / (b.latency_ms * 1e-3):.1f}",
            "latency (ms)": _ms(b.latency_ms),
            "predicted latency (ms)": f"{p.ns / 1e6:.3f} ({p.lo_ns / 1e6:.3f}-{p.hi_ns / 1e6:.3f})",
            "predicted throughput (seq/s)": f"{batch / (p.ns * 1e-9):.0f}",
            "accuracy (PCC)": f"{acc['pcc']:.6f}" if "pcc" in acc else "n/a",
            "ops on device (predicted)": f"{ops} ({p.device_ops})",
            "to/from device": "n/a" if b.uploads is None else f"{b.uploads}/{b.downloads}",
            f"as planned on {backend}": "n/a" if b.legal is None else ("yes" if b.legal else f"NO ({len(b.problems)})"),
        })
    return rows


def per_op_rows(benches: dict[str, PlanBench], backend: str) -> list[dict[str, Any]]:
    from ..plans import format_memory

    first = next(iter(benches.values()))
    rows = []
    for j, r in enumerate(first.trace.ops):
        row: dict[str, Any] = {"#": j, "name": r.name, "op": r.op}
        for b in benches.values():
            op = b.trace.ops[j]
            row[f"{b.name} placement"] = format_memory(op.output.to_dict())
            ns = b.predicted.per_op[j].get("ns")
            row[f"{b.name} predicted us"] = "-" if ns is None else f"{ns / 1e3:.2f}"
            measured = b.per_op_measured[j] if b.per_op_measured is not None and j < len(b.per_op_measured) else None
            if backend == "host":
                row[f"{b.name} measured host us"] = "-" if measured is None else f"{measured:.1f}"
            elif measured is not None:
                row[f"{b.name} {backend}"] = (("ok" if measured.ok and not measured.fallback else
                                               "FALLBACK" if measured.fallback else "FAILED")
                                              + f", {measured.l1_total_per_core / 1024:.0f} KiB")
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    return pd.DataFrame(rows).to_markdown(index=False)


def draw(benches: dict[str, PlanBench], backend: str, title: str, path: Path) -> None:
    """Per-op bars of the predicted time under each plan (with the host's measured times), and on a
    device the L1 each op held per core under each plan."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    on_device = backend != "host"
    fig, axes = plt.subplots(2 if on_device else 1, 1, figsize=(16, 8 if on_device else 4.5), squeeze=False)
    n, width = len(next(iter(benches.values())).trace.ops), 0.8 / len(benches)
    x = np.arange(n)
    ax = axes[0][0]
    for i, b in enumerate(benches.values()):
        us = [row.get("ns", 0.0) / 1e3 for row in b.predicted.per_op]
        ax.bar(x + i * width, us, width, label=f"{b.name} predicted")
    host = next(iter(benches.values())).per_op_measured
    if backend == "host" and host is not None:
        ax.plot(x + 0.4, host, "k.", markersize=4, label="host measured (every plan)")
    ax.set_ylabel("µs per op")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if on_device:
        ax = axes[1][0]
        for i, b in enumerate(benches.values()):
            kib = [run.l1_total_per_core / 1024 if run is not None else 0 for run in (b.per_op_measured or [])]
            ax.bar(np.arange(len(kib)) + i * width, kib, width, label=b.name)
        limits = [run.l1_limit_per_core for b in benches.values() for run in (b.per_op_measured or []) if run]
        if limits:
            ax.axhline(limits[0] / 1024, color="r", linewidth=0.8, label="L1 bank")
        ax.set_ylabel(f"L1 per core on {backend} (KiB)")
        ax.legend(fontsize=8)
    axes[-1][0].set_xlabel("op (trace order)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_bench(args) -> int:
    from ..predictor import Predictor
    from ..tune.costs import dispatch_gap_ns, trace_cost
    from ..tune.legality import RuleLegality

    plans, tuning = bench_plans(args.model, args.plan)
    batch = args.batch or tuning.get("batch", 1)
    if batch < 1:
        raise ValueError(f"--batch must be a positive integer, got {batch}")
    if tuning and batch != tuning["batch"]:
        print(f"warning: the plan was tuned for batch {tuning['batch']}, benched at {batch}", file=sys.stderr)
    models = args.models or tuning.get("models")
    if models is None:
        raise ValueError("--models is needed: the plan file names no models folder")
    model, channels, mode = workload(args.model, args.mode or tuning.get("mode"))
    predictor = Predictor(models)
    dispatch = dispatch_gap_ns(models) or 0.0
    benches = {}
    for name, plan in plans.items():
        trace = model.trace(batch, channels=channels, plan=plan)
        benches[name] = PlanBench(name, trace, trace_cost(trace, predictor, RuleLegality(), dispatch_ns=dispatch))
    if args.backend == "host":
        run_host(benches, model, channels, batch, args.runs)
    else:
        run_device(benches, plans, model, channels, batch, args.backend, args.runs)
    out = Path(args.out or f"bench_{args.model}_b{batch}_{args.backend}")
    out.mkdir(parents=True, exist_ok=True)
    summary, per_op = summary_rows(benches, args.model, batch, args.backend), per_op_rows(benches, args.backend)
    title = f"{args.model} ({mode}), batch {batch}, {args.backend}; predicted by {models}"
    text = (f"# opcast bench: {title}\n\n{markdown(summary)}\n\n"
            + "".join(f"- {b.name}: {'; '.join(b.problems)}\n" for b in benches.values() if b.problems)
            + f"\n## Per op\n\n{markdown(per_op)}\n")
    (out / "bench.md").write_text(text)
    (out / "bench.json").write_text(json.dumps({"summary": summary, "per_op": per_op, "tuning": tuning,
                                                "predicted": {b.name: b.predicted.summary() for b in benches.values()}},
                                               indent=1) + "\n")
    draw(benches, args.backend, title, out / "bench.png")
    print(markdown(summary))
    for b in benches.values():
        if b.problems:
            print(f"{b.name}: {len(b.problems)} ops not as planned: {'; '.join(b.problems[:5])}", file=sys.stderr)
    print(f"wrote {out}/bench.md, bench.json, bench.png")
    return 1 if any(b.legal is False for b in benches.values() if b.name == TUNED) else 0
