// Cumulative sums, products, maxima and minima along one axis. Result dtypes follow the
// reductions: sums and products of bool and signed integers are s64, of unsigned integers
// u64; f16/bf16 run an f32 accumulator and round each output once.
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

Tensor scan(const char* op, Primitive p, const Tensor& x, int axis, bool reverse, bool inclusive) {
  detail::require_defined(op, x);
  axis = normalize_axis(op, axis, x.ndim());
  DType dtype = x.dtype();
  if (p == Primitive::cumulative_sum || p == Primitive::cumulative_product) {
    if (dtype == DType::bool_ || kind(dtype) == DTypeKind::signed_int) dtype = DType::s64;
    if (kind(dtype) == DTypeKind::unsigned_int) dtype = DType::u64;
  } else if (is_complex(dtype)) {
    EMILY_THROW(DTypeError, op, "complex values have no order");
  }
  Tensor in = contiguous(dtype == x.dtype() ? x : astype(x, dtype));
  return detail::dispatch(p, {in}, x.shape(), dtype, ScanAttr{axis, reverse, inclusive});
}

}  // namespace

Tensor cumulative_sum(const Tensor& x, int axis, bool reverse, bool inclusive) {
  return scan("cumulative_sum", Primitive::cumulative_sum, x, axis, reverse, inclusive);
}
Tensor cumulative_product(const Tensor& x, int axis, bool reverse, bool inclusive) {
  return scan("cumulative_product", Primitive::cumulative_product, x, axis, reverse, inclusive);
}
Tensor cumulative_max(const Tensor& x, int axis, bool reverse, bool inclusive) {
  return scan("cumulative_max", Primitive::cumulative_max, x, axis, reverse, inclusive);
}
Tensor cumulative_min(const Tensor& x, int axis, bool reverse, bool inclusive) {
  return scan("cumulative_min", Primitive::cumulative_min, x, axis, reverse, inclusive);
}

}  // namespace emily
