#!/usr/bin/env bash
# Sets everything up (idempotent) and runs every test: C++ (ctest), the C++ library again under
# ASAN + UBSAN with a bounded libFuzzer run (scripts/sanitize.sh), Python (pytest, Python 3.11), and
# the ttnn mock-device tests (Python 3.12 environment .venv-mock).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
if [ -x scripts/setup_mock.sh ]; then scripts/setup_mock.sh; fi

export OPENBLAS_NUM_THREADS=1
echo "[test] C++ tests (ctest)"
ctest --test-dir build/py311 --output-on-failure -j2

status=0
echo "[test] C++ library under AddressSanitizer + UndefinedBehaviorSanitizer, and its fuzzer"
OPCAST_FUZZ_RUNS=${OPCAST_FUZZ_RUNS:-1000000} scripts/sanitize.sh || status=$?

echo "[test] Python tests"
# Run from tests/ so that `import opcast` is the installed package, not the source folders.
(cd tests && ../.venv/bin/python -m pytest -q -m "not mock" -p no:cacheprovider) || status=$?
if [ -x .venv-mock/bin/python ]; then
  echo "[test] ttnn mock-device tests (Python 3.12)"
  # Only the mock test files: the others need the opcast build of the 3.11 environment.
  (cd tests && ../.venv-mock/bin/python -m pytest -q -m mock -p no:cacheprovider test_*mock*.py) || status=$?
fi
exit $status
