"""Convolution routes: PyTorch's time for the shapes of `kernels/examples/conv_routes.rs`, and the
ratio to PyTorch of each netlens route (burn's `flex` kernels; netlens's own im2col + gemm, which
training uses) per layer and pass, with the GFLOP/s each reaches.

    python3 bench/conv_routes.py [--netlens-json FILE] [--threads 2]

Without --netlens-json it runs `cargo run --release -p netlens-kernels --example conv_routes`.
Needs torch. The input gradient is torch.nn.grad.conv2d_input, the weight gradient
torch.nn.grad.conv2d_weight (both PyTorch's convolution_backward), median of 20 calls after a warm-up.
"""
import argparse, json, re, subprocess, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--netlens-json")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--reps", type=int, default=20)
a = p.parse_args()
torch.set_num_threads(a.threads)

if a.netlens_json:
    lines = open(a.netlens_json).read().splitlines()
else:
    out = subprocess.run(["cargo", "run", "--release", "--quiet", "-p", "netlens-kernels", "--example",
                          "conv_routes", "--", "--reps", str(a.reps)], check=True, capture_output=True, text=True)
    lines = out.stdout.splitlines()
ours = [json.loads(l) for l in lines if l.startswith("{")]


def shape(name):
    # "cnn.block2 16→16 3×3 @32²" / "resnet34.conv1 3→64 7×7/2 @224²"
    m = re.search(r"(\d+)→(\d+) (\d+)×\d+(?:/(\d+))? @(\d+)²", name)
    c_in, c_out, k, s, size = int(m[1]), int(m[2]), int(m[3]), int(m[4] or 1), int(m[5])
    return (1 if name.startswith("resnet") else 32), c_in, c_out, k, s, size


def median(f):
    f()
    ts = []
    for _ in range(a.reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


routes = sorted({r["route"] for r in ours})
head = "".join(f" {r + ' ms':>11} {'GFLOP/s':>7} {'ratio':>5}" for r in routes)
print(f"{'layer':34} {'pass':11}{head} {'torch ms':>9} {'GFLOP/s':>7}")
rows, totals = {}, {}
for r in ours:
    rows.setdefault((r["layer"], r["op"]), {})[r["route"]] = r
for (layer, op), by_route in rows.items():
    b, ci, co, k, s, size = shape(layer)
    pad = k // 2
    x = torch.randn(b, ci, size, size)
    w = torch.randn(co, ci, k, k)
    y = F.conv2d(x, w, stride=s, padding=pad)
    dy = torch.randn_like(y)
    f = {"forward": lambda: F.conv2d(x, w, stride=s, padding=pad),
         "input_grad": lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s, padding=pad),
         "weight_grad": lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=pad)}[op]
    with torch.no_grad():
        theirs = median(f)
    flops = next(iter(by_route.values()))
    flops = flops["gflops"] * flops["seconds"]
    net = layer.split(".")[0]
    line = f"{layer:34} {op:11}"
    for route in routes:
        # The input gradient has one route (burn's), shared by both.
        r = by_route.get(route) or by_route["flex"]
        t = totals.setdefault((net, op, route), [0.0, 0.0])
        t[0] += r["seconds"]; t[1] += theirs
        line += f" {r['seconds']*1e3:11.3f} {r['gflops']:7.1f} {r['seconds']/theirs:5.2f}"
    print(f"{line} {theirs*1e3:9.3f} {flops/theirs:7.1f}")
print()
for (net, op, route), (o, t) in totals.items():
    print(f"{net + ' total, ' + route:34} {op:11} {o*1e3:11.3f} ms   PyTorch {t*1e3:8.3f} ms   ratio {o/t:5.2f}")
