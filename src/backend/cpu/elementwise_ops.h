// Scalar functors of the unary and binary primitives, shared by unary.cpp and binary.cpp.
// Each functor names the dtype classes it accepts (kernels are instantiated only for
// those) and computes on detail::compute_t<T> values: f16/bf16 arrive as float and are
// rounded once on store. Integer arithmetic wraps: it runs in an unsigned type at least
// as wide as int, so no signed overflow (and no int-promotion overflow) can happen.
#pragma once

#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/convert.h"

namespace emily::cpu::ew {

using detail::compute_t;

// ---- dtype classes ------------------------------------------------------------------
enum Cls : unsigned { kBool = 1, kInt = 2, kFloat = 4, kComplex = 8 };
inline constexpr unsigned kReal = kBool | kInt | kFloat;
inline constexpr unsigned kAny = kReal | kComplex;

template <class T>
inline constexpr unsigned cls_of = std::is_same_v<T, bool>   ? kBool
                                   : std::is_integral_v<T>   ? kInt
                                   : detail::is_complex_v<T> ? kComplex
                                                             : kFloat;
template <class Op, class T>
inline constexpr bool accepts = (Op::classes & cls_of<T>) != 0;

// Unsigned type for wrapping arithmetic on T (never narrower than unsigned int).
template <class T>
using wrap_t =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class T>
inline T wrap(wrap_t<T> v) {
  return static_cast<T>(v);  // modular since C++20
}

// ---- erf_inv --------------------------------------------------------------------------
// Winitzki's closed form (relative error ~2e-3) as a start, then Halley steps on
// erf(y) = x (erfc(y) = 1 - x above 0.5, where 1 - x is exact and erfc keeps the
// relative precision that erf loses near 1). Halley converges cubically: 2e-3 -> 1e-8
// -> 1e-24, so two steps reach double precision (three deep in the tail) and f32 is
// rounded from the double.
inline double erf_inv(double x) {
  if (std::isnan(x) || x < -1.0 || x > 1.0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0.0) return x;  // keeps -0
  const double ax = std::fabs(x);
  if (ax == 1.0) return std::copysign(std::numeric_limits<double>::infinity(), x);
  constexpr double kPi = 3.14159265358979323846;
  constexpr double a = 0.147;
  const double l = std::log1p(-ax * ax);  // ln(1 - x^2)
  const double t = 2.0 / (kPi * a) + 0.5 * l;
  double y = std::sqrt(std::sqrt(t * t - l / a) - t);
  constexpr double k2sqrtpi = 1.12837916709551257390;  // 2/sqrt(pi)
  const bool tail = ax > 0.5;
  const double q = 1.0 - ax;  // exact for ax in [0.5, 1] (Sterbenz)
  for (int i = 0; i < 3; ++i) {
    const double d = k2sqrtpi * std::exp(-y * y);  // d/dy erf(y)
    if (d == 0.0) break;
    const double r = tail ? (q - std::erfc(y)) / d : (std::erf(y) - ax) / d;  // f/f'
    const double step = r / (1.0 + y * r);  // Halley: f''/f' = -2y
    y -= step;
    // Cubic convergence: after a step below 1e-6 relative the error left is ~1e-18, so
    // a further step would only cost. Deep in the tail (1 - x < 1e-13) the start is
    // worse and the third step is needed.
    if (std::fabs(step) < 1e-6 * std::fabs(y)) break;
  }
  return std::copysign(y, x);
}

// ---- exp for float --------------------------------------------------------------------
// libm's expf is a call per element, which no loop can vectorize; this form has no calls
// and no branches, so `for (i) y[i] = exp_f32(x[i])` becomes SIMD code. Range reduction
// x = k ln2 + r with |r| <= ln2/2 (ln2 split Cody-Waite style: k * kLn2Hi is exact for
// |k| < 2^15), then the degree-7 Taylor polynomial of e^r (truncation below 6e-9
// relative), then 2^k applied as two factors so that results in the subnormal range are
// rounded once. Measured error: at most 1 ULP against double exp (tests/ops/test_unary.cpp).
inline float exp_f32(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // 355/512: 9 significant bits
  constexpr float kLn2Lo = -2.12194440054690583e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // Past these bounds the result is inf or 0; clamping keeps k inside the scaling below.
  const float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  const float k = (xc * kLog2e + kRound) - kRound;
  const float r = (xc - k * kLn2Hi) - k * kLn2Lo;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const auto ki = static_cast<std::int32_t>(k);  // in [-150, 129]
  const std::int32_t k1 = ki / 2, k2 = ki - k1;  // each in [-75, 65]: normal scales
  const float s1 = std::bit_cast<float>((k1 + 127) << 23);
  const float s2 = std::bit_cast<float>((k2 + 127) << 23);
  const float y = p * s1 * s2;
  return x != x ? x : y;  // NaN stays NaN (the clamp would have replaced it)
}

// ---- unary functors -----------------------------------------------------------------
// Result kinds: same dtype, bool, or (complex -> f32, real types unchanged).
enum class Res { same, boolean, real };

template <class Op, class T>
using unary_out_t = std::conditional_t<
    Op::result == Res::boolean, bool,
    std::conditional_t<Op::result == Res::real && detail::is_complex_v<T>, float, T>>;

#define EMILY_UNARY_FN(Name, Classes, expr)      \
  struct Name {                                  \
    static constexpr unsigned classes = Classes; \
    static constexpr Res result = Res::same;     \
    template <class C>                           \
    C operator()(C x) const {                    \
      using std::expr;                           \
      return expr(x);                            \
    }                                            \
  };
EMILY_UNARY_FN(Acos, kFloat | kComplex, acos)
EMILY_UNARY_FN(Acosh, kFloat | kComplex, acosh)
EMILY_UNARY_FN(Asin, kFloat | kComplex, asin)
EMILY_UNARY_FN(Asinh, kFloat | kComplex, asinh)
EMILY_UNARY_FN(Atan, kFloat | kComplex, atan)
EMILY_UNARY_FN(Atanh, kFloat | kComplex, atanh)
EMILY_UNARY_FN(Cos, kFloat | kComplex, cos)
EMILY_UNARY_FN(Cosh, kFloat | kComplex, cosh)
EMILY_UNARY_FN(Erf, kFloat, erf)
EMILY_UNARY_FN(Log, kFloat | kComplex, log)
EMILY_UNARY_FN(Sin, kFloat | kComplex, sin)
EMILY_UNARY_FN(Sinh, kFloat | kComplex, sinh)
EMILY_UNARY_FN(Sqrt, kFloat | kComplex, sqrt)
EMILY_UNARY_FN(Tan, kFloat | kComplex, tan)
EMILY_UNARY_FN(Tanh, kFloat | kComplex, tanh)
EMILY_UNARY_FN(Ceil, kFloat, ceil)
EMILY_UNARY_FN(Floor, kFloat, floor)
EMILY_UNARY_FN(Round, kFloat, nearbyint)  // default rounding mode: half to even
#undef EMILY_UNARY_FN

struct Exp {
  static constexpr unsigned classes = kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>) {
      return exp_f32(x);
    } else {
      using std::exp;
      return exp(x);
    }
  }
};

