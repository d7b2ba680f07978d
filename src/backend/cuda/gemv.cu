// Matrix-vector products (matmul with M = 1): a decode step's every linear layer. Reading
// the matrix once from memory is the whole cost, so these kernels aim at copy bandwidth:
// 16-byte loads, several in flight per lane, f32 accumulation, and enough independent
// blocks to keep every SM's loads in flight.
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/gemv.h"
#include "backend/cuda/runtime.h"
#include "backend/cuda/sm_count.h"
#include "backend/cuda/swiglu.cuh"

namespace emily::cuda {

namespace {

constexpr int kWarps = 8;  // per block

template <class T>
constexpr int kPerLoad = 16 / sizeof(T);  // elements in one 16-byte load

template <class T>
struct alignas(16) Pack {
  T v[kPerLoad<T>];
};

template <class T>
__device__ float as_float(T v) {
  return static_cast<float>(load(v));
}

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Non-coherent loads that skip L1, for the cluster kernel's weight (read once, never
// written in the kernel). Measured, cause unknown: in a standalone harness plain loads
// ran within 3% of these, but built into Emily the cluster kernel with plain loads ran
// about 30% slower in bench_cuda (x @ w at 1x8192x8192 bf16: 63.7 us against 48.0 us).
template <class T>
__device__ __forceinline__ Pack<T> load_stream(const T* p) {
  uint4 u;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(u.x), "=r"(u.y), "=r"(u.z), "=r"(u.w)
      : "l"(p));
  Pack<T> r;
  static_assert(sizeof(r) == sizeof(u));
  memcpy(&r, &u, sizeof(u));
  return r;
}

// y[n] = sum_k x[k] w[n * ld + k]: the matrix read as rows of K (a Linear layer's weight
// used transposed). G warps per output (G = 1, 2, 4 or 8): the group's lanes stride the
// row together, each issuing up to kUnroll 16-byte loads (predicated at the row's end, so
// a short row's loads are still all in flight at once) before using any; the group's
// partial sums meet in shared memory. (Kernel alone on an H100, weights past L2, 1x4096x4096
// bf16, G = 1: 14.4-14.7 us, 0.77-0.78 of copy, whether 1, 2 or 4 loads are in flight,
// about 3 us of it launch and ramp; two rows per warp 10% slower, load_stream 2-3% slower.)
// Narrow matrices (a decode step's 1024-row projections) need G > 1: with one warp per
// row their 128 blocks leave one block per SM, too few loads in flight to cover latency.
constexpr int kUnroll = 4;

// A lane's share of sum_k x[k] row[k] when the G warps of a group stride the row
// together (member: the warp's place in the group), as a lane's f32 sum before any
// shuffle. gemv_rows and gemv_rows_swiglu both take their rows' sums from here, so a
// row's sum has the same bits in either.
template <class T, int G>
__device__ __forceinline__ float row_share(const T* __restrict__ x, const T* __restrict__ row,
                                           std::int64_t k, int member, int lane) {
  constexpr int E = kPerLoad<T>, U = kUnroll, STEP = G * 32 * E;
  float acc = 0.0f;
  const std::int64_t vec_end = k / E * E;
  for (std::int64_t i = static_cast<std::int64_t>(member * 32 + lane) * E; i < vec_end;
       i += U * STEP) {
    Pack<T> a[U], b[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const bool in = i + u * STEP < vec_end;
      a[u] = in ? *reinterpret_cast<const Pack<T>*>(row + i + u * STEP) : Pack<T>{};
      b[u] = in ? *reinterpret_cast<const Pack<T>*>(x + i + u * STEP) : Pack<T>{};
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int e = 0; e < E; ++e) acc += as_float(b[u].v[e]) * as_float(a[u].v[e]);
  }
  for (std::int64_t j = vec_end + member * 32 + lane; j < k; j += G * 32)
    acc += as_float(x[j]) * as_float(row[j]);
  return acc;
}

// The group's total from its warps' sums in shared memory, member 0's first.
template <int G>
__device__ __forceinline__ float group_total(const float* partial) {
  float total = partial[0];
#pragma unroll
  for (int g = 1; g < G; ++g) total += partial[g];
  return total;
}

template <class T, int G>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_rows(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
              std::int64_t n_out, std::int64_t k, std::int64_t ld) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int member = warp % G;  // this warp's place in its row's group
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * (kWarps / G) + warp / G;
  float acc = n < n_out ? row_share<T, G>(x, w + n * ld, k, member, lane) : 0.0f;
  acc = warp_sum(acc);
  if constexpr (G > 1) {
    __shared__ float partial[kWarps];
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (member != 0 || lane != 0) return;
    acc = group_total<G>(partial + warp);
  }
  if (lane == 0 && n < n_out) y[n] = store<T>(acc);
}

