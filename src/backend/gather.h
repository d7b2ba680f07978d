// What the CPU and CUDA gathers share: index resolution, and take's operands laid out
// in the output's index space (the output's axes are x's axes before `axis`, then the
// index axes, then x's axes after it; x has stride 0 on the index axes, the indices on
// x's).
#pragma once

#include <cstdint>
#include <type_traits>

#include "emily/tensor.h"

#ifdef __CUDACC__
#define EMILY_HOST_DEVICE __host__ __device__
#else
#define EMILY_HOST_DEVICE
#endif

namespace emily {

// An index into an axis of n >= 1 elements: outside [-n, n) clamps to the nearest end,
// then negatives count from the end (docs/OPS.md).
template <class I>
EMILY_HOST_DEVICE std::int64_t resolve_index(I v, std::int64_t n) {
  if constexpr (std::is_signed_v<I>) {
    auto w = static_cast<std::int64_t>(v);
    w = w < -n ? -n : (w > n - 1 ? n - 1 : w);
    return w < 0 ? w + n : w;
  } else {
    auto u = static_cast<std::uint64_t>(v);
    return u > static_cast<std::uint64_t>(n - 1) ? n - 1 : static_cast<std::int64_t>(u);
  }
}

inline void take_strides(const Tensor& x, const Tensor& idx, int axis, Strides& xs, Strides& is) {
  xs.clear();
  is.clear();
  for (int d = 0; d < axis; ++d) {
    xs.push_back(x.strides()[d]);
    is.push_back(0);
  }
  for (int d = 0; d < idx.ndim(); ++d) {
    xs.push_back(0);
    is.push_back(idx.strides()[d]);
  }
  for (int d = axis + 1; d < x.ndim(); ++d) {
    xs.push_back(x.strides()[d]);
    is.push_back(0);
  }
}

}  // namespace emily
