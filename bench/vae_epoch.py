"""Seconds per training epoch of netlens's convolutional VAE in PyTorch (CPU), the baseline for
the VAE row of bench/train.sh. Same network as `netlens vae` with its defaults (32x32 RGB, three
stride-2 3x3 convolutions 32/64/128, latent 64, decoder fully connected to 128x4x4 then three
nearest-neighbour upsamplings each followed by a 3x3 convolution 64/32/16, and a 3x3 convolution
to RGB logits), the same data split sizes (900 training faces, 100 held out), batch 32, Adam 1e-3,
loss per image = sum of squared errors of sigmoid(logits) + 0.1 KL, and the per-epoch held-out
evaluation (reconstruction from mu, KL, MSE).

Usage: python bench/vae_epoch.py LFW_DIR EPOCHS   -> one JSON line (with `gflop_per_epoch`, as
bench/train_epoch.py counts it)
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from train_epoch import epoch_gflop

torch.set_num_threads(2)
torch.manual_seed(0)

LATENT, BETA = 64, 0.1


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        chans = [3, 32, 64, 128]
        self.enc = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
        self.mu = nn.Linear(128 * 16, LATENT)
        self.log_var = nn.Linear(128 * 16, LATENT)
        self.fc = nn.Linear(LATENT, 128 * 16)
        dec = [128, 64, 32, 16]
        self.dec = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(dec, dec[1:]))
        self.to_image = nn.Conv2d(16, 3, 3, padding=1)

    def encode(self, x):
        for conv in self.enc:
            x = F.relu(conv(x))
        x = x.flatten(1)
        return self.mu(x), self.log_var(x)

    def decode(self, z):
        x = F.relu(self.fc(z)).view(-1, 128, 4, 4)
        for conv in self.dec:
            x = F.relu(conv(F.interpolate(x, scale_factor=2, mode="nearest")))
        return self.to_image(x)

    def terms(self, x, sample=True):
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if sample else mu
        rec = ((torch.sigmoid(self.decode(z)) - x) ** 2).flatten(1).sum(1)
        kl = -0.5 * (1 + log_var - mu ** 2 - log_var.exp()).sum(1)
        return rec, kl


def main():
    data, epochs = sys.argv[1], int(sys.argv[2])
    x = torch.from_numpy(np.load(f"{data}/X_train.npy").astype(np.float32) / 255.0)
    perm = torch.randperm(len(x))
    train, heldout = x[perm[100:]], x[perm[:100]]
    model = Vae()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times, mse = [], 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(train))
        for i in range(0, len(train), 32):
            rec, kl = model.terms(train[order[i:i + 32]])
            loss = (rec + BETA * kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            rec, kl = model.terms(heldout, sample=False)
            mse = (rec.mean() / heldout[0].numel()).item()
        times.append(time.perf_counter() - start)
    steady = times[1:] if len(times) > 1 else times

    def step():
        rec, kl = model.terms(train[:32])
        (rec + BETA * kl).mean().backward()

    def evaluate():
        with torch.no_grad():
            model.terms(heldout[:32], sample=False)

    gflop = epoch_gflop(step, 32, len(train), evaluate, 32, len(heldout))
    print(json.dumps({"model": "vae", "seconds_per_epoch": sum(steady) / len(steady), "heldout_mse": mse,
                      "gflop_per_epoch": gflop}))


if __name__ == "__main__":
    main()
