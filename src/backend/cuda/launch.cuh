// The one launch mechanism of the CUDA elementwise-shaped kernels: a grid-stride loop
// over an output's elements that hands each element's operand offsets to a step functor.
// Operands are read dense, as one repeated value, or through their strides (axes merged
// first, up to kMaxDims).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <vector>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/runtime.h"
#include "emily/tensor.h"

namespace emily::cuda {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

// An element of W bytes, for kernels that only move elements.
template <std::size_t W>
struct alignas(W) Word {
  unsigned char b[W];
};

// Calls fn.template operator()<W>() with W the element width in bytes (1, 2, 4 or 8).
template <class Fn>
void visit_word(std::size_t width, Fn&& fn) {
  switch (width) {
    case 1:
      return fn.template operator()<1>();
    case 2:
      return fn.template operator()<2>();
    case 4:
      return fn.template operator()<4>();
    default:
      return fn.template operator()<8>();
  }
}

// Per operand: its element strides over the output's (merged) axes; all zeros for one
// repeated value. `dense`: every operand is row-major over the output or repeated.
template <int N>
struct Layout {
  int ndim = 0;
  std::int64_t shape[kMaxDims];
  std::int64_t strides[N][kMaxDims];
  std::int64_t n = 0;
  bool dense = false;
};

template <int N>
__device__ void offsets(const Layout<N>& L, std::int64_t i, std::int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = L.ndim - 1; d >= 0; --d) {
    const std::int64_t idx = i % L.shape[d];
    i /= L.shape[d];
    for (int k = 0; k < N; ++k) off[k] += idx * L.strides[k][d];
  }
}

// Builds the layout of operands with `strides` over `shape`: axes merged where every
// operand walks them as one; false when more than kMaxDims axes remain.
template <int N>
bool make_layout(const Shape& shape, const std::array<const Strides*, N>& strides, Layout<N>& L) {
  // Merged straight into L: merging never lowers the count of axes kept so far, so the
  // first axis beyond kMaxDims already decides. No heap (this runs on every eager op).
  L.n = numel(shape);
  int kept = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = kept > 0;
    for (int k = 0; k < N && merge; ++k)
      merge = L.strides[k][kept - 1] == (*strides[k])[d] * shape[d];
    if (!merge && kept == kMaxDims) return false;
    if (!merge) ++kept;
    L.shape[kept - 1] = merge ? L.shape[kept - 1] * shape[d] : shape[d];
    for (int k = 0; k < N; ++k) L.strides[k][kept - 1] = (*strides[k])[d];
  }
  L.ndim = kept;
  L.dense = true;
  for (int k = 0; k < N; ++k) {
    bool row_major = true, repeated = true;
    std::int64_t expect = 1;
    for (int d = L.ndim - 1; d >= 0; --d) {
      row_major = row_major && L.strides[k][d] == expect;
      repeated = repeated && L.strides[k][d] == 0;
      expect *= L.shape[d];
    }
    L.dense = L.dense && (row_major || repeated);
  }
  return true;
}

// The same over `out`'s shape with the strides of `ins`.
template <int N>
bool make_layout(const Tensor& out, const std::array<const Tensor*, N>& ins, Layout<N>& L) {
  std::array<const Strides*, N> strides;
  for (int k = 0; k < N; ++k) strides[k] = &ins[k]->strides();
  return make_layout<N>(out.shape(), strides, L);
}

// f(i, off) for every output element i; off[k] is operand k's element offset. Dense
// layouts skip the index arithmetic: an operand's offset is i or 0.
template <int N, class F>
__global__ void for_each(Layout<N> L, F f) {
  wait_for_previous_grid();  // launched dependent (launch_kernel): nothing is read before
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < L.n;
       i += step) {
    std::int64_t off[N];
    if (L.dense) {
      for (int k = 0; k < N; ++k) off[k] = (L.ndim == 0 || L.strides[k][L.ndim - 1] != 0) ? i : 0;
    } else {
      offsets(L, i, off);
    }
    f(i, off);
  }
}

// kernel<<<blocks, kThreads, 0, stream>>>(args...) as a dependent launch
// (dependent_launch.cuh): `kernel` must call wait_for_previous_grid() before it reads or
// writes global memory. The launch's return value is its error, so no cudaGetLastError
// (check_launch) follows, one runtime call less on every eager elementwise op. An error
// is cleared before it is raised, so no later check_launch reports it again.
template <class... P, class... A>
void launch_kernel(const char* op, void (*kernel)(P...), std::int64_t blocks, cudaStream_t stream,
                   const A&... args) {
  static_assert(sizeof...(P) == sizeof...(A));
  std::tuple<P...> params(args...);  // each argument as the kernel's parameter type
  std::apply(
      [&](P&... p) {
        void* pointers[] = {static_cast<void*>(&p)...};
        DependentLaunch dependent(dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0, stream);
        const cudaError_t status =
            cudaLaunchKernelExC(&dependent.config, reinterpret_cast<const void*>(kernel), pointers);
        if (status != cudaSuccess) {
          cudaGetLastError();
          check(status, op, "kernel launch");
        }
      },
      params);
}

template <int N, class F>
void launch(const Layout<N>& L, Stream s, const char* op, F f) {
  if (L.n == 0) return;
  // A grid-stride loop over at most 65536 blocks: measured on the H100 a little faster
  // than one element per thread over the whole grid (0.332 vs 0.353 ms for a 64M add).
  const std::int64_t blocks = std::min<std::int64_t>((L.n + kThreads - 1) / kThreads, 65536);
  launch_kernel(op, &for_each<N, F>, blocks, stream(s), L, f);
}

}  // namespace emily::cuda
