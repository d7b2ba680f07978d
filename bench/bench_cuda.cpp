// CUDA backend (issue "CUDA backend"): elementwise add over 64M f32 against cudaMemcpy
// device-to-device in the same run, bf16 matmul rates against cuBLASLt and cuBLAS called
// directly, the M = 1 GEMV against the copy rate, eager host overhead. Bytes counted once per
// read and per write (add: 2 reads + 1 write; copy: 1 read + 1 write). Skipped without a GPU.
#include <benchmark/benchmark.h>

#include "emily/emily.h"
#include "gpu_timing.h"

#ifdef EMILY_HAS_CUDA
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/cuda/dependent_launch.cuh"
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
// Arg 1: in plain stream order (StreamOrderedLaunches); 0: as a dependent launch.
void BM_cuda_eager_add_1_element(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  std::optional<cuda::StreamOrderedLaunches> ordered;
  if (state.range(0)) ordered.emplace();
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
// 100 is the per-node cost. Args: 1 records the plan as a CUDA graph, 0 replays node by
// node; then 1 launches in plain stream order (StreamOrderedLaunches), 0 as dependent
// launches (dependent_launch.cuh, the default). Synchronized every 10 calls, so launches
// overlap execution as in a decode loop.
void BM_cuda_replay_chain_per_node(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  std::optional<cuda::StreamOrderedLaunches> ordered;
  if (state.range(1)) ordered.emplace();
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

// ---- matmul and GEMV: the clocks of gpu_timing.h ----------------------------------
// "wall" (clock 0): the host clock around one eager call and a synchronize, what a caller
// that waits for each result sees (dispatch, descriptor set-up and the host's wake-up
// included). "events" (clock 1): CUDA events around kCalls eager calls issued back to
// back, per call: the GPU's time whenever a kernel outlasts the host's dispatch, which
// is how torch_cuda.py and the direct library baselines below are timed too. "recorded"
// (clock 2, the GEMV): the calls over every weight copy recorded as one CUDA graph, the
// GPU's time alone, beside the same bytes copied the same way (BM_cuda_copy_like_gemv).
constexpr int kCalls = bench::kCallsPerIteration;
using bench::time_gpu;

// The copy ceiling for the GEMV: cudaMemcpyAsync device to device of 256 MiB, kCalls
// back to back between events, bytes read + written.
void BM_cuda_memcpy_d2d_events(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::size_t bytes = std::size_t{256} << 20;
  void *src = nullptr, *dst = nullptr;
  if (cudaMalloc(&src, bytes) != cudaSuccess || cudaMalloc(&dst, bytes) != cudaSuccess)
    return state.SkipWithError("cudaMalloc failed");
  cudaMemset(src, 1, bytes);
  StreamGuard guard(default_stream(Device::cuda(0)));
  cudaStream_t s = cuda::stream(current_stream());
  time_gpu(state, true,
           [&](std::size_t) { cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s); });
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes) * 2);
  cudaFree(src);
  cudaFree(dst);
}

// M = 1 bf16 matmul (1 x n) @ (n x n): bytes of the weight read per second. The weights
// rotate over copies that together exceed the 50 MB L2, so each call reads from HBM.
// Args: n, layout (0: a row-major (K, N) matrix, as torch.matmul(x, w); 1: the
// transposed view of an (N, K) matrix, a Linear layer's x @ w^T), clock.
void BM_cuda_gemv_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0);
  const bool linear = state.range(1) != 0;
  const Device gpu = Device::cuda(0);
  const std::int64_t copies = std::max<std::int64_t>(2, (256ll << 20) / (n * n * 2));
  std::vector<Tensor> w;
  for (std::int64_t c = 0; c < copies; ++c) {
    Tensor m = random::normal(random::key(c, gpu), {n, n}, DType::bf16);
    w.push_back(linear ? transpose(m) : m);
  }
  Tensor x = random::normal(random::key(99, gpu), {1, n}, DType::bf16);
  StreamGuard guard(default_stream(gpu));
  bench::time_gpu_clock(state, state.range(2), w.size(),
                        [&](std::size_t i) { return matmul(x, w[i % w.size()]); });
  state.SetBytesProcessed(state.iterations() * n * n * 2);
  const char* clocks[] = {"wall", "events", "recorded"};
  state.SetLabel(std::string(linear ? "x@w^T " : "x@w ") + clocks[state.range(2)]);
}

