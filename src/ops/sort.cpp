// sort, argsort and top_k along one axis. Sorting is stable; NaN sorts after every number
// ascending and before every number descending (it counts as the largest value, as in
// NumPy and PyTorch); -0.0 and 0.0 are equal and keep their order. Complex values have no
// order here (DTypeError).
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

int check_sortable(const char* op, const Tensor& x, int axis) {
  detail::require_defined(op, x);
  if (is_complex(x.dtype())) EMILY_THROW(DTypeError, op, "complex values have no order");
  return normalize_axis(op, axis, x.ndim());
}

}  // namespace

Tensor sort(const Tensor& x, int axis, bool descending) {
  axis = check_sortable("sort", x, axis);
  return detail::dispatch(Primitive::sort, {contiguous(x)}, x.shape(), x.dtype(),
                          SortAttr{axis, descending});
}

Tensor argsort(const Tensor& x, int axis, bool descending) {
  axis = check_sortable("argsort", x, axis);
  return detail::dispatch(Primitive::argsort, {contiguous(x)}, x.shape(), DType::s64,
                          SortAttr{axis, descending});
}

std::pair<Tensor, Tensor> top_k(const Tensor& x, std::int64_t k, int axis) {
  axis = check_sortable("top_k", x, axis);
  const std::int64_t n = x.shape()[axis];
  if (k < 0 || k > n) {
    EMILY_THROW(ValueError, "top_k", "k = ", k, " must lie in [0, ", n, "] for axis ", axis,
                " of shape ", to_string(x.shape()));
  }
  Shape shape = x.shape();
  shape[axis] = k;
  auto out = detail::dispatch(Primitive::top_k, {contiguous(x)},
                              {{shape, x.dtype()}, {shape, DType::s64}}, AxisAttr{axis});
  return {out[0], out[1]};
}

}  // namespace emily