// y[j] = swiglu(x . w[j], x . w[inter + j]) for the stacked gate/up weight of a gated MLP:
// a block's first half of row groups takes gate rows, its second half the matching up
// rows, and the first threads apply swiglu to the two sums once each is rounded to T, as
// gemv_rows leaves them. With gemv_rows' G for the 2 * inter rows, every row's sum is
// computed as there, so y has the bits of the product followed by swiglu_elements.
template <class T, int G>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_rows_swiglu(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                     std::int64_t inter, std::int64_t k, std::int64_t ld) {
  static_assert(G <= kWarps / 2, "a block holds a gate row and its up row");
  wait_for_previous_grid();          // launched dependent: before any read or write
  constexpr int H = kWarps / G / 2;  // outputs per block
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int member = warp % G, group = warp / G;
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * H + group % H;
  const std::int64_t row = group < H ? j : inter + j;
  float acc = j < inter ? row_share<T, G>(x, w + row * ld, k, member, lane) : 0.0f;
  acc = warp_sum(acc);
  __shared__ float partial[kWarps];
  if (lane == 0) partial[warp] = acc;
  __syncthreads();
  const std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * H + threadIdx.x;
  if (threadIdx.x < H && o < inter) {
    const T gate = store<T>(group_total<G>(partial + threadIdx.x * G));
    const T up = store<T>(group_total<G>(partial + (threadIdx.x + H) * G));
    y[o] = swiglu_of(gate, up);
  }
}

// Warps per row: the fewest that give every SM kBlocksPerSM blocks and each lane at most
// two rounds of kUnroll loads, while each lane keeps at least two loads of its row.
// (Recorded on an H100, weights past L2, bf16 x @ w^T: 1024 x 2048 5.43 -> 3.82 us at
// G = 4, copy 2.90; 4096 x 1024 and 6144 x 1024 best at G = 1; 8192^2 54.4 us at G = 1,
// 49.5-50.2 at G = 2-8, copy 47.4.)
constexpr int kBlocksPerSM = 2;

template <class T>
int warps_per_row(std::int64_t n, std::int64_t k) {
  constexpr std::int64_t lane_step = 32 * kPerLoad<T>;  // a warp's elements per load
  const auto too_few_blocks = [&](int g) {
    return (n * g + kWarps - 1) / kWarps < kBlocksPerSM * sm_count();
  };
  const auto too_many_rounds = [&](int g) { return k > 2 * kUnroll * g * lane_step; };
  int g = 1;
  while (g < kWarps && (too_few_blocks(g) || too_many_rounds(g)) && k >= 2 * 2 * g * lane_step)
    g *= 2;
  return g;
}

// Launches kernel<T, G> for the G of a run-time g (1, 2, 4 or 8).
template <template <class, int> class Kernel, class T, class... Args>
void launch_for_g(int g, dim3 grid, cudaStream_t cs, Args... args) {
  const dim3 block(kWarps * 32);
  switch (g) {
    case 1:
      return launch_dependent("matmul", Kernel<T, 1>::fn, grid, block, 0, cs, args...);
    case 2:
      return launch_dependent("matmul", Kernel<T, 2>::fn, grid, block, 0, cs, args...);
    case 4:
      return launch_dependent("matmul", Kernel<T, 4>::fn, grid, block, 0, cs, args...);
    default:
      return launch_dependent("matmul", Kernel<T, 8>::fn, grid, block, 0, cs, args...);
  }
}

