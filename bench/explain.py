"""captum on PyTorch CPU: the baseline for bench/explain.sh.

A full-width torchvision ResNet-34 with random weights (seed 0), one 224x224 input (seed 0),
target = its argmax, timed on CPU:
- Grad-CAM on layer4 (captum LayerGradCam);
- Integrated Gradients, zero baseline, 32 steps, trapezoid rule, all 32 points in one batch;
- Shapley value sampling over 49 patches (7x7 grid of 32x32 pixels), 20 permutations,
  zero baseline, 49 coalitions per forward pass.
It also exports the same model to ONNX for netlens (opset 17, input `image`, output `logits`).

It also gives each method's floating-point work (`*_gflop`: convolutions and matrix products as
PyTorch's FlopCounterMode counts them, 2 per multiply-add): Grad-CAM and IG counted on the same
forward and backward passes run without captum, Shapley as the images its forward passes
evaluated times one image's forward pass.
bench/explain.sh divides it by each side's seconds for the GFLOP/s it prints.

Needs torch, torchvision, captum, onnx.
Usage: python bench/explain.py OUT.onnx   -> one JSON line of seconds and GFLOP
"""
import json
import sys
import time

import torch
import torchvision
from captum.attr import IntegratedGradients, LayerGradCam, ShapleyValueSampling
from torch.utils.flop_counter import FlopCounterMode


def timed(f, reps):
    f()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - start) / reps


def gflop(f):
    """GFLOP that FlopCounterMode counts while `f()` runs."""
    with FlopCounterMode(display=False) as counter:
        f()
    return counter.get_total_flops() / 1e9


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
    run_grad_cam = lambda: grad_cam.attribute(x, target=target)
    run_ig = lambda: ig.attribute(x, target=target, n_steps=32, method="riemann_trapezoid", internal_batch_size=32)
    run_shapley = lambda: shapley.attribute(x, target=target, feature_mask=mask, n_samples=20,
                                            perturbations_per_eval=49)
    images = [0]
    counting = model.register_forward_pre_hook(lambda _, args: images.__setitem__(0, images[0] + len(args[0])))
    result = {
        "threads": torch.get_num_threads(),
        "grad_cam_s": timed(run_grad_cam, 3),
        "ig_s": timed(run_ig, 1),
    }
    images[0] = 0
    result["shapley_s"] = timed(run_shapley, 1)
    counting.remove()
    with torch.no_grad():
        forward = gflop(lambda: model(x))

    def grad_cam_work():  # the forward pass, and the backward pass from the logit to layer4
        def keep(_module, _inputs, out):
            return out.detach().requires_grad_()

        hook = model.layer4.register_forward_hook(keep)
        logit = model(x)[0, target]
        hook.remove()
        logit.backward()

    def ig_work():  # 32 forward passes and the backward passes to the input, in one batch
        points = x.repeat(32, 1, 1, 1).requires_grad_()
        model(points)[:, target].sum().backward()

    # captum's own calls fail under FlopCounterMode (its autograd.grad meets the counter's hooks):
    # count the same passes run directly, the weights frozen as captum leaves their gradients out.
    for p in model.parameters():
        p.requires_grad_(False)
    result.update(grad_cam_gflop=gflop(grad_cam_work), ig_gflop=gflop(ig_work),
                  shapley_gflop=forward * images[0] / 2)  # the warm-up and the timed call
    print(json.dumps(result))


if __name__ == "__main__":
    main()
