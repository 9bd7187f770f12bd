"""The ``opcast`` command line.

Exit codes: 0 success, 1 a check failed (e.g. ``validate`` outside tolerance), 2 bad input (the
message, naming what is wrong and what was expected, goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import fit

    config, per_op = fit.load_config(args.config)
    changes = {k: v for k, v in {"target": args.target, "members": args.members, "seed": args.seed,
                                 "test_fraction": args.test_fraction,
                                 "keep_suspect": args.keep_suspect or None,
                                 "keep_superseded": args.keep_superseded or None}.items() if v is not None}
    config = config.replace(**changes)
    summary = fit.train(args.data, args.out, config=config, per_op=per_op, ops=args.ops, verbose=not args.quiet)
    print(summary.to_string(index=False))
    print(f"\nmodels written to {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .predictor import Predictor

    predictor = Predictor(args.models)
    if args.json is not None:
        r = predictor.predict(args.json)
        print(json.dumps({"ns": r.ns, "lo_ns": r.lo_ns, "hi_ns": r.hi_ns, "in_domain": r.in_domain,
                          "source": r.source}))
        return 0
    if args.input is None or args.output is None:
        raise ValueError("opcast predict needs --json QUERY, or both --input FILE and --output FILE")
    from .predict_file import predict_file

    counts = predict_file(predictor, Path(args.input), Path(args.output))
    print(f"{counts['answered']} rows answered, {counts['errors']} rows with an error column entry -> {args.output}",
          file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .train import report

    path = report.write_report(args.models, args.data, args.out)
    print(f"report written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="opcast", description="Empirical op-runtime prediction for TTNN on Wormhole.")
    parser.add_argument("--version", action="version", version=f"opcast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one model per op found in measurement files")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="measurement files or folders (TORP CSVs, ops_perf_results_*.csv, sweep tables)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the model folders")
    p.add_argument("--config", metavar="FILE", help='JSON {"defaults": {...}, "ops": {"ttnn.exp": {...}}}')
    p.add_argument("--ops", nargs="+", metavar="OP", help="train only these ops (ttnn names)")
    p.add_argument("--target", choices=["auto", "ln_ratio_roofline", "ln_ratio_fitted_roofline", "ln_ns"],
                   help="what the ensemble learns (default ln_ratio_fitted_roofline; auto: the better of the two "
                        "roofline ratios out of fold)")
    p.add_argument("--members", type=int,
                   help="ensemble members, one per fold of the training shape groups (default 5)")
    p.add_argument("--test-fraction", type=float, metavar="F",
                   help="share of shape groups held out to measure the served model (default 0.15; "
                        "0 trains on everything)")
    p.add_argument("--seed", type=int)
    p.add_argument("--keep-suspect", action="store_true", help="train on inconsistent repeats too")
    p.add_argument("--keep-superseded", action="store_true",
                   help="train on sources that a later sweep re-measured on a newer tt-metal too")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("predict", help="predict device kernel durations")
    p.add_argument("--models", required=True, metavar="DIR")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--json", metavar="QUERY", help="one query (JSON); prints one answer")
    src.add_argument("--input", metavar="FILE", help="CSV in an importable format, or JSON lines of queries")
    p.add_argument("--output", metavar="FILE", help="where --input's rows go, with predictions added")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("report", help="predicted-vs-measured plots and a Markdown summary")
    p.add_argument("--models", required=True, metavar="DIR")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=_cmd_report)

    from .train import fetch

    fetch.register_cli(sub)
    try:
        from .models import cli as models_cli
    except ImportError:  # models need torch; the predictor does not
        models_cli = None
    if models_cli is not None and hasattr(models_cli, "register_cli"):
        models_cli.register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ._core import ModelError, QueryError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (QueryError, ModelError, ValueError, OSError) as e:  # OSError: a path that cannot be read or written
        print(f"opcast {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
