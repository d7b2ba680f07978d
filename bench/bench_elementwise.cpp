// Elementwise throughput of eager ops beside memcpy of the same bytes in the same run.
// Bytes count every read and write: add/mul move 3n floats, exp and memcpy move 2n.
#include <benchmark/benchmark.h>

#include <omp.h>

#include <cstring>
#include <vector>

#include "emily/emily.h"

namespace {

using namespace emily;

Tensor input(std::int64_t n, std::uint64_t seed) {
  return random::uniform(random::key(seed), {n}, DType::f32, -2.0, 2.0);
}

void BM_memcpy(benchmark::State& state) {
  const auto n = state.range(0);
  std::vector<float> a(n, 1.0f), b(n);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * n * sizeof(float));
}

// memcpy split over the same OpenMP threads the kernels use: the fairer ceiling for a
// multi-threaded kernel, reported beside the single-threaded one.
void BM_memcpy_threads(benchmark::State& state) {
  const auto n = state.range(0);
  std::vector<float> a(n, 1.0f), b(n);
  for (auto _ : state) {
#pragma omp parallel
    {
      const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      const std::int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
      std::memcpy(b.data() + lo, a.data() + lo, (hi - lo) * sizeof(float));
    }
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * n * sizeof(float));
}

template <Tensor (*Op)(const Tensor&, const Tensor&)>
void BM_binary(benchmark::State& state) {
  const auto n = state.range(0);
  Tensor a = input(n, 1), b = input(n, 2);
  for (auto _ : state) benchmark::DoNotOptimize(Op(a, b));
  state.SetBytesProcessed(state.iterations() * 3 * n * sizeof(float));
}

void BM_exp(benchmark::State& state) {
  const auto n = state.range(0);
  Tensor a = input(n, 3);
  for (auto _ : state) benchmark::DoNotOptimize(exp(a));
  state.SetBytesProcessed(state.iterations() * 2 * n * sizeof(float));
}

constexpr std::int64_t kMin = 1 << 20, kMax = 1 << 24;

BENCHMARK(BM_memcpy)->RangeMultiplier(4)->Range(kMin, kMax)->UseRealTime();
BENCHMARK(BM_memcpy_threads)->RangeMultiplier(4)->Range(kMin, kMax)->UseRealTime();
BENCHMARK(BM_binary<add>)->Name("BM_add")->RangeMultiplier(4)->Range(kMin, kMax)->UseRealTime();
BENCHMARK(BM_binary<multiply>)
    ->Name("BM_multiply")
    ->RangeMultiplier(4)
    ->Range(kMin, kMax)
    ->UseRealTime();
BENCHMARK(BM_exp)->RangeMultiplier(4)->Range(kMin, kMax)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
