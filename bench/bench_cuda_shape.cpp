// CUDA creation, pad, slice_update, gather/scatter and window kernels (issue "CUDA
// backend"): effective bandwidth against bench_cuda's device-to-device copy. Bytes are
// counted once per element read and once per element written (the output, plus what a
// kernel must read to make it); scratch traffic (scatter's claims) is not counted, so it
// shows as lost bandwidth. Each iteration synchronizes. Skipped without a GPU.
#include <benchmark/benchmark.h>

#include "emily/emily.h"

#ifdef EMILY_HAS_CUDA

namespace {

using namespace emily;

// Times fn() (which returns the result) with a synchronize per iteration; `bytes` per run.
// True (and the benchmark marked skipped) without a GPU: call before making inputs.
bool no_gpu(benchmark::State& state) {
  if (cuda_device_count() > 0) return false;
  state.SkipWithError("no CUDA device");
  return true;
}

template <class Fn>
void run(benchmark::State& state, std::int64_t bytes, Fn&& fn) {
  StreamGuard guard(default_stream(Device::cuda(0)));
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(fn());
  synchronize();
  for (auto _ : state) {
    Tensor r = fn();
    synchronize();
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

Tensor gpu_normal(std::uint64_t seed, const Shape& shape, DType dtype) {
  return to_device(astype(random::normal(random::key(seed), shape), dtype), Device::cuda(0));
}

// full: 64M bf16 (16-byte stores).
void BM_cuda_full_64M_bf16(benchmark::State& state) {
  if (no_gpu(state)) return;
  const std::int64_t n = std::int64_t{1} << 26;
  Tensor v = to_device(full({}, 1.5, DType::bf16), Device::cuda(0));
  run(state, n * 2, [&] { return full({n}, v); });
}

// pad: (4096, 4096) bf16 by 8 on every edge.
void BM_cuda_pad_4096_bf16(benchmark::State& state) {
  if (no_gpu(state)) return;
  Tensor x = gpu_normal(0, {4096, 4096}, DType::bf16);
  const std::int64_t in = 4096 * 4096, out = 4112 * 4112;
  run(state, (in + out) * 2, [&] { return pad(x, {{8, 8, 0}, {8, 8, 0}}, 0.0); });
}

// slice_update: one decode step's keys (1, 32, 1, 128) into a (1, 32, 4096, 128) bf16
// cache: the whole cache is copied (values are immutable), then the row written.
void BM_cuda_slice_update_kv_bf16(benchmark::State& state) {
  if (no_gpu(state)) return;
  Tensor cache = gpu_normal(0, {1, 32, 4096, 128}, DType::bf16);
  Tensor row = gpu_normal(1, {1, 32, 1, 128}, DType::bf16);
  const std::int64_t n = 32 * 4096 * 128;
  run(state, 2 * n * 2, [&] {
    return slice_update(cache, row, {0, 0, 100, 0}, {1, 32, 101, 128});
  });
}

// gather: 8192 embedding rows of 4096 bf16 from a 32000-row table (16-byte moves).
void BM_cuda_gather_rows_bf16(benchmark::State& state) {
  if (no_gpu(state)) return;
  Tensor table = gpu_normal(0, {32000, 4096}, DType::bf16);
  Tensor ids =
      to_device(astype(floor(random::uniform(random::key(1), {8192, 1}, DType::f32, 0.0, 32000.0)),
                       DType::s32),
                Device::cuda(0));
  run(state, 2 * 8192 * 4096 * 2, [&] { return gather(table, ids, {0}, {1, 4096}); });
}

// scatter and scatter_add: 8192 rows of 1024 f32 into a (32000, 1024) table, indices
// with duplicates (the copy of the table dominates: it is counted).
void BM_cuda_scatter_rows_f32(benchmark::State& state) {
  if (no_gpu(state)) return;
  Tensor table = gpu_normal(0, {32000, 1024}, DType::f32);
  Tensor rows = gpu_normal(1, {8192, 1024}, DType::f32);
  Tensor ids =
      to_device(astype(floor(random::uniform(random::key(2), {8192, 1}, DType::f32, 0.0, 32000.0)),
                       DType::s32),
                Device::cuda(0));
  const std::int64_t bytes = (2 * 32000 + 2 * 8192) * 1024 * 4;
  if (state.range(0) == 0)
    run(state, bytes, [&] { return scatter(table, ids, rows, {0}); });
  else
    run(state, bytes, [&] { return scatter_add(table, ids, rows, {0}); });
}

// window_max: 3x3 stride-2 pooling of (32, 64, 112, 112) f32.
void BM_cuda_window_max_pool_f32(benchmark::State& state) {
  if (no_gpu(state)) return;
  Tensor x = gpu_normal(0, {32, 64, 112, 112}, DType::f32);
  WindowOptions o{{1, 1, 2, 2}, {0, 0, 1, 1}, {0, 0, 1, 1}, {}};
  const std::int64_t in = 32 * 64 * 112 * 112, out = 32 * 64 * 56 * 56;
  run(state, (in + out) * 4, [&] { return window_max(x, {1, 1, 3, 3}, o); });
}

}  // namespace

BENCHMARK(BM_cuda_full_64M_bf16)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_cuda_pad_4096_bf16)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_cuda_slice_update_kv_bf16)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_cuda_gather_rows_bf16)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_cuda_scatter_rows_f32)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_cuda_window_max_pool_f32)->Unit(benchmark::kMicrosecond)->UseRealTime();

#endif  // EMILY_HAS_CUDA

BENCHMARK_MAIN();
