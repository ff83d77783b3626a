#!/usr/bin/env bash
# scripts/fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target in BUILD_DIR for SECONDS,
# all at once (each is single-threaded), each from a scratch copy of its committed seed
# corpus (tests/fuzz/corpus/NAME). Fails if any target finds a crash, leak, timeout or memory
# blow-up, and then prints the input that did it (base64) so a CI log is enough to reproduce:
#   base64 -d > crash.bin; BUILD_DIR/tests/fuzz/fuzz_NAME crash.bin
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 secs=$2
names=()
for bin in "$dir"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work="$dir/fuzz-work/$name"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work/corpus/"
  echo "fuzz: $name for ${secs}s"
  ( "$bin" "$work/corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1
    echo $? >"$work/rc" ) &
  names+=("$name")
done
wait
status=0
for name in "${names[@]}"; do
  work="$dir/fuzz-work/$name"
  if [ "$(cat "$work/rc")" != 0 ]; then
    echo "fuzz: $name FAILED; last lines of $work/log:"
    tail -n 40 "$work/log"
    for a in "$work"/artifacts/*; do
      [ -f "$a" ] || continue
      echo "fuzz: $name: input $(basename "$a") ($(stat -c %s "$a") bytes), base64:"
      head -c 65536 "$a" | base64 -w 0; echo
    done
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -n 2 | sed "s/^/fuzz: $name: /"
  fi
done
exit $status
