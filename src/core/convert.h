// Value conversion between element types: the one definition that astype, item and
// to_vector share, so all three agree.
//   float -> integer: truncates toward zero; NaN gives 0; out-of-range saturates.
//   complex -> real type: the real part.  x -> bool: x != 0.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "emily/dtype.h"

namespace emily::detail {

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, f16> || std::is_same_v<T, bf16>;
template <class T>
inline constexpr bool is_complex_v = std::is_same_v<T, c64>;
template <class T>
inline constexpr bool is_float_like_v = std::is_floating_point_v<T> || is_half_v<T>;

// The type arithmetic on T happens in: halves compute in float.
template <class T>
using compute_t = std::conditional_t<is_half_v<T>, float, T>;

template <class To, class From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (is_complex_v<From>) {
    if constexpr (std::is_same_v<To, bool>)
      return v.real() != 0.0f || v.imag() != 0.0f;
    else
      return convert<To>(v.real());
  } else if constexpr (is_half_v<From>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (is_complex_v<To>) {
    return c64(static_cast<float>(v), 0.0f);
  } else if constexpr (is_half_v<To>) {
    // One rounding from double and from integers (via round-to-odd, see half.h); from
    // float it is the plain round-to-nearest.
    if constexpr (std::is_same_v<From, double> || std::is_integral_v<From>)
      return To(v);
    else
      return To(static_cast<float>(v));
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    if (std::isnan(v)) return To(0);
    // Compare in From: the limits of To round up in From, so >= catches them.
    if (v >= static_cast<From>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    if (v <= static_cast<From>(std::numeric_limits<To>::lowest()))
      return std::numeric_limits<To>::lowest();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace emily::detail
