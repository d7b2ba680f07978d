// A flat index range for launch.cuh's grid-stride loop: one dense operand whose offset is
// the element's index, for kernels that compute their own addresses (creation, scatters,
// windows) or write more than one output element per index.
#pragma once

#include "backend/cuda/launch.cuh"

namespace emily::cuda {

inline Layout<1> flat(std::int64_t n) {
  Layout<1> L;
  L.ndim = 0;
  L.n = n;
  L.dense = true;
  return L;
}

}  // namespace emily::cuda