// Arg: n. The n x n bf16 weight's bytes copied device to device, recorded: the ceiling
// of BM_cuda_gemv_bf16's recorded clock at that size.
void BM_cuda_copy_like_gemv(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  bench::time_copy_like(state, state.range(0) * state.range(0) * 2);
}

// A Linear layer's M = 1 product x @ w^T, w of (n, k) bf16, at a decode step's shapes
// (Qwen3-0.6B: q/k/v stacked 4096 x 1024, o 1024 x 2048, gate/up stacked 6144 x 1024,
// down 1024 x 3072), recorded and rotated past L2 like BM_cuda_gemv_bf16. Args: n, k.
void BM_cuda_gemv_linear_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0), k = state.range(1);
  const Device gpu = Device::cuda(0);
  const std::int64_t copies = std::max<std::int64_t>(2, (256ll << 20) / (n * k * 2));
  std::vector<Tensor> w;
  for (std::int64_t c = 0; c < copies; ++c)
    w.push_back(transpose(random::normal(random::key(c, gpu), {n, k}, DType::bf16)));
  Tensor x = random::normal(random::key(99, gpu), {1, k}, DType::bf16);
  StreamGuard guard(default_stream(gpu));
  bench::time_gpu_clock(state, 2, w.size(),
                        [&](std::size_t i) { return matmul(x, w[i % w.size()]); });
  state.SetBytesProcessed(state.iterations() * n * k * 2);
}

// Args: n, k. The same bytes copied, recorded: BM_cuda_gemv_linear_bf16's ceiling.
void BM_cuda_copy_like_gemv_linear(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  bench::time_copy_like(state, state.range(0) * state.range(1) * 2);
}

// A gated MLP's gate/up product and swiglu for one row: fast::linear_swiglu (the GEMV
// with swiglu as its epilogue, arg 2 = 1) against the product and fast::swiglu apart (0),
// recorded over stacked weights {2I, K} rotating past L2. Args: I, K, fused.
void BM_cuda_linear_swiglu_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t inter = state.range(0), k = state.range(1);
  const bool fused = state.range(2) != 0;
  const Device gpu = Device::cuda(0);
  const std::int64_t copies = std::max<std::int64_t>(2, (256ll << 20) / (2 * inter * k * 2));
  std::vector<Tensor> w;
  for (std::int64_t c = 0; c < copies; ++c)
    w.push_back(random::normal(random::key(c, gpu), {2 * inter, k}, DType::bf16));
  Tensor x = random::normal(random::key(99, gpu), {1, k}, DType::bf16);
  StreamGuard guard(default_stream(gpu));
  bench::time_gpu_clock(state, 2, w.size(), [&](std::size_t i) {
    const Tensor& wi = w[i % w.size()];
    if (fused) return fast::linear_swiglu(x, wi);
    const Tensor y = matmul(x, transpose(wi));
    return fast::swiglu(slice(y, {0, 0}, {1, inter}), slice(y, {0, inter}, {1, 2 * inter}));
  });
  state.SetBytesProcessed(state.iterations() * 2 * inter * k * 2);
}

