#!/usr/bin/env bash
# The C++ query library and its tests built with AddressSanitizer + UndefinedBehaviorSanitizer
# (clang 14), the tests run, then the query fuzzer (libFuzzer) for a bounded number of inputs,
# seeded with cpp/fuzz/corpus. Any sanitizer finding, crash or failed check fails the script.
#   OPCAST_FUZZ_RUNS   inputs the fuzzer tries (default 300000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

source "$root/scripts/debian_packages.sh"
install_debian_packages sanitize clang-14 libclang-rt-14-dev

build=build/sanitize
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOPCAST_SANITIZE=ON -DOPCAST_BUILD_FUZZER=ON \
  -DOPCAST_BUILD_TRAINER=OFF -DOPCAST_BUILD_PYTHON=OFF -DOPCAST_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build"

export ASAN_OPTIONS=abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "[sanitize] C++ tests under ASAN + UBSAN"
ctest --test-dir "$build" --output-on-failure -j2 -E cmake_consumer

runs=${OPCAST_FUZZ_RUNS:-300000}
corpus="$build/fuzz-corpus"
mkdir -p "$corpus"
echo "[sanitize] fuzzing the query entry point: $runs inputs (libFuzzer, ASAN + UBSAN)"
"$build/cpp/opcast_fuzz_query" -runs="$runs" -dict=cpp/fuzz/query.dict -max_len=4096 -print_final_stats=1 \
  "$corpus" cpp/fuzz/corpus 2>&1 | tail -n 25
echo "[sanitize] $runs fuzzed inputs, 0 findings"
