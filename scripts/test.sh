#!/usr/bin/env bash
# The test command of the README: installs the Python ONNX checker the end-to-end tests call
# (into .venv, once), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import onnx" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "onnx==1.23.2"
fi
# Built with the wgpu backend, so the GPU tests (tests/gpu.rs) run wherever a Vulkan device exists
# (a GPU, or Mesa's software lavapipe that .ci/run installs); elsewhere they say why they skip.
cargo test --workspace --features netlens/wgpu "$@"