struct ErfInv {
  static constexpr unsigned classes = kFloat;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    return static_cast<C>(erf_inv(static_cast<double>(x)));
  }
};

// std::complex has no expm1/log1p; these keep their accuracy near 0 (computed in double).
struct Expm1 {
  static constexpr unsigned classes = kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C z) const {
    if constexpr (detail::is_complex_v<C>) {
      const double x = z.real(), y = z.imag();
      const double s = std::sin(0.5 * y);
      // Re: e^x cos y - 1 = expm1(x) cos y + (cos y - 1), with cos y - 1 = -2 sin^2(y/2).
      return C(static_cast<float>(std::expm1(x) * std::cos(y) - 2.0 * s * s),
               static_cast<float>(std::exp(x) * std::sin(y)));
    } else {
      return std::expm1(z);
    }
  }
};

struct Log1p {
  static constexpr unsigned classes = kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C z) const {
    if constexpr (detail::is_complex_v<C>) {
      const double x = z.real(), y = z.imag();
      // |1+z|^2 - 1 = 2x + x^2 + y^2, exact-ish in double for float inputs.
      return C(static_cast<float>(0.5 * std::log1p(2.0 * x + x * x + y * y)),
               static_cast<float>(std::atan2(y, 1.0 + x)));
    } else {
      return std::log1p(z);
    }
  }
};

