#!/usr/bin/env bash
# Benchmark: seconds per training epoch of `netlens train` and `netlens vae` (release, flex
# backend) next to PyTorch CPU training the same networks on the same data (bench/train_epoch.py,
# bench/vae_epoch.py), as a ratio.
# Needs a Python with torch and numpy: PYTHON=/path/to/python bash bench/train.sh
# The first epoch is a warm-up and is left out of both means. GFLOP/s: the epoch's convolution and
# matrix-product work as PyTorch counts it (bench/train_epoch.py), over each side's seconds; netlens
# computes the VAE decoder's upsampling convolutions with fewer operations, so its figure there is
# an effective rate.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
DATA="${DATA:-../shared/data/fashion-mnist-small}"
FACES="${FACES:-../shared/data/lfw-small}"
EPOCHS="${EPOCHS:-4}"
# NETLENS=path/to/netlens skips the release build (e.g. a dev build: its dependencies are opt-level 3).
if [ -z "${NETLENS:-}" ]; then cargo build --release --quiet; NETLENS="${CARGO_TARGET_DIR:-target}"/release/netlens; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PYTHON" bench/train_epoch.py "$DATA" "$EPOCHS" > "$tmp/torch.jsonl"
"$PYTHON" bench/vae_epoch.py "$FACES" "$EPOCHS" >> "$tmp/torch.jsonl"
printf '%-8s %14s %14s %8s %16s %16s\n' model netlens_s/ep pytorch_s/ep ratio netlens_GFLOP/s pytorch_GFLOP/s
for m in lenet shallow cnn vae; do
  if [ "$m" = vae ]; then
    "$NETLENS" vae --data "$FACES" --epochs "$EPOCHS" --out "$tmp/$m" > /dev/null 2>&1
  else
    "$NETLENS" train "$m" --data "$DATA" --epochs "$EPOCHS" --out "$tmp/$m" > /dev/null 2>&1
  fi
  ours=$("$PYTHON" -c "import json,sys; e=json.load(open(sys.argv[1]))['epochs'][1:]; print(sum(x['seconds'] for x in e)/len(e))" "$tmp/$m/history.json")
  read -r theirs gflop < <("$PYTHON" -c "import json,sys; [print(d['seconds_per_epoch'], d['gflop_per_epoch']) for d in map(json.loads, open(sys.argv[1])) if d['model']==sys.argv[2]]" "$tmp/torch.jsonl" "$m")
  printf '%-8s %14.3f %14.3f %8.2f %16.1f %16.1f\n' "$m" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)" \
    "$(echo "$gflop / $ours" | bc -l)" "$(echo "$gflop / $theirs" | bc -l)"
done
