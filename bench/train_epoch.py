"""Seconds per training epoch of netlens's three classifiers in PyTorch (CPU), the baseline for
bench/train.sh. Same networks, data (course small set, x/255), batch size, optimiser (Adam 1e-3)
and per-epoch test evaluation as `netlens train`.

Usage: python bench/train_epoch.py DATA_DIR EPOCHS   -> one JSON line per model

Each line also gives `gflop_per_epoch`: the floating-point operations of the epoch's convolutions
and matrix products (2 per multiply-add, forward and backward for training, forward for the
evaluation), counted by PyTorch's FlopCounterMode on one batch and scaled by the image counts.
bench/train.sh divides it by each side's seconds for the GFLOP/s it prints.
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

torch.set_num_threads(2)
torch.manual_seed(0)


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def shallow():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4096, 10))


def block(cin, cout, k):
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def cnn():
    return nn.Sequential(
        *block(1, 16, 3), *block(16, 16, 3), nn.MaxPool2d(2),
        *block(16, 32, 3), *block(32, 24, 1), *block(24, 32, 3), nn.MaxPool2d(2),
        *block(32, 64, 3), *block(64, 64, 1), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10))


def counted_flops(fn):
    """Floating-point operations FlopCounterMode counts while `fn()` runs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def epoch_gflop(train_step, train_batch, n_train, evaluate, eval_batch, n_eval):
    """GFLOP of one epoch: `train_step()` (forward + backward on `train_batch` images) scaled to
    `n_train` images, plus `evaluate()` (forward on `eval_batch` images) scaled to `n_eval`."""
    train = counted_flops(train_step) / train_batch * n_train
    heldout = counted_flops(evaluate) / eval_batch * n_eval
    return (train + heldout) / 1e9


def load(data, split):
    x = np.load(f"{data}/X_{split}.npy").astype(np.float32) / 255.0
    y = np.load(f"{data}/Y_{split}.npy").astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def run(name, make, data, epochs):
    xtr, ytr = load(data, "train")
    xte, yte = load(data, "test")
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    times, acc = [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        times.append(time.perf_counter() - start)
    steady = times[1:] if len(times) > 1 else times

    def step():
        loss_fn(model(xtr[:32]), ytr[:32]).backward()

    def evaluate():
        with torch.no_grad():
            model(xte[:32])

    gflop = epoch_gflop(step, 32, len(xtr), evaluate, 32, len(xte))
    print(json.dumps({"model": name, "seconds_per_epoch": sum(steady) / len(steady), "test_accuracy": acc,
                      "gflop_per_epoch": gflop}))


if __name__ == "__main__":
    data, epochs = sys.argv[1], int(sys.argv[2])
    for name, make in [("lenet", lenet), ("shallow", shallow), ("cnn", cnn)]:
        run(name, make, data, epochs)
