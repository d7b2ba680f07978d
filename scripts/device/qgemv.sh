#!/usr/bin/env bash
# One device call for the quantized GEMV (quant_gemv_tc.cuh, quant_gemv.cuh): the
# kernel-level harness scripts/device/qgemv_tune.cu first (one nvcc, quick), then Nsight
# Compute on it, then the CUDA quant test and bench_quant's GPU GEMV cases (building
# only those two targets), each while time is left of $QGEMV_BUDGET seconds (default
# 380). Logs go to $OUT (tune.log, ncu.txt, build.log, test.log, bench.log, sass.txt).
# Usage, on the device machine from the repository root:
#   scripts/device/qgemv.sh [tune] [ncu] [test] [bench] [sass]   (default: all but ncu)
set -uo pipefail
out=${OUT:-/tmp}
steps=${*:-tune test bench sass}
has() { [[ " $steps " == *" $1 "* ]]; }
start=$(date +%s)
left() { echo $((${QGEMV_BUDGET:-380} - ($(date +%s) - start))); }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
tune_flags="-O3 -std=c++20 -gencode=arch=compute_90a,code=sm_90a -Isrc -Iinclude --expt-relaxed-constexpr"
if has tune || has ncu || has sass; then
  nvcc $tune_flags -Xptxas -v scripts/device/qgemv_tune.cu -o /tmp/qgemv_tune >"$out/tune-build.log" 2>&1 ||
    { grep -E "error" "$out/tune-build.log" | head -20; }
  echo "tune build: $(($(date +%s) - start)) s"
fi
if has tune && [ -x /tmp/qgemv_tune ]; then
  timeout 150 /tmp/qgemv_tune >"$out/tune.log" 2>&1
  echo "tune rc=$? at $(($(date +%s) - start)) s"
fi
if has ncu && [ -x /tmp/qgemv_tune ] && [ "$(left)" -gt 200 ]; then
  timeout 90 ncu --clock-control none --kernel-name regex:gemv --launch-count 18 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
    --section WarpStateStats --section LaunchStats --section InstructionStats \
    -o "$out/rep" /tmp/qgemv_tune profile >"$out/ncu-run.log" 2>&1
  ncu -i "$out/rep.ncu-rep" --page details >"$out/ncu.txt" 2>&1
  echo "ncu done at $(($(date +%s) - start)) s"
fi
if has sass && [ -x /tmp/qgemv_tune ]; then
  cuobjdump -sass /tmp/qgemv_tune >"$out/sass.txt" 2>&1
fi
if has test || has bench; then
  targets="cuda_test_cuda_quant bench_quant"
  sed "s/cmake --build \"\$build\" -j\"\$(nproc)\"/cmake --build \"\$build\" -j\"\$(nproc)\" --target $targets/" \
    scripts/device/build.sh >/tmp/build-qgemv.sh
  if ! timeout $(($(left) - 20)) bash /tmp/build-qgemv.sh build-gpu >"$out/build.log" 2>&1; then
    grep -E "error|Error" "$out/build.log" | head -40
    echo "build failed or timed out at $(($(date +%s) - start)) s"
    exit 1
  fi
  echo "build: $(($(date +%s) - start)) s"
fi
[ -d /tmp/deproot ] && source scripts/device/env.sh
if has test && [ "$(left)" -gt 30 ]; then
  timeout $(($(left) - 5)) ./build-gpu/tests/cuda_test_cuda_quant >"$out/test.log" 2>&1
  echo "test_cuda_quant rc=$? at $(($(date +%s) - start)) s"
  grep -E "^\[  FAILED|^\[  PASSED|^\[       OK" "$out/test.log"
  grep -E -A4 "Failure$" "$out/test.log" | head -30
fi
if has bench && [ "$(left)" -gt 20 ]; then
  timeout $(($(left) - 5)) ./build-gpu/bench/bench_quant \
    --benchmark_filter='cuda_(quantized_gemv|dense_gemv|copy)' --benchmark_min_time=0.1 \
    >"$out/bench.log" 2>&1
  echo "bench rc=$? at $(($(date +%s) - start)) s"
fi
