// Eager dispatch overhead: ops on 1-element tensors, where the arithmetic is free and
// everything measured is validation, promotion, allocation and the kernel call.
#include <benchmark/benchmark.h>

#include "emily/emily.h"

namespace {

using namespace emily;

void BM_add_1_element(benchmark::State& state) {
  Tensor a = tensor<float>({1.0f}, {1}), b = tensor<float>({2.0f}, {1});
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b));
}

void BM_add_0d_broadcast(benchmark::State& state) {
  Tensor a = tensor<float>({1.0f}, {}), b = tensor<float>({2.0f, 3.0f}, {2});
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b));
}

void BM_exp_1_element(benchmark::State& state) {
  Tensor a = tensor<float>({1.0f}, {1});
  for (auto _ : state) benchmark::DoNotOptimize(exp(a));
}

void BM_reshape_view(benchmark::State& state) {
  Tensor a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  for (auto _ : state) benchmark::DoNotOptimize(reshape(a, {3, 2}));
}

// The same add with a telemetry handler attached, to show what spans cost when used.
void BM_add_1_element_telemetry(benchmark::State& state) {
  Tensor a = tensor<float>({1.0f}, {1}), b = tensor<float>({2.0f}, {1});
  std::int64_t events = 0;
  auto id = telemetry::attach("emily.eval", [&](const telemetry::Event&) { ++events; });
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b));
  telemetry::detach(id);
  benchmark::DoNotOptimize(events);
}

BENCHMARK(BM_add_1_element);
BENCHMARK(BM_add_0d_broadcast);
BENCHMARK(BM_exp_1_element);
BENCHMARK(BM_reshape_view);
BENCHMARK(BM_add_1_element_telemetry);

}  // namespace

BENCHMARK_MAIN();
