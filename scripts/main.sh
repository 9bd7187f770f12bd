#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the main job: train per-op models on the real Wormhole
# measurements, answer example queries, and write the accuracy report (plots + Markdown).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
export OPENBLAS_NUM_THREADS=1
opcast=.venv/bin/opcast

data=${OPCAST_DATA:-$root/../shared/data}
if [ ! -d "$data" ]; then
  echo "[main] $data not found: downloading the public measurement files"
  data=$HOME/.cache/opcast/data
  $opcast data fetch --dest "$data"
fi
out=${OPCAST_OUT:-$root/artifacts}

$opcast train --data "$data" --out "$out/models"

echo "[main] example queries"
$opcast predict --models "$out/models" --json '{"op": "ttnn.matmul", "inputs": [{"shape": [1,1,640,96], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 10}, {"shape": [1,1,96,288], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}], "attributes": {}}'
$opcast predict --models "$out/models" --json '{"op": "ttnn.exp", "inputs": [{"shape": [1,1,512,1024], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]}'
$opcast predict --models "$out/models" --json '{"op": "ttnn.add", "inputs": [{"shape": [1,1,1024,1024], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_BLOCK_SHARDED", "grid": [4,4]}, {"shape": [1,1,1024,1024], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_BLOCK_SHARDED", "grid": [4,4]}]}'

echo "[main] TTM-R1 at batch 32: every op priced, then tuned (default vs tt-mlir-style vs opcast plan)"
$opcast trace ttm --batch 32 --models "$out/models" --out "$out/ttm_b32_trace.json"
$opcast tune ttm --batch 32 --models "$out/models" --out "$out/ttm_b32_plan.json"

$opcast report --models "$out/models" --data "$data" --out "$out/report"
echo "[main] done: models in $out/models, report in $out/report/report.md"
