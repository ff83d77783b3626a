#!/usr/bin/env bash
# tests/consumer/check.sh MODE SOURCE_DIR BUILD_DIR WORK_DIR
# Builds and runs tests/consumer against tailor, by find_package (after `cmake --install`
# of BUILD_DIR into a scratch prefix) or by add_subdirectory of SOURCE_DIR.
set -euo pipefail
mode=$1 src=$2 build=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ "$mode" = find_package ]; then
  cmake --install "$build" --prefix "$work/prefix" >/dev/null
  cmake -S "$src/tests/consumer" -B "$work/build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" -DTAILOR_MODE=find_package >/dev/null
else
  cmake -S "$src/tests/consumer" -B "$work/build" "${gen[@]}" -DTAILOR_MODE=add_subdirectory -DTAILOR_SOURCE="$src" >/dev/null
fi
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
