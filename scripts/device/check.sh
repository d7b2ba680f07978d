#!/usr/bin/env bash
# One device call that builds everything and runs the GPU checks: the `cuda` ctest label,
# the model conformance tests with the model on the GPU, and the GPU benchmarks of the
# runtime and quantization kernels. Logs go to $OUT. Usage, on the device machine from
# the repository root: scripts/device/check.sh [build|test|bench|llm]...  (default: all but llm)
set -uo pipefail
out=${OUT:-/tmp}
steps=${*:-build test bench}
has() { [[ " $steps " == *" $1 "* ]]; }
if has build; then
  start=$(date +%s)
  if ! scripts/device/build.sh build-gpu >"$out/build.log" 2>&1; then
    grep -E "error|Error" "$out/build.log" | head -40
    exit 1
  fi
  echo "build: $(($(date +%s) - start)) s"
fi
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cd build-gpu
if has test; then
  timeout 300 ctest -L cuda -j4 --timeout 120 >"$out/ctest-cuda.log" 2>&1
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)" "$out/ctest-cuda.log"
  EMILY_CONFORMANCE_DEVICE=cuda timeout 120 ./tests/models_test_conformance \
    --gtest_filter='Models/*' >"$out/conformance-cuda.log" 2>&1
  echo "conformance on cuda rc=$?"
  grep -E "conformance\]|FAILED|PASSED" "$out/conformance-cuda.log" | head -20
fi
if has bench; then
  ./bench/bench_quant --benchmark_filter=cuda --benchmark_min_time=0.2 2>&1 |
    tee "$out/bench-quant.log" | grep -E "^BM_"
  ./bench/bench_cuda --benchmark_filter='eager|gemv|GEMV' --benchmark_min_time=0.2 2>&1 |
    tee "$out/bench-cuda.log" | grep -E "^BM_"
  ./bench/bench_cuda_copy --benchmark_min_time=0.2 2>&1 | tee "$out/bench-copy.log" | grep -E "^BM_"
fi
if has llm; then
  cd ..
  timeout 300 python3 bench/llm_torch.py --save /tmp/qwen3-0.6b-random 2>&1 | tail -8 |
    tee "$out/llm-torch.log"
  for mode in eager native fuse; do
    timeout 120 ./build-gpu/bench/bench_decode --model /tmp/qwen3-0.6b-random --device cuda \
      --dtype bf16 --mode $mode --prompt-tokens 128 --new-tokens 128 --repeats 2 2>&1 |
      tee -a "$out/llm-emily.log"
  done
fi
