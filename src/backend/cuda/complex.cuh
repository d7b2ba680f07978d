// Complex numbers on the device. c64 is stored as complex64 (the layout of
// std::complex<float>) and computes in complex128: every operation runs in double and
// rounds once to float on store. For float inputs that makes arithmetic and the
// elementary functions below accurate to about one float ULP per component (sums and
// products of two floats are exact in double), so results agree with the CPU's glibc
// single-precision routines within their own error, without porting their algorithms.
//
// The functions live in namespace cx beside the types, so that generic functors call
// exp(x) unqualified: float and double find CUDA's overloads, complex128 finds these by
// argument-dependent lookup. Branch cuts and signed zeros follow C99 Annex G (Kahan's
// formulas, "Branch Cuts for Complex Elementary Functions", 1987); infinite and NaN
// inputs are handled where a naive formula would turn a meaningful result into NaN
// (exp, multiply, divide), as glibc and libgcc do.
#pragma once

#include <cuda_runtime.h>

#include <cmath>

namespace emily::cuda {

namespace cx {

struct alignas(8) complex64 {
  float re, im;
};

struct complex128 {
  double re = 0.0, im = 0.0;
  complex128() = default;
  __host__ __device__ constexpr complex128(double r, double i = 0.0) : re(r), im(i) {}
};

__device__ inline complex128 operator+(complex128 a, complex128 b) {
  return {a.re + b.re, a.im + b.im};
}
__device__ inline complex128 operator-(complex128 a, complex128 b) {
  return {a.re - b.re, a.im - b.im};
}
__device__ inline complex128 operator-(complex128 a) {
  return {-a.re, -a.im};
}
__device__ inline bool operator==(complex128 a, complex128 b) {
  return a.re == b.re && a.im == b.im;
}
__device__ inline bool operator!=(complex128 a, complex128 b) {
  return !(a == b);
}

// An infinity as 1 with its sign, anything finite as 0 with its sign: the direction
// Annex G's recovery steps keep when a product or quotient came out NaN.
__device__ inline double inf_unit(double v) {
  return ::copysign(::isinf(v) ? 1.0 : 0.0, v);
}

// (a + bi)(c + di). Products of float values are exact in double, so only the sums
// round. A NaN-NaN result with an infinite operand is an infinity (Annex G).
__device__ inline complex128 operator*(complex128 x, complex128 y) {
  double a = x.re, b = x.im, c = y.re, d = y.im;
  const double re = a * c - b * d, im = a * d + b * c;
  if (!(::isnan(re) && ::isnan(im))) return {re, im};
  bool recover = false;
  if (::isinf(a) || ::isinf(b)) {
    a = inf_unit(a), b = inf_unit(b);
    if (::isnan(c)) c = ::copysign(0.0, c);
    if (::isnan(d)) d = ::copysign(0.0, d);
    recover = true;
  }
  if (::isinf(c) || ::isinf(d)) {
    c = inf_unit(c), d = inf_unit(d);
    if (::isnan(a)) a = ::copysign(0.0, a);
    if (::isnan(b)) b = ::copysign(0.0, b);
    recover = true;
  }
  if (!recover) return {re, im};
  const double inf = HUGE_VAL;
  return {inf * (a * c - b * d), inf * (a * d + b * c)};
}

// (a + bi) / (c + di) by the textbook formula: for float operands |c|^2 + |d|^2 neither
// overflows nor underflows in double, so no scaling is needed. Division by zero and by
// infinities recover as Annex G says.
__device__ inline complex128 operator/(complex128 x, complex128 y) {
  double a = x.re, b = x.im, c = y.re, d = y.im;
  const double den = c * c + d * d;
  const double re = (a * c + b * d) / den, im = (b * c - a * d) / den;
  if (!(::isnan(re) && ::isnan(im))) return {re, im};
  const double inf = HUGE_VAL;
  if (den == 0.0 && (!::isnan(a) || !::isnan(b)))
    return {::copysign(inf, c) * a, ::copysign(inf, c) * b};
  if ((::isinf(a) || ::isinf(b)) && ::isfinite(c) && ::isfinite(d)) {
    a = inf_unit(a), b = inf_unit(b);
    return {inf * (a * c + b * d), inf * (b * c - a * d)};
  }
  if ((::isinf(c) || ::isinf(d)) && ::isfinite(a) && ::isfinite(b)) {
    c = inf_unit(c), d = inf_unit(d);
    return {0.0 * (a * c + b * d), 0.0 * (b * c - a * d)};
  }
  return {re, im};
}

__device__ inline complex128 conj(complex128 z) {
  return {z.re, -z.im};
}
__device__ inline double abs(complex128 z) {
  return ::hypot(z.re, z.im);
}
// i z and -i z: how the trigonometric functions borrow the hyperbolic ones.
__device__ inline complex128 times_i(complex128 z) {
  return {-z.im, z.re};
}
__device__ inline complex128 times_minus_i(complex128 z) {
  return {z.im, -z.re};
}

__device__ inline complex128 exp(complex128 z) {
  const double x = z.re, y = z.im;
  if (::isinf(x) && x < 0) {
    // e^-inf is 0 in every direction; a direction that is NaN still gives 0.
    if (!::isfinite(y)) return {0.0, 0.0};
    return {0.0 * ::cos(y), 0.0 * ::sin(y)};
  }
  if (::isinf(x)) {
    if (y == 0.0) return {x, y};
    if (!::isfinite(y)) return {x, NAN};
  }
  if (y == 0.0) return {::exp(x), y};  // keeps the real axis real past overflow
  double s, c;
  ::sincos(y, &s, &c);
  const double r = ::exp(x);
  return {r * c, r * s};
}

__device__ inline complex128 log(complex128 z) {
  return {::log(::hypot(z.re, z.im)), ::atan2(z.im, z.re)};
}

// Principal root: real part >= 0, the imaginary part has the sign of z.im (so the cut
// on the negative axis keeps the sign of zero).
__device__ inline complex128 sqrt(complex128 z) {
  const double x = z.re, y = z.im;
  if (::isinf(y)) return {HUGE_VAL, y};
  if (::isinf(x)) {
    if (x > 0) return {x, ::isnan(y) ? y : ::copysign(0.0, y)};
    return {::isnan(y) ? ::fabs(y - y) : 0.0, ::copysign(-x, y)};
  }
  if (x == 0.0 && y == 0.0) return {0.0, y};
  const double t = ::sqrt(0.5 * (::fabs(x) + ::hypot(x, y)));
  if (x >= 0.0) return {t, y / (2.0 * t)};
  return {::fabs(y) / (2.0 * t), ::copysign(t, y)};
}

__device__ inline complex128 sinh(complex128 z) {
  double s, c;
  ::sincos(z.im, &s, &c);
  return {::sinh(z.re) * c, ::cosh(z.re) * s};
}
__device__ inline complex128 cosh(complex128 z) {
  double s, c;
  ::sincos(z.im, &s, &c);
  return {::cosh(z.re) * c, ::sinh(z.re) * s};
}
// tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y); past |x| = 20 the real part is
// +-1 in float and the imaginary part 2 sin 2y e^(-2|x|), which avoids inf / inf.
__device__ inline complex128 tanh(complex128 z) {
  const double x = z.re, y = z.im;
  if (::fabs(x) > 20.0) {
    const double e = ::exp(-2.0 * ::fabs(x));
    if (::isfinite(y)) return {::copysign(1.0, x), 2.0 * ::sin(2.0 * y) * e};
    return {::copysign(1.0, x), ::isinf(x) ? ::copysign(0.0, y) : NAN};  // C99's tanh(inf + i y)
  }
  const double den = ::cosh(2.0 * x) + ::cos(2.0 * y);
  return {::sinh(2.0 * x) / den, ::sin(2.0 * y) / den};
}
__device__ inline complex128 sin(complex128 z) {
  return times_minus_i(sinh(times_i(z)));
}
__device__ inline complex128 cos(complex128 z) {
  return cosh(times_i(z));
}
__device__ inline complex128 tan(complex128 z) {
  return times_minus_i(tanh(times_i(z)));
}

// Kahan's forms: each part from square roots whose real parts are >= 0, so no part
// cancels and the cuts fall where C99 puts them.
__device__ inline complex128 asin(complex128 z) {
  const complex128 a = sqrt(complex128(1.0 - z.re, -z.im));  // sqrt(1 - z)
  const complex128 b = sqrt(complex128(1.0 + z.re, z.im));   // sqrt(1 + z)
  const complex128 ab = a * b, ca_b = conj(a) * b;
  return {::atan2(z.re, ab.re), ::asinh(ca_b.im)};
}
__device__ inline complex128 acos(complex128 z) {
  const complex128 a = sqrt(complex128(1.0 - z.re, -z.im));  // sqrt(1 - z)
  const complex128 b = sqrt(complex128(1.0 + z.re, z.im));   // sqrt(1 + z)
  const complex128 cb_a = conj(b) * a;
  return {2.0 * ::atan2(a.re, b.re), ::asinh(cb_a.im)};
}
__device__ inline complex128 acosh(complex128 z) {
  const complex128 a = sqrt(complex128(z.re - 1.0, z.im));  // sqrt(z - 1)
  const complex128 b = sqrt(complex128(z.re + 1.0, z.im));  // sqrt(z + 1)
  const complex128 ca_b = conj(a) * b;
  return {::asinh(ca_b.re), 2.0 * ::atan2(a.im, b.re)};
}
__device__ inline complex128 asinh(complex128 z) {
  return times_minus_i(asin(times_i(z)));
}
// atanh(z) = (log(1 + z) - log(1 - z)) / 2, with the real part as one log1p.
__device__ inline complex128 atanh(complex128 z) {
  const double x = z.re, y = z.im;
  const double m = (1.0 - x) * (1.0 - x) + y * y;
  const double re = 0.25 * ::log1p(4.0 * x / m);
  const double im = 0.5 * ::atan2(2.0 * y, (1.0 - x) * (1.0 + x) - y * y);
  return {re, im};
}
__device__ inline complex128 atan(complex128 z) {
  return times_minus_i(atanh(times_i(z)));
}

// As the CPU's Expm1/Log1p: accurate near 0 where exp(z) - 1 and log(1 + z) cancel.
__device__ inline complex128 expm1(complex128 z) {
  const double s = ::sin(0.5 * z.im);
  return {::expm1(z.re) * ::cos(z.im) - 2.0 * s * s, ::exp(z.re) * ::sin(z.im)};
}
__device__ inline complex128 log1p(complex128 z) {
  const double x = z.re, y = z.im;
  return {0.5 * ::log1p(2.0 * x + x * x + y * y), ::atan2(y, 1.0 + x)};
}

// x^y = exp(y log x), as glibc's cpow (so 0^y follows exp's rules for -inf).
__device__ inline complex128 pow(complex128 x, complex128 y) {
  return exp(y * log(x));
}

}  // namespace cx

using cx::complex128;
using cx::complex64;

}  // namespace emily::cuda
