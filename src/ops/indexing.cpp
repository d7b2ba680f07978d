// take and take_along_axis. Out-of-range indices clamp to [-n, n-1] (then negatives
// wrap), as the kernels do it without a host round trip; a build with
// EMILY_DEBUG_BOUNDS_CHECK scans the indices on the host first and raises instead.
#include <type_traits>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::dispatch;
using detail::require_defined;

void check_indices_dtype(const char* op, const Tensor& indices) {
  if (!is_integral(indices.dtype())) {
    EMILY_THROW(DTypeError, op, "indices must have an integer dtype, got ", name(indices.dtype()));
  }
}

#ifdef EMILY_DEBUG_BOUNDS_CHECK
void check_bounds(const char* op, const Tensor& indices, std::int64_t n) {
  Tensor h = to_host(indices);
  visit_dtype(h.dtype(), [&]<class I>() {
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      const I* p = h.data<I>();
      for (std::int64_t i = 0; i < h.size(); ++i) {
        bool bad;
        if constexpr (std::is_signed_v<I>) {
          bad = static_cast<std::int64_t>(p[i]) < -n || static_cast<std::int64_t>(p[i]) >= n;
        } else {
          bad = static_cast<std::uint64_t>(p[i]) >= static_cast<std::uint64_t>(n);
        }
        if (bad) {
          EMILY_THROW(ValueError, op, "index ", +p[i], " is out of range for axis of size ", n);
        }
      }
    }
  });
}
#else
void check_bounds(const char*, const Tensor&, std::int64_t) {}
#endif

}  // namespace

Tensor take(const Tensor& x, const Tensor& indices, int axis) {
  require_defined("take", x);
  require_defined("take", indices);
  check_indices_dtype("take", indices);
  axis = normalize_axis("take", axis, x.ndim());
  const std::int64_t n = x.shape()[axis];
  Shape shape(x.shape().begin(), x.shape().begin() + axis);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  if (n == 0 && indices.size() > 0) {
    EMILY_THROW(ValueError, "take", "cannot take from axis ", axis, " of size 0");
  }
  check_bounds("take", indices, n);
  return dispatch(Primitive::take, {x, indices}, shape, x.dtype(), AxisAttr{axis});
}

Tensor take(const Tensor& x, const Tensor& indices) {
  require_defined("take", x);
  return take(flatten(x), indices, 0);
}

Tensor take_along_axis(const Tensor& x, const Tensor& indices, int axis) {
  require_defined("take_along_axis", x);
  require_defined("take_along_axis", indices);
  check_indices_dtype("take_along_axis", indices);
  axis = normalize_axis("take_along_axis", axis, x.ndim());
  if (indices.ndim() != x.ndim()) {
    EMILY_THROW(ShapeError, "take_along_axis", "indices have rank ", indices.ndim(),
                ", the tensor has rank ", x.ndim());
  }
  // NumPy broadcasts the other axes of x and indices against each other.
  Shape shape(x.ndim()), xshape(x.ndim());
  for (int d = 0; d < x.ndim(); ++d) {
    const std::int64_t a = x.shape()[d], b = indices.shape()[d];
    if (d == axis) {
      shape[d] = b;
      xshape[d] = a;
      continue;
    }
    if (a != b && a != 1 && b != 1) {
      EMILY_THROW(ShapeError, "take_along_axis", "indices of shape ", to_string(indices.shape()),
                  " do not broadcast against ", to_string(x.shape()), " on axis ", d);
    }
    shape[d] = xshape[d] = a == 1 ? b : a;
  }
  const std::int64_t n = x.shape()[axis];
  if (n == 0 && numel(shape) > 0) {
    EMILY_THROW(ValueError, "take_along_axis", "cannot take from axis ", axis, " of size 0");
  }
  check_bounds("take_along_axis", indices, n);
  return dispatch(Primitive::take_along_axis,
                  {broadcast_to(x, xshape), broadcast_to(indices, shape)}, shape, x.dtype(),
                  AxisAttr{axis});
}

}  // namespace emily
