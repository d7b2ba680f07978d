// Scalar functors of the CUDA unary and binary primitives: the device twins of
// backend/cpu/elementwise_ops.h, with the same dtype classes and NumPy semantics (integer
// pow, floored remainder, division by zero, shift counts past the width, sign of NaN).
// They compute on Compute<> values: f16/bf16 arrive as float, c64 as complex128, and the
// caller rounds once on store. Integer arithmetic wraps in wrap_t (unsigned, at least as
// wide as int), so no signed overflow can happen.
//
// Math calls are unqualified on purpose: float and double find CUDA's overloads, and
// complex128 finds complex.cuh's by argument-dependent lookup.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "backend/cuda/device_types.cuh"

namespace emily::cuda::ew {

// ---- dtype classes ------------------------------------------------------------------
enum Cls : unsigned { kBool = 1, kInt = 2, kFloat = 4, kComplex = 8 };
inline constexpr unsigned kReal = kBool | kInt | kFloat;
inline constexpr unsigned kAny = kReal | kComplex;

// The class of an Emily element type (the host types of visit_dtype).
template <class T>
inline constexpr unsigned cls_of = std::is_same_v<T, bool>  ? kBool
                                   : std::is_integral_v<T>  ? kInt
                                   : std::is_same_v<T, c64> ? kComplex
                                                            : kFloat;
template <class Op, class T>
inline constexpr bool accepts = (Op::classes & cls_of<T>) != 0;

template <class C>
inline constexpr bool is_complex = std::is_same_v<C, complex128>;

// Unary result kinds: the input's dtype, bool, or real (complex -> f32, others unchanged).
enum class Res { same, boolean, real };

template <class Op, class T>
using unary_out_t = std::conditional_t<
    Op::result == Res::boolean, bool,
    std::conditional_t<Op::result == Res::real && std::is_same_v<T, c64>, float, S<T>>>;

template <class Op, class T>
using binary_out_t = std::conditional_t<Op::to_bool, bool, S<T>>;

template <class C>
__device__ C wrap_negate(C x) {
  return static_cast<C>(wrap_t<C>(0) - static_cast<wrap_t<C>>(x));
}

// ---- unary --------------------------------------------------------------------------
#define EMILY_UNARY_HEAD(Classes, Result)      \
  static constexpr unsigned classes = Classes; \
  static constexpr Res result = Result;

#define EMILY_FLOAT_FN(Name, Classes, expr) \
  struct Name {                             \
    EMILY_UNARY_HEAD(Classes, Res::same)    \
    template <class C>                      \
    __device__ C operator()(C x) const {    \
      return expr;                          \
    }                                       \
  };
EMILY_FLOAT_FN(Acos, kFloat | kComplex, acos(x))
EMILY_FLOAT_FN(Acosh, kFloat | kComplex, acosh(x))
EMILY_FLOAT_FN(Asin, kFloat | kComplex, asin(x))
EMILY_FLOAT_FN(Asinh, kFloat | kComplex, asinh(x))
EMILY_FLOAT_FN(Atan, kFloat | kComplex, atan(x))
EMILY_FLOAT_FN(Atanh, kFloat | kComplex, atanh(x))
EMILY_FLOAT_FN(Cos, kFloat | kComplex, cos(x))
EMILY_FLOAT_FN(Cosh, kFloat | kComplex, cosh(x))
EMILY_FLOAT_FN(Erf, kFloat, erf(x))
EMILY_FLOAT_FN(Exp, kFloat | kComplex, exp(x))
EMILY_FLOAT_FN(Expm1, kFloat | kComplex, expm1(x))
EMILY_FLOAT_FN(Log, kFloat | kComplex, log(x))
EMILY_FLOAT_FN(Log1p, kFloat | kComplex, log1p(x))
EMILY_FLOAT_FN(Sin, kFloat | kComplex, sin(x))
EMILY_FLOAT_FN(Sinh, kFloat | kComplex, sinh(x))
EMILY_FLOAT_FN(Sqrt, kFloat | kComplex, sqrt(x))
EMILY_FLOAT_FN(Rsqrt, kFloat | kComplex, C(1) / sqrt(x))
EMILY_FLOAT_FN(Tan, kFloat | kComplex, tan(x))
EMILY_FLOAT_FN(Tanh, kFloat | kComplex, tanh(x))
EMILY_FLOAT_FN(Ceil, kFloat, ceil(x))
EMILY_FLOAT_FN(Floor, kFloat, floor(x))
EMILY_FLOAT_FN(Round, kFloat, rint(x))  // half to even, as the CPU's nearbyint
#undef EMILY_FLOAT_FN

// As the CPU: f32 goes through double and rounds once (CUDA's erfinvf is 2 ULP away).
struct ErfInv {
  EMILY_UNARY_HEAD(kFloat, Res::same)
  template <class C>
  __device__ C operator()(C x) const {
    return static_cast<C>(erfinv(static_cast<double>(x)));
  }
};

// Split at 0 so that the large-|x| side never divides by an overflowed exp.
struct Sigmoid {
  EMILY_UNARY_HEAD(kFloat | kComplex, Res::same)
  template <class C>
  __device__ C operator()(C x) const {
    if constexpr (is_complex<C>) {
      return C(1) / (C(1) + exp(-x));
    } else {
      if (x >= C(0)) return C(1) / (C(1) + exp(-x));
      const C e = exp(x);
      return e / (C(1) + e);
    }
  }
};

struct Abs {
  EMILY_UNARY_HEAD(kInt | kFloat | kComplex, Res::real)
  template <class C>
  __device__ auto operator()(C x) const {
    if constexpr (is_complex<C>)
      return abs(x);  // hypot in double: the f32 magnitude rounds once
    else if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (std::is_integral_v<C>)
      return x < 0 ? wrap_negate(x) : x;  // |INT_MIN| wraps to INT_MIN
    else
      return fabs(x);
  }
};

struct Negate {
  EMILY_UNARY_HEAD(kInt | kFloat | kComplex, Res::same)
  template <class C>
  __device__ C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return wrap_negate(x);
    else
      return -x;
  }
};

