// Quantized GEMV (decode: M = 1) against the dense GEMV on the same shapes, in one run.
// The counter is bytes of weights read per second: packed codes plus scales and biases
// for the quantized forms, the f32 (CPU) or bf16 (GPU) matrix for the dense ones. A
// quantized GEMV that reaches the dense one's bytes/s is as fast as memory lets it be;
// its time is then smaller by the compression.
//
//   CPU: int4 / int8 g64 (and g32, GGUF's Q4 group) f32-scale weights {N, K}, x {M, K}
//        f32, vs matmul(x, W^T) f32. "generic" = 1 runs the baseline x86-64 GEMV loops on
//        a CPU that has AVX2 + FMA (quant_avx2.h), so both forms compare in one run.
//   GPU: int4 / int8 g64 bf16-scale weights, x bf16, vs matmul(x, W^T) bf16; weights
//        rotate over copies that together exceed the 50 MB L2, so each call reads HBM
//        (the copies are distinct buffers, used in turn by every clock below).
//        Skipped without a GPU.
//   GPU prefill: M = 128 and 1024 rows of bf16 x times the same int4 / int8 g64 weights
//        through the tensor-core kernel (quant_mma.cu), through the old road (the whole
//        weight dequantized to bf16, then cuBLASLt; "old" = 1 forces it with
//        cuda::qmma::ForceDequantize), and the bf16 matmul on the dense weight, all timed
//        with events in one run. The counter is flops, 2 M N K per call.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "backend/cpu/quant_avx2.h"
#include "emily/emily.h"
#include "gpu_timing.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/quant_gemv.h"
#include "backend/cuda/quant_mma.h"
#include "backend/cuda/runtime.h"
#endif

