"""Shapley estimators: error against the exact values as a function of model calls and of seconds.

On `torch-small-cnn.onnx` (the fixture, rebuilt as a PyTorch module as in shapley_small.py),
IMAGES Fashion-MNIST test images, a 4x4 grid (16 patches), zero baseline. The reference is exact:
all 2^16 coalitions, computed twice, by `netlens explain --shapley-estimator exact` and here in
PyTorch (the two must agree to float rounding). Then for each budget of sampled orders, netlens's
`permutation` and `kernel` estimators and captum's ShapleyValueSampling (permutation sampling)
run with SEEDS seeds each; the table gives the relative L2 error ||phi_hat - phi|| / ||phi||
(mean over images and seeds), the model calls per image, and seconds per image (the whole
netlens command, model load and figures included; captum's attribute call alone).

Usage: python bench/shapley_error.py NETLENS_BINARY  (needs torch, captum, onnx)
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from captum.attr import ShapleyValueSampling

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapley_small import DATA, MODEL, torch_model  # noqa: E402

IMAGES, GRID, SEEDS = 4, 4, 3
BUDGETS = [10, 20, 40, 80, 160, 320]


def netlens_run(binary, estimator, permutations, seed):
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "explain", str(MODEL), "--data", str(DATA), "--index",
               ",".join(str(i) for i in range(IMAGES)), "--methods", "shapley", "--baseline", "zeros",
               "--grid", str(GRID), "--permutations", str(permutations), "--shapley-estimator", estimator,
               "--seed", str(seed), "--out", out]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - t
        images = json.load(open(Path(out) / "explanations.json"))["images"]
    values = np.array([img["shapley"]["values"] for img in images])
    return values, images[0]["shapley"]["model_calls"], seconds / IMAGES


def exact_in_torch(model, x, targets, mask):
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S)), all 2^n coalitions."""
    n = GRID * GRID
    codes = torch.arange(1 << n)
    bits = ((codes[:, None] >> torch.arange(n)) & 1).float()  # [2^n, n]
    pixel_on = bits[:, mask.reshape(-1)]  # [2^n, 1024]
    from math import factorial
    weight = torch.tensor([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)], dtype=torch.float64)
    out = []
    for b in range(x.shape[0]):
        v = []
        with torch.no_grad():
            for chunk in pixel_on.split(4096):
                logits = model((chunk * x[b].reshape(1, -1)).reshape(-1, 1, 32, 32))
                v.append(logits[:, targets[b]].double())
        v = torch.cat(v)
        size = bits.sum(1).long()
        phi = []
        for i in range(n):
            without = codes[(codes >> i) & 1 == 0]
            phi.append((weight[size[without]] * (v[without | (1 << i)] - v[without])).sum().item())
        out.append(phi)
    return np.array(out)


def main():
    binary = sys.argv[1]
    torch.set_num_threads(2)
    x = torch.from_numpy(np.load(DATA / "X_test.npy")[:IMAGES].astype(np.float32) / 255.0).reshape(IMAGES, 1, 32, 32)
    model = torch_model()
    with torch.no_grad():
        targets = model(x).argmax(1)
    side = 32 // GRID
    mask = torch.arange(GRID * GRID).reshape(GRID, GRID).repeat_interleave(side, 0).repeat_interleave(side, 1)
    exact, calls, exact_s = netlens_run(binary, "exact", 4, 0)
    reference = exact_in_torch(model, x, targets, mask)
    agreement = np.abs(exact - reference).max() / np.abs(reference).max()
    print(f"exact Shapley values, 16 patches, {IMAGES} images of torch-small-cnn: {calls:,} model calls and "
          f"{exact_s:.2f} s per image in netlens; netlens vs PyTorch exact: max gap {agreement:.1e} of the largest |phi|")

    def error(values):
        return float(np.mean(np.linalg.norm(values - reference, axis=1) / np.linalg.norm(reference, axis=1)))

    svs = ShapleyValueSampling(model)
    rows = []
    for budget in BUDGETS:
        for estimator in ["permutation", "kernel"]:
            runs = [netlens_run(binary, estimator, budget, seed) for seed in range(SEEDS)]
            rows.append((f"netlens {estimator}", budget, np.mean([error(v) for v, _, _ in runs]),
                         runs[0][1], np.mean([s for _, _, s in runs])))
        errors, seconds = [], []
        for seed in range(SEEDS):
            torch.manual_seed(seed)
            t = time.perf_counter()
            with torch.no_grad():
                attr = svs.attribute(x, baselines=0.0, target=targets, feature_mask=mask.reshape(1, 1, 32, 32),
                                     n_samples=budget, perturbations_per_eval=GRID * GRID)
            seconds.append((time.perf_counter() - t) / IMAGES)
            errors.append(error(attr[:, 0, ::side, ::side].reshape(IMAGES, -1).numpy()))
        rows.append(("captum ShapleyValueSampling", budget, np.mean(errors), 1 + budget * GRID * GRID, np.mean(seconds)))
    print(f"\n| estimator | orders' budget | relative L2 error | model calls / image | s / image |")
    print("| --- | --- | --- | --- | --- |")
    for name, budget, err, calls, secs in rows:
        print(f"| {name} | {budget} | {err:.4f} | {calls:,} | {secs:.3f} |")


if __name__ == "__main__":
    main()
