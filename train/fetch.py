"""``opcast data fetch``: download the public source files of the Wormhole measurements.

``SOURCES`` is the "Sources" table of the shared data README (repo, pinned commit, path): the public
files the shared data set was assembled from. ``fetch(dest)`` downloads each from
``{base_url}/{repo}/{commit}/{path}`` (``raw.githubusercontent.com`` by default) into
``dest/{repo}/{commit}/{path}``, the same layout as the URL, so a folder served over HTTP with that
layout can stand in for GitHub (the tests do exactly that on 127.0.0.1).

Verification: a download is written to a temporary file and moved into place only when it is
non-empty, looks like CSV text (not an HTML error page) and, where the source pins one, matches its
git blob id (``git hash-object``) or sha256. Each file's sha256 is recorded in
``dest/manifest.json``; a file already present is skipped when it matches its pinned hash or the
manifest, and downloaded again otherwise. Errors name the URL; ``fetch`` tries every file and then
raises one ``FetchError`` listing all failures.

Note: these are the *raw* upstream files in their own formats. The TORP CSVs and the profiler
reports import directly (``opcast.train.importers``); the perf-modelling branch's raw CSVs
(``ssinghalTT/tt-metal``) are in several ad-hoc formats that the shared data's ``sweep_table`` files
were assembled from, and ``importers.load`` skips them as ``unknown_format`` when it walks the cache.
The shared data keeps part of each source back as unseen test data; the raw sources contain it, so
do not evaluate a model trained on fetched data against that held-back part.

``find_data_dir()`` returns the shared data folder when there is one, else the fetch cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

BASE_URL = "https://raw.githubusercontent.com"
DEFAULT_TIMEOUT = 60.0
MANIFEST = "manifest.json"
ENV_SHARED = "OPCAST_SHARED_DATA"
ENV_CACHE = "OPCAST_DATA_CACHE"


@dataclass(frozen=True)
class Source:
    repo: str  # owner/name
    commit: str  # 40 hex digits
    path: str  # path inside the repository at that commit
    git_blob: str | None = None  # git blob id (sha1 of "blob <size>\0<bytes>") when known
    sha256: str | None = None

    @property
    def relpath(self) -> str:
        return f"{self.repo}/{self.commit}/{self.path}"

    def url(self, base_url: str = BASE_URL) -> str:
        return f"{base_url.rstrip('/')}/{urllib.parse.quote(self.relpath)}"


_SS = "ssinghalTT/tt-metal"
_PM = "tests/sweep_framework/perf_model"
_TORP = "tenstorrent/ttnn-op-runtime-predictor"

# The README's Sources table. For the three TORP files the README gives today's paths
# (train/mlpack/..., train/python/exp/...), which only exist from commit 227f954 on; at the pinned
# commits the files live at mlpack/... and python/exp/... (same blobs), so those paths are used here.
SOURCES: tuple[Source, ...] = (
    Source(_SS, "ea17373d14dc86603c2f8ad82e7dcb5c24a8ea70", "filtered.csv"),
    Source(_SS, "ea17373d14dc86603c2f8ad82e7dcb5c24a8ea70", "filtered_rows.csv"),
    Source(_SS, "e9116fdb03fbf06b2236c6d5ebf8632fc857c639", "filtered_rows_new_data.csv"),
    Source(_SS, "e30693a5f20f80a9c0023e63622330af1d98e4c6", "perf_modeling/eltwise/binary/add/interleaved/csvs/training_data.csv"),
    Source(_SS, "e30693a5f20f80a9c0023e63622330af1d98e4c6", "perf_modeling/eltwise/binary/add/interleaved_and_sharded/moving_rectangle_data.csv"),
    Source(_SS, "e30693a5f20f80a9c0023e63622330af1d98e4c6", "perf_modeling/eltwise/binary/add/sharded/csvs/testing_data.csv"),
    Source(_SS, "e30693a5f20f80a9c0023e63622330af1d98e4c6", "perf_modeling/eltwise/binary/add/sharded/csvs/training_data.csv"),
    Source(_SS, "e30693a5f20f80a9c0023e63622330af1d98e4c6", "perf_modeling/eltwise/unary/relu/interleaved/csvs/filtered.csv"),
    Source(_SS, "e30693a5f20f80a9c0023e63622330af1d98e4c6", "perf_modeling/eltwise/unary/relu/sharded/csvs/filtered_rows_sharded.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", "test.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/iis_extracted.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/iis_extracted_moving_rectangle_dram_dram.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/iis_extracted_moving_rectangle_l1_l1.csv"),
    Source(_SS, "c73bc7d2d308dbc27cef2290969783a543930179", f"{_PM}/binary_add/is/iis/extracted_moving_rectangle_with_sharding.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/iis/extracted_moving_rectangle_with_sharding.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/iis/moving_rect_different_sizes/extracted_moving_rectangle_with_sharding.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/isi/extracted_moving_rectangle_with_sharding.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/iss/extracted_moving_rectangle_with_sharding.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/iss/model/all_results.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/ssi/extracted_moving_rectangle.csv"),
    Source(_SS, "2ccb29767257d97a7b93047c99ed503d1156babb", f"{_PM}/binary_add/is/ssi/extracted_moving_rectangle_with_sharding.csv"),
    *(Source(_SS, "0d53043270698153d827f3ba769ea323812af53d", f"{_PM}/error_distribution/csvs/{i}.csv")
      for i in (1, 10, 2, 3, 4, 5, 6, 7, 8, 9)),
    Source(_SS, "f7374d9c969b7f8f49fc0ffbbcad90bb162d65b8", f"{_PM}/filtered_rows_sharded.csv"),
    Source("tenstorrent/tt-forge-fe", "be50470a61ac2c1b42ec98601730ee5e570317f7",
           "forge/test/benchmark/test_data/device_perf/ops_perf_results.csv"),
    Source("tenstorrent/tt-metal", "1267da6d398d4caeb05ae0c4ae3bdf992a776ddb",
           "models/demos/wormhole/rt_detr/ops_perf_results_rtdetr_2026_05_25_05_51_41.csv"),
    Source("tenstorrent/tt-perf-report", "47849a48e211e9c8f7920099041336b72fb7e6de", "tests/data/wh_clip_encoder_2.csv"),
    Source(_TORP, "12cf11115624c53a9775b491e83eb066940d69ec", "mlpack/matmul_height_sharded.csv",
           git_blob="0946c4f08f11420e1c56243eb96f89c1669d5597"),
    Source(_TORP, "9f716a8f25a478ce95b4aeffd8b9f5d2b8381bfc", "python/exp/big_exp_dataset.csv",
           git_blob="f378c3fa94c4da664e2f434e17758421a58e2187"),
    Source(_TORP, "227dbe88aa2cd80df204d537469bfa64bc82f95f", "python/exp/final_exp_dataset.csv",
           git_blob="d62338da42a6b17ae496fe405b5e6c40b16cb682"),
    Source("tenstorrent/ttnn-visualizer", "db6c7877cf7352fec2591a5a9c2d9a4e49182486",
           "public/demo-reports/data/local/performance-reports/SEG_ENCODER_2025_02_16_18_11_10/"
           "ops_perf_results_2025_02_16_18_11_10.csv"),
    Source("tenstorrent/ttnn-visualizer", "16c2049358f10897b8779bad1bd1a147bf6522b7",
           "public/perf/ops_perf_results_SEG_ENCODER_2024_10_04_01_36_08.csv"),
)


class FetchError(RuntimeError):
    """A download failed or did not verify; the message names the URL(s)."""


@dataclass(frozen=True)
class FetchResult:
    source: Source
    path: Path
    status: str  # "downloaded" | "present"
    sha256: str


def git_blob_id(data: bytes) -> str:
    """The id ``git hash-object`` gives these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _problem(source: Source, data: bytes) -> str | None:
    """Why these bytes are not a good copy of the source, or None."""
    if not data:
        return "empty file"
    if source.git_blob and git_blob_id(data) != source.git_blob:
        return f"git blob id {git_blob_id(data)} != pinned {source.git_blob}"
    if source.sha256 and _sha256(data) != source.sha256:
        return f"sha256 {_sha256(data)} != pinned {source.sha256}"
    head = data[:4096].lstrip()
    if head[:1] == b"<" or head[:15].lower().startswith(b"<!doctype"):
        return "looks like HTML, not CSV"
    first_line = head.split(b"\n", 1)[0]
    if b"," not in first_line:
        return "first line has no comma: not CSV"
    return None


