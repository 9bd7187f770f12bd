"""``python -m opcast.device --smoke | --info | --write-fixtures DIR``: check the mock Wormhole n150.

Run by scripts/setup_mock.sh (``--smoke``) in the Python 3.12 environment ``.venv-mock``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .. import vocabulary
from .capture import CaptureResult, capture
from .environment import import_ttnn
from .fixtures import write_fixtures
from .session import device_info, open_device
from .tensors import from_numpy, live_enum_values


def smoke() -> CaptureResult:
    """Open the mock device and capture ttnn.add of two L1-interleaved bfloat16 tiles."""
    import numpy as np

    ttnn = import_ttnn()
    with open_device() as device:
        a = from_numpy(np.ones((1, 1, 32, 32)), vocabulary.BFLOAT16, vocabulary.TILE, vocabulary.L1_INTERLEAVED)
        b = from_numpy(np.ones((1, 1, 32, 32)), vocabulary.BFLOAT16, vocabulary.TILE, vocabulary.L1_INTERLEAVED)
        result = capture(ttnn.add, a, b)
        summary = {k: v for k, v in result.to_dict().items() if k not in ("outputs", "calls")}
        print("device:", json.dumps(device_info(device)))
        print("capture of ttnn.add (2 L1-interleaved bfloat16 tiles):", json.dumps(summary))
    if not (result.ok and result.l1_peak_per_core > 0 and result.fits_l1 and result.ops):
        raise SystemExit("opcast.device smoke check failed")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opcast.device",
                                     description="opcast's ttnn device layer: the mock Wormhole n150")
    parser.add_argument("--smoke", action="store_true", help="open the mock device and capture one op")
    parser.add_argument("--info", action="store_true", help="print device figures and ttnn's enum values")
    parser.add_argument("--write-fixtures", metavar="DIR", help="write tensor_spec_*.json examples to DIR")
    args = parser.parse_args(argv)
    if args.smoke:
        smoke()
    if args.info:
        with open_device() as device:
            print(json.dumps({"device": device_info(device), "enums": live_enum_values()}, indent=1))
    if args.write_fixtures:
        with open_device():
            for path in write_fixtures(args.write_fixtures):
                print(path)
    if not (args.smoke or args.info or args.write_fixtures):
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
