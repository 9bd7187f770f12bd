#!/usr/bin/env bash
# Sets up opcast's ttnn mock-device environment, idempotently:
#   - the Debian package binutils-riscv64-unknown-elf (riscv64-unknown-elf-ld/-as), if missing;
#   - .venv-mock, a Python 3.12 virtual environment with ttnn==0.81.1, numpy and pytest (never torch);
#   - opcast itself installed into .venv-mock (C++ query library and pybind module; no mlpack trainer, no
#     torch), so `import opcast.device` / `opcast.models` and `.venv-mock/bin/opcast trace ...
#     --device mock` work; rebuilt only when its sources change (a hash of them is kept in .venv-mock);
#   - stand-ins for sfpi, tt's RISC-V compiler, which the ttnn wheel lacks (see below);
#   - a smoke check: open the mock Wormhole n150 device and capture one op (python -m opcast.device --smoke).
# Downloads only from PyPI (pip) and the Debian mirror (apt-get). Run from anywhere:
#   scripts/setup_mock.sh
#
# Why stand-ins: opening a ttnn device, and building any op's program, goes through tt-metal's JIT
# build, which runs <ttnn>/runtime/sfpi/compiler/bin/riscv-tt-elf-g++. The mock device executes
# nothing, so the kernels only have to exist as files the loader accepts. The stand-in g++
#   --version  prints the sfpi release of <ttnn>/tt_metal/sfpi-version the way sfpi's g++ does; the
#              JIT hashes it into the firmware build key, so the firmware pre-compiled in the wheel
#              (tt_metal/pre-compiled/<key>/) is found and never rebuilt;
#   -c         copies a placeholder RISC-V object (assembled once here) and writes the -MF dep file;
#   -x c++-header  writes an empty precompiled header;
#   link       runs riscv64-unknown-elf-ld with tt-metal's own linker script, -L dirs, --defsym and
#              --just-symbols=<firmware> options on the placeholder objects (the wheel's runtime
#              objects are sfpi LTO bitcode, so they are left out). The result is a valid ELF32
#              RISC-V executable laid out where the real kernel would be, with relocations
#              (--emit-relocs; the loader requires them to make kernels execute-in-place).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ttnn_version=0.81.1
venv="$root/.venv-mock"

# 1. RISC-V binutils (the linker behind the stand-in).
source "$root/scripts/debian_packages.sh"
install_debian_packages setup_mock binutils-riscv64-unknown-elf

# 2. Python 3.12 virtual environment (ttnn ships wheels for CPython 3.10 and 3.12 only).
find_python312() {
  if [ -n "${OPCAST_MOCK_PYTHON:-}" ]; then echo "$OPCAST_MOCK_PYTHON"; return; fi
  if command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.12.1 python3.12 -c '' >/dev/null 2>&1; then
    echo "env PYENV_VERSION=3.12.1 python3.12"; return
  fi
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c '' >/dev/null 2>&1; then echo python3.12; return; fi
  echo "[setup_mock] no Python 3.12 found (set OPCAST_MOCK_PYTHON)" >&2
  exit 1
}
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
  echo "[setup_mock] $venv is not a Python 3.12 environment; recreating it"
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  python312=$(find_python312)
  echo "[setup_mock] creating $venv with $python312"
  $python312 -m venv "$venv"
fi
py="$venv/bin/python"