template <class T, int G>
struct RowsKernel {
  static constexpr auto fn = gemv_rows<T, G>;
};
template <class T, int G>
struct SwigluKernel {
  // G = 8 puts a gate row's group alone in its block: linear_swiglu_accepts declines it.
  static constexpr auto fn = gemv_rows_swiglu<T, (G < kWarps ? G : kWarps / 2)>;
};

template <class T>
void launch_rows(const T* x, const T* w, T* y, std::int64_t n, std::int64_t k, std::int64_t ld,
                 cudaStream_t cs) {
  const int g = warps_per_row<T>(n, k);
  const auto grid = static_cast<unsigned>((n * g + kWarps - 1) / kWarps);
  launch_for_g<RowsKernel, T>(g, dim3(grid), cs, x, w, y, n, k, ld);
}

// y[n] = sum_k x[k] w[k * ld + n], the matrix read as rows of N, in one launch: a block
// owns a tile of 32 * E columns and a K range; the kClusterSize blocks of a thread-block
// cluster (Hopper) split K between them and add their partial tiles through distributed
// shared memory, so no partial sums go to global memory and no second kernel runs.
// Lanes own 16-byte column groups; the block's warps stride the K range, kUnroll rows
// per step in flight.
constexpr int kClusterWarps = 16;
constexpr int kClusterSize = 8;  // the portable maximum

template <class T>
__global__ void __launch_bounds__(kClusterWarps * 32)
    gemv_columns_cluster(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                         std::int64_t n_out, std::int64_t k, std::int64_t ld,
                         std::int64_t rows_per_block) {
  wait_for_previous_grid();  // launched dependent: before any read or write
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int E = kPerLoad<T>, TILE = 32 * E, G = kClusterWarps, U = kUnroll;
  __shared__ float sums[G][TILE + 4];  // + 4: lanes' 16-byte stores fall in other banks
  __shared__ float tile[TILE];
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * TILE + lane * E;
  const std::int64_t k0 = blockIdx.y * rows_per_block;
  const std::int64_t k1 = std::min(k, k0 + rows_per_block);
  float acc[E] = {};
  if (col < n_out) {
    std::int64_t r = k0 + warp;
    for (; r + (U - 1) * G < k1; r += U * G) {
      Pack<T> a[U];
      float xv[U];
#pragma unroll
      for (int u = 0; u < U; ++u) a[u] = load_stream(w + (r + u * G) * ld + col);
#pragma unroll
      for (int u = 0; u < U; ++u) xv[u] = as_float(x[r + u * G]);
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int e = 0; e < E; ++e) acc[e] += xv[u] * as_float(a[u].v[e]);
    }
    for (; r < k1; r += G) {
      const Pack<T> a = load_stream(w + r * ld + col);
      const float xv = as_float(x[r]);
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] += xv * as_float(a.v[e]);
    }
  }
#pragma unroll
  for (int e = 0; e < E; ++e) sums[warp][lane * E + e] = acc[e];
  __syncthreads();
  for (int c = threadIdx.x; c < TILE; c += G * 32) {
    float t = 0.0f;
#pragma unroll
    for (int g = 0; g < G; ++g) t += sums[g][c];
    tile[c] = t;
  }
  cluster.sync();  // every block's tile is written
  // Each block of the cluster finishes its share of the columns from all the tiles.
  const int rank = static_cast<int>(cluster.block_rank());
  const int blocks = static_cast<int>(cluster.num_blocks());
  const int per = (TILE + blocks - 1) / blocks;
  const int c1 = std::min(TILE, (rank + 1) * per);
  for (int c = rank * per + threadIdx.x; c < c1; c += G * 32) {
    float t = 0.0f;
    for (int q = 0; q < blocks; ++q) t += cluster.map_shared_rank(tile, q)[c];
    const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * TILE + c;
    if (n < n_out) y[n] = store<T>(t);
  }
  cluster.sync();  // no block leaves while another still reads its tile
#else
  __trap();  // launched only on devices of compute capability 9.0 and up
#endif
}