def default_cache_dir() -> Path:
    """``$OPCAST_DATA_CACHE``, else ``$XDG_CACHE_HOME/opcast/data``, else ``~/.cache/opcast/data``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "opcast" / "data"


def _load_manifest(dest: Path) -> dict[str, dict]:
    p = dest / MANIFEST
    if not p.is_file():
        return {}
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
        return m.get("files", {}) if isinstance(m, dict) else {}
    except (json.JSONDecodeError, OSError):
        return {}


def _save_manifest(dest: Path, files: dict[str, dict]) -> None:
    tmp = dest / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, dest / MANIFEST)


def _download(url: str, timeout: float) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "opcast-data-fetch"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise FetchError(f"{url}: {e.reason}") from None
    except (TimeoutError, OSError) as e:
        raise FetchError(f"{url}: {e}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fetch(dest: str | os.PathLike[str] | None = None, sources: Sequence[Source] = SOURCES, *,
          base_url: str = BASE_URL, timeout: float = DEFAULT_TIMEOUT, progress: bool | None = None,
          log=None) -> list[FetchResult]:
    """Download ``sources`` into ``dest`` (default ``default_cache_dir()``), skipping verified copies.

    Returns one ``FetchResult`` per source. Every source is tried; if any failed, one ``FetchError``
    naming each failing URL is raised after the others are done.
    """
    dest = Path(dest).expanduser() if dest is not None else default_cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(dest)
    results: list[FetchResult] = []
    errors: list[str] = []
    items: Iterable[Source] = sources
    if progress if progress is not None else len(sources) > 5 and sys.stderr.isatty():
        from tqdm.auto import tqdm

        items = tqdm(sources, desc="fetching", unit="file")
    for src in items:
        target = dest / src.relpath
        if target.is_file():
            data = target.read_bytes()
            digest = _sha256(data)
            pinned = bool(src.git_blob or src.sha256)
            known = manifest.get(src.relpath, {}).get("sha256")
            if _problem(src, data) is None and (pinned or known == digest):
                results.append(FetchResult(src, target, "present", digest))
                continue
        url = src.url(base_url)
        try:
            data = _download(url, timeout)
            why = _problem(src, data)
            if why:
                raise FetchError(f"{url}: downloaded file does not verify: {why}")
        except FetchError as e:
            errors.append(str(e))
            if log:
                log(f"error: {e}")
            continue
        _write_atomic(target, data)
        digest = _sha256(data)
        manifest[src.relpath] = {"url": url, "sha256": digest, "bytes": len(data)}
        _save_manifest(dest, manifest)
        results.append(FetchResult(src, target, "downloaded", digest))
        if log:
            log(f"downloaded {src.relpath} ({len(data)} bytes)")
    if errors:
        raise FetchError(f"{len(errors)} of {len(sources)} files failed:\n  " + "\n  ".join(errors))
    return results


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``$OPCAST_SHARED_DATA``, else ``<repo>/../shared/data``, else ``./../shared/data``; None if absent."""
    env = os.environ.get(ENV_SHARED)
    candidates = [Path(env).expanduser()] if env else []
    candidates += [_repo_root().parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def find_data_dir() -> Path:
    """The shared measurements when present (see ``shared_data_dir``), else the fetch cache folder
    (``default_cache_dir()``; it may be empty until ``opcast data fetch`` has run)."""
    return shared_data_dir() or default_cache_dir()


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def _cli_fetch(args: argparse.Namespace) -> int:
    dest = Path(args.dest).expanduser() if args.dest else default_cache_dir()
    try:
        res = fetch(dest, SOURCES, base_url=args.base_url, timeout=args.timeout,
                    log=lambda m: print(m, file=sys.stderr))
    except FetchError as e:
        print(f"opcast data fetch: {e}", file=sys.stderr)
        return 1
    n_new = sum(r.status == "downloaded" for r in res)
    print(f"{len(res)} files in {dest} ({n_new} downloaded, {len(res) - n_new} already present)")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` (with ``fetch``) to the main CLI's subparsers. Each leaf sets ``func``:
    ``args.func(args)`` runs it and returns the exit status."""
    data = subparsers.add_parser("data", help="measurement data: fetch the public source files")
    sub = data.add_subparsers(dest="data_command", metavar="{fetch}")
    sub.required = True
    f = sub.add_parser("fetch", help="download the public source files into a local cache")
    f.add_argument("--dest", default=None, help=f"cache folder (default: {default_cache_dir()})")
    f.add_argument("--base-url", default=BASE_URL, help=argparse.SUPPRESS)
    f.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per download")
    f.set_defaults(func=_cli_fetch)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry: ``python -m opcast.train.fetch data fetch [--dest DIR]``."""
    parser = argparse.ArgumentParser(prog="opcast")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
