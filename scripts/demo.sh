#!/usr/bin/env bash
# scripts/demo.sh: the main job, from a fresh clone.
#   1. installs what tailor needs (scripts/setup.sh: apt packages, .venv), builds the CLI;
#   2. makes the default try-on bundle once (weights/tryon-default.safetensors: the real
#      all-MiniLM-L6-v2 text tower, a seeded random ResNet50 and head, labelled untrained);
#   3. scores the sample photo against a garment description, with an explanation heatmap,
#      and ranks the sample catalog for the photo.
# Options via the environment: TAILOR_DEMO_TEXT, TAILOR_THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "demo: building the tailor CLI"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAILOR_PYTHON="$PWD/.venv/bin/python" >/dev/null
cmake --build build --target tailor_cli -j "$(nproc)" >/dev/null

bundle=weights/tryon-default.safetensors
if [ ! -f "$bundle" ]; then
  echo "demo: making the default bundle (once)"
  HF_HUB_OFFLINE=1 .venv/bin/python converters/make_default_bundle.py "$bundle"
fi

photo=examples/data/photo.jpg
text=${TAILOR_DEMO_TEXT:-an orange flight suit with zip pockets}
heat=build/demo-heatmap.png
threads=${TAILOR_THREADS:-0}

echo
echo "== tailor score: \"$text\" on $photo"
build/tailor score --weights "$bundle" --image "$photo" --text "$text" --explain "$heat" --threads "$threads"
echo
echo "== tailor rank: examples/data/garments.txt for $photo"
build/tailor rank --weights "$bundle" --image "$photo" --catalog examples/data/garments.txt --top 5 --threads "$threads"
echo
echo "demo: heatmap written to $heat (the photo with the explanation overlaid: red raises the score, blue lowers it)"
