// Iteration over strided operands: the loop skeleton every elementwise CPU kernel
// shares. Axes that are contiguous in every operand are merged first, so a dense
// tensor of any rank runs as one flat loop; large loops split across OpenMP threads.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "backend/cpu/threads.h"
#include "emily/shape.h"
#include "emily/tensor.h"

namespace emily::cpu {

template <std::size_t K>
struct Layout {
  Shape shape;  // collapsed; never empty (a 0-d loop is shape {1})
  std::array<Strides, K> strides;
};

// Merges axis i into i+1 where every operand walks them as one axis; drops size-1 axes.
template <std::size_t K>
Layout<K> collapse(const Shape& shape, const std::array<const Strides*, K>& strides) {
  Layout<K> out;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool merge = !out.shape.empty();
    for (std::size_t k = 0; k < K && merge; ++k)
      merge = out.strides[k].back() == (*strides[k])[i] * shape[i];
    if (merge) {
      out.shape.back() *= shape[i];
      for (std::size_t k = 0; k < K; ++k) out.strides[k].back() = (*strides[k])[i];
    } else {
      out.shape.push_back(shape[i]);
      for (std::size_t k = 0; k < K; ++k) out.strides[k].push_back((*strides[k])[i]);
    }
  }
  if (out.shape.empty()) {
    out.shape.push_back(1);
    for (auto& s : out.strides) s.push_back(0);
  }
  return out;
}

// True when every axis the operand actually walks has stride 0 (one repeated value).
inline bool is_repeated(const Tensor& t) {
  for (int i = 0; i < t.ndim(); ++i)
    if (t.shape()[i] != 1 && t.strides()[i] != 0) return false;
  return true;
}

// Elements per task below which a loop stays on one thread: thread start-up costs
// more than it saves on small tensors.
inline constexpr std::int64_t kParallelGrain = 1 << 15;

// Calls fn(offsets, n, inner_strides) over contiguous-in-index runs of the innermost
// axis: offsets[k] is operand k's element offset of the run's first element.
template <std::size_t K, class Fn>
void for_each_run(const Shape& shape, const std::array<const Strides*, K>& strides, Fn&& fn) {
  if (numel(shape) == 0) return;
  Layout<K> L = collapse(shape, strides);
  const int nd = static_cast<int>(L.shape.size());
  const std::int64_t inner = L.shape.back();
  std::array<std::int64_t, K> inner_strides;
  for (std::size_t k = 0; k < K; ++k) inner_strides[k] = L.strides[k].back();
  const std::int64_t rows = numel(L.shape) / inner;
  // Long rows are cut into chunks so one dense tensor still spreads over threads.
  const std::int64_t chunk =
      std::min<std::int64_t>(inner, std::max<std::int64_t>(kParallelGrain, 1));
  const std::int64_t chunks_per_row = (inner + chunk - 1) / chunk;
  const std::int64_t tasks = rows * chunks_per_row;
  auto run_task = [&](std::int64_t task) {
    std::int64_t row = task / chunks_per_row;
    std::int64_t c = task % chunks_per_row;
    std::array<std::int64_t, K> off{};
    for (int d = nd - 2; d >= 0; --d) {
      std::int64_t idx = row % L.shape[d];
      row /= L.shape[d];
      for (std::size_t k = 0; k < K; ++k) off[k] += idx * L.strides[k][d];
    }
    std::int64_t start = c * chunk;
    for (std::size_t k = 0; k < K; ++k) off[k] += start * inner_strides[k];
    fn(off, std::min(chunk, inner - start), inner_strides);
  };
  if (tasks > 1 && numel(L.shape) >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t t = 0; t < tasks; ++t) run_task(t);
  } else {
    for (std::int64_t t = 0; t < tasks; ++t) run_task(t);
  }
}

}  // namespace emily::cpu
