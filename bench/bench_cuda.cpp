// CUDA backend (issue "CUDA backend"): elementwise add over 64M f32 against cudaMemcpy
// device-to-device in the same run, bf16 matmul rates, eager host overhead. Bytes counted once per
// read and per write (add: 2 reads + 1 write; copy: 1 read + 1 write). Skipped without a GPU.
#include <benchmark/benchmark.h>

#include "emily/emily.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

namespace {

using namespace emily;

constexpr std::int64_t kN = std::int64_t{1} << 26;

void BM_cuda_add_64M_f32(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  Tensor a = to_device(random::normal(random::key(0), {kN}), gpu);
  Tensor b = to_device(random::normal(random::key(1), {kN}), gpu);
  StreamGuard guard(default_stream(gpu));
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(add(a, b));
  synchronize();
  for (auto _ : state) {
    Tensor c = add(a, b);
    synchronize();
  }
  state.SetBytesProcessed(state.iterations() * kN * 4 * 3);
}

void BM_cuda_memcpy_d2d_64M_f32(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  void *src = nullptr, *dst = nullptr;
  const std::size_t bytes = static_cast<std::size_t>(kN) * 4;
  if (cudaMalloc(&src, bytes) != cudaSuccess || cudaMalloc(&dst, bytes) != cudaSuccess)
    return state.SkipWithError("cudaMalloc failed");
  cudaMemset(src, 1, bytes);
  for (int i = 0; i < 3; ++i) cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
  for (auto _ : state) {
    cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes) * 2);
  cudaFree(src);
  cudaFree(dst);
}

// Host overhead of one eager op on the GPU: a 1-element add, synchronized every 100.
void BM_cuda_eager_add_1_element(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  Tensor a = to_device(ones({1}), gpu);
  StreamGuard guard(default_stream(gpu));
  std::int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(add(a, a));
    if (++n % 100 == 0) synchronize();
  }
  synchronize();
}

// A chain of 100 dependent 1-element adds, compiled native: the time of one call over
// 100 is the per-node cost. Arg 1: the plan is recorded as a CUDA graph; 0: node by node.
// Synchronized every 10 calls, so launches overlap execution as in a decode loop.
void BM_cuda_replay_chain_per_node(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  constexpr int kNodes = 100;
  const Device gpu = Device::cuda(0);
  CompileOptions o;
  o.mode = CompileMode::native;
  o.cuda_graphs = state.range(0) != 0;
  auto chain = compile(
      [](const std::vector<Tensor>& in) {
        Tensor x = in[0];
        for (int i = 0; i < kNodes; ++i) x = add(x, in[1]);
        return std::vector<Tensor>{x};
      },
      o);
  Tensor a = to_device(ones({1}), gpu), b = to_device(ones({1}), gpu);
  StreamGuard guard(default_stream(gpu));
  for (int i = 0; i < 5; ++i) benchmark::DoNotOptimize(chain({a, b}));
  synchronize();
  std::int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(chain({a, b}));
    if (++n % 10 == 0) synchronize();
  }
  synchronize();
  state.counters["us_per_node"] = benchmark::Counter(
      static_cast<double>(kNodes) * state.iterations(),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::kIs1000);
}

// M = 1 bf16 matmul (1 x n) @ (n x n): bytes of the weight read per second. The weights
// rotate over copies that together exceed the 50 MB L2, so each call reads from HBM.
void BM_cuda_gemv_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0);
  const Device gpu = Device::cuda(0);
  const std::int64_t copies = std::max<std::int64_t>(2, (256ll << 20) / (n * n * 2));
  std::vector<Tensor> w;
  for (std::int64_t c = 0; c < copies; ++c)
    w.push_back(astype(to_device(random::normal(random::key(c), {n, n}), gpu), DType::bf16));
  Tensor x = astype(to_device(random::normal(random::key(99), {1, n}), gpu), DType::bf16);
  StreamGuard guard(default_stream(gpu));
  for (const auto& m : w) benchmark::DoNotOptimize(matmul(x, m));
  synchronize();
  std::size_t k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(matmul(x, w[k++ % w.size()]));
    synchronize();
  }
  state.SetBytesProcessed(state.iterations() * n * n * 2);
}

// bf16 matmul n x n x n through Emily's cuBLASLt path (random data; 2 n^3 flops).
void BM_cuda_matmul_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  const std::int64_t n = state.range(0);
  Tensor a = to_device(astype(random::normal(random::key(0), {n, n}), DType::bf16), gpu);
  Tensor b = to_device(astype(random::normal(random::key(1), {n, n}), DType::bf16), gpu);
  StreamGuard guard(default_stream(gpu));
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(matmul(a, b));
  synchronize();
  for (auto _ : state) {
    Tensor c = matmul(a, b);
    synchronize();
  }
  state.counters["TFLOPs"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * static_cast<double>(n * n * n) / 1e12,
      benchmark::Counter::kIsRate);
}

// sum over the last axis of 8192 x 8192 f32 (reads 256 MiB once).
void BM_cuda_sum_last_axis_8192(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  Tensor x = to_device(random::normal(random::key(0), {8192, 8192}), gpu);
  StreamGuard guard(default_stream(gpu));
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(sum(x, -1));
  synchronize();
  for (auto _ : state) {
    Tensor y = sum(x, -1);
    synchronize();
  }
  state.SetBytesProcessed(state.iterations() * (8192LL * 8192 + 8192) * 4);
}

BENCHMARK(BM_cuda_sum_last_axis_8192)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_matmul_bf16)->Arg(4096)->Arg(8192)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_add_64M_f32)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_memcpy_d2d_64M_f32)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_replay_chain_per_node)
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_gemv_bf16)->Arg(4096)->Arg(8192)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_eager_add_1_element)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
#endif

BENCHMARK_MAIN();
