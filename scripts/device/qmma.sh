#!/usr/bin/env bash
# One device call for the tensor-core quantized matmul (src/backend/cuda/quant_mma.cu):
# builds the CUDA quant test and bench_quant only, then, each while time is left of a
# budget ($QMMA_BUDGET seconds, default 400): the test, bench_quant's prefill cases (and
# the copy ceiling), the tensor-core test under compute-sanitizer memcheck, and Nsight
# Compute on the kernel at M = 1024 and 128 (int4). Logs go to $OUT (build.log, test.log,
# bench.log, memcheck.log, ncu-*.txt, sass.txt). Usage, on the device machine from the
# repository root: scripts/device/qmma.sh [build-dir] [steps: test bench memcheck ncu]
set -uo pipefail
out=${OUT:-/tmp}
build=${1:-/tmp/qmma-build}
shift || true
steps=${*:-test bench memcheck}  # ncu on request
has() { [[ " $steps " == *" $1 "* ]]; }
start=$(date +%s)
left() { echo $((${QMMA_BUDGET:-400} - ($(date +%s) - start))); }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
targets="cuda_test_cuda_quant bench_quant"
sed "s/cmake --build \"\$build\" -j\"\$(nproc)\"/cmake --build \"\$build\" -j\"\$(nproc)\" --target $targets/" \
  scripts/device/build.sh >/tmp/build-qmma.sh
if ! bash /tmp/build-qmma.sh "$build" >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  exit 1
fi
echo "build: $(($(date +%s) - start)) s"
source scripts/device/env.sh
obj=$(find "$build" -name 'quant_mma.cu.o' | head -1)
cuobjdump -sass "$obj" >"$out/sass.txt" 2>&1
echo "HMMA in quant_mma: $(grep -c HMMA "$out/sass.txt"), LDL/STL: $(grep -cE 'LDL|STL' "$out/sass.txt")"
if has test; then
  timeout $(left) "$build/tests/cuda_test_cuda_quant" >"$out/test.log" 2>&1
  echo "test_cuda_quant rc=$? ($(($(date +%s) - start)) s)"
  grep -E "^\[  FAILED|^\[  PASSED|^\[       OK" "$out/test.log"
  grep -E -B2 -A8 "Failure$" "$out/test.log" | head -60
fi
if has bench && [ "$(left)" -gt 30 ]; then
  timeout $(left) "$build/bench/bench_quant" --benchmark_filter='prefill|copy' \
    --benchmark_min_time=0.2 2>&1 | tee "$out/bench.log" | grep -E "^BM_"
fi
if has memcheck && [ "$(left)" -gt 20 ]; then
  timeout $(left) compute-sanitizer --tool memcheck "$build/tests/cuda_test_cuda_quant" \
    --gtest_filter='*TensorCore*' >"$out/memcheck.log" 2>&1
  echo "memcheck rc=$?"
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$out/memcheck.log" | head
fi
if has ncu && [ "$(left)" -gt 30 ]; then
  for f in 4/m:1024 4/m:128; do
    name=ncu-$(echo "$f" | tr -c 'a-z0-9\n' '_').txt
    timeout 100 ncu --section SpeedOfLight --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
      --section WarpStateStats --section SchedulerStats --section Occupancy \
      --section InstructionStats --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active \
      -k regex:quantized_mma -s 3 -c 1 "$build/bench/bench_quant" --benchmark_min_time=0.01 \
      --benchmark_filter="prefill/n:4096/bits:$f/old:0" >"$out/$name" 2>&1
    echo "== ncu $f"
    grep -E "Duration|Throughput|Issued Ipc|No Eligible|Achieved Occupancy|hmma|Warp Cycles Per Issued|Bank|stalled|Registers Per" "$out/$name" | head -30
  done
fi
echo "total: $(($(date +%s) - start)) s"
