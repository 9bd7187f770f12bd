"""``python -m opcast.sweeps.worker --backend B [...]``: the process that runs vectors for the harness.

The harness starts one worker per sweep in the interpreter the backend needs (the mock and Wormhole
backends need ttnn, which lives in the Python 3.12 environment ``.venv-mock``; the host backend needs
torch) and talks to it in JSON lines: the worker first writes ``{"hello": {...}}`` (backend, device,
versions; ``{"error": ...}`` when its backend cannot start), then reads one ``{"vector_id", "record"}`` per line (the op's trace record, every tensor
placed) and answers each with ``{"vector_id", "outcome", "seconds"}``. A crash or a hang costs the
harness one vector: it kills the worker and starts another.

Everything else the process prints (ttnn, tt-metal, torch) goes to stderr, which the harness keeps
for the message of a crash. ``OPCAST_SWEEP_FAULTS="hang=<vector id>,crash=<vector id>"`` makes the
worker hang or die on those vectors, to test the harness.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any, TextIO

PROTOCOL = 1
FAULTS_VARIABLE = "OPCAST_SWEEP_FAULTS"


def _faults() -> dict[str, str]:
    """vector id -> ``hang`` or ``crash`` from $OPCAST_SWEEP_FAULTS."""
    out = {}
    for item in filter(None, os.environ.get(FAULTS_VARIABLE, "").split(",")):
        kind, _, vector_id = item.partition("=")
        if kind not in ("hang", "crash") or not vector_id:
            raise ValueError(f"{FAULTS_VARIABLE}: {item!r} is not hang=<vector id> or crash=<vector id>")
        out[vector_id] = kind
    return out


def _inject(fault: str | None) -> None:
    if fault == "hang":
        while True:
            time.sleep(3600)
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)


def serve(backend: Any, source: TextIO, sink: TextIO) -> None:
    """Answer every vector of ``source`` on ``sink`` until ``source`` closes (the harness exited)."""
    from ..plans import OpRecord

    faults = _faults()
    for line in source:
        message = json.loads(line)
        _inject(faults.get(message["vector_id"]))
        start = time.perf_counter()
        outcome = backend.run(OpRecord.from_dict(message["record"]))
        answer = {"vector_id": message["vector_id"], "outcome": outcome.to_dict(),
                  "seconds": time.perf_counter() - start}
        sink.write(json.dumps(answer) + "\n")
        sink.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opcast.sweeps.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=("wormhole", "mock", "host"))
    parser.add_argument("--device", default="wormhole", choices=("wormhole", "mock"),
                        help="the wormhole backend's device (mock: its code path on the mock device)")
    parser.add_argument("--device-id", type=int, default=0, help="wormhole: which card of this host (ttnn's device id)")
    parser.add_argument("--device-perf", action="store_true")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    # The protocol keeps the real stdout; anything else written to fd 1 (C++ logs) goes to stderr.
    sink = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    from .. import __version__
    from .backends import BACKEND_CLASSES

    try:
        backend = BACKEND_CLASSES[args.backend](device_kind=args.device, device_id=args.device_id,
                                                device_perf=args.device_perf,
                                                warmup=args.warmup, repeats=args.repeats, threads=args.threads)
    except Exception as exc:  # the harness reports why no vector can run here
        from ..device.capture import clean_error

        sink.write(json.dumps({"error": f"{type(exc).__name__}: {clean_error(exc)}"}) + "\n")
        return 1
    try:
        hello = {"protocol": PROTOCOL, "backend": args.backend, "opcast_version": __version__,
                 **backend.environment()}
        sink.write(json.dumps({"hello": hello}) + "\n")
        sink.flush()
        serve(backend, sys.stdin, sink)
    except BrokenPipeError:  # the harness is gone
        pass
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
