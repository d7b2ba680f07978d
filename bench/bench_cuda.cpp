// CUDA backend (issue "CUDA backend"): elementwise add over 64M f32 against cudaMemcpy
// device-to-device in the same run, bf16 matmul rates, eager host overhead. Bytes counted once per
// read and per write (add: 2 reads + 1 write; copy: 1 read + 1 write). Skipped without a GPU.
#include <benchmark/benchmark.h>

#include "emily/emily.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include <chrono>

#include "backend/cuda/runtime.h"

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

// ---- the pieces of one eager op's host time ------------------------------------------
// Each iteration runs an op 100 times and synchronizes; the time reported is per op
// (manual time, so the iteration count is fixed: 1000 iterations, 100,000 ops).
// Arg 0: the synchronization is timed too (what a loop that waits pays: the GPU's time
// per tiny kernel bounds it from below). Arg 1: the clock stops before the
// synchronization, so what is left is the host's enqueue time alone (100 launches stay
// far below the depth at which a launch would block on a full queue).
template <class F>
void per_op(benchmark::State& state, F&& op) {
  using clock = std::chrono::steady_clock;
  constexpr int kOps = 100;
  const bool host_only = state.range(0) == 1;
  for (int i = 0; i < kOps; ++i) op();
  synchronize();
  for (auto _ : state) {
    const auto start = clock::now();
    for (int i = 0; i < kOps; ++i) op();
    if (!host_only) synchronize();
    const auto stop = clock::now();
    if (host_only) synchronize();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count() / kOps);
  }
}

// Two kernels that do nothing, loaded from PTX (this file is compiled by the host
// compiler): one without parameters, one taking 232 bytes, the size of the largest
// elementwise launch's parameters (a Layout<2> and an element function).
constexpr const char* kEmptyPtx = R"(
.version 7.0
.target sm_52
.address_size 64
.visible .entry emily_bench_empty() { ret; }
.visible .entry emily_bench_empty_args(.param .align 8 .b8 p[232]) { ret; }
)";

cudaKernel_t empty_kernel(const char* entry) {
  static cudaLibrary_t library = [] {
    cudaLibrary_t l = nullptr;
    cuda::check(cudaLibraryLoadData(&l, kEmptyPtx, nullptr, nullptr, 0, nullptr, nullptr, 0),
                "bench", "cudaLibraryLoadData");
    return l;
  }();
  cudaKernel_t k = nullptr;
  cuda::check(cudaLibraryGetKernel(&k, library, entry), "bench", "cudaLibraryGetKernel");
  return k;
}

// (a) the launch alone: an empty <<<1, 1>>> kernel on Emily's stream, through the
// runtime API as Emily's kernels are launched.
void BM_cuda_piece_launch_empty(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  StreamGuard guard(default_stream(Device::cuda(0)));
  cudaStream_t s = cuda::stream(current_stream());
  const void* k = reinterpret_cast<const void*>(empty_kernel("emily_bench_empty"));
  per_op(state, [&] { cudaLaunchKernel(k, dim3(1), dim3(1), nullptr, 0, s); });
}

// (a') the same with 232 bytes of parameters and a cudaGetLastError after it, as
// check_launch did after every kernel.
void BM_cuda_piece_launch_args_checked(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  StreamGuard guard(default_stream(Device::cuda(0)));
  cudaStream_t s = cuda::stream(current_stream());
  const void* k = reinterpret_cast<const void*>(empty_kernel("emily_bench_empty_args"));
  alignas(8) unsigned char params[232] = {};
  void* args[] = {params};
  per_op(state, [&] {
    cudaLaunchKernel(k, dim3(1), dim3(256), args, 0, s);
    benchmark::DoNotOptimize(cudaGetLastError());
  });
}

// (b) Tensor::empty of one f32 on the GPU and its release (a host-cached block).
void BM_cuda_piece_empty_tensor(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  per_op(state, [&] { benchmark::DoNotOptimize(Tensor::empty({1}, DType::f32, gpu)); });
}

// (c) the whole eager op: a 1-element add, and `x * 0.5` with a C++ scalar.
void BM_cuda_piece_add(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  Tensor a = ones({1}, DType::f32, gpu);
  per_op(state, [&] { benchmark::DoNotOptimize(add(a, a)); });
}

void BM_cuda_piece_multiply_scalar(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  Tensor x = ones({1}, DType::f32, gpu);
  per_op(state, [&] { benchmark::DoNotOptimize(x * 0.5); });
}

// The route `x * 0.5` took before host scalars: a 0-d tensor made on the GPU (an upload
// per call) and broadcast against x.
void BM_cuda_piece_multiply_scalar_tensor(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  Tensor x = ones({1}, DType::f32, gpu);
  per_op(state, [&] { benchmark::DoNotOptimize(multiply(x, scalar_like(x, 0.5))); });
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
// Fixed counts: with manual per-op times Google Benchmark would otherwise aim its 0.5 s
// at the per-op time and run 100 times longer.
#define EMILY_PIECE(fn) \
  BENCHMARK(fn)->Arg(0)->Arg(1)->UseManualTime()->Iterations(1000)->Unit(benchmark::kMicrosecond)
EMILY_PIECE(BM_cuda_piece_launch_empty);
EMILY_PIECE(BM_cuda_piece_launch_args_checked);
EMILY_PIECE(BM_cuda_piece_empty_tensor);
EMILY_PIECE(BM_cuda_piece_add);
EMILY_PIECE(BM_cuda_piece_multiply_scalar);
EMILY_PIECE(BM_cuda_piece_multiply_scalar_tensor);
#undef EMILY_PIECE

}  // namespace
#endif

BENCHMARK_MAIN();
