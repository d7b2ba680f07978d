// CUDA kernels of the fast ops (src/backend/cuda/fast*.cu), issue 6. Times are CUDA
// events around 10 calls on Emily's stream (manual time, per call), so a decode step's
// few microseconds are not hidden under host synchronisation.
//  - prefill attention, bf16, batch 4, 16 heads, head size 64/128, seq 512/2k/8k, causal
//    and not: TFLOP/s counting 4 B H Tq Tkv D (two products), halved when causal.
//  - decode attention, q = 1, 16 query heads over 8 kv heads, head size 128, bf16, kv
//    1k..32k: GB/s of K and V read (2 B Nkv Tkv D bytes each), eager, as a compiled plan's
//    CUDA graph, and as eager calls recorded into one graph (the GPU's time alone).
//  - rms_norm bf16, 4096 x 4096: GB/s read plus written.
//  - the copy rate the decode aim is stated against: cudaMemcpyAsync device to device of
//    256 MiB, GB/s read plus written, timed the same way; and copies of each decode case's
//    bytes, recorded like the decode calls.
// Arg "decomposed" = 1 runs the decomposition (fast::DecomposeGuard) for comparison.
// bench/torch_attention.py measures PyTorch's flash and cuDNN attention on the same shapes.
// Skipped without a GPU.
#include <benchmark/benchmark.h>

#include <functional>

#include "emily/emily.h"
#include "gpu_timing.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/runtime.h"

