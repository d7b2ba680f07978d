#!/usr/bin/env bash
# compute-sanitizer racecheck over the CUDA test programs, all at once (each is slow under
# the tool), on an existing build-gpu. Per program: its gtest verdict, the tool's summary
# and the kernels named in hazard reports, counted. Usage, on the device machine from the
# repository root: scripts/device/racecheck.sh SECONDS [program[:gtest_filter]]...
# (default: every tests/cuda_test_* program). Logs go to $OUT/race-*.log.
set -uo pipefail
out=${OUT:-/tmp}
limit=${1:-300}
shift || true
source scripts/device/env.sh
cd build-gpu/tests
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=($(ls cuda_test_* | grep -v '\.cmake$'))
for spec in "${programs[@]}"; do
  program=${spec%%:*}
  filter='*'
  [[ "$spec" == *:* ]] && filter=${spec#*:}
  log="$out/race-${program}-$(echo "$filter" | tr -c 'A-Za-z0-9' '_').log"
  timeout "$limit" compute-sanitizer --tool racecheck --print-limit 100000 \
    "./$program" --gtest_filter="$filter" >"$log" 2>&1 &
done
wait
for log in "$out"/race-*.log; do
  echo "== $(basename "$log" .log)"
  grep -E "RACECHECK SUMMARY|^\[  (PASSED|FAILED)" "$log" || echo "(no summary: timed out)"
  grep -E "(Read|Write) Thread" "$log" | sed 's/.* at //; s/+0x.*//' | sort | uniq -c | head -5
done
