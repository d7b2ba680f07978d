// Host <-> device copies through the staging in backend/cuda/copy.cpp, against the CUDA
// runtime's own copies of the same bytes, and the host cost of ops that upload a scalar.
// Every benchmark skips without a CUDA device.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "emily/emily.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using namespace emily;

// Arg: bytes. Pageable host memory to a new GPU tensor (from_blob), synchronized.
void BM_cuda_upload_pageable(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  const auto n = static_cast<std::int64_t>(state.range(0));
  std::vector<std::uint8_t> host(static_cast<std::size_t>(n), 7);
  StreamGuard guard(default_stream(gpu));
  for (auto _ : state) {
    Tensor t = from_blob(host.data(), {n}, DType::u8, gpu);
    synchronize();
  }
  state.SetBytesProcessed(state.iterations() * n);
}

// Arg: bytes. A GPU tensor into pageable host memory (to_blob).
void BM_cuda_download_pageable(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  const auto n = static_cast<std::int64_t>(state.range(0));
  std::vector<std::uint8_t> host(static_cast<std::size_t>(n));
  Tensor t = zeros({n}, DType::u8, gpu);
  for (auto _ : state) to_blob(t, host.data(), host.size());
  state.SetBytesProcessed(state.iterations() * n);
}

#ifdef EMILY_HAS_CUDA
// The reference: cudaMemcpy of the same pageable bytes, both ways.
void BM_cuda_memcpy_pageable_both_ways(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> host(n, 7);
  void* dev = nullptr;
  if (cudaMalloc(&dev, n) != cudaSuccess) return state.SkipWithError("cudaMalloc failed");
  for (auto _ : state) {
    cudaMemcpy(dev, host.data(), n, cudaMemcpyHostToDevice);
    cudaMemcpy(host.data(), dev, n, cudaMemcpyDeviceToHost);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n) * 2);
  cudaFree(dev);
}
#endif

// Host time of `x * 0.5` on a 1-element GPU tensor: the scalar's upload (a ring slot)
// plus the multiply. Synchronized every 100, as BM_cuda_eager_add_1_element.
void BM_cuda_eager_scalar_multiply(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  Tensor x = ones({1});
  std::int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(x * 0.5);
    if (++n % 100 == 0) synchronize();
  }
  synchronize();
}

BENCHMARK(BM_cuda_upload_pageable)
    ->Arg(4)
    ->Arg(1 << 20)
    ->Arg(64 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_download_pageable)
    ->Arg(4)
    ->Arg(1 << 20)
    ->Arg(64 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
#ifdef EMILY_HAS_CUDA
BENCHMARK(BM_cuda_memcpy_pageable_both_ways)
    ->Arg(4)
    ->Arg(1 << 20)
    ->Arg(64 << 20)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
#endif
BENCHMARK(BM_cuda_eager_scalar_multiply)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
