#include <cmath>

#include "core/convert.h"
#include "emily/ops.h"
#include "emily/stream.h"
#include "ops/dispatch.h"

namespace emily {

using detail::dispatch;

namespace {
void check_shape(const char* op, const Shape& shape) {
  for (auto d : shape)
    if (d < 0) EMILY_THROW(ShapeError, op, "negative dimension in shape ", to_string(shape));
}

Device here() {
  return current_stream().device;
}

void check_device(const char* op, Device device) {
  if (!is_available(device)) EMILY_THROW(DeviceError, op, to_string(device), " is not available");
}

// A primitive without inputs runs on the current stream's device (detail::dispatch), so
// making one elsewhere switches to that device's default stream for the call. Outputs
// are then ordered on that stream, which is where the device's other work without an
// explicit stream goes too.
template <class Make>
Tensor made_on(Device device, Make&& make) {
  if (current_stream().device == device) return make();
  StreamGuard guard(default_stream(device));
  return make();
}
}  // namespace

Tensor scalar_tensor(double value, DType dtype) {
  return full({}, value, dtype, here());
}

Tensor scalar_tensor(double value, DType dtype, Device device) {
  return full({}, value, dtype, device);
}

Tensor scalar_tensor(c64 value) {
  return scalar_tensor(value, here());
}

Tensor scalar_tensor(c64 value, Device device) {
  check_device("scalar_tensor", device);
  return from_blob(&value, {}, DType::c64, device);
}

Tensor arange(double start, double stop, double step, DType dtype) {
  return arange(start, stop, step, dtype, here());
}

Tensor arange(double start, double stop, double step, DType dtype, Device device) {
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    EMILY_THROW(ValueError, "arange", "start, stop and step must be finite");
  }
  if (step == 0) EMILY_THROW(ValueError, "arange", "step must not be zero");
  if (dtype == DType::bool_) EMILY_THROW(DTypeError, "arange", "bool is not a numeric range type");
  check_device("arange", device);
  double count = std::ceil((stop - start) / step);
  if (count > 9.0e15)
    EMILY_THROW(ValueError, "arange", "range of ", count, " elements is too large");
  std::int64_t n = count > 0 ? static_cast<std::int64_t>(count) : 0;
  return made_on(device, [&] {
    return dispatch(Primitive::arange, {}, {n}, dtype, ArangeAttr{start, step});
  });
}

Tensor arange(std::int64_t stop, DType dtype) {
  return arange(stop, dtype, here());
}

Tensor arange(std::int64_t stop, DType dtype, Device device) {
  return arange(0.0, static_cast<double>(stop), 1.0, dtype, device);
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
  return full(shape, value, dtype, here());
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  check_shape("full", shape);
  check_device("full", device);
  // The 0-d value is converted on the host by astype's rules (detail::convert): no
  // kernel launch for a scalar, and on a GPU one small copy ordered on the stream.
  Tensor v = Tensor::empty({}, dtype, Device::cpu());
  visit_dtype(dtype, [&]<class T>() { *v.data<T>() = detail::convert<T>(value); });
  if (device.type != Device::Type::cpu) v = made_on(device, [&] { return to_device(v, device); });
  if (shape.empty()) return v;
  return full(shape, v);
}

Tensor zeros(const Shape& shape, DType dtype) {
  return full(shape, 0.0, dtype, here());
}
Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor ones(const Shape& shape, DType dtype) {
  return full(shape, 1.0, dtype, here());
}
Tensor ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor zeros_like(const Tensor& x) {
  detail::require_defined("zeros_like", x);
  return zeros(x.shape(), x.dtype(), x.device());
}
Tensor ones_like(const Tensor& x) {
  detail::require_defined("ones_like", x);
  return ones(x.shape(), x.dtype(), x.device());
}

Tensor eye(std::int64_t n, std::int64_t m, std::int64_t k, DType dtype) {
  return eye(n, m, k, dtype, here());
}

Tensor eye(std::int64_t n, std::int64_t m, std::int64_t k, DType dtype, Device device) {
  if (n < 0) EMILY_THROW(ShapeError, "eye", "negative row count ", n);
  if (m == -1) m = n;  // the default: square
  if (m < 0) EMILY_THROW(ShapeError, "eye", "negative column count ", m);
  check_device("eye", device);
  return made_on(device, [&] { return dispatch(Primitive::eye, {}, {n, m}, dtype, EyeAttr{k}); });
}

}  // namespace emily