namespace {

using namespace emily;

// Events around back-to-back calls (gpu_timing.h); `fn` takes no index.
template <class Fn>
void time_calls(benchmark::State& state, Fn&& fn) {
  bench::time_gpu(state, true, [&](std::size_t) { return fn(); });
}

Tensor random_on_gpu(std::uint64_t seed, const Shape& shape) {
  return to_device(random::normal(random::key(seed), shape, DType::bf16), Device::cuda(0));
}

// Args: head size, sequence length, causal, decomposed.
void BM_prefill_attention_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t d = state.range(0), t = state.range(1), b = 4, h = 16;
  const bool causal = state.range(2) != 0, decomposed = state.range(3) != 0;
  Tensor q = random_on_gpu(1, {b, h, t, d}), k = random_on_gpu(2, {b, h, t, d});
  Tensor v = random_on_gpu(3, {b, h, t, d});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::optional<fast::DecomposeGuard> guard;
  if (decomposed) guard.emplace();
  time_calls(state, [&] {
    return causal ? fast::sdpa_causal(q, k, v, scale) : fast::sdpa(q, k, v, scale);
  });
  const double flops = 4.0 * b * h * t * t * d * (causal ? 0.5 : 1.0);
  state.counters["TFLOP/s"] =
      benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: kv length, mode (0: eager kernel, 1: eager decomposition, 2: the kernel in a
// compiled function replayed as a CUDA graph, which leaves out the eager host cost but
// adds the plan's input copies, 3: the eager calls over every copy recorded once as one
// CUDA graph, so the time is the kernels' alone, launch gaps included; 4 and 5: as 3 with
// a boolean mask over the keys, as a decode step's over its cache, 4 showing the first
// 1024 keys only (a cache written that far), 5 every key). K and V rotate over copies
// that together exceed the 50 MB L2, so each call reads from HBM.
void BM_decode_attention_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t tkv = state.range(0), b = 1, nq = 16, nkv = 8, d = 128;
  const std::int64_t mode = state.range(1);
  const std::int64_t bytes = 2 * b * nkv * tkv * d * 2;
  const std::int64_t copies = std::max<std::int64_t>(2, (256ll << 20) / bytes);
  std::vector<std::vector<Tensor>> inputs;
  for (std::int64_t c = 0; c < copies; ++c)
    inputs.push_back({random_on_gpu(1, {b, nq, 1, d}), random_on_gpu(10 + c, {b, nkv, tkv, d}),
                      random_on_gpu(1000 + c, {b, nkv, tkv, d})});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::optional<Tensor> mask;
  if (mode == 4 || mode == 5) {
    const std::int64_t shown = mode == 4 ? std::min<std::int64_t>(tkv, 1024) : tkv;
    mask = less(arange(tkv, DType::s32, Device::cuda(0)),
                full({1}, double(shown), DType::s32, Device::cuda(0)));
    *mask = reshape(*mask, {1, 1, 1, tkv});
  }
  auto step = [scale, &mask](const std::vector<Tensor>& in) {
    if (mask) return std::vector<Tensor>{fast::sdpa_masked(in[0], in[1], in[2], *mask, scale)};
    return std::vector<Tensor>{fast::sdpa(in[0], in[1], in[2], scale)};
  };
  std::optional<fast::DecomposeGuard> guard;
  if (mode == 1) guard.emplace();
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> fn = step;
  if (mode == 2) {
    CompileOptions o;
    o.mode = CompileMode::native;
    o.cuda_graphs = true;
    fn = compile(step, o);
  }
  if (mode >= 3) {
    bench::time_recorded(state, inputs.size(), [&](std::size_t i) { return step(inputs[i]); });
  } else {
    std::size_t next = 0;
    time_calls(state, [&] { return fn(inputs[next++ % inputs.size()]); });
  }
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Arg: decomposed.
void BM_rms_norm_bf16_4096x4096(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  constexpr std::int64_t n = 4096;
  Tensor x = random_on_gpu(1, {n, n}), w = random_on_gpu(2, {n});
  std::optional<fast::DecomposeGuard> guard;
  if (state.range(0) != 0) guard.emplace();
  time_calls(state, [&] { return fast::rms_norm(x, w, 1e-5); });
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * n * n * 2 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The copy rate: 256 MiB device to device on Emily's stream, bytes read plus written.
void BM_copy_d2d_256MiB(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  constexpr std::int64_t bytes = 256ll << 20;
  const Device gpu = Device::cuda(0);
  Tensor src = full({bytes / 2}, 1.0, DType::bf16, gpu), dst = zeros({bytes / 2}, DType::bf16, gpu);
  synchronize();
  cudaStream_t s = cuda::stream(default_stream(gpu));
  time_calls(state, [&] {
    return cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes, cudaMemcpyDeviceToDevice, s);
  });
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The copy a decode call of `kv` keys compares with (gpu_timing.h, time_copy_like),
// recorded like mode 3 of the decode benchmark so both carry the same launch gaps.
void BM_copy_d2d_like_decode(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t bytes = 2 * 8 * state.range(0) * 128 * 2;  // as BM_decode_attention_bf16
  bench::time_copy_like(state, bytes);
}

void prefill_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"hd", "seq", "causal", "decomposed"});
  for (std::int64_t d : {64, 128})
    for (std::int64_t t : {512, 2048, 8192})
      for (std::int64_t causal : {0, 1}) b->Args({d, t, causal, 0});
  b->Args({128, 2048, 1, 1});  // the decomposition, for the ratio
}

void decode_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"kv", "mode"});
  for (std::int64_t t : {1024, 4096, 8192, 16384, 32768}) b->Args({t, 0});
  for (std::int64_t t : {1024, 4096, 8192, 16384, 32768}) b->Args({t, 2});
  for (std::int64_t t : {512, 1024, 4096, 8192, 16384, 32768}) b->Args({t, 3});
  for (std::int64_t t : {1024, 8192, 32768}) b->Args({t, 4});
  for (std::int64_t t : {1024, 8192, 32768}) b->Args({t, 5});
  b->Args({8192, 1});
}

BENCHMARK(BM_prefill_attention_bf16)
    ->Apply(prefill_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_decode_attention_bf16)
    ->Apply(decode_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_copy_d2d_like_decode)
    ->ArgName("kv")
    ->Arg(512)
    ->Arg(1024)
    ->Arg(4096)
    ->Arg(8192)
    ->Arg(16384)
    ->Arg(32768)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_copy_d2d_256MiB)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_rms_norm_bf16_4096x4096)
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
#endif  // EMILY_HAS_CUDA

BENCHMARK_MAIN();
