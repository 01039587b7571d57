"""Integrated Gradients of netlens against PyTorch autograd on one zoo model (a diagnosis for
bench/zoo.py: is a large IG completeness error netlens's gradients, or the quadrature?).

It rebuilds the model exactly as `bench/zoo.py` exports it (same seed; `--calibrate` as there),
checks that PyTorch, onnxruntime and the exported file agree, then runs
`netlens explain --methods ig --baseline zeros` (x' = 0 after normalisation, so x' is known
exactly) and computes the same IG in PyTorch:
- `--rule riemann-right --steps 1`: IG = (x - x') * dF/dx at x, i.e. the plain input gradient;
- `--rule trapezoid --steps S` for each S of `--steps`: attributions and completeness error,
  PyTorch in float32 and float64 (float64: the quadrature error alone).
Prints one JSON object.

Usage: python bench/zoo_ig.py --model resnext50_32x4d [--calibrate] [--exporter torchscript]
          --out /tmp/zoo-ig [--netlens PATH] [--steps 64,256]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402


def torch_ig(model, x, target, steps, rule, dtype):
    import torch

    m = model.to(dtype)
    xt = torch.from_numpy(x).to(dtype)
    base = torch.zeros_like(xt)
    if rule == "trapezoid":
        alphas = np.linspace(0, 1, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[0] = w[-1] = 0.5 / (steps - 1)
    else:  # riemann-right
        alphas = np.arange(1, steps + 1) / steps
        w = np.full(steps, 1.0 / steps)
    total = torch.zeros_like(xt)
    for a, wi in zip(alphas, w):
        p = (base + float(a) * (xt - base)).requires_grad_(True)
        y = m(p)[0, target]
        (g,) = torch.autograd.grad(y, p)
        total += float(wi) * g
    ig = ((xt - base) * total)[0]
    with torch.no_grad():
        fx, fb = m(xt)[0, target].item(), m(base)[0, target].item()
    err = abs(ig.sum().item() - (fx - fb))
    return ig.detach().double().numpy(), err, fx, fb


def netlens_ig(args, onnx, data, steps, rule, out):
    cmd = [str(args.netlens), "explain", str(onnx), "--data", str(data), "--index", "0", "--methods", "ig",
           "--baseline", "zeros", "--rule", rule, "--steps", str(steps), "--out", str(out)]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"netlens failed: {p.stderr}")
    img = json.loads((out / "explanations.json").read_text())["images"][0]
    ig = img["integrated_gradients"]
    return (np.asarray(ig["attributions"], dtype=np.float64).reshape(ig["shape"]), ig["completeness_error"],
            ig["logit"], ig["baseline_logit"], img["target"], time.perf_counter() - t)


def compare(a, b):
    a, b = a.ravel(), b.ravel()
    return {"pearson": float(np.corrcoef(a, b)[0, 1]),
            "max_abs_diff_over_max_abs": float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)),
            "sum_netlens": float(a.sum()), "sum_torch": float(b.sum())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--exporter", default="torchscript")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--netlens", type=Path, default=Path.home() / ".cache/netlens-ci-target/release/netlens")
    ap.add_argument("--out", type=Path, default=Path("/tmp/zoo-ig"))
    ap.add_argument("--steps", default="64,256")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    work = args.out / f"{args.model.replace(':', '-')}-{args.exporter}{'-cal' if args.calibrate else ''}"
    work.mkdir(parents=True, exist_ok=True)
    model, side = zoo.build_model(args.model)
    u8 = zoo.photo(zoo.DEFAULT_IMAGE, side)
    imagenet = side == 224
    if args.calibrate:
        zoo.calibrate(model, zoo.calibration_batch(side, imagenet, zoo.DEFAULT_IMAGE.parent))
    onnx = work / "model.onnx"
    if not onnx.exists():
        r = zoo.export(args.model, args.exporter, onnx, side, 1200, False, args.calibrate)
        if not r.get("ok"):
            raise SystemExit(f"export failed: {r}")
    data = work / "data"
    data.mkdir(exist_ok=True)
    np.save(data / "X_test.npy", u8[None])
    np.save(data / "Y_test.npy", np.zeros(1, np.uint8))
    x = zoo.model_input(u8, imagenet)
    with torch.no_grad():
        pt = model(torch.from_numpy(x))[0].double().numpy()
    ort = zoo.ort_logits(onnx, x)
    res = {"model": args.model, "calibrated": args.calibrate,
           "torch_vs_ort_max_abs": float(np.max(np.abs(pt - ort))), "logit_range": float(ort.max() - ort.min())}
    # the plain gradient at x
    a, err, fx, fb, target, secs = netlens_ig(args, onnx, data, 1, "riemann-right", work / "grad")
    b, *_ = torch_ig(model, x, target, 1, "riemann-right", torch.float32)
    res["target"] = target
    res["input_gradient_times_x"] = compare(a, b)
    for steps in [int(s) for s in args.steps.split(",")]:
        a, err, fx, fb, _, secs = netlens_ig(args, onnx, data, steps, "trapezoid", work / f"ig{steps}")
        b32, err32, fx32, fb32 = torch_ig(model, x, target, steps, "trapezoid", torch.float32)
        b64, err64, _, _ = torch_ig(model, x, target, steps, "trapezoid", torch.float64)
        model.float()
        res[f"trapezoid_{steps}"] = {
            "netlens": {"completeness_error": err, "F(x)-F(x')": fx - fb, "relative": err / abs(fx - fb),
                        "seconds": secs},
            "torch_float32": {"completeness_error": err32, "relative": err32 / abs(fx32 - fb32)},
            "torch_float64": {"completeness_error": err64, "relative": err64 / abs(fx32 - fb32)},
            "netlens_vs_torch_float32": compare(a, b32),
            # How far float32 arithmetic alone moves the attributions: netlens is judged by the
            # distance to the float64 answer next to PyTorch's own float32 distance to it.
            "netlens_vs_torch_float64": compare(a, b64),
            "torch_float32_vs_float64": compare(b32, b64),
        }
        print(json.dumps(res[f"trapezoid_{steps}"]), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))
    (work / "ig_check.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
