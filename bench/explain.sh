#!/usr/bin/env bash
# Benchmark: seconds per explanation of netlens (release; Grad-CAM and IG on burn flex
# autodiff, Shapley on tract) next to captum on PyTorch CPU (bench/explain.py), as ratios
# netlens / captum, on a full-width ResNet-34 with random weights at 224x224:
# Grad-CAM, IG with 32 steps, Shapley with 49 patches x 20 permutations. GFLOP/s: the work captum
# does for each method (bench/explain.py counts it) over each side's seconds.
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
print(f"{'method':<28}{'netlens_s':>12}{'captum_s':>12}{'ratio':>8}{'netlens_GFLOP/s':>17}{'captum_GFLOP/s':>16}")
for key, label in [("grad_cam", "Grad-CAM (layer4)"), ("ig", "IG, 32 steps"), ("shapley", "Shapley, 49 patches x 20")]:
    o, t, work = ours[key + "_s"], theirs[key + "_s"], theirs[key + "_gflop"]
    print(f"{label:<28}{o:>12.3f}{t:>12.3f}{o / t:>8.2f}{work / o:>17.1f}{work / t:>16.1f}")
print(f"(captum on {theirs['threads']} torch threads)")
PY
