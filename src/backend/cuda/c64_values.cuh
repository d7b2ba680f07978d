// c64 values in the kernels that move or combine them (creation, scatter, windows). std::complex<float> has no device code, so kernels that look at c64
// values hold them as float2 (the same layout: real, then imaginary) and do their
// arithmetic here, every operation rounded on its own as on the CPU (the library builds
// with -std=c++20, where GCC does not contract into fused multiply-adds; nvcc would).
#pragma once

#include <type_traits>

#include "backend/cuda/device_types.cuh"

namespace emily::cuda {

// The device storage type of T, c64 included.
template <class T>
using Elem = std::conditional_t<std::is_same_v<T, c64>, float2, S<T>>;

__device__ inline float2 cadd(float2 a, float2 b) {
  return make_float2(__fadd_rn(a.x, b.x), __fadd_rn(a.y, b.y));
}

// (ac - bd, ad + bc): GCC's inline product. For finite operands this is the CPU's result
// bit for bit; where both parts come out NaN the CPU retries through __mulsc3 (C Annex G
// infinity recovery), which this does not.
__device__ inline float2 cmul(float2 a, float2 b) {
  return make_float2(__fsub_rn(__fmul_rn(a.x, b.x), __fmul_rn(a.y, b.y)),
                     __fadd_rn(__fmul_rn(a.x, b.y), __fmul_rn(a.y, b.x)));
}

// A value of type T from a double, by detail::convert's rules (c64: the real part).
template <class T>
__device__ Elem<T> from_double(double v) {
  if constexpr (std::is_same_v<T, c64>)
    return make_float2(__double2float_rn(v), 0.0f);
  else
    return store<S<T>>(v);
}

}  // namespace emily::cuda
