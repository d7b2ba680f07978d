// Host overhead of the compiler's native replay against eager execution, and the cost of
// tracing a transformer-shaped function.
//   chain:  200 elementwise ops on 4-element f32 tensors, where the host work per op
//           (validation, promotion, allocation, dispatch) is all there is to measure.
//   fuse:   an 8-op elementwise chain over 4M f32 (64 MiB in and out), native replay
//           (one pass over memory per op) against fuse mode (one pass for the chain).
//   trace:  the first call of a freshly compiled 28-layer function (trace + passes +
//           plan, including the one eager run the trace is); the same function eager
//           and replayed.
#include <benchmark/benchmark.h>

#include "emily/emily.h"

namespace {

using namespace emily;

constexpr int kChain = 200;

std::vector<Tensor> chain(const std::vector<Tensor>& in) {
  Tensor x = in[0];
  for (int i = 0; i < kChain / 4; ++i) x = exp(negate(x * in[1] + in[1]));
  return {x};
}

void BM_chain_eager(benchmark::State& state) {
  std::vector<Tensor> in = {ones({4}), full({4}, 0.5)};
  for (auto _ : state) benchmark::DoNotOptimize(chain(in));
  state.counters["ns_per_op"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kChain,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_chain_native(benchmark::State& state) {
  std::vector<Tensor> in = {ones({4}), full({4}, 0.5)};
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(chain, o);
  f(in);
  for (auto _ : state) benchmark::DoNotOptimize(f(in));
  state.counters["ns_per_op"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kChain,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

std::vector<Tensor> eight_ops(const std::vector<Tensor>& in) {
  const Tensor &x = in[0], &y = in[1];
  Tensor h = maximum(x * 1.5 + y, scalar_like(x, 0.0));
  h = sqrt(abs(h * h - y)) * 0.5;
  return {h};
}

void BM_eight_ops_4M(benchmark::State& state) {
  const auto mode = static_cast<CompileMode>(state.range(0));
  std::vector<Tensor> in = {random::normal(random::key(0), {1 << 22}),
                            random::normal(random::key(1), {1 << 22})};
  CompileOptions o;
  o.mode = mode;
  auto f = compile(eight_ops, o);
  f(in);
  for (auto _ : state) benchmark::DoNotOptimize(f(in));
  state.SetLabel(mode == CompileMode::fuse ? "fuse" : "native");
}

// 28 layers of attention- and MLP-shaped work on a (16, 64) activation.
std::vector<Tensor> transformer(const std::vector<Tensor>& in) {
  Tensor x = in[0];
  const Tensor &wq = in[1], &wo = in[2], &w1 = in[3], &w2 = in[4];
  for (int layer = 0; layer < 28; ++layer) {
    Tensor h = x - mean(x, -1, true);
    h = h * rsqrt(mean(h * h, -1, true) + 1e-5);
    Tensor q = matmul(h, wq);
    Tensor a = softmax(matmul(q, transpose(q)) * 0.125, -1);
    x = x + matmul(matmul(a, q), wo);
    x = x + matmul(silu(matmul(x, w1)), w2);
  }
  return {x};
}

std::vector<Tensor> transformer_inputs() {
  return {random::normal(random::key(0), {16, 64}), random::normal(random::key(1), {64, 64}) * 0.1,
          random::normal(random::key(2), {64, 64}) * 0.1,
          random::normal(random::key(3), {64, 256}) * 0.1,
          random::normal(random::key(4), {256, 64}) * 0.1};
}

void BM_trace_28_layers(benchmark::State& state) {
  std::vector<Tensor> in = transformer_inputs();
  CompileOptions o;
  o.mode = CompileMode::native;
  for (auto _ : state) {
    auto f = compile(transformer, o);
    benchmark::DoNotOptimize(f(in));
  }
}

void BM_transformer_eager(benchmark::State& state) {
  std::vector<Tensor> in = transformer_inputs();
  for (auto _ : state) benchmark::DoNotOptimize(transformer(in));
}

void BM_transformer_native(benchmark::State& state) {
  std::vector<Tensor> in = transformer_inputs();
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(transformer, o);
  f(in);
  for (auto _ : state) benchmark::DoNotOptimize(f(in));
}

BENCHMARK(BM_chain_eager)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_chain_native)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_eight_ops_4M)
    ->Arg(static_cast<int>(CompileMode::native))
    ->Arg(static_cast<int>(CompileMode::fuse))
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_trace_28_layers)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_transformer_eager)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_transformer_native)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
