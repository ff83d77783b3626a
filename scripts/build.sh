#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR]: configures and builds tailor (Release, tests, CLI, benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAILOR_PYTHON="$PWD/.venv/bin/python" >/dev/null
cmake --build "$dir" -j "$(nproc)"
