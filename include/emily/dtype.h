// Element types and the one promotion table (documented in docs/DTYPES.md).
#pragma once

#include <complex>
#include <cstdint>
#include <string_view>

#include "emily/half.h"

namespace emily {

using c64 = std::complex<float>;

// The order is the column/row order of the promotion table in dtype.cpp.
enum class DType : std::uint8_t {
  bool_,
  u8,
  u16,
  u32,
  u64,
  s8,
  s16,
  s32,
  s64,
  f16,
  bf16,
  f32,
  f64,
  c64,
};
inline constexpr int kNumDTypes = 14;

enum class DTypeKind : std::uint8_t { boolean, unsigned_int, signed_int, floating, complex };

DTypeKind kind(DType t);
std::size_t size_of(DType t);
std::string_view name(DType t);                // "f32", "bool", ...
DType dtype_from_name(std::string_view name);  // DTypeError on an unknown name

inline bool is_floating(DType t) {
  return kind(t) == DTypeKind::floating;
}
inline bool is_complex(DType t) {
  return kind(t) == DTypeKind::complex;
}
inline bool is_inexact(DType t) {
  return is_floating(t) || is_complex(t);
}
inline bool is_integral(DType t) {
  auto k = kind(t);
  return k == DTypeKind::signed_int || k == DTypeKind::unsigned_int;
}
inline bool is_unsigned(DType t) {
  return kind(t) == DTypeKind::unsigned_int;
}

// The result type of a binary op on a and b (NumPy/Nx-style, see docs/DTYPES.md).
DType promote(DType a, DType b);
// The floating type an op such as exp or divide computes in: floats keep their
// type, complex stays complex, bool and integers become f32 (as in Nx).
DType to_inexact(DType t);

// Compile-time mapping between C++ types and DType.
template <class T>
struct dtype_of;
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::bool_;
};
template <>
struct dtype_of<std::uint8_t> {
  static constexpr DType value = DType::u8;
};
template <>
struct dtype_of<std::uint16_t> {
  static constexpr DType value = DType::u16;
};
template <>
struct dtype_of<std::uint32_t> {
  static constexpr DType value = DType::u32;
};
template <>
struct dtype_of<std::uint64_t> {
  static constexpr DType value = DType::u64;
};
template <>
struct dtype_of<std::int8_t> {
  static constexpr DType value = DType::s8;
};
template <>
struct dtype_of<std::int16_t> {
  static constexpr DType value = DType::s16;
};
template <>
struct dtype_of<std::int32_t> {
  static constexpr DType value = DType::s32;
};
template <>
struct dtype_of<std::int64_t> {
  static constexpr DType value = DType::s64;
};
template <>
struct dtype_of<f16> {
  static constexpr DType value = DType::f16;
};
template <>
struct dtype_of<bf16> {
  static constexpr DType value = DType::bf16;
};
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct dtype_of<c64> {
  static constexpr DType value = DType::c64;
};
template <class T>
inline constexpr DType dtype_v = dtype_of<T>::value;

// Calls fn.template operator()<T>() with T the C++ type of `t`:
//   visit_dtype(t, [&]<class T>() { ... });
template <class Fn>
decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::bool_:
      return fn.template operator()<bool>();
    case DType::u8:
      return fn.template operator()<std::uint8_t>();
    case DType::u16:
      return fn.template operator()<std::uint16_t>();
    case DType::u32:
      return fn.template operator()<std::uint32_t>();
    case DType::u64:
      return fn.template operator()<std::uint64_t>();
    case DType::s8:
      return fn.template operator()<std::int8_t>();
    case DType::s16:
      return fn.template operator()<std::int16_t>();
    case DType::s32:
      return fn.template operator()<std::int32_t>();
    case DType::s64:
      return fn.template operator()<std::int64_t>();
    case DType::f16:
      return fn.template operator()<f16>();
    case DType::bf16:
      return fn.template operator()<bf16>();
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    case DType::c64:
      return fn.template operator()<c64>();
  }
  return fn.template operator()<float>();  // unreachable: every enumerator is listed
}

inline constexpr DType kAllDTypes[kNumDTypes] = {
    DType::bool_, DType::u8,  DType::u16, DType::u32,  DType::u64, DType::s8,  DType::s16,
    DType::s32,   DType::s64, DType::f16, DType::bf16, DType::f32, DType::f64, DType::c64};

}  // namespace emily
