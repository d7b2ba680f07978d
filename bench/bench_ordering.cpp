// sort/argsort of 1M f32 beside std::sort / std::stable_sort of the same values (the
// baseline a C++ user would write), and cumulative_sum of a 4096x4096 f32 matrix on both
// axes beside memcpy of the same bytes (a scan reads and writes each element once).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "emily/emily.h"

namespace {

using namespace emily;

constexpr std::int64_t kSortN = 1 << 20;
constexpr std::int64_t kRows = 4096, kCols = 4096;

Tensor sort_input() {
  return random::normal(random::key(3), {kSortN});
}

void BM_std_sort(benchmark::State& state) {
  Tensor x = sort_input();
  const float* p = x.data<float>();
  std::vector<float> v(p, p + kSortN);
  for (auto _ : state) {
    std::copy(p, p + kSortN, v.begin());
    std::sort(v.begin(), v.end());
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * kSortN);
}

void BM_std_stable_argsort(benchmark::State& state) {
  Tensor x = sort_input();
  const float* p = x.data<float>();
  std::vector<std::int64_t> idx(kSortN);
  for (auto _ : state) {
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [p](auto a, auto b) { return p[a] < p[b]; });
    benchmark::DoNotOptimize(idx.data());
  }
  state.SetItemsProcessed(state.iterations() * kSortN);
}

void BM_sort(benchmark::State& state) {
  Tensor x = sort_input();
  for (auto _ : state) benchmark::DoNotOptimize(sort(x));
  state.SetItemsProcessed(state.iterations() * kSortN);
}

void BM_argsort(benchmark::State& state) {
  Tensor x = sort_input();
  for (auto _ : state) benchmark::DoNotOptimize(argsort(x));
  state.SetItemsProcessed(state.iterations() * kSortN);
}

void BM_memcpy(benchmark::State& state) {
  std::vector<float> a(kRows * kCols, 1.0f), b(kRows * kCols);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), a.size() * sizeof(float));
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * kRows * kCols * sizeof(float));
}

void BM_cumulative_sum(benchmark::State& state) {
  Tensor x = random::uniform(random::key(0), {kRows, kCols});
  const int axis = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(cumulative_sum(x, axis));
  state.SetBytesProcessed(state.iterations() * 2 * kRows * kCols * sizeof(float));
}

BENCHMARK(BM_std_sort)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_std_stable_argsort)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sort)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_argsort)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_memcpy)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cumulative_sum)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
