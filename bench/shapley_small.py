"""captum's ShapleyValueSampling on `torch-small-cnn.onnx` (the fixture's own weights, rebuilt as
a PyTorch module), next to `netlens explain --methods shapley` on the same ONNX file: 6 test
images, 4x4 patches of 8x8 pixels (16 players), 400 permutations, zero baseline. Prints seconds
(best of REPS runs each), the ratio netlens / captum, and how far the two estimates agree.

Usage: python bench/shapley_small.py NETLENS_BINARY  (needs torch, captum, onnx)
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from captum.attr import ShapleyValueSampling
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "fixtures/torch-small-cnn.onnx"
DATA = SHARED / "data/fashion-mnist-small"
IMAGES, GRID, PERMUTATIONS, REPS = 6, 4, 400, 3


def torch_model():
    """The fixture's graph (conv-relu-pool twice, fc-relu-fc) with its initializers."""
    g = onnx.load(MODEL).graph
    w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
    convs = [n for n in g.node if n.op_type == "Conv"]
    gemms = [n for n in g.node if n.op_type == "Gemm"]

    class Net(torch.nn.Module):
        def forward(self, x):
            for c in convs:
                pads = next((list(a.ints) for a in c.attribute if a.name == "pads"), [0, 0, 0, 0])
                x = torch.nn.functional.conv2d(x, w[c.input[1]], w[c.input[2]], padding=pads[0])
                x = torch.nn.functional.max_pool2d(torch.relu(x), 2)
            x = torch.flatten(x, 1)
            x = torch.relu(torch.nn.functional.linear(x, w[gemms[0].input[1]], w[gemms[0].input[2]]))
            return torch.nn.functional.linear(x, w[gemms[1].input[1]], w[gemms[1].input[2]])

    return Net().eval()


def main():
    netlens = sys.argv[1]
    torch.set_num_threads(2)
    x = torch.from_numpy(np.load(DATA / "X_test.npy")[:IMAGES].astype(np.float32) / 255.0)
    x = x.reshape(IMAGES, 1, 32, 32)
    model = torch_model()
    with torch.no_grad():
        targets = model(x).argmax(1)
    side = 32 // GRID
    mask = torch.arange(GRID * GRID).reshape(GRID, GRID).repeat_interleave(side, 0).repeat_interleave(side, 1)
    mask = mask.reshape(1, 1, 32, 32)
    svs = ShapleyValueSampling(model)

    def captum_run():
        with torch.no_grad():
            return svs.attribute(x, baselines=0.0, target=targets, feature_mask=mask,
                                 n_samples=PERMUTATIONS, perturbations_per_eval=GRID * GRID)

    captum_s, attr = float("inf"), None
    for _ in range(REPS):
        t = time.perf_counter()
        attr = captum_run()
        captum_s = min(captum_s, time.perf_counter() - t)
    netlens_s, ours = float("inf"), None
    with tempfile.TemporaryDirectory() as out:
        cmd = [netlens, "explain", str(MODEL), "--data", str(DATA), "--index",
               ",".join(str(i) for i in range(IMAGES)), "--methods", "shapley", "--baseline", "zeros",
               "--grid", str(GRID), "--permutations", str(PERMUTATIONS), "--out", out]
        for _ in range(REPS):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            netlens_s = min(netlens_s, time.perf_counter() - t)
        ours = json.load(open(Path(out) / "explanations.json"))
    # Agreement of the two estimates, patch by patch (both are sampling estimates of the same values).
    theirs = attr[:, 0, ::side, ::side].reshape(IMAGES, -1).numpy()
    mine = np.array([img["shapley"]["values"] for img in ours["images"]])
    r = np.corrcoef(theirs.ravel(), mine.ravel())[0, 1]
    forwards = IMAGES * PERMUTATIONS * GRID * GRID
    print(f"Shapley, {GRID * GRID} patches x {PERMUTATIONS} permutations, {IMAGES} images "
          f"(torch-small-cnn, 1x32x32; {forwards:,} model calls each)")
    print(f"{'':<10}{'seconds':>10}{'calls/s':>12}")
    print(f"{'netlens':<10}{netlens_s:>10.3f}{forwards / netlens_s:>12,.0f}   (whole command: load, data, JSON, figures)")
    print(f"{'captum':<10}{captum_s:>10.3f}{forwards / captum_s:>12,.0f}   ({torch.get_num_threads()} torch threads)")
    print(f"ratio netlens / captum: {netlens_s / captum_s:.2f}; Pearson r of the two estimates: {r:.3f}")


if __name__ == "__main__":
    main()