// bf16 matmul n x n x n through Emily's cuBLASLt path (random data; 2 n^3 flops).
// Args: n, clock.
void BM_cuda_matmul_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Device gpu = Device::cuda(0);
  const std::int64_t n = state.range(0);
  Tensor a = random::normal(random::key(0, gpu), {n, n}, DType::bf16);
  Tensor b = random::normal(random::key(1, gpu), {n, n}, DType::bf16);
  StreamGuard guard(default_stream(gpu));
  time_gpu(state, state.range(1) != 0,
           [&](std::size_t) { benchmark::DoNotOptimize(matmul(a, b)); });
  state.counters["TFLOPs"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * static_cast<double>(n * n * n) / 1e12,
      benchmark::Counter::kIsRate);
}

// ---- the baselines: the same product through the libraries, called directly ---------
// Row-major C = A B as torch computes it: the column-major C^T = B^T A^T with both
// operands untransposed, bf16 in and out, f32 compute and scale, a 32 MiB workspace of
// its own (PyTorch's default for cuBLAS on Hopper), the output allocated once.
struct DirectOperands {
  static constexpr std::size_t kWorkspace = 32u << 20;
  Tensor a, b, c;
  void* workspace = nullptr;
  explicit DirectOperands(std::int64_t n) {
    const Device gpu = Device::cuda(0);
    a = random::normal(random::key(0, gpu), {n, n}, DType::bf16);
    b = random::normal(random::key(1, gpu), {n, n}, DType::bf16);
    c = Tensor::empty({n, n}, DType::bf16, gpu);
    cuda::check(cudaMalloc(&workspace, kWorkspace), "bench", "cudaMalloc");
  }
  ~DirectOperands() { cudaFree(workspace); }
};

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("bench: ") + what + " failed with status " +
                             std::to_string(static_cast<int>(status)));
}

std::uint64_t algo_config(const cublasLtMatmulAlgo_t& algo,
                          cublasLtMatmulAlgoConfigAttributes_t a) {
  std::size_t size = 0;  // the attribute's own size: a larger buffer is refused
  cublasLtMatmulAlgoConfigGetAttribute(&algo, a, nullptr, 0, &size);
  std::uint64_t v = 0;
  if (size <= sizeof(v)) cublasLtMatmulAlgoConfigGetAttribute(&algo, a, &v, size, &size);
  return v;
}

// cuBLASLt on operands of its own, up to 16 heuristic candidates.
struct DirectLt {
  DirectOperands d;
  cudaStream_t s;
  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t layout = nullptr;  // n x n, leading dimension n: all three alike
  cublasLtMatmulHeuristicResult_t results[16] = {};
  int found = 0;