struct Sign {
  EMILY_UNARY_HEAD(kInt | kFloat | kComplex, Res::same)
  template <class C>
  __device__ C operator()(C x) const {
    if constexpr (is_complex<C>) {
      // As the CPU: the f32 magnitude, then each part divided by it in f32.
      const float m = static_cast<float>(abs(x));
      if (m == 0.0f) return C(0);
      return C(static_cast<float>(x.re) / m, static_cast<float>(x.im) / m);
    } else if constexpr (std::is_unsigned_v<C>) {
      return x != 0 ? C(1) : C(0);
    } else {
      // NaN stays NaN; -0 gives +0 (as NumPy).
      return x > C(0) ? C(1) : x < C(0) ? C(-1) : x == C(0) ? C(0) : x;
    }
  }
};

struct Conjugate {
  EMILY_UNARY_HEAD(kComplex, Res::same)
  template <class C>
  __device__ C operator()(C x) const {
    return conj(x);
  }
};

struct Real {
  EMILY_UNARY_HEAD(kComplex, Res::real)
  template <class C>
  __device__ double operator()(C x) const {
    return x.re;
  }
};

// On real dtypes imag is zeros of the same dtype.
struct Imag {
  EMILY_UNARY_HEAD(kAny, Res::real)
  template <class C>
  __device__ auto operator()(C x) const {
    if constexpr (is_complex<C>)
      return x.im;
    else
      return C(0);
  }
};

struct BitwiseNot {
  EMILY_UNARY_HEAD(kBool | kInt, Res::same)
  template <class C>
  __device__ C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool>)
      return !x;
    else
      return static_cast<C>(~x);
  }
};

struct LogicalNot {
  EMILY_UNARY_HEAD(kAny, Res::boolean)
  template <class C>
  __device__ bool operator()(C x) const {
    return x == C(0);
  }
};

struct IsNan {
  EMILY_UNARY_HEAD(kAny, Res::boolean)
  template <class C>
  __device__ bool operator()(C x) const {
    if constexpr (is_complex<C>)
      return isnan(x.re) || isnan(x.im);
    else if constexpr (std::is_floating_point_v<C>)
      return isnan(x);
    else
      return false;
  }
};

struct IsInfinity {
  EMILY_UNARY_HEAD(kAny, Res::boolean)
  template <class C>
  __device__ bool operator()(C x) const {
    if constexpr (is_complex<C>)
      return isinf(x.re) || isinf(x.im);
    else if constexpr (std::is_floating_point_v<C>)
      return isinf(x);
    else
      return false;
  }
};
#undef EMILY_UNARY_HEAD

// ---- binary -------------------------------------------------------------------------
// `to_bool`: the result is bool (comparisons). `by_width`: classes on which the op is a
// function of the bits alone (wrapping add/sub/mul, bitwise ops, equality), so signed
// integers and bool share the kernel of the unsigned type of their width.
#define EMILY_BINARY_HEAD(Classes, ToBool, ByWidth) \
  static constexpr unsigned classes = Classes;      \
  static constexpr bool to_bool = ToBool;           \
  static constexpr unsigned by_width = ByWidth;

struct Add {
  EMILY_BINARY_HEAD(kAny, false, kInt)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_same_v<C, bool>)
      return a || b;  // NumPy: bool + is or
    else if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(a) + wrap_t<C>(b));
    else
      return a + b;
  }
};

