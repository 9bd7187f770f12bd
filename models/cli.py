"""``opcast validate`` and ``opcast trace`` for the model definitions.

The main ``opcast`` CLI calls :func:`register_cli` with its argparse sub-parsers; each sub-command sets
``func``, which takes the parsed arguments and returns the exit status.  Standalone:
``python -m opcast.models {validate,trace} ...``.

    opcast validate patchtsmixer --mode all --batch 1 32      # every mode vs the Hugging Face reference
    opcast validate ttm --checkpoint ./granite-timeseries-ttm-r1 --data ETTh2.csv
    opcast trace ttm --batch 32 --plan my_plan.json --out ttm_b32.json
    opcast trace ttm --batch 32 --device mock --out ttm_b32_mock.json   # every op on ttnn's mock Wormhole
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..device.session import DEVICE_KINDS

MODELS = ("patchtsmixer", "ttm")


def register_cli(subparsers) -> None:
    """Add ``validate`` and ``trace`` to an argparse sub-parsers object."""
    v = subparsers.add_parser(
        "validate", help="compare the op definition (host, torch) with the Hugging Face reference",
        description="Runs our host execution of the model definition against the Hugging Face reference "
                    "(random weights, or --checkpoint) and prints max abs error and PCC per mode; exit 0 only "
                    "when every mode is within tolerance (max abs err <= 1e-4, PCC >= 0.9999).")
    v.add_argument("model", choices=MODELS, help="the model to check against its Hugging Face reference")
    v.add_argument("--mode", action="append", metavar="MODE",
                   help="mode id, glob or alias (repeatable). patchtsmixer: port (default), forecast, heads, all, "
                        "e.g. 'mix_channel/*/batchnorm/*'; ttm: r1 (default), all. --list-modes shows them")
    v.add_argument("--batch", type=int, nargs="+", default=[1], metavar="B", help="batch sizes (default 1)")
    v.add_argument("--checkpoint", metavar="DIR",
                   help="a save_pretrained folder (or hub id, needs network) instead of random weights")
    v.add_argument("--channels", type=int, help="input channels for --checkpoint (default: the config's)")
    v.add_argument("--data", metavar="CSV", help="ETTh2-format CSV: also report forecast MSE/MAE on its test split")
    v.add_argument("--windows", type=int, default=64, help="test windows for --data (default 64)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    v.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: these models are "
                                                          "tiny, more threads only wait on each other)")
    v.add_argument("--json", metavar="FILE", help="write the results as JSON")
    v.add_argument("--list-modes", action="store_true", help="list the modes and exit")
    v.set_defaults(func=cmd_validate)

    t = subparsers.add_parser(
        "trace", help="the op trace of a model definition (ops, shapes, dtypes, memory configs)",
        description="Runs the model definition under the TraceBackend (nothing is computed) and prints every "
                    "op: name, TTNN op, input/output shapes, dtype, memory config (from the plan). With --device "
                    "mock (or wormhole) the same definition then issues every op to ttnn, each captured on its "
                    "own: the table adds ttnn's verdict, L1 per core (the op's peak, and with the L1 held by live "
                    "tensors), whether it fits, and the DRAM fallback where ttnn refused the plan's entry.")
    t.add_argument("model", choices=MODELS, help="the model whose op trace is written")
    t.add_argument("--mode", help="a single mode id (default: patchtsmixer port, ttm r1-512-96)")
    t.add_argument("--checkpoint", metavar="DIR", help="take the configuration from a checkpoint's config.json")
    t.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    t.add_argument("--channels", type=int, help="input channels (default 7, ETTh2)")
    t.add_argument("--plan", metavar="FILE", help="plan JSON (default: the model's default plan)")
    t.add_argument("--out", metavar="FILE", help="write the trace as JSON (with --device: every op's device record)")
    t.add_argument("--device", choices=("none", *DEVICE_KINDS), default="none",
                   help="none (default): the TraceBackend only. mock: run every op on ttnn's mock Wormhole n150 "
                        "(NO_DISPATCH graph capture per op, then dispatch; needs the Python 3.12 environment of "
                        "scripts/setup_mock.sh: .venv-mock/bin/opcast). wormhole: the same code on a real device "
                        "(ttnn.open_device(0)); it shares every line with mock except opening the device, and is "
                        "tested only through mock (no hardware where opcast is developed)")
    t.add_argument("--no-fallback", action="store_true",
                   help="with --device: report ops ttnn refuses instead of falling back to DRAM interleaved")
    t.add_argument("--models", metavar="DIR",
                   help="price every op with the models in DIR (opcast train): predicted_ns, interval, source and "
                        "in_domain per op, and the predicted device time of the whole trace")
    t.add_argument("--fuse-gelu", action="store_true", help="fuse GELU into the preceding linear")
    t.add_argument("--quiet", action="store_true", help="print only the summary, not the table")
    t.add_argument("--write-default-plan", metavar="FILE", help="write the model's default plan JSON and exit")
    t.set_defaults(func=cmd_trace)

    from .bench import register as register_bench

    register_bench(subparsers)


# ---------------------------------------------------------------------------------------------------------


def spec_for(kind: str, mode: str | None, checkpoint: str | None):
    """(mode, spec) of a model as the CLI runs it: the default mode where ``mode`` is None, the
    checkpoint's configuration where one is given. The one place trace, bench and benchmarks get it."""
    from .validate import MODEL_CLASSES, modes

    cls = MODEL_CLASSES[kind]
    if checkpoint:
        from .params import read_config, resolve_checkpoint

        config = read_config(resolve_checkpoint(checkpoint))
        found = "ttm" if config.get("model_type") == "tinytimemixer" else "patchtsmixer"
        if found != kind:
            raise SystemExit(f"error: {checkpoint} holds a {found} model, not {kind}")
        return "checkpoint", cls.spec_from_config(config)
    table = modes(kind)
    mode = mode or ("common_channel/gated/layernorm/no_pe/std" if kind == "patchtsmixer" else "r1-512-96")
    if mode == "port":
        mode = "common_channel/gated/layernorm/no_pe/std"
    if mode == "r1":
        mode = "r1-512-96"
    if mode not in table:
        raise SystemExit(f"error: unknown {kind} mode {mode!r}; modes: {', '.join(table)}")
    return mode, table[mode]


