"""captum on PyTorch CPU: the baseline for bench/explain.sh.

A full-width torchvision ResNet-34 with random weights (seed 0), one 224x224 input (seed 0),
target = its argmax, timed on CPU:
- Grad-CAM on layer4 (captum LayerGradCam);
- Integrated Gradients, zero baseline, 32 steps, trapezoid rule, all 32 points in one batch;
- Shapley value sampling over 49 patches (7x7 grid of 32x32 pixels), 20 permutations,
  zero baseline, 49 coalitions per forward pass.
It also exports the same model to ONNX for netlens (opset 17, input `image`, output `logits`).

Needs torch, torchvision, captum, onnx.
Usage: python bench/explain.py OUT.onnx   -> one JSON line of seconds
"""
import json
import sys
import time

import torch
import torchvision
from captum.attr import IntegratedGradients, LayerGradCam, ShapleyValueSampling


def timed(f, reps):
    f()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - start) / reps


def main():
    torch.manual_seed(0)
    model = torchvision.models.resnet34(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, sys.argv[1], input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)  # the TorchScript exporter: no onnxscript needed, PyTorch-style names
    with torch.no_grad():
        target = int(model(x).argmax())
    grad_cam = LayerGradCam(model, model.layer4)
    ig = IntegratedGradients(model)
    shapley = ShapleyValueSampling(model)
    cells = torch.arange(224) // 32
    mask = (cells[:, None] * 7 + cells[None, :]).expand(1, 3, 224, 224).contiguous()
    result = {
        "threads": torch.get_num_threads(),
        "grad_cam_s": timed(lambda: grad_cam.attribute(x, target=target), 3),
        "ig_s": timed(lambda: ig.attribute(x, target=target, n_steps=32, method="riemann_trapezoid",
                                           internal_batch_size=32), 1),
        "shapley_s": timed(lambda: shapley.attribute(x, target=target, feature_mask=mask, n_samples=20,
                                                     perturbations_per_eval=49), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
