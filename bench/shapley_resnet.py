"""Shapley estimators on a full-width ResNet-34 (random weights, seed 0; one 224x224 input, seed 0;
target = its argmax; 7x7 patches of 32x32 pixels, zero baseline): the error of netlens's default
estimator (antithetic permutation sampling; forward passes on the differentiable executor, as `netlens explain` runs them at 224²) and of captum's ShapleyValueSampling
against a long netlens run, as a function of model calls and seconds.

The reference is netlens with REFERENCE_ORDERS orders (seed 1000, disjoint from the others).
Exact values are out of reach at 49 patches (2^49 coalitions). Error is the relative L2 error
||phi_hat - phi_ref|| / ||phi_ref||, mean over SEEDS seeds; seconds are the attribution alone
(model loaded), captum with 49 coalitions per forward pass on 2 torch threads.

Usage: python bench/shapley_resnet.py   (from the repository root; needs torch, torchvision,
captum, onnx, and builds the shapley_curve example with cargo)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision
from captum.attr import ShapleyValueSampling

REFERENCE_ORDERS, SEEDS = 60, [1, 2]
NETLENS_ORDERS = [4, 6, 10]  # antithetic pairs: at least 4, even
CAPTUM_PERMUTATIONS = [5, 20]


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torchvision.models.resnet34(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        target = int(model(x).argmax())
    target_dir = os.environ.get("CARGO_TARGET_DIR", "target")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "netlens-analyze", "--example", "shapley_curve"],
                   check=True)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, input_path = os.path.join(tmp, "resnet34.onnx"), os.path.join(tmp, "input.npy")
        torch.onnx.export(model, x, onnx_path, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        np.save(input_path, x.numpy())

        def netlens(orders, seeds):
            out = subprocess.run([os.path.join(target_dir, "release", "examples", "shapley_curve"), onnx_path,
                                  input_path, str(target), ",".join(map(str, orders)), ",".join(map(str, seeds))],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"shapley_curve failed: {out.stderr}")
            out = out.stdout
            return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

        reference = np.array(netlens([REFERENCE_ORDERS], [1000])[0]["values"])
        rows = []
        for r in netlens(NETLENS_ORDERS, SEEDS):
            rows.append(("netlens antithetic", r["orders"], r["orders"] * 48 + 2, r["seconds"], np.array(r["values"])))
        cells = torch.arange(224) // 32
        mask = (cells[:, None] * 7 + cells[None, :]).expand(1, 3, 224, 224).contiguous()
        svs = ShapleyValueSampling(model)
        for m in CAPTUM_PERMUTATIONS:
            for seed in SEEDS:
                torch.manual_seed(seed)
                start = time.perf_counter()
                with torch.no_grad():
                    a = svs.attribute(x, target=target, feature_mask=mask, n_samples=m, perturbations_per_eval=49)
                seconds = time.perf_counter() - start
                phi = np.array([float(a[0, 0][mask[0, 0] == p][0]) for p in range(49)])
                rows.append(("captum", m, m * 49 + 1, seconds, phi))
    scale = np.linalg.norm(reference)
    print(f"reference: netlens, {REFERENCE_ORDERS} orders; target class {target}; {len(SEEDS)} seeds per row")
    print(f"{'estimator':<22}{'orders':>7}{'calls':>7}{'seconds':>9}{'rel. L2 error':>15}")
    for name in dict.fromkeys(r[0] for r in rows):
        for m in dict.fromkeys(r[1] for r in rows if r[0] == name):
            sel = [r for r in rows if r[0] == name and r[1] == m]
            err = np.mean([np.linalg.norm(r[4] - reference) / scale for r in sel])
            print(f"{name:<22}{m:>7}{sel[0][2]:>7}{np.mean([r[3] for r in sel]):>9.2f}{err:>15.3f}")


if __name__ == "__main__":
    sys.exit(main())
