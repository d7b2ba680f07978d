// Windowed reductions (window_sum/product/max/min) and XLA's SelectAndScatter
// (window_scatter_max/min). A window spans every axis of x; the op layer makes the
// options explicit (one entry per axis), computes the windowed shape
//   out = floor((x + low + high - ((window - 1) * dilation + 1)) / stride) + 1
// (0 when the dilated window does not fit) and picks the dtypes.
//
// Default strides are 1, as Nx's window functions (NumPy has no such op); pooling layers
// pass strides = window.
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::require_defined;

Shape per_axis(const char* op, const char* what, const Shape& v, std::size_t n, std::int64_t fill) {
  if (v.empty()) return Shape(n, fill);
  if (v.size() != n) {
    EMILY_THROW(ShapeError, op, what, " has ", v.size(), " entries, the tensor has rank ", n);
  }
  return v;
}

void require_positive(const char* op, const char* what, const Shape& v) {
  for (std::int64_t s : v) {
    if (s < 1) EMILY_THROW(ValueError, op, what, " must be positive, got ", to_string(v));
  }
}

// Validates and normalizes the window of `x`; `out` receives the windowed shape.
WindowAttr resolve(const char* op, const Tensor& x, const Shape& window, const WindowOptions& o,
                   Shape& out) {
  const std::size_t n = static_cast<std::size_t>(x.ndim());
  if (window.size() != n) {
    EMILY_THROW(ShapeError, op, "the window has ", window.size(), " axes, the tensor of shape ",
                to_string(x.shape()), " has ", n);
  }
  WindowAttr a;
  a.window = window;
  a.strides = per_axis(op, "strides", o.strides, n, 1);
  a.padding_low = per_axis(op, "padding_low", o.padding_low, n, 0);
  a.padding_high = per_axis(op, "padding_high", o.padding_high, n, 0);
  a.dilation = per_axis(op, "dilation", o.dilation, n, 1);
  require_positive(op, "window sizes", a.window);
  require_positive(op, "strides", a.strides);
  require_positive(op, "dilation", a.dilation);
  out.assign(n, 0);
  for (std::size_t d = 0; d < n; ++d) {
    const std::int64_t padded = x.shape()[d] + a.padding_low[d] + a.padding_high[d];
    if (padded < 0) {
      EMILY_THROW(ShapeError, op, "padding (", a.padding_low[d], ", ", a.padding_high[d],
                  ") crops axis ", d, " of size ", x.shape()[d], " below 0");
    }
    const std::int64_t span = (a.window[d] - 1) * a.dilation[d] + 1;
    out[d] = padded < span ? 0 : (padded - span) / a.strides[d] + 1;
  }
  return a;
}

Tensor window_reduce(const char* op, Primitive p, const Tensor& x, const Shape& window,
                     const WindowOptions& options) {
  require_defined(op, x);
  const bool order = p == Primitive::window_max || p == Primitive::window_min;
  if (order && is_complex(x.dtype())) EMILY_THROW(DTypeError, op, "complex values have no order");
  if (!order && x.dtype() == DType::bool_) {
    EMILY_THROW(DTypeError, op, "bool has no sum or product that stays bool; convert first");
  }
  Shape out;
  WindowAttr a = resolve(op, x, window, options, out);
  return detail::dispatch(p, {x}, out, x.dtype(), a);
}

Tensor window_scatter(const char* op, Primitive p, const Tensor& x, const Tensor& source,
                      const Tensor& init_value, const Shape& window, const WindowOptions& options) {
  require_defined(op, x);
  require_defined(op, source);
  require_defined(op, init_value);
  if (is_complex(x.dtype())) EMILY_THROW(DTypeError, op, "complex values have no order");
  if (init_value.ndim() != 0) {
    EMILY_THROW(ShapeError, op, "init_value must be 0-d, got shape ",
                to_string(init_value.shape()));
  }
  Shape out;
  WindowAttr a = resolve(op, x, window, options, out);
  if (source.shape() != out) {
    EMILY_THROW(ShapeError, op, "source has shape ", to_string(source.shape()),
                ", the windows of x give ", to_string(out));
  }
  const DType dtype = promote(source.dtype(), init_value.dtype());
  if (dtype == DType::bool_) EMILY_THROW(DTypeError, op, "cannot add bool source values");
  return detail::dispatch(p, {x, astype(source, dtype), astype(init_value, dtype)}, x.shape(),
                          dtype, a);
}

}  // namespace

Tensor window_sum(const Tensor& x, const Shape& window, const WindowOptions& options) {
  return window_reduce("window_sum", Primitive::window_sum, x, window, options);
}

Tensor window_product(const Tensor& x, const Shape& window, const WindowOptions& options) {
  return window_reduce("window_product", Primitive::window_product, x, window, options);
}

Tensor window_max(const Tensor& x, const Shape& window, const WindowOptions& options) {
  return window_reduce("window_max", Primitive::window_max, x, window, options);
}

Tensor window_min(const Tensor& x, const Shape& window, const WindowOptions& options) {
  return window_reduce("window_min", Primitive::window_min, x, window, options);
}

Tensor window_scatter_max(const Tensor& x, const Tensor& source, const Tensor& init_value,
                          const Shape& window, const WindowOptions& options) {
  return window_scatter("window_scatter_max", Primitive::window_scatter_max, x, source, init_value,
                        window, options);
}

Tensor window_scatter_min(const Tensor& x, const Tensor& source, const Tensor& init_value,
                          const Shape& window, const WindowOptions& options) {
  return window_scatter("window_scatter_min", Primitive::window_scatter_min, x, source, init_value,
                        window, options);
}

}  // namespace emily
