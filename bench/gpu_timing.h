// How the CUDA benchmarks (bench_cuda, bench_fast_cuda, bench_quant) time an eager call,
// as a manual time (register with UseManualTime()):
//  - events: CUDA events around kCallsPerIteration calls issued back to back on the
//    stream of cuda:0, per call. This is the GPU's time whenever a kernel outlasts the
//    host's dispatch, and how torch_cuda.py and torch_attention.py time PyTorch.
//  - wall: the host clock around one call and a synchronize, what a caller that waits
//    for each result sees (dispatch and the host's wake-up included).
// Without CUDA in the build only the wall clock exists.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <type_traits>

#include "emily/emily.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/runtime.h"
#endif

namespace emily::bench {

inline constexpr int kCallsPerIteration = 10;

// Runs call(0), call(1), ... (the index lets a benchmark rotate its inputs past L2); a
// result, when the call has one, is kept from the optimizer.
template <class Call>
void time_gpu(benchmark::State& state, bool events, Call&& call) {
  auto run = [&](std::size_t i) {
    if constexpr (std::is_void_v<std::invoke_result_t<Call&, std::size_t>>)
      call(i);
    else
      benchmark::DoNotOptimize(call(i));
  };
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  std::size_t next = 0;
  for (int i = 0; i < 3; ++i) run(next++);
  synchronize();
#ifdef EMILY_HAS_CUDA
  if (events) {
    cudaStream_t s = cuda::stream(default_stream(gpu));
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    for (auto _ : state) {
      cudaEventRecord(start, s);
      for (int i = 0; i < kCallsPerIteration; ++i) run(next++);
      cudaEventRecord(stop, s);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      state.SetIterationTime(ms / 1e3 / kCallsPerIteration);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    state.SetLabel("events");
    return;
  }
#else
  (void)events;
#endif
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run(next++);
    synchronize();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetLabel("wall");
}

}  // namespace emily::bench
