// The elements of its buffer a view reaches: what a copy of the view "as it lies" must
// move (a compiled plan staging its inputs, the CUDA fallback reading a GPU view).
#pragma once

#include <cstdint>
#include <utility>

#include "emily/tensor.h"

namespace emily::detail {

// [lo, hi) in elements of t's buffer; empty (lo == hi) for a view with no elements.
inline std::pair<std::int64_t, std::int64_t> view_range(const Tensor& t) {
  if (t.size() == 0) return {t.offset(), t.offset()};
  std::int64_t lo = t.offset(), hi = t.offset();
  for (int d = 0; d < t.ndim(); ++d) {
    const std::int64_t span = t.strides()[d] * (t.shape()[d] - 1);
    (span < 0 ? lo : hi) += span;
  }
  return {lo, hi + 1};
}

}  // namespace emily::detail
