#!/usr/bin/env bash
# Rebuilds the default model end to end (about 70-110 min on 2 CPU cores):
#   train (resumable) -> export loss-capable ONNX + manifest -> reference fixtures -> held-out split.
# Needs Debian's python3-torch python3-torchvision python3-onnx python3-pil, and libopenblas0-pthread
# (Debian's torch is linked against the generic reference BLAS, which makes the box head's matmuls
# ~8x slower; installing OpenBLAS switches the libblas.so.3 alternative: 9.3 s -> 2.4 s per iteration).
# The held-out AP of the model card is measured by `npm run model:card` (TypeScript, onnxruntime-node).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/usr/bin/python3}
ITERS=${ITERS:-1600}
OUT=${OUT:-work/train}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
$PY tools/model/train.py --config tools/model/config.json --out "$OUT" --iters "$ITERS"
mkdir -p models/shapes
$PY - "$OUT" <<'PY'
import sys, torch
st = torch.load(f"{sys.argv[1]}/last.pt", map_location="cpu")
torch.save(st["model"], "models/shapes/weights.pt")
PY
$PY tools/model/export.py --config tools/model/config.json --weights models/shapes/weights.pt \
    --out models/shapes --extra tools/model/manifest-extra.json
$PY tools/model/make_fixtures.py --weights models/shapes/weights.pt --out test/fixtures/losses
$PY tools/model/make_dataset.py --seed 3000 --count 200 --out work/heldout
echo "done: models/shapes, test/fixtures/losses, work/heldout"
