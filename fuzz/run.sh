#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after the other, and prints a
# Markdown table: run time, executions, executions per second, peak memory, corpus size, and
# whether libFuzzer found a crash, a hang (over 10 s per input) or an allocation over 1 GiB.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]      # default: 600 s, all five targets
#
# Needs nightly Rust and cargo-fuzz (`cargo install cargo-fuzz`). New corpus entries go to
# fuzz/corpus/<target>/; findings to fuzz/artifacts/<target>/ (reproduce one with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`); each run's log to
# $LOGS (default /tmp/fuzz-logs). Panics that netlens caught and returned as errors are logged
# in /tmp/fuzz-findings/<target>/contained/ (see fuzz/src/lib.rs).
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(npy idx pth tar_gz onnx)
LOGS="${LOGS:-/tmp/fuzz-logs}"
mkdir -p "$LOGS"
for t in "${TARGETS[@]}"; do
  cargo +nightly fuzz build --release "$t" >/dev/null || { echo "building $t failed" >&2; exit 1; }
done
printf '| target | seconds | executions | exec/s | peak RSS (MB) | corpus files | result |\n|---|---|---|---|---|---|---|\n'
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="$LOGS/$t.log"
  start=$(date +%s)
  # RUST_BACKTRACE=0: panics that netlens contains are not printed with a backtrace (the
  # standard hook's symbol cache grows with every one of them, up to the 1 GiB limit).
  RUST_BACKTRACE=0 cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=1024 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  files=$(find "corpus/$t" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result="no crash, hang or allocation over 1 GiB"
  else
    status=1
    result="FOUND: $(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|panic escaped[^:]*|deadly signal' "$log" || echo "exit $rc") (log $log)"
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$took" "${execs:-?}" "${speed:-?}" "${rss:-?}" "$files" "$result"
done
exit $status
