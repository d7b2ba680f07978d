// Reductions: sum product max min all any argmax argmin mean. Semantics follow NumPy:
// `axes` may name any subset in any order (negative axes count from the end, repeats
// and out-of-range axes are ShapeError), an empty list reduces nothing, and the kernel
// produces the keep-dims shape that a view then squeezes.
#include <algorithm>
#include <numeric>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::require_defined;

std::vector<int> all_axes(const Tensor& x) {
  std::vector<int> axes(static_cast<std::size_t>(x.ndim()));
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

// The dtype a reduction returns.
DType result_dtype(const char* op, Primitive p, DType in) {
  switch (p) {
    case Primitive::sum:
    case Primitive::product:
      if (in == DType::bool_ || kind(in) == DTypeKind::signed_int) return DType::s64;
      if (kind(in) == DTypeKind::unsigned_int) return DType::u64;
      return in;
    case Primitive::max:
    case Primitive::min:
      if (is_complex(in)) EMILY_THROW(DTypeError, op, "complex values have no order");
      return in;
    default:  // all, any
      return DType::bool_;
  }
}

Shape drop_axes(const Shape& shape, const std::vector<int>& axes) {
  Shape out;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) out.push_back(shape[i]);
  return out;
}

// `out` overrides the result dtype (mean stores f16/bf16 sums as f32).
Tensor reduce(const char* op, Primitive p, const Tensor& x, const std::vector<int>& axes,
              bool keepdims, std::optional<DType> out = std::nullopt) {
  require_defined(op, x);
  DType dtype = out ? *out : result_dtype(op, p, x.dtype());
  std::vector<int> ax = normalize_axes(op, axes, x.ndim());
  std::sort(ax.begin(), ax.end());
  if (ax.empty()) return astype(x, dtype);  // NumPy: axis=() reduces nothing
  Shape kept = x.shape();
  for (int a : ax) {
    if (x.shape()[a] == 0 && (p == Primitive::max || p == Primitive::min)) {
      EMILY_THROW(ShapeError, op, "zero-size reduction over axis ", a, " of shape ",
                  to_string(x.shape()), " has no identity");
    }
    kept[a] = 1;
  }
  Tensor y = detail::dispatch(p, {x}, kept, dtype, AxesAttr{ax});
  return keepdims ? y : reshape(y, drop_axes(x.shape(), ax));  // y is dense: a view
}

Tensor arg_reduce(const char* op, Primitive p, const Tensor& x, int axis, bool keepdims) {
  require_defined(op, x);
  if (is_complex(x.dtype())) EMILY_THROW(DTypeError, op, "complex values have no order");
  int a = normalize_axis(op, axis, x.ndim());
  if (x.shape()[a] == 0) {
    EMILY_THROW(ShapeError, op, "zero-size axis ", a, " of shape ", to_string(x.shape()),
                " has no ", p == Primitive::argmax ? "maximum" : "minimum");
  }
  Shape kept = x.shape();
  kept[a] = 1;
  Tensor y = detail::dispatch(p, {x}, kept, DType::s64, AxisAttr{a});
  return keepdims ? y : reshape(y, drop_axes(x.shape(), {a}));
}

// Over the flattened tensor; keepdims gives x's rank with every axis 1 (as NumPy).
Tensor arg_reduce_flat(const char* op, Primitive p, const Tensor& x, bool keepdims) {
  require_defined(op, x);
  if (x.size() == 0) {
    EMILY_THROW(ShapeError, op, "zero-size tensor of shape ", to_string(x.shape()), " has no ",
                p == Primitive::argmax ? "maximum" : "minimum");
  }
  Tensor y = arg_reduce(op, p, reshape(x, {-1}), 0, false);
  return keepdims ? reshape(y, Shape(static_cast<std::size_t>(x.ndim()), 1)) : y;
}

}  // namespace

// X(name): the three overloads of each axes reduction.
#define EMILY_REDUCTION(NAME)                                                   \
  Tensor NAME(const Tensor& x, bool keepdims) {                                 \
    require_defined(#NAME, x);                                                  \
    return reduce(#NAME, Primitive::NAME, x, all_axes(x), keepdims);            \
  }                                                                             \
  Tensor NAME(const Tensor& x, const std::vector<int>& axes, bool keepdims) {   \
    return reduce(#NAME, Primitive::NAME, x, axes, keepdims);                   \
  }                                                                             \
  Tensor NAME(const Tensor& x, int axis, bool keepdims) {                       \
    return reduce(#NAME, Primitive::NAME, x, std::vector<int>{axis}, keepdims); \
  }
EMILY_REDUCTION(sum)
EMILY_REDUCTION(product)
EMILY_REDUCTION(max)
EMILY_REDUCTION(min)
EMILY_REDUCTION(all)
EMILY_REDUCTION(any)
#undef EMILY_REDUCTION

Tensor argmax(const Tensor& x, bool keepdims) {
  return arg_reduce_flat("argmax", Primitive::argmax, x, keepdims);
}
Tensor argmax(const Tensor& x, int axis, bool keepdims) {
  return arg_reduce("argmax", Primitive::argmax, x, axis, keepdims);
}
Tensor argmin(const Tensor& x, bool keepdims) {
  return arg_reduce_flat("argmin", Primitive::argmin, x, keepdims);
}
Tensor argmin(const Tensor& x, int axis, bool keepdims) {
  return arg_reduce("argmin", Primitive::argmin, x, axis, keepdims);
}

// sum / count in the input's inexact type (integers and bool: f32, from an exact
// integer sum; f16/bf16: an f32 sum divided in f32, rounded once). An empty reduction
// gives 0/0 = NaN.
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  require_defined("mean", x);
  std::vector<int> ax = normalize_axes("mean", axes, x.ndim());
  std::int64_t count = 1;
  for (int a : ax) count *= x.shape()[a];
  const DType dtype = to_inexact(x.dtype());
  if (dtype == DType::f16 || dtype == DType::bf16) {
    Tensor s = reduce("mean", Primitive::sum, x, ax, keepdims, DType::f32);
    return astype(s / static_cast<double>(count), dtype);
  }
  Tensor s = reduce("mean", Primitive::sum, x, ax, keepdims);
  if (s.dtype() != dtype) s = astype(s, dtype);
  return s / static_cast<double>(count);
}

Tensor mean(const Tensor& x, int axis, bool keepdims) {
  return mean(x, std::vector<int>{axis}, keepdims);
}

}  // namespace emily