template <class T>
void launch_columns_cluster(const T* x, const T* w, T* y, std::int64_t n, std::int64_t k,
                            std::int64_t ld, cudaStream_t cs) {
  const std::int64_t tiles = (n + 32 * kPerLoad<T> - 1) / (32 * kPerLoad<T>);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(tiles), kClusterSize);
  config.blockDim = dim3(kClusterWarps * 32);
  config.stream = cs;
  cudaLaunchAttribute attrs[2];
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = 1;
  attrs[0].val.clusterDim.y = kClusterSize;
  attrs[0].val.clusterDim.z = 1;
  config.attrs = attrs;
  config.numAttrs = 1 + dependent_attribute(attrs[1]);
  const std::int64_t rows = (k + kClusterSize - 1) / kClusterSize;
  check(cudaLaunchKernelEx(&config, gemv_columns_cluster<T>, x, w, y, n, k, ld, rows), "matmul",
        "cudaLaunchKernelEx");
}

// partial[split][n] = sum over the split's rows k of x[k] w[k * ld + n]: the matrix read
// as rows of N. Lanes own 16-byte column groups; the block's warps and the grid's y axis
// divide K, so a short N still fills the GPU.
template <class T>
__global__ void gemv_columns(const T* __restrict__ x, const T* __restrict__ w,
                             float* __restrict__ partial, std::int64_t n_out, std::int64_t k,
                             std::int64_t ld, std::int64_t rows_per_split) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  constexpr int E = kPerLoad<T>;
  __shared__ float sums[kWarps][32 * E];
  const std::int64_t col = (static_cast<std::int64_t>(blockIdx.x) * 32 + threadIdx.x) * E;
  const std::int64_t k0 = blockIdx.y * rows_per_split;
  const std::int64_t k1 = std::min(k, k0 + rows_per_split);
  float acc[E] = {};
  if (col < n_out) {
    for (std::int64_t r = k0 + threadIdx.y; r < k1; r += kWarps) {
      const float xv = as_float(x[r]);
      const Pack<T> a = *reinterpret_cast<const Pack<T>*>(w + r * ld + col);
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] += xv * as_float(a.v[e]);
    }
  }
#pragma unroll
  for (int e = 0; e < E; ++e) sums[threadIdx.y][threadIdx.x * E + e] = acc[e];
  __syncthreads();
  for (int c = threadIdx.y * 32 + threadIdx.x; c < 32 * E; c += kWarps * 32) {
    float total = 0.0f;
#pragma unroll
    for (int wp = 0; wp < kWarps; ++wp) total += sums[wp][c];
    const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * 32 * E + c;
    if (n < n_out) partial[blockIdx.y * n_out + n] = total;
  }
}

template <class T>
__global__ void sum_splits(const float* __restrict__ partial, T* __restrict__ y, std::int64_t n_out,
                           int splits) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= n_out) return;
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) total += partial[s * n_out + n];
  y[n] = store<T>(total);
}

bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// Thread-block clusters need compute capability 9.0 (read once per device).
bool has_clusters() {
  static int major[64] = {};
  int device = 0;
  cudaGetDevice(&device);
  if (device < 0 || device >= 64) return false;
  if (major[device] == 0) {
    int m = 0;
    cudaDeviceGetAttribute(&m, cudaDevAttrComputeCapabilityMajor, device);
    major[device] = m > 0 ? m : -1;
  }
  return major[device] >= 9;
}

