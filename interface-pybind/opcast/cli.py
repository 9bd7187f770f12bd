"""The ``opcast`` command line.

Exit codes: 0 success, 1 a check failed (e.g. ``validate`` outside tolerance), 2 bad input (the
message, naming what is wrong and what was expected, goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_INPUT = 2


def _cmd_predict(args: argparse.Namespace) -> int:
    from .predict_file import STDIO, predict_file, write_table
    from .predictor import Predictor

    predictor = Predictor(args.models)
    if args.json is not None:
        query = sys.stdin.read() if args.json == STDIO else args.json
        answer = predictor.predict(query).to_dict()
        if args.format in (None, "json"):
            print(json.dumps(answer))
        else:
            import pandas as pd

            write_table(pd.DataFrame([answer]), STDIO, args.format)
        return 0
    if args.output is None:
        raise ValueError("opcast predict --input needs --output FILE (or - for standard output)")
    counts = predict_file(predictor, args.input, args.output, args.format)
    # With the rows on standard output, everything else goes to standard error.
    report = sys.stderr if args.output == STDIO else sys.stdout
    if counts["summary"] is not None:
        print(counts["summary"].to_markdown(index=False, floatfmt=".3g"), file=report)
    print(f"{counts['answered']} rows answered, {counts['errors']} rows with an error column entry -> {args.output}",
          file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="opcast", description="Empirical op-runtime prediction for TTNN on Wormhole.")
    parser.add_argument("--version", action="version", version=f"opcast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("predict", help="predict device kernel durations")
    p.add_argument("--models", required=True, metavar="DIR",
                   help="a models folder written by opcast train (one subfolder per model)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--json", metavar="QUERY",
                     help="one query (JSON, short form or TensorSpec; - reads it from standard input); prints one answer")
    src.add_argument("--input", metavar="FILE",
                     help="CSV in an importable format, or JSON lines of queries (- reads standard input)")
    p.add_argument("--output", metavar="FILE",
                   help="where --input's rows go, with predictions added (- writes standard output)")
    p.add_argument("--format", choices=("json", "csv", "table"),
                   help="how answers are written: json (JSON lines; --json's default), csv (--output's default, "
                        "JSON lines for a .jsonl name) or table (Markdown)")
    p.set_defaults(func=_cmd_predict)

    # Every stage registers its own commands.
    from .sweeps import cli as sweeps_cli
    from .train import cli as train_cli, fetch
    from .tune import cli as tune_cli

    train_cli.register_cli(sub)
    fetch.register_cli(sub)
    sweeps_cli.register_cli(sub)
    tune_cli.register_cli(sub)
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
