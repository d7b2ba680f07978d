// Matrix-vector products (matmul with M = 1): a decode step's every linear layer. Reading
// the matrix once from memory is the whole cost, so these kernels aim at copy bandwidth:
// 16-byte loads, f32 accumulation, and enough independent blocks to keep every SM's
// loads in flight (cuBLASLt's M = 1 choices reach ~80% of what these do on an H100).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/gemv.h"
#include "backend/cuda/runtime.h"

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

// y[n] = sum_k x[k] w[n * ld + k]: the matrix read as rows of K (a Linear layer's weight
// used transposed). One warp per output; lanes stride the row in 16-byte loads.
template <class T>
__global__ void gemv_rows(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y,
                          std::int64_t n_out, std::int64_t k, std::int64_t ld) {
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.y;
  if (n >= n_out) return;
  const int lane = threadIdx.x;
  const T* row = w + n * ld;
  float acc = 0.0f;
  constexpr int E = kPerLoad<T>;
  const std::int64_t vec_end = k / E * E;
  for (std::int64_t i = static_cast<std::int64_t>(lane) * E; i < vec_end; i += 32 * E) {
    const Pack<T> a = *reinterpret_cast<const Pack<T>*>(row + i);
    const Pack<T> b = *reinterpret_cast<const Pack<T>*>(x + i);
#pragma unroll
    for (int e = 0; e < E; ++e) acc += as_float(a.v[e]) * as_float(b.v[e]);
  }
  for (std::int64_t i = vec_end + lane; i < k; i += 32) acc += as_float(row[i]) * as_float(x[i]);
  acc = warp_sum(acc);
  if (lane == 0) y[n] = store<T>(acc);
}

// partial[split][n] = sum over the split's rows k of x[k] w[k * ld + n]: the matrix read
// as rows of N. Lanes own 16-byte column groups; the block's warps and the grid's y axis
// divide K, so a short N still fills the GPU.
template <class T>
__global__ void gemv_columns(const T* __restrict__ x, const T* __restrict__ w,
                             float* __restrict__ partial, std::int64_t n_out, std::int64_t k,
                             std::int64_t ld, std::int64_t rows_per_split) {
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
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= n_out) return;
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) total += partial[s * n_out + n];
  y[n] = store<T>(total);
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

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
    const dim3 block(32, kWarps);
    const auto grid = static_cast<unsigned>((N + kWarps - 1) / kWarps);
    gemv_rows<T><<<grid, block, 0, cs>>>(x, w, y, N, K, sc);
    check_launch("matmul");
    return true;
  }
  if (sc == 1 && sr % P == 0 && sr >= N && N % P == 0) {  // rows of N, `sr` apart
    const std::int64_t tiles = (N + 32 * P - 1) / (32 * P);
    // About four blocks per SM in all (132 SMs on an H100), each over >= 2 rows per warp.
    const std::int64_t want = std::max<std::int64_t>(1, 528 / tiles);
    const std::int64_t splits = std::clamp<std::int64_t>(want, 1, std::max<std::int64_t>(1, K / 16));
    const std::int64_t rows = (K + splits - 1) / splits;
    const auto used = static_cast<int>((K + rows - 1) / rows);
    Tensor partial = Tensor::empty({used, N}, DType::f32, c.device());
    auto* p = static_cast<float*>(partial.raw_data());
    const dim3 block(32, kWarps);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(used));
    gemv_columns<T><<<grid, block, 0, cs>>>(x, w, p, N, K, sr, rows);
    check_launch("matmul");
    sum_splits<T><<<static_cast<unsigned>((N + 255) / 256), 256, 0, cs>>>(p, y, N, used);
    check_launch("matmul");
    return true;
  }
  return false;
}

}  // namespace

bool gemv(const Tensor& a, const Tensor& b, Tensor& c, Stream s) {
  const int nd = c.ndim();
  if (nd < 2 || c.shape()[nd - 2] != 1 || numel(c.shape()) != c.shape()[nd - 1]) return false;
  const std::int64_t K = a.shape().back();
  if (K == 0 || c.size() == 0) return false;
  if (a.strides().back() != 1 && K != 1) return false;
  switch (c.dtype()) {
    case DType::f32:
      return run<float>(a, b, c, s);
    case DType::f16:
      return run<f16>(a, b, c, s);
    case DType::bf16:
      return run<bf16>(a, b, c, s);
    default:
      return false;
  }
}

}  // namespace emily::cuda
