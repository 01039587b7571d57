#!/usr/bin/env python3
"""t-SNE time of netlens (linfa-tsne / bhtsne) vs scikit-learn (and openTSNE if installed) on the
same 1,000 real feature vectors.

netlens taps a layer of an ONNX model on 100 test images per class (n = 1,000), reduces the
features to 50 dimensions with PCA (its t-SNE input, saved with --save-tsne-input) and runs
t-SNE; this script then runs scikit-learn's Barnes-Hut t-SNE on exactly that saved input with
the same settings (2-D, perplexity 30, 1,000 iterations, theta/angle 0.5, random init) and
prints both times, their ratio and the 5-NN leave-one-out accuracy of each embedding.

Usage (from the repository root, after `cargo build --release`):
    python3 bench/tsne.py [--netlens target/release/netlens] [--model MODEL.onnx] [--layer NAME]
Needs: numpy, scikit-learn (pip install scikit-learn); openTSNE optional.
netlens' t-SNE (bhtsne) is single-threaded; scikit-learn's Barnes-Hut gradient uses OpenMP
threads: run with OMP_NUM_THREADS=1 for a one-thread comparison (the header says which).
Prints figures; it is not a test.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared")


def knn_accuracy(x, labels, k=5):
    """Leave-one-out k-NN accuracy (Euclidean), ties to the nearest tied class, as netlens."""
    sq = (x * x).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    correct = 0
    for i, row in enumerate(nearest):
        votes = np.bincount(labels[row], minlength=labels.max() + 1)
        best = votes.max()
        pred = next(labels[j] for j in row if votes[labels[j]] == best)
        correct += pred == labels[i]
    return correct / len(labels)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlens", default=os.path.join(ROOT, "target", "release", "netlens"))
    ap.add_argument("--model", default=os.path.join(SHARED, "fixtures", "torch-small-cnn.onnx"))
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "fashion-mnist-small"))
    ap.add_argument("--layer", default=None, help="layer to tap (default: the first conv of `auto`)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    if args.layer is None:
        table = json.loads(subprocess.check_output([args.netlens, "inspect", args.model, "--json"]))
        args.layer = next(l["name"] for l in table["layers"] if l["op"] == "Conv")

    out = tempfile.mkdtemp(prefix="netlens-bench-tsne-")
    cmd = [args.netlens, "features", args.model, "--data", args.data, "--layers", args.layer,
           "--methods", "tsne", "--per-class", "100", "--perplexity", "30", "--iterations", "1000",
           "--seed", "0", "--save-tsne-input", "--out", out]
    rust_times = []
    for _ in range(args.repeats):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        summary = json.load(open(os.path.join(out, "summary.json")))
        rust_times.append(summary["layers"][0]["embeddings"][0]["seconds"])
    layer = summary["layers"][0]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in layer["layer"])
    x = np.load(os.path.join(out, f"{stem}_tsne_input.npy")).astype(np.float64)
    labels = np.array([int(line.split(",")[1]) for line in open(os.path.join(out, f"{stem}_tsne.csv")).read().splitlines()[1:]])
    rust_embedding = np.load(os.path.join(out, f"{stem}_tsne.npy")).astype(np.float64)

    from sklearn import __version__ as sk_version
    from sklearn.manifold import TSNE
    sk_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        sk_embedding = TSNE(n_components=2, perplexity=30.0, max_iter=1000, init="random", method="barnes_hut",
                            angle=0.5, learning_rate="auto", random_state=0).fit_transform(x)
        sk_times.append(time.perf_counter() - start)

    rows = [("netlens (bhtsne 0.7, exact k-NN)", min(rust_times), knn_accuracy(rust_embedding, labels)),
            (f"scikit-learn {sk_version}", min(sk_times), knn_accuracy(sk_embedding, labels))]
    try:
        import openTSNE
        start = time.perf_counter()
        ot = np.asarray(openTSNE.TSNE(n_components=2, perplexity=30, n_iter=1000, initialization="random",
                                      theta=0.5, random_state=0, n_jobs=1).fit(x))
        rows.append((f"openTSNE {openTSNE.__version__}", time.perf_counter() - start, knn_accuracy(ot, labels)))
    except ImportError:
        pass

    print(f"t-SNE on {x.shape[0]} real feature vectors ({layer['layer']} of {os.path.basename(args.model)}, "
          f"{layer['features']} features -> PCA {x.shape[1]}), 2-D, perplexity 30, 1000 iterations, theta 0.5, "
          f"best of {args.repeats}; cpus: {os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'implementation':<40} {'seconds':>8} {'5-NN acc':>9}")
    for name, sec, acc in rows:
        print(f"{name:<40} {sec:>8.2f} {acc:>9.3f}")
    for name, sec, _ in rows[1:]:
        print(f"ratio netlens / {name}: {rows[0][1] / sec:.2f}")


if __name__ == "__main__":
    sys.exit(main())
