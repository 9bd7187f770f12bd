"""``opcast train`` and ``opcast report``: the training stage's commands.

The main ``opcast`` CLI calls :func:`register_cli` with its argparse sub-parsers; each sub-command
sets ``func``, which takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse


def _cmd_train(args: argparse.Namespace) -> int:
    from . import fit

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


def _cmd_report(args: argparse.Namespace) -> int:
    from . import report

    path = report.write_report(args.models, args.data, args.out)
    print(f"report written to {path}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``train`` and ``report`` to an argparse sub-parsers object."""
    p = subparsers.add_parser("train", help="train one model per op found in measurement files")
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
    p.add_argument("--seed", type=int, help="seed of the group split, the folds and the members (default 0)")
    p.add_argument("--keep-suspect", action="store_true", help="train on inconsistent repeats too")
    p.add_argument("--keep-superseded", action="store_true",
                   help="train on sources that a later sweep re-measured on a newer tt-metal too")
    p.add_argument("--quiet", action="store_true", help="print the summary only, not the trainer's progress")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser("report", help="predicted-vs-measured plots and a Markdown summary")
    p.add_argument("--models", required=True, metavar="DIR", help="a models folder written by opcast train")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH", help="measurement files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the plots and report.md")
    p.set_defaults(func=_cmd_report)
