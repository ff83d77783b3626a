#!/usr/bin/env bash
# benchmarks/gpu/check.sh: the whole GPU check in one call, for a machine lent an H200.
#
#   here:        bash benchmarks/gpu/pack_deps.sh          # Eigen, doctest, ... into .deps/
#   device call: run(command="bash benchmarks/gpu/check.sh", carry=[".deps"], timeout_s=600)
#
# Stages, each with a time box so the whole stays under ~8 minutes (TAILOR_CHECK_BUDGET_S,
# default 470 s); a failing stage is recorded and the next one still runs:
#   1. environment: nvidia-smi, nvcc, compilers, python3 + torch
#   2. configure + build for sm_90 with -j16 (only the GPU targets), deps from .deps/
#   3. the GPU tests: test_cuda_kernels (every kernel vs the CPU) and test_cuda_models
#      (BERT / ResNet / head vs tailor's CPU models, every precision)
#   4. compute-sanitizer --tool memcheck on the kernel tests (refusal recorded, not fatal)
#   5. bench_gpu_kernels (Google Benchmark, JSON)
#   6. side_by_side_torch.py: seeded PyTorch BERT-base / ResNet50, converted, parity of
#      tailor's GPU outputs vs PyTorch, PyTorch eager + CUDA-graph timings, bench_gpu_models
#      on the same bundles, ratios vs the issue's targets
#   7. a summary table, printed last (and $OUT/summary.txt, with a RESULTS.md section)
# Logs and JSON go to $OUT (8 files at most come back: build.log tests.log memcheck.log
# bench.log bench_kernels.json bench_models.json side_by_side.json summary.txt).
# Knobs: TAILOR_GPU_BUILD (build dir, default build-gpu), TAILOR_CHECK_JOBS (default 16),
# TAILOR_CHECK_BUDGET_S, TAILOR_CHECK_BUILD_S (build time box, default 240). Without a GPU it still configures/builds (TAILOR_CHECK_BUILD_ONLY=1 stops after the build)
# and every GPU stage reports "skipped".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${TAILOR_GPU_BUILD:-build-gpu}
OUT=${OUT:-$root/$build/check-out}  # the device tool sets OUT; locally it goes under the build dir
mkdir -p "$OUT"
budget=${TAILOR_CHECK_BUDGET_S:-470}
start=$(date +%s)
declare -A status took
order=()

elapsed() { echo $(( $(date +%s) - start )); }
# box SECONDS RESERVE: SECONDS, or less so that RESERVE seconds remain for the later stages.
box() { local left=$(( budget - $(elapsed) - $2 )); [ "$left" -lt "$1" ] && echo $(( left > 10 ? left : 10 )) || echo "$1"; }
stage_begin() { order+=("$1"); stage_t0=$(date +%s); echo; echo "=== $1 ($(elapsed) s)"; }
stage_end() { status[$1]=$2; took[$1]=$(( $(date +%s) - stage_t0 )); echo "=== $1: $2 (${took[$1]} s)"; }

# ---- 1. environment ----------------------------------------------------------------------
stage_begin environment
{
  date -u +"%Y-%m-%d %H:%M:%S UTC"
  uname -a
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv 2>&1 || true
  command -v nvcc && nvcc --version | tail -2
  command -v g++ && g++ --version | head -1
  cmake --version | head -1
  ninja --version 2>/dev/null || echo "ninja: missing"
  command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null || echo "compute-sanitizer: not on PATH"
  python3 -c "import sys, torch, torchvision, transformers, numpy, safetensors; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available(), 'torchvision', torchvision.__version__, 'transformers', transformers.__version__, 'numpy', numpy.__version__, 'safetensors', safetensors.__version__)" 2>&1
  nvcc_dir=$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")
  ls "$nvcc_dir/../lib64" 2>/dev/null | grep -E "^libcublas(Lt)?\.so" | head -4 || true
} 2>&1 | tee "$OUT/build.log"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu_name" ] && have_gpu=1 || have_gpu=0
stage_end environment "${gpu_name:-no GPU}"

# ---- 2. configure + build ----------------------------------------------------------------
stage_begin build
prefix=()
[ -d .deps/usr ] && prefix=(-DCMAKE_PREFIX_PATH="$root/.deps/usr")
cublas=()
nvcc_dir=$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")
if ! ls "$nvcc_dir"/../lib64/libcublasLt.so* >/dev/null 2>&1; then
  pipcublas=$(python3 -c "import nvidia, os; p=os.path.join(os.path.dirname(nvidia.__file__), 'cu13'); print(p if os.path.isdir(p) else '')" 2>/dev/null)
  [ -n "$pipcublas" ] && cublas=(-DTAILOR_CUBLAS_ROOT="$pipcublas") && echo "cuBLAS from $pipcublas" | tee -a "$OUT/build.log"
fi
targets=(tailor_cuda test_cuda_kernels test_cuda_models bench_gpu_kernels bench_gpu_models gpu_features)
t=$(box "${TAILOR_CHECK_BUILD_S:-240}" 200)
if timeout "$t" bash -c "cmake -S . -B '$build' -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DTAILOR_CUDA=ON -DTAILOR_PYTHON=\"\$(command -v python3)\" ${prefix[*]} ${cublas[*]} \
    && cmake --build '$build' --target ${targets[*]} -j ${TAILOR_CHECK_JOBS:-16}" >>"$OUT/build.log" 2>&1; then
  stage_end build ok
else
  tail -40 "$OUT/build.log"
  stage_end build "FAILED (see build.log)"
