#!/usr/bin/env bash
# One device call for the fused-op CUDA kernels (issue 6): builds only the targets they
# need, runs their tests, Emily's benchmark and PyTorch's attention on the same GPU.
# Logs go to $OUT (build.log, test.log, bench.log, torch.log). Usage, on the device
# machine from the repository root: scripts/device/fast-kernels.sh [test|bench|all|harness]
# ("harness [check] [time] [variants]": no library build, only the wgmma prefill kernel's
# check and timing, scripts/device/flash_wgmma_check.cu, in about 20 s).
set -uo pipefail
what=${1:-all}
out=${OUT:-/tmp}
if [ "$what" = harness ]; then
  nvcc -O3 -std=c++20 -gencode=arch=compute_90a,code=sm_90a -Isrc -Iinclude \
    --expt-relaxed-constexpr -Xptxas -v scripts/device/flash_wgmma_check.cu \
    -o /tmp/flash_check >"$out/harness-build.log" 2>&1 || { grep error "$out/harness-build.log"; exit 1; }
  grep -E "C75|Used [0-9]+ registers" "$out/harness-build.log" | sed 's/ptxas info *: //'
  exec /tmp/flash_check "${@:2}"
fi
targets="cuda_test_cuda_fast_kernels cuda_test_cuda_fast bench_fast_cuda"
sed "s/cmake --build \"\$build\" -j\"\$(nproc)\"/cmake --build \"\$build\" -j\"\$(nproc)\" --target $targets/" \
  scripts/device/build.sh >/tmp/build-fast.sh
start=$(date +%s)
if ! bash /tmp/build-fast.sh build-gpu >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  exit 1
fi
echo "build: $(($(date +%s) - start)) s"
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ "$what" != bench ]; then
  ./build-gpu/tests/cuda_test_cuda_fast_kernels >"$out/test.log" 2>&1
  echo "test_cuda_fast_kernels rc=$?"
  grep -E "^\[  FAILED|^\[  PASSED|^\[       OK" "$out/test.log"
  grep -E -A3 "Failure$" "$out/test.log" | head -60
  ./build-gpu/tests/cuda_test_cuda_fast 2>&1 | tail -2
fi
if [ "$what" != test ]; then
  ./build-gpu/bench/bench_fast_cuda --benchmark_min_time=0.3 2>&1 | tee "$out/bench.log" |
    grep -E "^BM_|^Run|^[0-9]"
  python3 bench/torch_attention.py 2>&1 | tee "$out/torch.log"
fi
