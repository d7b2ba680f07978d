// The unary op family. Dtype rules (docs/OPS.md):
//  - float functions (exp, sin, erf, ...) compute bool/integers in f32 and keep float
//    and c64 dtypes; erf and erf_inv reject c64;
//  - abs/negate/sign/floor/ceil/round keep integer dtypes (floor/ceil/round are the
//    identity there; abs and negate of INT_MIN wrap); abs of c64 is its f32 magnitude;
//  - bitwise_not takes bool (logical not) and integers; logical_not, is_nan and
//    is_infinity take anything and return bool;
//  - real/imag/conjugate on real dtypes: x, zeros, x.
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::require_defined;

Tensor run(Primitive p, const Tensor& x, DType out) {
  return detail::dispatch(p, {x}, x.shape(), out);
}

[[noreturn]] void reject(const char* op, DType t) {
  EMILY_THROW(DTypeError, op, "not defined for ", name(t), " inputs");
}

// exp, sin, ...: bool and integers compute in f32.
Tensor float_fn(const char* op, Primitive p, const Tensor& x, bool complex_ok = true) {
  require_defined(op, x);
  if (!complex_ok && is_complex(x.dtype())) reject(op, x.dtype());
  Tensor xf = astype(x, to_inexact(x.dtype()));
  return run(p, xf, xf.dtype());
}

// floor, ceil, round: the identity on bool and integers; no complex.
Tensor rounding_fn(const char* op, Primitive p, const Tensor& x) {
  require_defined(op, x);
  if (is_complex(x.dtype())) reject(op, x.dtype());
  if (!is_floating(x.dtype())) return x;
  return run(p, x, x.dtype());
}

Tensor to_bool_fn(const char* op, Primitive p, const Tensor& x) {
  require_defined(op, x);
  return run(p, x, DType::bool_);
}

}  // namespace

#define EMILY_FLOAT_FN(fn)                  \
  Tensor fn(const Tensor& x) {              \
    return float_fn(#fn, Primitive::fn, x); \
  }
EMILY_FLOAT_FN(acos)
EMILY_FLOAT_FN(acosh)
EMILY_FLOAT_FN(asin)
EMILY_FLOAT_FN(asinh)
EMILY_FLOAT_FN(atan)
EMILY_FLOAT_FN(atanh)
EMILY_FLOAT_FN(cos)
EMILY_FLOAT_FN(cosh)
EMILY_FLOAT_FN(exp)
EMILY_FLOAT_FN(expm1)
EMILY_FLOAT_FN(log)
EMILY_FLOAT_FN(log1p)
EMILY_FLOAT_FN(rsqrt)
EMILY_FLOAT_FN(sigmoid)
EMILY_FLOAT_FN(sin)
EMILY_FLOAT_FN(sinh)
EMILY_FLOAT_FN(sqrt)
EMILY_FLOAT_FN(tan)
EMILY_FLOAT_FN(tanh)
#undef EMILY_FLOAT_FN

Tensor erf(const Tensor& x) {
  return float_fn("erf", Primitive::erf, x, false);
}
Tensor erf_inv(const Tensor& x) {
  return float_fn("erf_inv", Primitive::erf_inv, x, false);
}

Tensor floor(const Tensor& x) {
  return rounding_fn("floor", Primitive::floor, x);
}
Tensor ceil(const Tensor& x) {
  return rounding_fn("ceil", Primitive::ceil, x);
}
Tensor round(const Tensor& x) {
  return rounding_fn("round", Primitive::round, x);
}

Tensor abs(const Tensor& x) {
  require_defined("abs", x);
  DType t = x.dtype();
  if (t == DType::bool_ || is_unsigned(t)) return x;
  return run(Primitive::abs, x, is_complex(t) ? DType::f32 : t);
}

Tensor negate(const Tensor& x) {
  require_defined("negate", x);
  // As NumPy: negating a bool is an error (use logical_not).
  if (x.dtype() == DType::bool_) reject("negate", x.dtype());
  return run(Primitive::negate, x, x.dtype());
}

Tensor sign(const Tensor& x) {
  require_defined("sign", x);
  if (x.dtype() == DType::bool_) return x;
  return run(Primitive::sign, x, x.dtype());
}

Tensor bitwise_not(const Tensor& x) {
  require_defined("bitwise_not", x);
  if (is_inexact(x.dtype())) reject("bitwise_not", x.dtype());
  return run(Primitive::bitwise_not, x, x.dtype());
}

Tensor logical_not(const Tensor& x) {
  return to_bool_fn("logical_not", Primitive::logical_not, x);
}
Tensor is_nan(const Tensor& x) {
  return to_bool_fn("is_nan", Primitive::is_nan, x);
}
Tensor is_infinity(const Tensor& x) {
  return to_bool_fn("is_infinity", Primitive::is_infinity, x);
}

Tensor real(const Tensor& x) {
  require_defined("real", x);
  if (!is_complex(x.dtype())) return x;
  return run(Primitive::real, x, DType::f32);
}

Tensor imag(const Tensor& x) {
  require_defined("imag", x);
  // Real dtypes give zeros of their own dtype (as NumPy), made by the kernel so they land
  // on x's device.
  return run(Primitive::imag, x, is_complex(x.dtype()) ? DType::f32 : x.dtype());
}

Tensor conjugate(const Tensor& x) {
  require_defined("conjugate", x);
  if (!is_complex(x.dtype())) return x;
  return run(Primitive::conjugate, x, x.dtype());
}

}  // namespace emily