# 3. ttnn (and pytest for tests/test_mock_device.py). ttnn pulls numpy<2 but not torch.
installed=$("$py" -m pip show ttnn 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$installed" != "$ttnn_version" ] || ! "$py" -c 'import pytest' >/dev/null 2>&1; then
  echo "[setup_mock] installing ttnn==$ttnn_version (about 100 MB) and pytest"
  "$py" -m pip install -q --disable-pip-version-check "ttnn==$ttnn_version" "pytest>=8"
fi

# 3b. opcast, from this checkout: the C++ library and pybind module built for 3.12 in build/py312 (incremental),
# without the mlpack trainer (the only part that needs ensmallen/mlpack headers) and without torch (opcast
# depends on none; the models import it only for host numerics). numpy stays below 2 (ttnn's pin, which pip's
# resolver does not see when it upgrades other packages). Skipped when the sources are unchanged.
opcast_sources() {
  find pyproject.toml CMakeLists.txt catalogue cpp interface-pybind models sweeps train -type f \
    ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
stamp="$venv/.opcast-sources"
sources=$(opcast_sources)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ] \
   || ! "$py" -c 'import opcast._core, opcast.models, opcast.device' >/dev/null 2>&1; then
  echo "[setup_mock] building and installing opcast into $venv (C++ library and module, no trainer: 1-2 minutes)"
  "$py" -m pip install -q --disable-pip-version-check -c scripts/constraints.txt "$root" "numpy>=1.24.4,<2" \
    -C build-dir=build/py312 -C cmake.define.OPCAST_BUILD_TRAINER=OFF \
    -C cmake.define.OPCAST_BUILD_BENCHMARKS=OFF -C cmake.define.OPCAST_BUILD_TESTS=OFF
  echo "$sources" >"$stamp"
fi
if "$py" -m pip show torch >/dev/null 2>&1; then
  echo "[setup_mock] torch is installed in $venv; it must not be (it pulls gigabytes): pip uninstall torch" >&2
  exit 1
fi

# 4. sfpi stand-ins, inside the ttnn package (found without importing ttnn, which is slow and noisy).
ttnn_dir=$("$py" -c 'import importlib.util as u; print(u.find_spec("ttnn").submodule_search_locations[0])')
version_file="$ttnn_dir/tt_metal/sfpi-version"
sfpi_version=$(sed -n "s/^sfpi_version='\(.*\)'$/\1/p" "$version_file")
sfpi_build=$(sed -n "s/^sfpi_build='\(.*\)'$/\1/p" "$version_file")
if [ -z "$sfpi_version" ]; then
  echo "[setup_mock] cannot read sfpi_version from $version_file" >&2
  exit 1
fi
sfpi="$ttnn_dir/runtime/sfpi"
bin="$sfpi/compiler/bin"
mkdir -p "$bin" "$sfpi/compiler/lib" "$sfpi/include"
# The stand-in runs thousands of times in a cold sweep: use the real interpreter, no site, no env.
interp=$("$py" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')

printf '.text\n.weak _start\n.type _start, @function\n_start:\n  call 1f\n1:\n  ret\n' \
  | riscv64-unknown-elf-as -march=rv32i -mabi=ilp32 -o "$sfpi/compiler/lib/opcast-stub.o" -

cat >"$bin/riscv-tt-elf-g++.tmp" <<EOF
#!$interp -SE
"""opcast stand-in for sfpi's riscv-tt-elf-g++ (generated by scripts/setup_mock.sh; do not edit).

For ttnn's mock device only: it compiles nothing. --version reports sfpi $sfpi_version; -c writes a
placeholder RISC-V object and the -MF dependency file; a link runs riscv64-unknown-elf-ld with the
linker script and options tt-metal passes, on placeholder objects only (it replaces this process).
Set OPCAST_SFPI_STANDIN_LOG=<file> to log every call.
"""
import os
import sys

VERSION = "riscv-tt-elf-g++ (tenstorrent/sfpi:$sfpi_version[$sfpi_build]) 15.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
STUB = os.path.join(HERE, "..", "lib", "opcast-stub.o")
WHEEL_LIB = os.path.realpath(os.path.join(HERE, "..", "..", "..", "hw")) + os.sep
TAKES_VALUE = {"-MT", "-MQ", "-x", "-include", "-isystem", "-iquote", "-I", "-D", "-U", "-l", "--param"}


def main(argv):
    log = os.environ.get("OPCAST_SFPI_STANDIN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(os.getcwd() + " :: " + " ".join(argv) + "\\n")
    if "--version" in argv or "-dumpfullversion" in argv or "-dumpversion" in argv:
        print(VERSION if "--version" in argv else "15.1.0")
        if "--version" in argv:
            print("Copyright (C) 2025 Free Software Foundation, Inc.")
            print("(opcast mock stand-in: compiles nothing, links placeholder kernels)")
        return 0
    out = dep = script = None
    compile_only = header = False
    inputs, lib_dirs, ld_opts = [], [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if a == "-o":
            out, i = nxt, i + 1
        elif a == "-MF":
            dep, i = nxt, i + 1
        elif a == "-c":
            compile_only = True
        elif a == "-T":
            script, i = nxt, i + 1
        elif a.startswith("-T"):
            script = a[2:]
        elif a == "-L":
            lib_dirs.append("-L" + nxt)
            i += 1
        elif a.startswith("-L"):
            lib_dirs.append(a)
        elif a.startswith("-Wl,"):
            ld_opts += [o for o in a[4:].split(",") if o]
        elif a in TAKES_VALUE:
            header = header or (a == "-x" and nxt.startswith("c++-header"))
            i += 1
        elif not a.startswith("-"):
            inputs.append(a)
        i += 1
    if out is None:
        sys.stderr.write("riscv-tt-elf-g++ (opcast stand-in): no -o given\\n")
        return 1
    if header:
        open(out, "wb").close()
        return 0
    if compile_only:
        with open(STUB, "rb") as src, open(out, "wb") as dst:
            dst.write(src.read())
        if dep:
            with open(dep, "w") as f:
                f.write(out + ": " + " ".join(x for x in inputs if not x.endswith(".o")) + "\\n")
        return 0
    objs = [x for x in inputs if x.endswith(".o") and not os.path.realpath(x).startswith(WHEEL_LIB)]
    cmd = ["riscv64-unknown-elf-ld", "-m", "elf32lriscv"] + lib_dirs
    cmd += (["-T", script] if script else []) + ld_opts + (objs or [STUB]) + ["-o", out]
    os.execvp(cmd[0], cmd)  # ld's exit status is ours


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
EOF
chmod +x "$bin/riscv-tt-elf-g++.tmp"
mv -f "$bin/riscv-tt-elf-g++.tmp" "$bin/riscv-tt-elf-g++"
ln -sf riscv-tt-elf-g++ "$bin/riscv-tt-elf-gcc"
ln -sf riscv-tt-elf-g++ "$bin/riscv-tt-elf-c++"
for tool in as ld objcopy objdump readelf nm size ar strip; do
  ln -sf "$(command -v "riscv64-unknown-elf-$tool")" "$bin/riscv-tt-elf-$tool"
done
printf 'opcast sfpi stand-in for ttnn %s, reporting sfpi %s[%s]; generated by scripts/setup_mock.sh\n' \
  "$ttnn_version" "$sfpi_version" "$sfpi_build" >"$sfpi/OPCAST_STANDIN"
"$bin/riscv-tt-elf-g++" --version | head -n1

# 5. Smoke check: open the mock n150 and capture one op.
echo "[setup_mock] smoke check"
"$py" -m opcast.device --smoke
echo "[setup_mock] done: run the mock tests with (cd tests && ../.venv-mock/bin/python -m pytest -m mock test_*mock*.py)"