namespace {

using namespace emily;

std::int64_t quantized_bytes(const QuantizedTensor& q) {
  return static_cast<std::int64_t>(q.packed.nbytes() + q.scales.nbytes() + q.biases.nbytes());
}

// ---- CPU ---------------------------------------------------------------------------------

void BM_cpu_quantized_gemv(benchmark::State& state) {
  const std::int64_t n = state.range(0), bits = state.range(1), m = state.range(2);
  const int group = static_cast<int>(state.range(3));
  std::optional<cpu::quant_avx2::ForceGeneric> generic;
  if (state.range(4)) generic.emplace();
  Tensor w = random::normal(random::key(1), {n, n});
  const QuantizedTensor q = quantize(w, group, static_cast<int>(bits));
  Tensor x = random::normal(random::key(2), {m, n});
  for (int i = 0; i < 2; ++i) benchmark::DoNotOptimize(quantized_matmul(x, q));
  for (auto _ : state) benchmark::DoNotOptimize(quantized_matmul(x, q));
  state.SetBytesProcessed(state.iterations() * quantized_bytes(q));
}

void BM_cpu_dense_gemv_f32(benchmark::State& state) {
  const std::int64_t n = state.range(0), m = state.range(1);
  Tensor w = random::normal(random::key(1), {n, n});
  Tensor wt = swapaxes(w, 0, 1);  // the Linear layout: {N, K} used transposed
  Tensor x = random::normal(random::key(2), {m, n});
  for (int i = 0; i < 2; ++i) benchmark::DoNotOptimize(matmul(x, wt));
  for (auto _ : state) benchmark::DoNotOptimize(matmul(x, wt));
  state.SetBytesProcessed(state.iterations() * n * n * 4);
}

// Unpacking alone: dequantize the whole weight to f32 (what the M > 8 path pays per
// call before its sgemm).
void BM_cpu_dequantize(benchmark::State& state) {
  const std::int64_t n = state.range(0), bits = state.range(1);
  const QuantizedTensor q =
      quantize(random::normal(random::key(1), {n, n}), 64, static_cast<int>(bits));
  for (auto _ : state) benchmark::DoNotOptimize(dequantize(q));
  state.SetBytesProcessed(state.iterations() * quantized_bytes(q));
}
BENCHMARK(BM_cpu_dequantize)->Args({4096, 4})->UseRealTime()->Unit(benchmark::kMicrosecond);

// {K = N, bits, M, group, generic}
BENCHMARK(BM_cpu_quantized_gemv)
    ->ArgNames({"k", "bits", "m", "group", "generic"})
    ->Args({4096, 4, 1, 64, 0})
    ->Args({4096, 4, 1, 64, 1})
    ->Args({4096, 4, 1, 32, 0})
    ->Args({4096, 4, 1, 32, 1})
    ->Args({4096, 8, 1, 64, 0})
    ->Args({4096, 8, 1, 64, 1})
    ->Args({4096, 4, 8, 64, 0})
    ->Args({4096, 4, 8, 64, 1})
    ->Args({4096, 4, 64, 64, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cpu_dense_gemv_f32)
    ->Args({4096, 1})
    ->Args({4096, 8})
    ->Args({4096, 64})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---- GPU ---------------------------------------------------------------------------------
//
// Three clocks (bench/gpu_timing.h). "wall": host time of one eager call plus a
// synchronize, as a caller that waits for each result sees it (Emily's eager host cost,
// about 6 us a call, included). "events": CUDA events around 10 eager calls issued back
// to back (manual time, per call), which is the kernel time wherever the kernel outlasts
// the host's dispatch and the dispatch time where it does not. "recorded": the calls
// over every weight copy recorded as one CUDA graph, the GPU's time alone; its ceiling is
// BM_cuda_copy_like, the same bytes copied, recorded the same way. scripts/device/qgemv_tune.cu
// times the bare kernels. The device-to-device copy gives the bandwidth ceiling in the same run.

// Copies of a weight that together exceed the L2 cache.
std::int64_t copies_for(std::int64_t bytes) {
  return std::max<std::int64_t>(2, (256ll << 20) / std::max<std::int64_t>(bytes, 1));
}

using bench::time_gpu;
using bench::time_gpu_clock;

// Args: K = N, bits, M, clock (0 wall, 1 events, 2 recorded), fma (1: the f32-FMA kernel of
// session 15 wherever the library would choose otherwise, for before/after in one run).
void BM_cuda_quantized_gemv(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0), bits = state.range(1), m = state.range(2);
#ifdef EMILY_HAS_CUDA
  std::optional<cuda::qgemv::ForceGemv> force;
  if (state.range(4)) force.emplace(cuda::qgemv::GemvKernel::fma);
#endif
  const Device gpu = Device::cuda(0);
  std::vector<QuantizedTensor> w;
  const QuantizedTensor first = quantize(
      astype(random::normal(random::key(0), {n, n}), DType::bf16), 64, static_cast<int>(bits));
  const std::int64_t copies = copies_for(quantized_bytes(first));
  for (std::int64_t c = 0; c < copies; ++c) {
    // The same values in fresh buffers: what is read, not what it holds, matters here.
    w.push_back({to_device(first.packed, gpu), to_device(first.scales, gpu),
                 to_device(first.biases, gpu), first.bits, first.group_size});
  }
  Tensor x = to_device(astype(random::normal(random::key(99), {m, n}), DType::bf16), gpu);
  time_gpu_clock(state, state.range(3), w.size(),
                 [&](std::size_t i) { return quantized_matmul(x, w[i % w.size()]); });
  state.SetBytesProcessed(state.iterations() * quantized_bytes(first));
}

// Args: K = N, clock.
void BM_cuda_dense_gemv_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0);
  const Device gpu = Device::cuda(0);
  std::vector<Tensor> w;
  for (std::int64_t c = 0; c < copies_for(n * n * 2); ++c)
    w.push_back(swapaxes(
        astype(to_device(random::normal(random::key(c), {n, n}), gpu), DType::bf16), 0, 1));
  Tensor x = to_device(astype(random::normal(random::key(99), {1, n}), DType::bf16), gpu);
  time_gpu_clock(state, state.range(1), w.size(),
                 [&](std::size_t i) { return matmul(x, w[i % w.size()]); });
  state.SetBytesProcessed(state.iterations() * n * n * 2);
}

#ifdef EMILY_HAS_CUDA
// Args: K = N, bits (16: the bf16 weight). The bytes of that GEMV's weight copied device
// to device, recorded: the ceiling of the "recorded" clock at that size.
void BM_cuda_copy_like(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0), bits = state.range(1);
  // Packed codes plus a bf16 scale and bias per group of 64.
  const std::int64_t bytes = bits == 16 ? n * n * 2 : n * n * bits / 8 + n * (n / 64) * 4;
  bench::time_copy_like(state, bytes);
}
#endif