def cmd_trace(args) -> int:
    from ..plans import Plan, default_plan
    from .validate import MODEL_CLASSES

    if args.write_default_plan:
        default_plan(args.model).save(args.write_default_plan)
        print(f"wrote {args.write_default_plan}")
        return 0
    mode, spec = spec_for(args.model, args.mode, args.checkpoint)
    channels = args.channels or (spec.num_input_channels if "mix_channel" in (
        getattr(spec, "mode", ""), getattr(spec, "decoder_mode", "")) else 7)
    model = MODEL_CLASSES[args.model](spec, fuse_gelu=args.fuse_gelu)
    plan = Plan.load(args.plan) if args.plan else default_plan(args.model)
    if args.device == "none":
        trace = model.trace(args.batch, channels=channels, plan=plan)
    else:
        from ..device.environment import ttnn_available
        from ..device.session import open_device
        from . import ttnn_backend as tb

        if not ttnn_available():
            print(f"error: --device {args.device} needs ttnn: run scripts/setup_mock.sh and use "
                  f".venv-mock/bin/opcast", file=sys.stderr)
            return 2
        with open_device(args.device) as device:
            trace = tb.capture_model(model, args.batch, device=device, channels=channels, plan=plan,
                                     fallback=not args.no_fallback, device_kind=args.device)
    trace.meta["mode"] = mode
    if args.models:
        from ..predictor import Predictor

        trace.predict(Predictor(args.models))
        trace.meta["predicted_total"] = trace.predicted_total()
    if not args.quiet:
        print(trace.table())
        print()
    unmatched = plan.unmatched_patterns(r.name for r in trace.ops)
    print(f"{args.model} ({mode}), batch {args.batch}, {channels} channels, plan {plan.name}: "
          f"{len(trace.ops)} ops, {model.num_parameters:,} parameters")
    print("  " + ", ".join(f"{op} x{n}" for op, n in trace.op_counts().items()))
    if args.models:
        t = trace.meta["predicted_total"]
        print(f"predicted device time {t['ns'] / 1e3:.1f} us ({t['lo_ns'] / 1e3:.1f}-{t['hi_ns'] / 1e3:.1f} us if every "
              f"op erred the same way), {t['priced']} of {t['ops']} ops priced ({t['in_domain']} in domain); by source: "
              + ", ".join(f"{k} {v}" for k, v in t["by_source"].items()))
    failed = False
    if args.device != "none":
        print(tb.format_summary(trace))
        failed = bool(trace.meta["device"]["failed"])
    if unmatched:
        print(f"warning: plan op patterns that match no op: {unmatched}", file=sys.stderr)
    if args.out:
        trace.to_json(args.out)
        print(f"wrote {args.out}")
    return 1 if failed else 0