struct Subtract {
  EMILY_BINARY_HEAD(kInt | kFloat | kComplex, false, kInt)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(a) - wrap_t<C>(b));
    else
      return a - b;
  }
};

struct Multiply {
  EMILY_BINARY_HEAD(kAny, false, kInt)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_same_v<C, bool>)
      return a && b;
    else if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(a) * wrap_t<C>(b));
    else
      return a * b;
  }
};

struct Divide {
  EMILY_BINARY_HEAD(kFloat | kComplex, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    return a / b;
  }
};

// Integers: repeated squaring, wrapping. A negative exponent gives 0, except that base 1
// gives 1 and base -1 gives +-1 by the exponent's parity.
struct Pow {
  EMILY_BINARY_HEAD(kInt | kFloat | kComplex, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
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
      return static_cast<C>(r);
    } else {
      return pow(a, b);
    }
  }
};

struct Atan2 {
  EMILY_BINARY_HEAD(kFloat, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    return atan2(a, b);
  }
};

// NumPy remainder: the result has the divisor's sign. Integers: x % 0 = 0.
struct Remainder {
  EMILY_BINARY_HEAD(kInt | kFloat, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) return C(0);
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return C(0);  // INT_MIN % -1 would trap
        const C r = static_cast<C>(a % b);
        return (r != 0 && ((r < 0) != (b < 0))) ? static_cast<C>(r + b) : r;
      } else {
        return static_cast<C>(a % b);
      }
    } else {
      C m = fmod(a, b);
      if (b == C(0)) return m;  // NaN
      if (m != C(0)) {
        if ((b < C(0)) != (m < C(0))) m += b;
      } else {
        m = copysign(C(0), b);
      }
      return m;
    }
  }
};

// Integer division truncating toward zero; x / 0 = 0 and INT_MIN / -1 wraps to INT_MIN.
struct Quotient {
  EMILY_BINARY_HEAD(kInt, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if (b == 0) return C(0);
    if constexpr (std::is_signed_v<C>) {
      if (b == -1) return wrap_negate(a);
    }
    return static_cast<C>(a / b);
  }
};

// NaN propagates; on ties the second operand wins (maximum(-0., 0.) = 0., as NumPy).
struct Maximum {
  EMILY_BINARY_HEAD(kReal, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>)
      return (a > b || isnan(a)) ? a : b;
    else
      return a > b ? a : b;
  }
};

struct Minimum {
  EMILY_BINARY_HEAD(kReal, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>)
      return (a < b || isnan(a)) ? a : b;
    else
      return a < b ? a : b;
  }
};

#define EMILY_BITWISE(Name, expr)                        \
  struct Name {                                          \
    EMILY_BINARY_HEAD(kBool | kInt, false, kBool | kInt) \
    template <class C>                                   \
    __device__ C operator()(C a, C b) const {            \
      return static_cast<C>(expr);                       \
    }                                                    \
  };
EMILY_BITWISE(BitwiseAnd, a& b)
EMILY_BITWISE(BitwiseOr, a | b)
EMILY_BITWISE(BitwiseXor, a ^ b)
#undef EMILY_BITWISE

// Shift counts outside [0, bits) shift everything out: 0, or -1 for a negative value
// shifted right (the arithmetic shift's sign fill).
struct LeftShift {
  EMILY_BINARY_HEAD(kInt, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    constexpr C bits = static_cast<C>(sizeof(C) * 8);
    if constexpr (std::is_signed_v<C>) {
      if (b < 0) return C(0);
    }
    if (b >= bits) return C(0);
    return static_cast<C>(static_cast<wrap_t<C>>(static_cast<wrap_t<C>>(a) << b));
  }
};

struct RightShift {
  EMILY_BINARY_HEAD(kInt, false, 0)
  template <class C>
  __device__ C operator()(C a, C b) const {
    constexpr C bits = static_cast<C>(sizeof(C) * 8);
    bool out_of_range = b >= bits;
    if constexpr (std::is_signed_v<C>) out_of_range = out_of_range || b < 0;
    if (out_of_range) {
      if constexpr (std::is_signed_v<C>)
        return a < 0 ? C(-1) : C(0);
      else
        return C(0);
    }
    return static_cast<C>(a >> b);  // arithmetic for signed
  }
};

// greater and greater_equal run as less and less_equal with the operands swapped.
#define EMILY_COMPARE(Name, Classes, ByWidth, expr) \
  struct Name {                                     \
    EMILY_BINARY_HEAD(Classes, true, ByWidth)       \
    template <class C>                              \
    __device__ bool operator()(C a, C b) const {    \
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

}  // namespace emily::cuda::ew
