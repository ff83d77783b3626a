#!/usr/bin/env bash
# scripts/fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target in BUILD_DIR for SECONDS
# each, starting from a scratch copy of its committed seed corpus (tests/fuzz/corpus/NAME).
# Fails if any target finds a crash, leak, timeout or memory blow-up.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 secs=$2
status=0
for bin in "$dir"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work="$dir/fuzz-work/$name"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus/"
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" "$work/corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1; then
    echo "fuzz: $name FAILED; last lines of $work/log:"
    tail -n 40 "$work/log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -n 2 | sed "s/^/fuzz: $name: /"
  fi
done
exit $status