#ifdef EMILY_HAS_CUDA
// The ceiling: cudaMemcpyAsync device to device, 1 GiB, counting bytes read and written.
void BM_cuda_copy_d2d(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::size_t bytes = std::size_t(1) << 30;
  void *src = nullptr, *dst = nullptr;
  if (cudaMalloc(&src, bytes) != cudaSuccess || cudaMalloc(&dst, bytes) != cudaSuccess)
    return state.SkipWithError("cudaMalloc failed");
  cudaMemset(src, 1, bytes);
  cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
  bench::time_with_events(state, nullptr, 1,
                          [&] { cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice); });
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes) * 2);
  cudaFree(src);
  cudaFree(dst);
}
BENCHMARK(BM_cuda_copy_d2d)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Prefill. Args: K = N, bits, M, old (1: the dequantize + matmul road).
void BM_cuda_quantized_prefill(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0), bits = state.range(1), m = state.range(2);
  std::optional<cuda::qmma::ForceDequantize> old;
  if (state.range(3)) old.emplace();
  const Device gpu = Device::cuda(0);
  const QuantizedTensor first = quantize(
      astype(random::normal(random::key(0), {n, n}), DType::bf16), 64, static_cast<int>(bits));
  std::vector<QuantizedTensor> w;
  for (std::int64_t c = 0; c < copies_for(quantized_bytes(first)); ++c)
    w.push_back({to_device(first.packed, gpu), to_device(first.scales, gpu),
                 to_device(first.biases, gpu), first.bits, first.group_size});
  Tensor x = to_device(astype(random::normal(random::key(99), {m, n}), DType::bf16), gpu);
  time_gpu(state, true, [&](std::size_t i) { return quantized_matmul(x, w[i % w.size()]); });
  state.counters["flops"] = benchmark::Counter(
      static_cast<double>(2 * m * n * n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

// Args: K = N, M.
void BM_cuda_dense_prefill_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0), m = state.range(1);
  const Device gpu = Device::cuda(0);
  std::vector<Tensor> w;
  for (std::int64_t c = 0; c < copies_for(n * n * 2); ++c)
    w.push_back(swapaxes(
        astype(to_device(random::normal(random::key(c), {n, n}), gpu), DType::bf16), 0, 1));
  Tensor x = to_device(astype(random::normal(random::key(99), {m, n}), DType::bf16), gpu);
  time_gpu(state, true, [&](std::size_t i) { return matmul(x, w[i % w.size()]); });
  state.counters["flops"] = benchmark::Counter(
      static_cast<double>(2 * m * n * n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void prefill_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "bits", "m", "old"});
  for (std::int64_t m : {128, 1024})
    for (std::int64_t bits : {4, 8})
      for (std::int64_t old : {0, 1}) b->Args({4096, bits, m, old});
}
BENCHMARK(BM_cuda_quantized_prefill)
    ->Apply(prefill_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_dense_prefill_bf16)
    ->ArgNames({"n", "m"})
    ->Args({4096, 128})
    ->Args({4096, 1024})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
#endif

void quantized_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "bits", "m", "clock", "fma"});
  for (std::int64_t fma : {0, 1})
    for (std::int64_t clock : {0, 1, 2})
      for (std::int64_t n : {4096, 8192})
        for (std::int64_t bits : {4, 8}) b->Args({n, bits, 1, clock, fma});
  for (std::int64_t fma : {0, 1}) {
    b->Args({4096, 4, 2, 1, fma});
    b->Args({4096, 4, 8, 1, fma});
  }
  b->Args({4096, 4, 2, 2, 0});
  b->Args({4096, 4, 8, 2, 0});
}

BENCHMARK(BM_cuda_quantized_gemv)
    ->Apply(quantized_args)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_dense_gemv_bf16)
    ->ArgNames({"n", "clock"})
    ->Args({4096, 0})
    ->Args({8192, 0})
    ->Args({4096, 1})
    ->Args({8192, 1})
    ->Args({4096, 2})
    ->Args({8192, 2})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
#ifdef EMILY_HAS_CUDA
BENCHMARK(BM_cuda_copy_like)
    ->ArgNames({"n", "bits"})
    ->ArgsProduct({{4096, 8192}, {4, 8, 16}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
#endif

}  // namespace

BENCHMARK_MAIN();