struct Rsqrt {
  static constexpr unsigned classes = kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    return C(1) / std::sqrt(x);
  }
};

struct Sigmoid {
  static constexpr unsigned classes = kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    if constexpr (detail::is_complex_v<C>) {
      return C(1) / (C(1) + std::exp(-x));
    } else if constexpr (std::is_same_v<C, float>) {
      // The same split without branches, so that the loop vectorizes: e = exp(-|x|) is in
      // (0, 1], and sigmoid(x) is 1 / (1 + e) for x >= 0, e / (1 + e) below.
      const float e = exp_f32(-std::fabs(x));
      const float s = 1.0f / (1.0f + e);
      return x >= 0.0f ? s : e * s;
    } else {
      // Split at 0 so the large-|x| side never divides by an overflowed exp.
      if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
      const C e = std::exp(x);
      return e / (C(1) + e);
    }
  }
};

struct Abs {
  static constexpr unsigned classes = kInt | kFloat | kComplex;
  static constexpr Res result = Res::real;
  template <class C>
  auto operator()(C x) const {
    if constexpr (detail::is_complex_v<C>) {
      return std::abs(x);
    } else if constexpr (std::is_integral_v<C>) {
      if constexpr (std::is_signed_v<C>) {
        // |INT_MIN| wraps to INT_MIN, as in NumPy.
        return x < 0 ? wrap<C>(wrap_t<C>(0) - static_cast<wrap_t<C>>(x)) : x;
      } else {
        return x;
      }
    } else {
      return std::fabs(x);
    }
  }
};

struct Negate {
  static constexpr unsigned classes = kInt | kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return wrap<C>(wrap_t<C>(0) - static_cast<wrap_t<C>>(x));
    else
      return -x;
  }
};

struct Sign {
  static constexpr unsigned classes = kInt | kFloat | kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    if constexpr (detail::is_complex_v<C>) {
      const float m = std::abs(x);
      return m == 0.0f ? C(0) : x / m;
    } else if constexpr (std::is_unsigned_v<C>) {
      return x != 0 ? C(1) : C(0);
    } else {
      // NaN stays NaN; -0 gives +0 (as NumPy).
      return x > C(0) ? C(1) : x < C(0) ? C(-1) : x == C(0) ? C(0) : x;
    }
  }
};

struct Conjugate {
  static constexpr unsigned classes = kComplex;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    return std::conj(x);
  }
};

struct Real {
  static constexpr unsigned classes = kComplex;
  static constexpr Res result = Res::real;
  template <class C>
  float operator()(C x) const {
    return x.real();
  }
};

// On real types imag is zeros of the same dtype.
struct Imag {
  static constexpr unsigned classes = kAny;
  static constexpr Res result = Res::real;
  template <class C>
  auto operator()(C x) const {
    if constexpr (detail::is_complex_v<C>)
      return x.imag();
    else
      return C(0);
  }
};

struct BitwiseNot {
  static constexpr unsigned classes = kBool | kInt;
  static constexpr Res result = Res::same;
  template <class C>
  C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool>)
      return !x;
    else
      return static_cast<C>(~x);
  }
};