  DirectLt(std::int64_t n, cudaStream_t stream) : d(n), s(stream) {
    check_blas(cublasLtCreate(&lt), "cublasLtCreate");
    check_blas(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
    check_blas(cublasLtMatrixLayoutCreate(&layout, CUDA_R_16BF, n, n, n), "layout");
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulPreferenceCreate(&pref);
    std::size_t ws = DirectOperands::kWorkspace;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                         sizeof(ws));
    check_blas(cublasLtMatmulAlgoGetHeuristic(lt, op, layout, layout, layout, layout, pref, 16,
                                              results, &found),
               "heuristic");
    cublasLtMatmulPreferenceDestroy(pref);
  }
  ~DirectLt() {
    cublasLtMatrixLayoutDestroy(layout);
    cublasLtMatmulDescDestroy(op);
    cublasLtDestroy(lt);
  }
  cublasStatus_t run(int k) {
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(lt, op, &one, d.b.raw_data(), layout, d.a.raw_data(), layout, &zero,
                          d.c.raw_data(), layout, d.c.raw_data(), layout, &results[k].algo,
                          d.workspace, DirectOperands::kWorkspace, s);
  }
  // 0: the heuristic's first algorithm. 1: the fastest candidate, each timed over kCalls
  // calls, round-robin over 3 rounds (the clock drifts under a long product: the H100
  // reaches its power limit), best round. 2: the rule matmul.cpp had before run 8 (the
  // first 8 candidates in turn, each run twice with the second timed alone).
  int pick(int mode) {
    if (mode == 0 || found < 2) return 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    const int count = mode == 2 ? std::min(found, 8) : found;
    std::vector<float> best(count, 1e30f);
    for (int round = 0; round < (mode == 2 ? 1 : 3); ++round) {
      for (int k = 0; k < count; ++k) {
        const int calls = mode == 2 ? 1 : kCalls;
        if (mode == 2 && run(k) != CUBLAS_STATUS_SUCCESS) continue;
        cudaEventRecord(e0, s);
        bool ok = true;
        for (int i = 0; i < calls; ++i) ok = ok && run(k) == CUBLAS_STATUS_SUCCESS;
        cudaEventRecord(e1, s);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (ok) best[k] = std::min(best[k], ms);
      }
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return static_cast<int>(std::min_element(best.begin(), best.end()) - best.begin());
  }
  std::string describe(int k) const {
    const cublasLtMatmulAlgo_t& a = results[k].algo;
    std::ostringstream o;
    o << "#" << k << "/" << found << " tile " << algo_config(a, CUBLASLT_ALGO_CONFIG_TILE_ID)
      << " stages " << algo_config(a, CUBLASLT_ALGO_CONFIG_STAGES_ID) << " splitK "
      << algo_config(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM) << " cluster "
      << algo_config(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID);
    return o.str();
  }
};

// cuBLASLt called directly. Args: n, pick (DirectLt::pick's mode). The label names the
// algorithm (heuristic rank, tile, stages, split-K and cluster shape ids).
void BM_cublaslt_matmul_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0);
  StreamGuard guard(default_stream(Device::cuda(0)));
  DirectLt lt(n, cuda::stream(current_stream()));
  if (lt.found == 0) return state.SkipWithError("no cuBLASLt algorithm");
  const int k = lt.pick(static_cast<int>(state.range(1)));
  time_gpu(state, true, [&](std::size_t) { check_blas(lt.run(k), "cublasLtMatmul"); });
  state.counters["TFLOPs"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * static_cast<double>(n * n * n) / 1e12,
      benchmark::Counter::kIsRate);
  state.SetLabel("events " + lt.describe(k));
}

// Emily against cuBLASLt (its fastest heuristic candidate) in one loop: each iteration
// times kCalls of each between events, the order alternating, so both see the same
// clocks (under a long bf16 product the H100 sits at its 700 W limit and its SM clock
// wanders between about 1.3 and 2.0 GHz). Counters: each side's TFLOP/s over the whole
// run and their ratio. Arg: n.
void BM_cuda_matmul_bf16_vs_cublaslt(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0);
  const Device gpu = Device::cuda(0);
  StreamGuard guard(default_stream(gpu));
  cudaStream_t s = cuda::stream(current_stream());
  DirectLt lt(n, s);
  if (lt.found == 0) return state.SkipWithError("no cuBLASLt algorithm");
  const int k = lt.pick(1);
  Tensor a = random::normal(random::key(0, gpu), {n, n}, DType::bf16);
  Tensor b = random::normal(random::key(1, gpu), {n, n}, DType::bf16);
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(matmul(a, b));
  cudaEvent_t e[3];
  for (auto& ev : e) cudaEventCreate(&ev);
  double emily_ms = 0, lt_ms = 0;
  bool emily_first = true;
  for (auto _ : state) {
    cudaEventRecord(e[0], s);
    for (int side = 0; side < 2; ++side) {
      if ((side == 0) == emily_first) {
        for (int i = 0; i < kCalls; ++i) benchmark::DoNotOptimize(matmul(a, b));
      } else {
        for (int i = 0; i < kCalls; ++i) check_blas(lt.run(k), "cublasLtMatmul");
      }
      cudaEventRecord(e[side + 1], s);
    }
    cudaEventSynchronize(e[2]);
    float first = 0, second = 0;
    cudaEventElapsedTime(&first, e[0], e[1]);
    cudaEventElapsedTime(&second, e[1], e[2]);
    const float mine = emily_first ? first : second, theirs = emily_first ? second : first;
    emily_ms += mine;
    lt_ms += theirs;
    state.SetIterationTime(mine / 1e3 / kCalls);
    emily_first = !emily_first;
  }
  for (auto& ev : e) cudaEventDestroy(ev);
  const double flop = 2.0 * static_cast<double>(n * n * n) * kCalls * state.iterations();
  state.counters["emily_TFLOPs"] = flop / (emily_ms * 1e9);
  state.counters["cublaslt_TFLOPs"] = flop / (lt_ms * 1e9);
  state.counters["ratio"] = lt_ms / emily_ms;
  state.SetLabel("events, cuBLASLt " + lt.describe(k));
}