template <class E>
bool run(const Tensor& a, const Tensor& b, Tensor& c, Stream s) {
  using T = S<E>;
  constexpr int P = kPerLoad<T>;
  const std::int64_t K = a.shape().back(), N = c.shape().back();
  const auto* x = static_cast<const T*>(a.raw_data());
  const auto* w = static_cast<const T*>(b.raw_data());
  auto* y = static_cast<T*>(c.raw_data());
  const std::int64_t sr = b.strides()[b.ndim() - 2], sc = b.strides()[b.ndim() - 1];
  if (!aligned16(x) || !aligned16(w)) return false;
  cudaStream_t cs = stream(s);
  if (sr == 1 && sc % P == 0 && sc >= K) {  // rows of K, `sc` apart
    launch_rows<T>(x, w, y, N, K, sc, cs);
    return true;
  }
  if (sc == 1 && sr % P == 0 && sr >= N && N % P == 0) {  // rows of N, `sr` apart
    // One launch with clusters where N gives at least half the SMs a block (each over
    // >= 64 rows); else split K over the grid and add the splits in a second kernel.
    const std::int64_t tiles = (N + 32 * P - 1) / (32 * P);
    if (has_clusters() && K >= 64 * kClusterSize && 2 * tiles * kClusterSize >= sm_count()) {
      launch_columns_cluster<T>(x, w, y, N, K, sr, cs);
      return true;
    }
    // About four blocks per SM in all (132 SMs on an H100), each over >= 2 rows per warp.
    const std::int64_t want = std::max<std::int64_t>(1, 4 * sm_count() / tiles);
    const std::int64_t splits =
        std::clamp<std::int64_t>(want, 1, std::max<std::int64_t>(1, K / 16));
    const std::int64_t rows = (K + splits - 1) / splits;
    const auto used = static_cast<int>((K + rows - 1) / rows);
    Tensor partial = Tensor::empty({used, N}, DType::f32, c.device());
    auto* p = static_cast<float*>(partial.raw_data());
    const dim3 block(32, kWarps);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(used));
    launch_dependent("matmul", gemv_columns<T>, grid, block, 0, cs, x, w, p, N, K, sr, rows);
    launch_dependent("matmul", sum_splits<T>, dim3(static_cast<unsigned>((N + 255) / 256)),
                     dim3(256), 0, cs, p, y, N, used);
    return true;
  }
  return false;
}

// f(E{}) with E the element type of a GEMV dtype (f32, f16, bf16; S<E> on the device);
// false for the others.
template <class F>
bool visit_gemv_type(DType t, F f) {
  switch (t) {
    case DType::f32:
      return f(float{});
    case DType::f16:
      return f(f16{});
    case DType::bf16:
      return f(bf16{});
    default:
      return false;
  }
}

// Warps per row of the fused kernel: gemv_rows' for the stacked 2 * inter rows, so both
// forms sum each row alike. 0 where the fused kernel does not run it.
int swiglu_warps(DType t, std::int64_t inter, std::int64_t k) {
  int g = 0;
  visit_gemv_type(t, [&]<class E>(E) {
    g = warps_per_row<S<E>>(2 * inter, k);
    return true;
  });
  return g < kWarps ? g : 0;
}

}  // namespace

bool linear_swiglu_accepts(std::span<const Tensor> in, const Attr&) {
  const Tensor &x = in[0], &w = in[1];
  const std::int64_t k = w.shape(1), inter = w.shape(0) / 2;
  if (x.size() != k || k == 0 || inter == 0) return false;  // one row of x, not empty
  if (!x.is_contiguous() || !w.is_contiguous() || !aligned16(x.raw_data()) ||
      !aligned16(w.raw_data()) || (k * static_cast<std::int64_t>(x.itemsize())) % 16 != 0)
    return false;  // rows of w must start on 16 bytes
  return swiglu_warps(x.dtype(), inter, k) > 0;
}

void linear_swiglu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&,
                          Stream s) {
  const Tensor &x = in[0], &w = in[1];
  const std::int64_t k = w.shape(1), inter = w.shape(0) / 2;
  const int g = swiglu_warps(x.dtype(), inter, k);
  const std::int64_t per_block = kWarps / g / 2;
  const dim3 grid(static_cast<unsigned>((inter + per_block - 1) / per_block));
  visit_gemv_type(x.dtype(), [&]<class E>(E) {
    using T = S<E>;
    launch_for_g<SwigluKernel, T>(g, grid, stream(s), static_cast<const T*>(x.raw_data()),
                                  static_cast<const T*>(w.raw_data()),
                                  static_cast<T*>(out[0].raw_data()), inter, k, k);
    return true;
  });
  check_launch("fast_linear_swiglu");
}

bool gemv(const Tensor& a, const Tensor& b, Tensor& c, Stream s) {
  const int nd = c.ndim();
  if (nd < 2 || c.shape()[nd - 2] != 1 || numel(c.shape()) != c.shape()[nd - 1]) return false;
  const std::int64_t K = a.shape().back();
  if (K == 0 || c.size() == 0) return false;
  if (a.strides().back() != 1 && K != 1) return false;
  return visit_gemv_type(c.dtype(), [&]<class E>(E) { return run<E>(a, b, c, s); });
}

}  // namespace emily::cuda
