// CPU kernels of the fast ops (src/backend/cpu/fast.cpp), issue 6, each beside its
// decomposition (fast::DecomposeGuard) in the same run. Shapes of the embedded default
// model (SmolLM2-135M: 9 query heads over 3 kv heads, head size 64, hidden size 576), f32
// as the CLI runs it on the CPU:
//  - sdpa prefill, causal, 512 tokens: GFLOP/s counting 4 T^2 D per head, halved;
//  - sdpa decode, one query row against 4096 cached keys: GB/s of K and V read; and the
//    same step under a decode loop's boolean mask over the cache, showing all of it or
//    its first 512 keys only (a cache written that far; GB/s still counts every key);
//  - rms_norm and layer_norm of 512 rows: GB/s read plus written;
//  - swiglu of 512 x 1536 (the MLP width): GB/s of gate and up read plus the result;
//  - rope (split-half, all 64 features) of 512 tokens x 9 heads: GB/s read plus written.
// Arg "decomposed" = 1 runs the decomposition.
#include <benchmark/benchmark.h>

#include <optional>

#include "emily/emily.h"

namespace {

using namespace emily;

constexpr std::int64_t kHeads = 9, kKvHeads = 3, kHeadSize = 64, kHidden = 576;

Tensor normal(std::uint64_t seed, const Shape& shape) {
  return random::normal(random::key(seed), shape, DType::f32);
}

void BM_cpu_sdpa_prefill_causal(benchmark::State& state) {
  constexpr std::int64_t t = 512;
  Tensor q = normal(1, {1, kHeads, t, kHeadSize}), k = normal(2, {1, kKvHeads, t, kHeadSize});
  Tensor v = normal(3, {1, kKvHeads, t, kHeadSize});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  for (auto _ : state) benchmark::DoNotOptimize(fast::sdpa_causal(q, k, v, 0.125));
  const double flops = 4.0 * kHeads * t * t * kHeadSize * 0.5;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_cpu_sdpa_decode(benchmark::State& state) {
  constexpr std::int64_t t = 4096;
  Tensor q = normal(1, {1, kHeads, 1, kHeadSize}), k = normal(2, {1, kKvHeads, t, kHeadSize});
  Tensor v = normal(3, {1, kKvHeads, t, kHeadSize});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  for (auto _ : state) benchmark::DoNotOptimize(fast::sdpa(q, k, v, 0.125));
  const double bytes = 2.0 * kKvHeads * t * kHeadSize * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Arg: keys the mask shows (the rest of the 4096 are hidden).
void BM_cpu_sdpa_decode_masked(benchmark::State& state) {
  constexpr std::int64_t t = 4096;
  Tensor q = normal(1, {1, kHeads, 1, kHeadSize}), k = normal(2, {1, kKvHeads, t, kHeadSize});
  Tensor v = normal(3, {1, kKvHeads, t, kHeadSize});
  Tensor mask = reshape(less(arange(t, DType::s32), full({1}, double(state.range(0)), DType::s32)),
                        {1, 1, 1, t});
  for (auto _ : state) benchmark::DoNotOptimize(fast::sdpa_masked(q, k, v, mask, 0.125));
  const double bytes = 2.0 * kKvHeads * t * kHeadSize * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_cpu_rms_norm(benchmark::State& state) {
  constexpr std::int64_t rows = 512;
  Tensor x = normal(1, {rows, kHidden}), w = normal(2, {kHidden});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  for (auto _ : state) benchmark::DoNotOptimize(fast::rms_norm(x, w, 1e-5));
  const double bytes = 2.0 * rows * kHidden * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_cpu_layer_norm(benchmark::State& state) {
  constexpr std::int64_t rows = 512;
  Tensor x = normal(1, {rows, kHidden}), w = normal(2, {kHidden}), b = normal(3, {kHidden});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  for (auto _ : state) benchmark::DoNotOptimize(fast::layer_norm(x, w, b, 1e-5));
  const double bytes = 2.0 * rows * kHidden * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_cpu_swiglu(benchmark::State& state) {
  constexpr std::int64_t rows = 512, width = 1536;
  Tensor g = normal(1, {rows, width}), u = normal(2, {rows, width});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  for (auto _ : state) benchmark::DoNotOptimize(fast::swiglu(g, u));
  const double bytes = 3.0 * rows * width * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_cpu_rope(benchmark::State& state) {
  constexpr std::int64_t t = 512;
  Tensor x = normal(1, {1, kHeads, t, kHeadSize});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  for (auto _ : state) benchmark::DoNotOptimize(fast::rope(x, kHeadSize, false, 1e5, 1.0, 0));
  const double bytes = 2.0 * kHeads * t * kHeadSize * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_cpu_sdpa_prefill_causal)->ArgName("decomposed")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_cpu_sdpa_decode)->ArgName("decomposed")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_cpu_sdpa_decode_masked)->ArgName("written")->Arg(512)->Arg(4096)->UseRealTime();
BENCHMARK(BM_cpu_rms_norm)->ArgName("decomposed")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_cpu_layer_norm)->ArgName("decomposed")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_cpu_swiglu)->ArgName("decomposed")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_cpu_rope)->ArgName("decomposed")->Arg(0)->Arg(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
