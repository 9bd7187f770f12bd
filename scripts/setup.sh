#!/usr/bin/env bash
# Sets up everything opcast needs on a fresh Debian 12 / Ubuntu machine, idempotently:
#   system packages (compiler, Armadillo, OpenBLAS, cereal, nlohmann-json, GoogleTest),
#   ensmallen headers (Debian 12 has none: taken from trixie's header-only package),
#   a Python 3.11 virtual environment .venv with opcast built and installed into it.
# mlpack's C++ headers come from the PyPI wheel `mlpack` (a build requirement in pyproject.toml).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deps="$root/.deps"
mkdir -p "$deps"

source "$root/scripts/debian_packages.sh"
install_debian_packages setup build-essential cmake ninja-build pkg-config libarmadillo-dev libopenblas-dev \
  libcereal-dev rapidjson-dev nlohmann-json3-dev libgtest-dev libssl-dev

# ensmallen: header-only; Debian 12 lacks it, trixie ships 2.22.1 (same mirror, another suite).
if [ ! -f "$deps/ensmallen/usr/include/ensmallen.hpp" ]; then
  echo "[setup] fetching ensmallen headers (Debian trixie libensmallen-dev)"
  lists="$deps/apt-trixie"
  mkdir -p "$lists/lists/partial" "$deps/debs"
  echo "deb ${OPCAST_DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie main" >"$lists/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$lists/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$lists/lists" -o Debug::NoLocking=1)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$deps/debs" && apt-get "${apt_opts[@]}" download libensmallen-dev)
  dpkg -x "$deps"/debs/libensmallen-dev_*.deb "$deps/ensmallen"
fi

# Python 3.11 virtual environment with opcast installed (C++ library, trainer, pybind module).
python=${OPCAST_PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $python"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: any other request pulls gigabytes of CUDA wheels. granite-tsfm 0.3.11
# (TinyTimeMixer's reference) without its dependencies: it pins torch<2.12, and pip would otherwise
# fall back to 0.3.2; the rest of the references come with opcast's `models` extra below.
.venv/bin/python -m pip install -q -c scripts/constraints.txt torch
.venv/bin/python -m pip install -q --no-deps granite-tsfm==0.3.11
echo "[setup] building and installing opcast (first build compiles mlpack: a few minutes)"
# A fixed build folder keeps rebuilds incremental and holds the C++ tests that scripts/test.sh runs.
.venv/bin/python -m pip install -q -c scripts/constraints.txt ".[test,models,ray]" \
  -C build-dir=build/py311 -C cmake.define.OPCAST_BUILD_TESTS=ON \
  -C cmake.define.ENSMALLEN_INCLUDE_DIR="$deps/ensmallen/usr/include"
.venv/bin/opcast --version
echo "[setup] done"
