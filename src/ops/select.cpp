// Composites over the elementwise primitives: clip, isclose, allclose, scalar_like and
// the arithmetic operators.
#include <cmath>
#include <limits>
#include <type_traits>

#include "emily/ops.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"

namespace emily {

namespace {
using detail::require_defined;
}  // namespace

namespace detail {

DType scalar_dtype(DType like, double value) {
  if (is_inexact(like)) return like;
  const bool integral = std::isfinite(value) && value == std::trunc(value);
  // A fraction (or inf/NaN) would be truncated away by an integer dtype; arithmetic on
  // bool tensors counts (true + 1 == 2), as in NumPy.
  if (!integral) return DType::f32;
  if (like == DType::bool_) return DType::s32;
  // Saturating an out-of-range scalar would compute with a different number than the
  // caller wrote; refuse instead, as NumPy 2 does.
  const bool fits = visit_dtype(like, [&]<class T>() {
    if constexpr (std::is_integral_v<T>) {
      return value >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
             value <= static_cast<double>(std::numeric_limits<T>::max()) &&
             !(sizeof(T) == 8 && value >= 0x1p63 && std::is_signed_v<T>)&&!(sizeof(T) == 8 &&
                                                                            value >= 0x1p64);
    } else {
      return true;
    }
  });
  if (!fits) {
    EMILY_THROW(ValueError, "scalar_like", "the scalar ", value, " does not fit in ", name(like),
                "; convert the tensor first (astype)");
  }
  return like;
}

}  // namespace detail

Tensor scalar_like(const Tensor& like, double value) {
  require_defined("scalar_like", like);
  return scalar_tensor(value, detail::scalar_dtype(like.dtype(), value), like.device());
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return subtract(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return multiply(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return divide(a, b);
}
Tensor operator-(const Tensor& a) {
  return negate(a);
}
Tensor operator+(const Tensor& a, double b) {
  return detail::binary_scalar(Primitive::add, a, b, false);
}
Tensor operator-(const Tensor& a, double b) {
  return detail::binary_scalar(Primitive::subtract, a, b, false);
}
Tensor operator*(const Tensor& a, double b) {
  return detail::binary_scalar(Primitive::multiply, a, b, false);
}
Tensor operator/(const Tensor& a, double b) {
  return detail::binary_scalar(Primitive::divide, a, b, false);
}
Tensor operator+(double a, const Tensor& b) {
  return detail::binary_scalar(Primitive::add, b, a, true);
}
Tensor operator-(double a, const Tensor& b) {
  return detail::binary_scalar(Primitive::subtract, b, a, true);
}
Tensor operator*(double a, const Tensor& b) {
  return detail::binary_scalar(Primitive::multiply, b, a, true);
}
Tensor operator/(double a, const Tensor& b) {
  return detail::binary_scalar(Primitive::divide, b, a, true);
}

// maximum with low, then minimum with high, in promote(x, low, high); NaN anywhere
// propagates and low > high gives high (as NumPy). With neither bound, x unchanged.
Tensor clip(const Tensor& x, const std::optional<Tensor>& low, const std::optional<Tensor>& high) {
  require_defined("clip", x);
  DType t = x.dtype();
  Shape shape = x.shape();
  for (const auto* bound : {&low, &high}) {
    if (!*bound) continue;
    require_defined("clip", **bound);
    t = promote(t, (*bound)->dtype());
    shape = broadcast_shapes("clip", shape, (*bound)->shape());
  }
  if (is_complex(t)) EMILY_THROW(DTypeError, "clip", "complex values have no order");
  Tensor r = astype(x, t);
  if (low) r = maximum(r, astype(*low, t));
  if (high) r = minimum(r, astype(*high, t));
  return r;
}

Tensor clip(const Tensor& x, double low, double high) {
  require_defined("clip", x);
  return clip(x, scalar_like(x, low), scalar_like(x, high));
}

// NumPy's rule: |a - b| <= atol + rtol |b| where b is finite, else a == b; NaN equals
// NaN only with equal_nan. Integers compare in f64, f16/bf16 in f32 (so the default
// atol does not underflow), c64 by complex magnitude.
Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  require_defined("isclose", a);
  require_defined("isclose", b);
  if (!(rtol >= 0) || !(atol >= 0)) {
    EMILY_THROW(ValueError, "isclose", "rtol and atol must be non-negative, got ", rtol, " and ",
                atol);
  }
  broadcast_shapes("isclose", a.shape(), b.shape());
  DType t = promote(a.dtype(), b.dtype());
  if (!is_inexact(t))
    t = DType::f64;
  else if (t == DType::f16 || t == DType::bf16)
    t = DType::f32;
  Tensor x = astype(a, t), y = astype(b, t);
  Tensor abs_y = abs(y);
  Tensor tol = add(scalar_like(abs_y, atol), multiply(scalar_like(abs_y, rtol), abs_y));
  Tensor close = logical_and(less_equal(abs(subtract(x, y)), tol), logical_not(is_infinity(y)));
  close = logical_or(close, equal(x, y));
  if (equal_nan) close = logical_or(close, logical_and(is_nan(x), is_nan(y)));
  return close;
}

Tensor allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  require_defined("allclose", a);
  require_defined("allclose", b);
  if (!(rtol >= 0) || !(atol >= 0)) {
    EMILY_THROW(ValueError, "allclose", "rtol and atol must be non-negative, got ", rtol, " and ",
                atol);
  }
  broadcast_shapes("allclose", a.shape(), b.shape());
  return all(isclose(a, b, rtol, atol, equal_nan));
}

}  // namespace emily
