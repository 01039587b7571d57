#!/usr/bin/env bash
# GPU benchmark: training throughput of the 27-layer CNN on Fashion-MNIST (the course's GPU
# variant: all 60,000 training images) and of the VAE on LFW at 64×64, on each device given.
# Prints a Markdown table to paste into the README.
#
#   bash bench/gpu.sh                                   # wgpu; fetches the full sets into bench-data/
#   bash bench/gpu.sh --device wgpu --device flex       # the GPU next to the pure-Rust CPU backend
#   bash bench/gpu.sh --data-root ../shared/data --limit 256 --device flex --device wgpu
#                                                       # a quick check on the course's small sets
#
# Options: --device D (repeatable: flex, wgpu, cuda, cpu; default wgpu), --limit N (train on the
# first N images of each set), --epochs E (default 2; the first is a warm-up — shader compilation,
# allocator growth — and is left out of the mean when E > 1), --data-root DIR (a folder with
# `fashion-mnist/` and `lfw/` as `netlens fetch` writes them, or the course's
# `fashion-mnist-small/` and `lfw-small/`; default: bench-data, fetched on first use).
# FEATURES (default wgpu) is passed to cargo: FEATURES=wgpu,cuda also builds cuda (see the README
# for what cuda needs). NETLENS=path/to/netlens skips the build. Needs python3 (standard library)
# to read the run files. Relative paths are taken from the directory the script is run in.
set -euo pipefail
devices=()
limit=""
epochs=2
data_root=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) devices+=("${2:?--device needs a value}"); shift 2 ;;
    --limit) limit="${2:?--limit needs a value}"; shift 2 ;;
    --epochs) epochs="${2:?--epochs needs a value}"; shift 2 ;;
    --data-root) data_root="${2:?--data-root needs a value}"; shift 2 ;;
    *) echo "bench/gpu.sh: unknown argument $1 (see the comment at the top of the script)" >&2; exit 2 ;;
  esac
done
[ ${#devices[@]} -gt 0 ] || devices=(wgpu)
if [ -n "$data_root" ]; then
  [ -d "$data_root" ] || { echo "bench/gpu.sh: --data-root $data_root is not a folder" >&2; exit 2; }
  data_root="$(cd "$data_root" && pwd)"
fi
if [ -n "${NETLENS:-}" ]; then NETLENS="$(cd "$(dirname "$NETLENS")" && pwd)/$(basename "$NETLENS")"; fi
cd "$(dirname "$0")/.."
if [ -z "${NETLENS:-}" ]; then
  cargo build --release --quiet --features "${FEATURES:-wgpu}"
  NETLENS="${CARGO_TARGET_DIR:-target}/release/netlens"
fi
# wgpu's Vulkan loader wants a runtime directory; containers often have none.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$tmp/xdg}"
mkdir -p "$XDG_RUNTIME_DIR"

if [ -z "$data_root" ]; then
  data_root=bench-data
  [ -f "$data_root/fashion-mnist/X_train.npy" ] || "$NETLENS" fetch fashion-mnist --out "$data_root"
  [ -f "$data_root/lfw/X_train_64.npy" ] || "$NETLENS" fetch lfw --out "$data_root"
fi
if [ -d "$data_root/fashion-mnist" ]; then fashion="$data_root/fashion-mnist"; else fashion="$data_root/fashion-mnist-small"; fi
mkdir "$tmp/faces"
if [ -f "$data_root/lfw/X_train_64.npy" ]; then
  ln -s "$(cd "$data_root/lfw" && pwd)/X_train_64.npy" "$tmp/faces/X_train.npy"
elif [ -f "$data_root/lfw-small/X_train.npy" ]; then
  ln -s "$(cd "$data_root/lfw-small" && pwd)/X_train.npy" "$tmp/faces/X_train.npy"
fi
for f in "$fashion/X_train.npy" "$tmp/faces/X_train.npy"; do
  [ -e "$f" ] || { echo "bench/gpu.sh: no faces or Fashion-MNIST under $data_root (expected lfw/ and fashion-mnist/, or lfw-small/ and fashion-mnist-small/)" >&2; exit 1; }
done

# One row per run: seconds per epoch (mean after the warm-up), images per second, the final
# accuracy or held-out MSE, from the run's history.json and the data's .npy header.
row() { # device work data run_dir metric_key metric_name
  python3 - "$@" "$limit" <<'EOF'
import ast, json, sys
device, work, data, run, key, name, limit = sys.argv[1:8]
with open(data, "rb") as f:
    f.read(8)
    header_len = int.from_bytes(f.read(2), "little")
    shape = ast.literal_eval(f.read(header_len).decode("latin1"))["shape"]
n = min(shape[0], int(limit)) if limit else shape[0]
if work == "VAE":
    n -= -(-n // 10)  # the VAE trains on the 90 % it does not hold out (⌈n/10⌉ held out)
epochs = json.load(open(f"{run}/history.json"))["epochs"]
timed = epochs[1:] or epochs
seconds = sum(e["seconds"] for e in timed) / len(timed)
size = "×".join(str(d) for d in shape[-2:])
print(f"| {work} | {device} | {n:,} images {size} | {seconds:.2f} | {n / seconds:,.0f} | {name} {epochs[-1][key]:.4f} |")
EOF
}

lines=()
rows=()
for d in "${devices[@]}"; do
  run="$tmp/cnn-$d"
  "$NETLENS" train cnn --data "$fashion" --epochs "$epochs" ${limit:+--limit "$limit"} --device "$d" --out "$run" \
    > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  name=$(grep -m1 '^device ' "$tmp/log" | sed 's/^device //' || true)
  lines+=("| device \`$d\` | ${name:-flex (pure-Rust CPU)} |")
  rows+=("$(row "$d" "CNN (27 layers)" "$fashion/X_train.npy" "$run" test_accuracy "test accuracy")")
  run="$tmp/vae-$d"
  "$NETLENS" vae --data "$tmp/faces" --epochs "$epochs" ${limit:+--limit "$limit"} --device "$d" --out "$run" \
    > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  rows+=("$(row "$d" "VAE" "$tmp/faces/X_train.npy" "$run" heldout_mse "held-out MSE")")
done

echo
printf '%s\n' "| device | what it is |" "| --- | --- |" "${lines[@]}"
echo
warmup=$([ "$epochs" -gt 1 ] && echo "epochs after the first" || echo "the only epoch, warm-up included")
echo "s / epoch: $warmup, evaluation of the test or held-out images included; images / s: training images over that time."
echo
echo "| training | device | data | s / epoch | training images / s | after $epochs epoch(s) |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