fi
[ "${TAILOR_CHECK_BUILD_ONLY:-0}" = 1 ] && have_gpu=0 && echo "TAILOR_CHECK_BUILD_ONLY=1: stopping after the build"
built=0
[ "${status[build]}" = ok ] && built=1

# ---- 3. tests ------------------------------------------------------------------------------
stage_begin tests
if [ $built = 1 ]; then
  : >"$OUT/tests.log"
  tests_ok=1
  for t_name in test_cuda_kernels test_cuda_models; do
    t=$(box 100 180)
    echo "--- $t_name (time box $t s)" | tee -a "$OUT/tests.log"
    (cd "$build" && timeout "$t" "./tests/cuda/$t_name" --duration=true 2>&1) >>"$OUT/tests.log"
    rc=$?
    grep -E "^\[doctest\] (test cases|assertions)" "$OUT/tests.log" | tail -2
    [ $rc -ne 0 ] && tests_ok=0 && echo "$t_name: exit $rc" | tee -a "$OUT/tests.log"
  done
  grep -B2 -A12 "ERROR:\|FATAL" "$OUT/tests.log" | head -60
  cases=$(grep -E "^\[doctest\] test cases" "$OUT/tests.log" | sed 's/.*test cases: *//' | tr '\n' ';')
  [ $tests_ok = 1 ] && stage_end tests "ok ($cases)" || stage_end tests "FAILED ($cases see tests.log)"
else
  stage_end tests "skipped (no build)"
fi

# ---- 4. compute-sanitizer memcheck on the kernel tests -------------------------------------
stage_begin memcheck
san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer \
      /usr/local/cuda*/compute-sanitizer/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -1)
if [ $built = 1 ] && [ $have_gpu = 1 ] && [ -n "$san" ]; then
  t=$(box 75 150)
  # Our kernels only: the cuBLASLt-only case is cuBLAS's code and slow under the tool.
  (cd "$build" && timeout "$t" "$san" --tool memcheck --leak-check no --error-exitcode 99 \
      ./tests/cuda/test_cuda_kernels -tce="*cuBLASLt GEMMs*" 2>&1) >"$OUT/memcheck.log"
  rc=$?
  summary=$(grep -E "ERROR SUMMARY" "$OUT/memcheck.log" | tail -1)
  if [ $rc -eq 0 ]; then stage_end memcheck "clean ($summary)"
  elif [ $rc -eq 124 ]; then stage_end memcheck "timed out after $t s ($summary; see memcheck.log)"
  elif grep -qiE "not supported|Device not supported|error 999" "$OUT/memcheck.log"; then
    stage_end memcheck "refused by this machine (see memcheck.log)"
  else stage_end memcheck "ERRORS rc=$rc ($summary; see memcheck.log)"; fi
  tail -5 "$OUT/memcheck.log"
else
  stage_end memcheck "skipped (build=$built gpu=$have_gpu compute-sanitizer=${san:-not found})"
fi

# ---- 5. kernel benchmarks ------------------------------------------------------------------
stage_begin bench_kernels
if [ $built = 1 ] && [ $have_gpu = 1 ]; then
  t=$(box 75 130)
  timeout "$t" "$build/benchmarks/gpu/bench_gpu_kernels" --benchmark_out="$OUT/bench_kernels.json" \
    --benchmark_out_format=json --benchmark_counters_tabular=true 2>&1 | tee "$OUT/bench.log" | grep -E "^GPU|ceilings" 
  [ "${PIPESTATUS[0]}" = 0 ] && stage_end bench_kernels ok || stage_end bench_kernels "FAILED or timed out (see bench.log)"
else
  stage_end bench_kernels skipped
fi

# ---- 6. side by side with PyTorch (+ model benchmarks) --------------------------------------
stage_begin side_by_side
if [ $built = 1 ] && [ $have_gpu = 1 ]; then
  t=$(box 170 15)
  quick=()
  [ "$t" -lt 150 ] && quick=(--quick)
  echo "--- side_by_side_torch.py ${quick[*]} (time box $t s)" >>"$OUT/bench.log"
  PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 timeout "$t" python3 benchmarks/gpu/side_by_side_torch.py --build "$build" \
    --out "$OUT" "${quick[@]}" 2>&1 | tee -a "$OUT/bench.log" | grep -E "^\[side-by-side\] (models|parity|on )"
  [ "${PIPESTATUS[0]}" = 0 ] && stage_end side_by_side ok || stage_end side_by_side "FAILED or timed out (see bench.log)"
else
  stage_end side_by_side skipped
fi

# ---- 7. summary ----------------------------------------------------------------------------
{
  echo "tailor GPU check: ${gpu_name:-no GPU}, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(elapsed) s"
  printf "%-15s %6s  %s\n" stage seconds status
  for s in "${order[@]}"; do printf "%-15s %6s  %s\n" "$s" "${took[$s]}" "${status[$s]}"; done
  python3 benchmarks/gpu/summarize.py "$OUT" 2>&1 || echo "(summarize.py failed)"
} >"$OUT/summary.txt"
{
  echo
  echo "---- Markdown for benchmarks/RESULTS.md ----"
  python3 benchmarks/gpu/summarize.py "$OUT" --markdown 2>&1 || true
} >"$OUT/summary.md.tmp"
echo
cat "$OUT/summary.txt"
cat "$OUT/summary.md.tmp" >>"$OUT/summary.txt" && rm -f "$OUT/summary.md.tmp"