struct LogicalNot {
  static constexpr unsigned classes = kAny;
  static constexpr Res result = Res::boolean;
  template <class C>
  bool operator()(C x) const {
    return x == C(0);
  }
};

struct IsNan {
  static constexpr unsigned classes = kAny;
  static constexpr Res result = Res::boolean;
  template <class C>
  bool operator()(C x) const {
    if constexpr (detail::is_complex_v<C>)
      return std::isnan(x.real()) || std::isnan(x.imag());
    else if constexpr (std::is_floating_point_v<C>)
      return std::isnan(x);
    else
      return false;
  }
};

struct IsInfinity {
  static constexpr unsigned classes = kAny;
  static constexpr Res result = Res::boolean;
  template <class C>
  bool operator()(C x) const {
    if constexpr (detail::is_complex_v<C>)
      return std::isinf(x.real()) || std::isinf(x.imag());
    else if constexpr (std::is_floating_point_v<C>)
      return std::isinf(x);
    else
      return false;
  }
};

// ---- binary functors ----------------------------------------------------------------
// `to_bool`: the result is bool (comparisons); otherwise the inputs' dtype.
// `by_width`: classes on which the op is a function of the bits alone (wrapping
// add/sub/mul, bitwise ops, equality), so that s32 can share the u32 kernel.
#define EMILY_BINARY_HEAD(Classes, ToBool, ByWidth) \
  static constexpr unsigned classes = Classes;      \
  static constexpr bool to_bool = ToBool;           \
  static constexpr unsigned by_width = ByWidth;

struct Add {
  EMILY_BINARY_HEAD(kAny, false, kInt)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_same_v<C, bool>)
      return a || b;  // NumPy: bool + is or
    else if constexpr (std::is_integral_v<C>)
      return wrap<C>(wrap_t<C>(a) + wrap_t<C>(b));
    else
      return a + b;
  }
};

struct Subtract {
  EMILY_BINARY_HEAD(kInt | kFloat | kComplex, false, kInt)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return wrap<C>(wrap_t<C>(a) - wrap_t<C>(b));
    else
      return a - b;
  }
};

struct Multiply {
  EMILY_BINARY_HEAD(kAny, false, kInt)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_same_v<C, bool>)
      return a && b;
    else if constexpr (std::is_integral_v<C>)
      return wrap<C>(wrap_t<C>(a) * wrap_t<C>(b));
    else
      return a * b;
  }
};

struct Divide {
  EMILY_BINARY_HEAD(kFloat | kComplex, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    return a / b;
  }
};

// Integers: repeated squaring, wrapping. A negative exponent gives 0, except that base 1
// gives 1 and base -1 gives +-1 by the exponent's parity (0 ** -n gives 0 too).
struct Pow {
  EMILY_BINARY_HEAD(kInt | kFloat | kComplex, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if constexpr (std::is_signed_v<C>) {
        if (b < 0) return a == 1 ? C(1) : a == -1 ? ((b & 1) ? C(-1) : C(1)) : C(0);
      }
      wrap_t<C> r = 1, base = static_cast<wrap_t<C>>(a);
      auto e = static_cast<std::make_unsigned_t<C>>(b);
      while (e) {
        if (e & 1u) r *= base;
        base *= base;
        e >>= 1;
      }
      return wrap<C>(r);
    } else {
      return std::pow(a, b);
    }
  }
};

struct Atan2 {
  EMILY_BINARY_HEAD(kFloat, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    return std::atan2(a, b);
  }
};

// NumPy remainder: the result has the divisor's sign. Integers: x % 0 = 0.
struct Remainder {
  EMILY_BINARY_HEAD(kInt | kFloat, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return C(0);  // INT_MIN % -1 would trap
        C r = static_cast<C>(a % b);
        return (r != 0 && ((r < 0) != (b < 0))) ? static_cast<C>(r + b) : r;
      } else {
        return static_cast<C>(a % b);
      }
    } else {
      C m = std::fmod(a, b);
      if (b == C(0)) return m;  // NaN
      if (m != C(0)) {
        if ((b < C(0)) != (m < C(0))) m += b;
      } else {
        m = std::copysign(C(0), b);
      }
      return m;
    }
  }
};

