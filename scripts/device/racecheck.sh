#!/usr/bin/env bash
# compute-sanitizer racecheck over the CUDA test programs, all at once (each is slow under
# the tool), on an existing build-gpu. Per program: its gtest verdict, the tool's summary
# and the kernels named in hazard reports, counted. Usage, on the device machine from the
# repository root: scripts/device/racecheck.sh SECONDS [program[:gtest_filter][@kernel]]...
# (default: every tests/cuda_test_* program). "@kernel" checks only the kernels whose name
# contains that text (the others run uninstrumented, at full speed): how a large test
# program's one kernel fits a call. Logs go to $OUT/race-*.log.
set -uo pipefail
out=${OUT:-/tmp}
limit=${1:-300}
shift || true
source scripts/device/env.sh
cd build-gpu/tests
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=($(ls cuda_test_* | grep -v '\.cmake$'))
for spec in "${programs[@]}"; do
  kernel=()
  if [[ "$spec" == *@* ]]; then
    kernel=(--kernel-name "kns=${spec##*@}")
    spec=${spec%@*}
  fi
  program=${spec%%:*}
  filter='*'
  [[ "$spec" == *:* ]] && filter=${spec#*:}
  log="$out/race-${program}-$(echo "$filter${kernel[*]:+@${kernel[1]#kns=}}" | tr -c 'A-Za-z0-9' '_').log"
  timeout "$limit" compute-sanitizer --tool racecheck --print-limit 100000 "${kernel[@]}" \
    "./$program" --gtest_filter="$filter" >"$log" 2>&1 &
done
wait
for log in "$out"/race-*.log; do
  echo "== $(basename "$log" .log)"
  grep -E "RACECHECK SUMMARY|^\[  (PASSED|FAILED)" "$log" || echo "(no summary: timed out)"
  grep -E "(Read|Write) Thread" "$log" | sed 's/.* at //; s/+0x.*//' | sort | uniq -c | head -5
done
