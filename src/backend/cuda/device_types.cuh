// Element types on the device, shared by the CUDA kernel files: the storage type of each
// dtype (f16/bf16 as CUDA's own half types), the type it computes in, and conversions
// that follow detail::convert on the CPU bit for bit. c64 is complex64 in memory and
// computes in complex128 (complex.cuh).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "backend/cuda/complex.cuh"
#include "emily/dtype.h"

namespace emily::cuda {

template <class T>
struct Storage {
  using type = T;
};
template <>
struct Storage<f16> {
  using type = __half;
};
template <>
struct Storage<bf16> {
  using type = __nv_bfloat16;
};
template <>
struct Storage<c64> {
  using type = complex64;
};

template <class T>
struct Compute {
  using type = T;
};
template <>
struct Compute<__half> {
  using type = float;
};
template <>
struct Compute<__nv_bfloat16> {
  using type = float;
};
template <>
struct Compute<complex64> {
  using type = complex128;
};

template <class S>
__device__ typename Compute<S>::type load(S v) {
  if constexpr (std::is_same_v<S, __half>)
    return __half2float(v);
  else if constexpr (std::is_same_v<S, __nv_bfloat16>)
    return __bfloat162float(v);
  else if constexpr (std::is_same_v<S, complex64>)
    return complex128(v.re, v.im);
  else
    return v;
}

// As detail::convert on the CPU: one rounding to f16/bf16 (from double directly; from
// integers through double, exact below 2^53), floats to integers saturate with NaN -> 0,
// anything to bool is "nonzero", complex to a real type is its real part as a float.
template <class S, class C>
__device__ S store(C v) {
  if constexpr (std::is_same_v<S, C>) {
    return v;
  } else if constexpr (std::is_same_v<C, complex128>) {
    if constexpr (std::is_same_v<S, complex64>)
      return {static_cast<float>(v.re), static_cast<float>(v.im)};
    else if constexpr (std::is_same_v<S, bool>)
      return v.re != 0.0 || v.im != 0.0;
    else
      return store<S>(static_cast<float>(v.re));
  } else if constexpr (std::is_same_v<S, complex64>) {
    return {static_cast<float>(v), 0.0f};
  } else if constexpr (std::is_same_v<S, __half> || std::is_same_v<S, __nv_bfloat16>) {
    constexpr bool half = std::is_same_v<S, __half>;
    if constexpr (std::is_same_v<C, float>)
      return half ? S(__float2half_rn(v)) : S(__float2bfloat16_rn(v));
    else if constexpr (std::is_same_v<C, bool>)
      return half ? S(__float2half_rn(v ? 1.0f : 0.0f)) : S(__float2bfloat16_rn(v ? 1.0f : 0.0f));
    else
      return half ? S(__double2half(static_cast<double>(v)))
                  : S(__double2bfloat16(static_cast<double>(v)));
  } else if constexpr (std::is_same_v<S, bool>) {
    return v != C(0);
  } else if constexpr (std::is_integral_v<S> && std::is_floating_point_v<C>) {
    if (isnan(v)) return S(0);
    if (v >= static_cast<C>(std::numeric_limits<S>::max())) return std::numeric_limits<S>::max();
    if (v <= static_cast<C>(std::numeric_limits<S>::lowest()))
      return std::numeric_limits<S>::lowest();
    return static_cast<S>(v);
  } else {
    return static_cast<S>(v);
  }
}

template <class C>
using wrap_t =
    std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;

template <class T>
using S = typename Storage<T>::type;

// Eight 16-bit values (bf16 or f16) of one 16-byte load, as floats.
template <class TX>
__device__ __forceinline__ void halves_to_floats(const uint4& raw, float (&x)[8]) {
  const std::uint32_t r[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (std::is_same_v<TX, __nv_bfloat16>) {
      // bf16 is the top half of an f32: a shift or a mask.
      x[2 * i] = __uint_as_float(r[i] << 16);
      x[2 * i + 1] = __uint_as_float(r[i] & 0xFFFF0000u);
    } else {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&r[i]));
      x[2 * i] = f.x;
      x[2 * i + 1] = f.y;
    }
  }
}

// Two floats rounded to T (bf16 or f16) and packed, the first in the low half (the lower
// column of an mma fragment): one conversion instruction for the pair.
template <class T>
__device__ __forceinline__ std::uint32_t pack(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 p = __floats2bfloat162_rn(lo, hi);
    return reinterpret_cast<const std::uint32_t&>(p);
  } else {
    const __half2 p = __floats2half2_rn(lo, hi);
    return reinterpret_cast<const std::uint32_t&>(p);
  }
}

}  // namespace emily::cuda