def cmd_validate(args) -> int:
    from . import validate as V
    from .reference import missing_reference

    if args.list_modes:
        for k in V.modes(args.model):
            print(k)
        return 0
    missing = missing_reference(args.model)
    if missing:
        print(f"error: the {args.model} reference needs {', '.join(missing)}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    results = []
    if args.checkpoint:
        from .params import read_config, resolve_checkpoint

        folder = resolve_checkpoint(args.checkpoint)
        if (read_config(folder).get("model_type") == "tinytimemixer") != (args.model == "ttm"):
            print(f"error: {args.checkpoint} is not a {args.model} checkpoint", file=sys.stderr)
            return 2
        results += V.check_checkpoint(folder, args.batch, args.channels, args.seed)
        pairs = None
    else:
        pairs = []
        for mode, spec in V.select_modes(args.model, args.mode).items():
            results += V.check_mode(args.model, mode, spec, args.batch, args.seed)
            pairs.append((mode, spec))
    print(V.format_results(results))
    ok = all(r.ok for r in results)
    print(f"\n{sum(r.ok for r in results)}/{len(results)} within tolerance (max abs err <= {V.ATOL:g}, "
          f"PCC >= {V.PCC_MIN})")
    report = {"results": [r.to_dict() for r in results]}
    if args.data:
        report["data"] = _data_metrics(args, V, pairs)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if ok else 1


def _data_metrics(args, V, pairs):
    """Forecast MSE/MAE on the ETT test split (scaled), ours and the reference's, for forecasting models."""
    from . import data
    from .reference import build_reference, load_reference, reference_output

    df = data.load_ett_csv(args.data)
    out = []
    if pairs is None:
        from .params import read_config, resolve_checkpoint

        folder = resolve_checkpoint(args.checkpoint)
        ours = V.MODEL_CLASSES[args.model].from_pretrained(folder)
        cands = [("checkpoint", ours, load_reference(folder, read_config(folder)))]
    else:
        cands = []
        for mode, spec in pairs:
            if getattr(spec, "task", "forecast") != "forecast":
                continue
            ref = build_reference(args.model, spec, args.seed)
            cands.append((mode, V.MODEL_CLASSES[args.model].from_reference(ref), ref))
    for mode, ours, ref in cands:
        s = ours.spec
        splits = data.ett_splits(df, s.context_length)
        x, y = data.windows(splits.test, s.context_length, s.prediction_length, limit=args.windows)
        pred = ours.run(x).numpy()
        rpred = reference_output(ref, x).numpy()
        m = data.forecast_metrics(pred, y, rpred)
        print(f"{mode}: {len(x)} test windows: MSE {m['mse']:.4f} MAE {m['mae']:.4f} | reference MSE "
              f"{m['reference_mse']:.4f} MAE {m['reference_mae']:.4f} | ours vs reference MSE "
              f"{m['mse_vs_reference']:.3e}")
        out.append({"mode": mode, "windows": len(x), **m})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opcast.models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    register_cli(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
