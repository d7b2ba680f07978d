// Square f32 matmul through emily::matmul against cblas_sgemm called directly on the
// same data in the same run; the ratio of the two is the cost of Emily's layers.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "emily/emily.h"

namespace {

using namespace emily;

void set_flops(benchmark::State& state, std::int64_t n) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

void BM_cblas_sgemm(benchmark::State& state) {
  const auto n = state.range(0);
  auto a = random::uniform(random::key(1), {n, n}).to_vector<float>();
  auto b = random::uniform(random::key(2), {n, n}).to_vector<float>();
  std::vector<float> c(n * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, n);
}

void BM_matmul(benchmark::State& state) {
  const auto n = state.range(0);
  Tensor a = random::uniform(random::key(1), {n, n});
  Tensor b = random::uniform(random::key(2), {n, n});
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b));
  set_flops(state, n);
}

BENCHMARK(BM_cblas_sgemm)->RangeMultiplier(2)->Range(256, 2048)->UseRealTime();
BENCHMARK(BM_matmul)->RangeMultiplier(2)->Range(256, 2048)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