// Integer division truncating toward zero; x / 0 = 0 and INT_MIN / -1 wraps to INT_MIN.
struct Quotient {
  EMILY_BINARY_HEAD(kInt, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    if (b == 0) return C(0);
    if constexpr (std::is_signed_v<C>) {
      if (b == -1) return wrap<C>(wrap_t<C>(0) - static_cast<wrap_t<C>>(a));
    }
    return static_cast<C>(a / b);
  }
};

// NaN propagates; on ties the second operand wins (as NumPy's maximum(-0., 0.) = 0.).
struct Maximum {
  EMILY_BINARY_HEAD(kReal, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>)
      return (a > b || std::isnan(a)) ? a : b;
    else
      return a > b ? a : b;
  }
};

struct Minimum {
  EMILY_BINARY_HEAD(kReal, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>)
      return (a < b || std::isnan(a)) ? a : b;
    else
      return a < b ? a : b;
  }
};

struct BitwiseAnd {
  EMILY_BINARY_HEAD(kBool | kInt, false, kBool | kInt)
  template <class C>
  C operator()(C a, C b) const {
    return static_cast<C>(a & b);
  }
};

struct BitwiseOr {
  EMILY_BINARY_HEAD(kBool | kInt, false, kBool | kInt)
  template <class C>
  C operator()(C a, C b) const {
    return static_cast<C>(a | b);
  }
};

struct BitwiseXor {
  EMILY_BINARY_HEAD(kBool | kInt, false, kBool | kInt)
  template <class C>
  C operator()(C a, C b) const {
    return static_cast<C>(a ^ b);
  }
};

// Shift counts outside [0, bits) shift everything out: 0, or -1 for a negative value
// shifted right (the arithmetic shift's sign fill).
struct LeftShift {
  EMILY_BINARY_HEAD(kInt, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    constexpr C bits = static_cast<C>(sizeof(C) * 8);
    if constexpr (std::is_signed_v<C>) {
      if (b < 0) return C(0);
    }
    if (b >= bits) return C(0);
    return wrap<C>(static_cast<wrap_t<C>>(static_cast<wrap_t<C>>(a) << b));
  }
};

struct RightShift {
  EMILY_BINARY_HEAD(kInt, false, 0)
  template <class C>
  C operator()(C a, C b) const {
    constexpr C bits = static_cast<C>(sizeof(C) * 8);
    bool out_of_range = b >= bits;
    if constexpr (std::is_signed_v<C>) out_of_range = out_of_range || b < 0;
    if (out_of_range) {
      if constexpr (std::is_signed_v<C>)
        return a < 0 ? C(-1) : C(0);
      else
        return C(0);
    }
    return static_cast<C>(a >> b);  // arithmetic for signed (C++20)
  }
};

#define EMILY_COMPARE(Name, Classes, ByWidth, expr) \
  struct Name {                                     \
    EMILY_BINARY_HEAD(Classes, true, ByWidth)       \
    template <class C>                              \
    bool operator()(C a, C b) const {               \
      return expr;                                  \
    }                                               \
  };
EMILY_COMPARE(Equal, kAny, kBool | kInt, a == b)
EMILY_COMPARE(NotEqual, kAny, kBool | kInt, a != b)
EMILY_COMPARE(Less, kReal, 0, a < b)
EMILY_COMPARE(LessEqual, kReal, 0, a <= b)
// The op layer hands logical ops bool operands (x != 0 per input).
EMILY_COMPARE(LogicalAnd, kBool, 0, a&& b)
EMILY_COMPARE(LogicalOr, kBool, 0, a || b)
EMILY_COMPARE(LogicalXor, kBool, 0, a != b)
#undef EMILY_COMPARE
#undef EMILY_BINARY_HEAD

}  // namespace emily::cpu::ew
