#include <cmath>

#include "core/convert.h"
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

using detail::dispatch;

namespace {
void check_shape(const char* op, const Shape& shape) {
  for (auto d : shape)
    if (d < 0) EMILY_THROW(ShapeError, op, "negative dimension in shape ", to_string(shape));
}
}  // namespace

Tensor scalar_tensor(double value, DType dtype) {
  return full({}, value, dtype);
}

Tensor scalar_tensor(c64 value) {
  return from_blob(&value, {}, DType::c64);
}

Tensor arange(double start, double stop, double step, DType dtype) {
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    EMILY_THROW(ValueError, "arange", "start, stop and step must be finite");
  }
  if (step == 0) EMILY_THROW(ValueError, "arange", "step must not be zero");
  if (dtype == DType::bool_) EMILY_THROW(DTypeError, "arange", "bool is not a numeric range type");
  double count = std::ceil((stop - start) / step);
  if (count > 9.0e15)
    EMILY_THROW(ValueError, "arange", "range of ", count, " elements is too large");
  std::int64_t n = count > 0 ? static_cast<std::int64_t>(count) : 0;
  return dispatch(Primitive::arange, {}, {n}, dtype, ArangeAttr{start, step});
}

Tensor arange(std::int64_t stop, DType dtype) {
  return arange(0.0, static_cast<double>(stop), 1.0, dtype);
}

Tensor full(const Shape& shape, const Tensor& value) {
  detail::require_defined("full", value);
  check_shape("full", shape);
  if (value.ndim() != 0) {
    EMILY_THROW(ShapeError, "full", "fill value must be 0-d, got shape ", to_string(value.shape()));
  }
  return dispatch(Primitive::full, {value}, shape, value.dtype());
}

Tensor full(const Shape& shape, double value, DType dtype) {
  check_shape("full", shape);
  // The 0-d value is converted on the host by astype's rules (detail::convert): no
  // kernel launch for a scalar.
  Tensor v = Tensor::empty({}, dtype, Device::cpu());
  visit_dtype(dtype, [&]<class T>() { *v.data<T>() = detail::convert<T>(value); });
  if (shape.empty()) return v;
  return full(shape, v);
}

Tensor zeros(const Shape& shape, DType dtype) {
  return full(shape, 0.0, dtype);
}
Tensor ones(const Shape& shape, DType dtype) {
  return full(shape, 1.0, dtype);
}
Tensor zeros_like(const Tensor& x) {
  return zeros(x.shape(), x.dtype());
}
Tensor ones_like(const Tensor& x) {
  return ones(x.shape(), x.dtype());
}

Tensor eye(std::int64_t n, std::int64_t m, std::int64_t k, DType dtype) {
  if (n < 0) EMILY_THROW(ShapeError, "eye", "negative row count ", n);
  if (m == -1) m = n;  // the default: square
  if (m < 0) EMILY_THROW(ShapeError, "eye", "negative column count ", m);
  return dispatch(Primitive::eye, {}, {n, m}, dtype, EyeAttr{k});
}

}  // namespace emily
