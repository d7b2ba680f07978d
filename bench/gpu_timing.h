// How the CUDA benchmarks (bench_cuda, bench_fast_cuda, bench_quant) time an eager call,
// as a manual time (register with UseManualTime()):
//  - events: CUDA events around kCallsPerIteration calls issued back to back on the
//    stream of cuda:0, per call. This is the GPU's time whenever a kernel outlasts the
//    host's dispatch, and how torch_cuda.py and torch_attention.py time PyTorch.
//  - wall: the host clock around one call and a synchronize, what a caller that waits
//    for each result sees (dispatch and the host's wake-up included).
//  - recorded: the calls over every rotated input recorded once as one CUDA graph
//    (backend/recording.h) and its replays timed with events, per call: the GPU's time
//    alone, gaps between kernels included. Where the host's dispatch outlasts a small
//    kernel, events time the host; this clock does not.
// Without CUDA in the build only the wall clock exists.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "emily/emily.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/runtime.h"
#include "backend/recording.h"
#endif

namespace emily::bench {

inline constexpr int kCallsPerIteration = 10;

// call(i), its result (when it has one) kept from the optimizer.
template <class Call>
void run_call(Call& call, std::size_t i) {
  if constexpr (std::is_void_v<std::invoke_result_t<Call&, std::size_t>>)
    call(i);
  else
    benchmark::DoNotOptimize(call(i));
}

#ifdef EMILY_HAS_CUDA
// Each iteration's time is CUDA events on `s` around issue(), divided by `calls`.
template <class Issue>
void time_with_events(benchmark::State& state, cudaStream_t s, double calls, Issue&& issue) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (auto _ : state) {
    cudaEventRecord(start, s);
    issue();
    cudaEventRecord(stop, s);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3 / calls);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}
#endif

// Runs call(0), call(1), ... (the index lets a benchmark rotate its inputs past L2).
template <class Call>
void time_gpu(benchmark::State& state, bool events, Call&& call) {
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  std::size_t next = 0;
  for (int i = 0; i < 3; ++i) run_call(call, next++);
  synchronize();
#ifdef EMILY_HAS_CUDA
  if (events) {
    time_with_events(state, cuda::stream(default_stream(gpu)), kCallsPerIteration, [&] {
      for (int i = 0; i < kCallsPerIteration; ++i) run_call(call, next++);
    });
    state.SetLabel("events");
    return;
  }
#else
  (void)events;
#endif
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run_call(call, next++);
    synchronize();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetLabel("wall");
}

#ifdef EMILY_HAS_CUDA
// The recorded clock: call(0) .. call(count - 1) run once to warm up, then once recorded.
template <class Call>
void time_recorded(benchmark::State& state, std::size_t count, Call&& call) {
  auto calls = [&] {
    for (std::size_t i = 0; i < count; ++i) run_call(call, i);
  };
  const Stream s = default_stream(Device::cuda(0));
  StreamGuard guard(s);
  calls();  // per-kernel setup and per-shape choices happen outside the recording
  synchronize();
  begin_recording(s);
  calls();
  std::string why;
  const std::unique_ptr<Recording> graph = end_recording(s, why);
  if (!graph) return state.SkipWithError(("recording failed: " + why).c_str());
  graph->launch(s);
  synchronize();
  time_with_events(state, cuda::stream(s), static_cast<double>(count), [&] { graph->launch(s); });
  state.SetLabel("recorded");
}

// The copy a kernel that reads `bytes` compares with: as many bytes moved device to
// device (half read, half written) over buffers that together exceed L2, recorded.
// Counts `bytes` per call.
inline void time_copy_like(benchmark::State& state, std::int64_t bytes) {
  const std::int64_t half = std::max<std::int64_t>(bytes / 2, 16);
  const std::int64_t copies = std::max<std::int64_t>(2, (256ll << 20) / (2 * half));
  const Device gpu = Device::cuda(0);
  std::vector<Tensor> src, dst;
  for (std::int64_t c = 0; c < copies; ++c) {
    src.push_back(full({half}, 1.0, DType::u8, gpu));
    dst.push_back(zeros({half}, DType::u8, gpu));
  }
  synchronize();
  const cudaStream_t cs = cuda::stream(default_stream(gpu));
  time_recorded(state, static_cast<std::size_t>(copies), [&](std::size_t c) {
    cudaMemcpyAsync(dst[c].raw_data(), src[c].raw_data(), half, cudaMemcpyDeviceToDevice, cs);
  });
  state.SetBytesProcessed(state.iterations() * 2 * half);
}
#endif

// clock: 0 wall, 1 events, 2 recorded (over `count` rotated calls; without CUDA, wall).
template <class Call>
void time_gpu_clock(benchmark::State& state, std::int64_t clock, std::size_t count, Call&& call) {
#ifdef EMILY_HAS_CUDA
  if (clock == 2) return time_recorded(state, count, call);
#endif
  time_gpu(state, clock == 1, call);
}

}  // namespace emily::bench
