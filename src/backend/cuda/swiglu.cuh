// swiglu of one element pair, shared by the elementwise kernel (fast.cu) and the GEMV
// that applies it as its epilogue (gemv.cu): one definition, so the fused product gives
// the same bits as the product and swiglu run apart.
#pragma once

#include <cmath>

#include "backend/cuda/device_types.cuh"

namespace emily::cuda {

template <class T>
__device__ __forceinline__ T swiglu_of(T gate, T up) {
  using C = typename Compute<T>::type;
  const C x = load(gate);
  return store<T>(x * (C(1) / (C(1) + exp(-x))) * load(up));
}

}  // namespace emily::cuda
