// Sum over the last axis of a 4096x4096 f32 matrix, beside memcpy of the same bytes.
// Bytes count the input read once (the 16 KiB output is noise); memcpy counts read+write.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "emily/emily.h"

namespace {

using namespace emily;

constexpr std::int64_t kRows = 4096, kCols = 4096;

void BM_memcpy(benchmark::State& state) {
  std::vector<float> a(kRows * kCols, 1.0f), b(kRows * kCols);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), a.size() * sizeof(float));
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * kRows * kCols * sizeof(float));
}

void BM_sum_last_axis(benchmark::State& state) {
  Tensor x = random::uniform(random::key(0), {kRows, kCols});
  for (auto _ : state) benchmark::DoNotOptimize(sum(x, -1));
  state.SetBytesProcessed(state.iterations() * kRows * kCols * sizeof(float));
}

void BM_sum_first_axis(benchmark::State& state) {
  Tensor x = random::uniform(random::key(0), {kRows, kCols});
  for (auto _ : state) benchmark::DoNotOptimize(sum(x, 0));
  state.SetBytesProcessed(state.iterations() * kRows * kCols * sizeof(float));
}

BENCHMARK(BM_memcpy)->UseRealTime();
BENCHMARK(BM_sum_last_axis)->UseRealTime();
BENCHMARK(BM_sum_first_axis)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