// cuBLAS's cublasGemmEx (its own algorithm choice), the route torch.matmul takes on bf16
// by default. Arg: n.
void BM_cublas_gemmex_bf16(benchmark::State& state) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const std::int64_t n = state.range(0);
  StreamGuard guard(default_stream(Device::cuda(0)));
  DirectOperands d(n);
  cublasHandle_t h = nullptr;
  check_blas(cublasCreate(&h), "cublasCreate");
  check_blas(cublasSetStream(h, cuda::stream(current_stream())), "cublasSetStream");
  check_blas(cublasSetWorkspace(h, d.workspace, DirectOperands::kWorkspace), "cublasSetWorkspace");
  const float one = 1.0f, zero = 0.0f;
  const int m = static_cast<int>(n);
  time_gpu(state, true, [&](std::size_t) {
    check_blas(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &one, d.b.raw_data(), CUDA_R_16BF,
                            m, d.a.raw_data(), CUDA_R_16BF, m, &zero, d.c.raw_data(), CUDA_R_16BF,
                            m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
  });
  state.counters["TFLOPs"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 2.0 * static_cast<double>(n * n * n) / 1e12,
      benchmark::Counter::kIsRate);
  cublasDestroy(h);
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
// Matmul and GEMV: manual time (the clocks above). Run the GEMV cases apart from the
// matmuls: after a long bf16 product the H100 sits at its power limit with its SM clock
// down to ~1.3 GHz for a while, which slows the GEMV kernels by up to a quarter.
BENCHMARK(BM_cuda_matmul_bf16)
    ->ArgsProduct({{4096, 8192}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cublaslt_matmul_bf16)
    ->ArgsProduct({{4096, 8192}, {0, 1, 2}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cublas_gemmex_bf16)
    ->Arg(4096)
    ->Arg(8192)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
// A fixed count: the manual time is per call, a twentieth of an iteration's, so Google
// Benchmark's own estimate would run 20 times longer than asked.
BENCHMARK(BM_cuda_matmul_bf16_vs_cublaslt)
    ->Arg(4096)
    ->Arg(8192)
    ->Iterations(20)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_add_64M_f32)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_memcpy_d2d_64M_f32)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_cuda_replay_chain_per_node)
    ->ArgsProduct({{1, 0}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_memcpy_d2d_events)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_gemv_bf16)
    ->ArgsProduct({{4096, 8192}, {0, 1}, {0, 1, 2}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_copy_like_gemv)
    ->Arg(4096)
    ->Arg(8192)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
// Qwen3-0.6B's decode-step weights (N, K), recorded per microsecond: the GEMV and its copy.
void decode_linears(benchmark::internal::Benchmark* b) {
  for (auto [n, k] : {std::pair{4096, 1024}, {1024, 2048}, {6144, 1024}, {1024, 3072}})
    b->Args({n, k});
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_cuda_gemv_linear_bf16)->Apply(decode_linears);
BENCHMARK(BM_cuda_copy_like_gemv_linear)->Apply(decode_linears);
BENCHMARK(BM_cuda_linear_swiglu_bf16)
    ->ArgsProduct({{3072}, {1024}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_cuda_eager_add_1_element)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
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
