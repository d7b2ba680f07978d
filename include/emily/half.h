// 16-bit floating point storage types. Arithmetic goes through float: every op on
// f16/bf16 computes in f32 and rounds once on store, which is what the CUDA backend
// does too, so the two agree bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace emily {

namespace detail {
inline std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Rounds d to float with round-to-odd. Going double -> float -> 16 bits with two
// round-to-nearest steps can round twice the wrong way (1 + 2^-11 + 2^-40 would give 1 in
// f16); round-to-odd in a format with at least two more bits than the target keeps the
// final round-to-nearest correct.
inline float round_to_odd_float(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) == d || d != d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return bits_float(float_bits(f) | 1u);
}
}  // namespace detail

struct bf16 {
  std::uint16_t bits = 0;
  bf16() = default;
  bf16(float f) {  // NOLINT: implicit by design, like a builtin float type
    std::uint32_t u = detail::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN, keep sign
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
      bits = static_cast<std::uint16_t>(u >> 16);
    }
  }
  bf16(double d) : bf16(detail::round_to_odd_float(d)) {}
  template <class I>
  requires std::is_integral_v<I> bf16(I i) : bf16(static_cast<double>(i)) {}
  operator float() const { return detail::bits_float(std::uint32_t(bits) << 16); }
  static bf16 from_bits(std::uint16_t b) {
    bf16 h;
    h.bits = b;
    return h;
  }
};

struct f16 {
  std::uint16_t bits = 0;
  f16() = default;
  f16(float f) { bits = from_float(f); }  // NOLINT
  f16(double d) : f16(detail::round_to_odd_float(d)) {}
  template <class I>
  requires std::is_integral_v<I> f16(I i) : f16(static_cast<double>(i)) {}
  operator float() const { return to_float(bits); }
  static f16 from_bits(std::uint16_t b) {
    f16 h;
    h.bits = b;
    return h;
  }

  static std::uint16_t from_float(float f) {
    std::uint32_t x = detail::float_bits(f);
    std::uint32_t sign = (x >> 16) & 0x8000u;
    std::uint32_t absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);   // NaN
    if (absx >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow→inf
    if (absx < 0x38800000u) {
      // Subnormal or zero in f16: add a magic number so the FPU rounds for us.
      float magic = detail::bits_float(0x3f000000u);  // 0.5
      float v = detail::bits_float(absx) + magic;
      return static_cast<std::uint16_t>(sign | (detail::float_bits(v) - 0x3f000000u));
    }
    std::uint32_t mant_odd = (absx >> 13) & 1u;
    absx += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to even
    return static_cast<std::uint16_t>(sign | (absx >> 13));
  }
  static float to_float(std::uint16_t h) {
    std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t out;
    if (exp == 0x1f) {
      out = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
      if (mant == 0) {
        out = sign;
      } else {  // subnormal: value = mant * 2^-24
        float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
        out = sign | detail::float_bits(v);
      }
    } else {
      out = sign | ((exp + 112) << 23) | (mant << 13);
    }
    return detail::bits_float(out);
  }
};

}  // namespace emily
