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


def _cmd_recalibrate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from . import recalibrate

    if args.suggest is not None:
        if args.data or args.out_dir:
            raise ValueError("--suggest N writes the configurations to measure: it takes --models, --ops and --vectors, "
                             "not --data / --out")
        from ..sweeps import ops as sweep_ops

        ops = args.ops or list(sweep_ops.sweep_ops())
        chosen = recalibrate.suggest(args.models, args.suggest, recalibrate.candidates(ops))
        vectors = recalibrate.as_vectors(chosen)
        Path(args.vectors).write_text(json.dumps(vectors, indent=1) + "\n")
        print(chosen[["op", "kind", "size", "memory", "width"]].rename(columns={"width": "interval ln(hi/lo)"})
              .to_string(index=False))
        print(f"\n{len(vectors)} sweep vectors written to {args.vectors}; measure them on the new build with "
              f"opcast sweep run --vectors {args.vectors} --backend wormhole --device-perf")
        return 0
    if not args.data or not args.out_dir:
        raise ValueError("opcast recalibrate needs --data (the new build's measurements) and --out, or --suggest N")
    records = recalibrate.load_measurements(args.data)
    if args.ops:
        records = records[records["op"].isin(args.ops)]
    fitted = recalibrate.recalibrate(args.models, records, args.out_dir, build=args.build)
    for folder, f in fitted.items():
        shift = f" {f['shift_ns']:+.0f} ns" if f["shift_ns"] else ""
        print(f"{folder}: x{f['factor']:.4f}{shift} ({f['form']}; ±{f['half_width']:.3f} ln), from "
              f"{'its own ' + str(f['rows']) + ' rows' if f['own'] else 'every row'}")
    print(f"\n{args.out_dir}: answers for the new build by default")
    return 0


def _cmd_drift(args: argparse.Namespace) -> int:
    from . import drift

    table = drift.drift(args.data, args.out, ops=args.ops, plots=not args.no_plots)
    counts = table["kind"].value_counts().to_dict() if len(table) else {}
    print(f"{len(table)} changes beyond build-to-build noise ({counts.get('regression', 0)} regressions, "
          f"{counts.get('improvement', 0)} improvements) in {table['op'].nunique() if len(table) else 0} ops; "
          f"written to {args.out}")
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

    p = subparsers.add_parser("recalibrate", help="move a models folder to a new tt-metal build from a few of its "
                                                  "measurements, or suggest which to take")
    p.add_argument("--models", required=True, metavar="DIR", help="a models folder written by opcast train")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="the new build's measurements (1 to 30 rows): any importable file or folder, or a sweep store")
    p.add_argument("--out", dest="out_dir", metavar="DIR", help="the new models folder (answers for the new build)")
    p.add_argument("--build", help="the new build's name, where the measurements name none or several")
    p.add_argument("--suggest", type=int, metavar="N", help="write the N configurations worth measuring instead")
    p.add_argument("--ops", nargs="+", metavar="OP",
                   help="ops to suggest configurations of (default: the ops the sweeps run), or to recalibrate from")
    p.add_argument("--vectors", default="recalibrate_vectors.json", metavar="FILE",
                   help="where --suggest writes the sweep vectors (default recalibrate_vectors.json)")
    p.set_defaults(func=_cmd_recalibrate)

    p = subparsers.add_parser("drift", help="per op, time against build date, changes beyond noise flagged and plotted")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH", help="dated measurements (the daily dashboard)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for changes.csv, series.csv and the PNGs")
    p.add_argument("--ops", nargs="+", metavar="OP", help="only these ops")
    p.add_argument("--no-plots", action="store_true", help="the tables only")
    p.set_defaults(func=_cmd_drift)
