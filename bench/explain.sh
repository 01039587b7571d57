#!/usr/bin/env bash
# Benchmark: seconds per explanation of netlens (release; Grad-CAM and IG on burn flex
# autodiff, Shapley on tract) next to captum on PyTorch CPU (bench/explain.py), as ratios
# netlens / captum, on a full-width ResNet-34 with random weights at 224x224:
# Grad-CAM, IG with 32 steps, Shapley with 49 patches x 20 permutations.
# Needs a Python with torch, torchvision, captum and onnx: PYTHON=/path/to/python bash bench/explain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cargo build --release --quiet -p netlens-analyze --example explain_bench
"$PYTHON" bench/explain.py "$tmp/resnet34.onnx" > "$tmp/captum.json"
"${CARGO_TARGET_DIR:-target}"/release/examples/explain_bench "$tmp/resnet34.onnx" > "$tmp/netlens.json"
"$PYTHON" - "$tmp/netlens.json" "$tmp/captum.json" <<'PY'
import json, sys
ours, theirs = (json.load(open(p)) for p in sys.argv[1:3])
print(f"{'method':<28}{'netlens_s':>12}{'captum_s':>12}{'ratio':>8}")
for key, label in [("grad_cam_s", "Grad-CAM (layer4)"), ("ig_s", "IG, 32 steps"), ("shapley_s", "Shapley, 49 patches x 20")]:
    print(f"{label:<28}{ours[key]:>12.3f}{theirs[key]:>12.3f}{ours[key] / theirs[key]:>8.2f}")
print(f"(captum on {theirs['threads']} torch threads)")
PY
