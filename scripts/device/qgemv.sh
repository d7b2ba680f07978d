#!/usr/bin/env bash
# One device call for the quantized GEMV (quant_gemv.cuh): builds the test and the
# benchmark only, runs the CUDA quant tests, bench_quant's GPU cases and the kernel-level
# harness scripts/device/qgemv_tune.cu. Logs go to $OUT (build.log, test.log, bench.log,
# tune.log, sass.txt). Usage, on the device machine from the repository root:
#   scripts/device/qgemv.sh [test] [bench] [tune] [sass]   (default: all)
set -uo pipefail
out=${OUT:-/tmp}
steps=${*:-test bench tune sass}
has() { [[ " $steps " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
tune_flags="-O3 -std=c++20 -gencode=arch=compute_90a,code=sm_90a -Isrc -Iinclude --expt-relaxed-constexpr"
(has tune || has sass) && nvcc $tune_flags scripts/device/qgemv_tune.cu -o /tmp/qgemv_tune \
  >"$out/tune-build.log" 2>&1 &
targets="cuda_test_cuda_quant bench_quant"
sed "s/cmake --build \"\$build\" -j\"\$(nproc)\"/cmake --build \"\$build\" -j\"\$(nproc)\" --target $targets/" \
  scripts/device/build.sh >/tmp/build-qgemv.sh
start=$(date +%s)
if (has test || has bench) && ! bash /tmp/build-qgemv.sh build-gpu >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  exit 1
fi
wait
echo "build: $(($(date +%s) - start)) s"
[ -d /tmp/deproot ] && source scripts/device/env.sh
if has test; then
  timeout 240 ./build-gpu/tests/cuda_test_cuda_quant >"$out/test.log" 2>&1
  echo "test_cuda_quant rc=$?"
  grep -E "^\[  FAILED|^\[  PASSED|^\[       OK" "$out/test.log"
  grep -E -B2 -A6 "Failure$" "$out/test.log" | head -60
fi
if has tune; then
  timeout 180 /tmp/qgemv_tune 2>&1 | tee "$out/tune.log"
fi
if has bench; then
  timeout 200 ./build-gpu/bench/bench_quant --benchmark_filter=cuda --benchmark_min_time=0.2 2>&1 |
    tee "$out/bench.log" | grep -E "^BM_"
fi
if has sass; then
  cuobjdump -sass /tmp/qgemv_tune >"$out/sass.txt" 2>&1
fi
