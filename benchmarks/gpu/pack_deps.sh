#!/usr/bin/env bash
# benchmarks/gpu/pack_deps.sh [DEST]: copies what the GPU build needs from this machine's
# Debian packages into DEST (default .deps/, ignored by git), for a device machine that has
# CUDA, CMake, ninja and a compiler but none of the -dev packages and no network.
#
#   DEST/usr/include/eigen3/Eigen         Eigen headers (+ its CMake config, relocatable)
#   DEST/usr/include/nlohmann             nlohmann/json (+ CMake config)
#   DEST/usr/include/doctest              doctest (+ CMake config, its /usr prefix rewritten)
#   DEST/usr/include/stb                  stb_image.h (tailor compiles it in, renamed)
#   DEST/usr/include/utf8proc.h + libutf8proc.a          (static: nothing to find at run time)
#   DEST/usr/include/benchmark + libbenchmark.so* + CMake config (Debian ships no static lib;
#                                         the build tree's RPATH finds it)
#
# The build then finds everything with -DCMAKE_PREFIX_PATH=$PWD/DEST/usr (check.sh does it).
# Carry DEST with the device call: run(command="bash benchmarks/gpu/check.sh", carry=[".deps"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-.deps}
arch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
arch=${arch/-pc-/-}
lib=/usr/lib/$arch
[ -d "$lib" ] || lib=/usr/lib/x86_64-linux-gnu
out="$dest/usr"

need() { [ -e "$1" ] || { echo "pack_deps: missing $1 (install: $2; scripts/setup.sh does)" >&2; exit 1; }; }
need /usr/include/eigen3/Eigen/Core libeigen3-dev
need /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need /usr/include/doctest/doctest.h doctest-dev
need /usr/include/stb/stb_image.h libstb-dev
need /usr/include/utf8proc.h libutf8proc-dev
need "$lib/libutf8proc.a" libutf8proc-dev
need /usr/include/benchmark/benchmark.h libbenchmark-dev

rm -rf "$dest"
mkdir -p "$out/include/eigen3" "$out/share/eigen3" "$out/share/cmake" "$out/lib/cmake" "$out/include/stb" \
         "$out/lib/$(basename "$lib")/cmake"
cp -r /usr/include/eigen3/Eigen "$out/include/eigen3/"
cp /usr/include/eigen3/signature_of_eigen3_matrix_library "$out/include/eigen3/" 2>/dev/null || true
cp -r /usr/share/eigen3/cmake "$out/share/eigen3/"
cp -r /usr/include/nlohmann "$out/include/"
cp -r /usr/share/cmake/nlohmann_json "$out/share/cmake/"
cp -r /usr/include/doctest "$out/include/"
cp -r /usr/lib/cmake/doctest "$out/lib/cmake/"
# doctest's exported targets hard-code the /usr prefix: make them relative to the file.
sed -i 's|^set(_IMPORT_PREFIX "/usr")|get_filename_component(_IMPORT_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)|' \
  "$out/lib/cmake/doctest/doctestTargets.cmake"
cp /usr/include/stb/stb_image.h "$out/include/stb/"
[ -e /usr/include/stb/stb_image_write.h ] && cp /usr/include/stb/stb_image_write.h "$out/include/stb/"
cp /usr/include/utf8proc.h "$out/include/"
cp "$lib/libutf8proc.a" "$out/lib/$(basename "$lib")/"
cp -r /usr/include/benchmark "$out/include/"
cp -a "$lib"/libbenchmark.so* "$lib/libbenchmark_main.a" "$out/lib/$(basename "$lib")/"
cp -r "$lib/cmake/benchmark" "$out/lib/$(basename "$lib")/cmake/"

size=$(du -sm "$dest" | cut -f1)
echo "pack_deps: $dest holds $(find "$dest" -type f | wc -l) files, ${size} MiB (the device call carries at most 64 MiB with the tree)"
