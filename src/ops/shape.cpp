// Shape ops that build new tensors: concatenate, stack, pad, slice_update.
#include <algorithm>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace detail {
// Defined in view.cpp: the per-axis start, step and count of a NumPy slice.
void slice_geometry(const char* op, const Tensor& x, const Shape& start, const Shape& stop,
                    const Shape& step, Shape& starts, Shape& steps, Shape& counts);
}  // namespace detail

namespace {
using detail::dispatch;
using detail::require_defined;
}  // namespace

Tensor concatenate(const std::vector<Tensor>& xs, int axis) {
  if (xs.empty()) EMILY_THROW(ValueError, "concatenate", "needs at least one tensor");
  for (const auto& x : xs) require_defined("concatenate", x);
  const Tensor& first = xs.front();
  const int nd = first.ndim();
  if (nd == 0) EMILY_THROW(ShapeError, "concatenate", "cannot concatenate 0-d tensors");
  axis = normalize_axis("concatenate", axis, nd);
  DType dtype = first.dtype();
  Shape shape = first.shape();
  shape[axis] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    bool same = x.ndim() == nd;
    for (int d = 0; same && d < nd; ++d) same = d == axis || x.shape()[d] == first.shape()[d];
    if (!same) {
      EMILY_THROW(ShapeError, "concatenate", "tensor ", i, " has shape ", to_string(x.shape()),
                  ", tensor 0 has ", to_string(first.shape()), " (only axis ", axis,
                  " may differ)");
    }
    shape[axis] += x.shape()[axis];
    dtype = promote(dtype, x.dtype());
  }
  std::vector<Tensor> in;
  in.reserve(xs.size());
  for (const auto& x : xs) in.push_back(astype(x, dtype));
  if (in.size() == 1) return in.front();  // values are immutable: no copy needed
  return dispatch(Primitive::concatenate, in, shape, dtype, AxisAttr{axis});
}

Tensor stack(const std::vector<Tensor>& xs, int axis) {
  if (xs.empty()) EMILY_THROW(ValueError, "stack", "needs at least one tensor");
  for (const auto& x : xs) require_defined("stack", x);
  const Shape& shape = xs.front().shape();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].shape() != shape) {
      EMILY_THROW(ShapeError, "stack", "tensor ", i, " has shape ", to_string(xs[i].shape()),
                  ", tensor 0 has ", to_string(shape), " (all must match)");
    }
  }
  axis = normalize_axis("stack", axis, xs.front().ndim() + 1);
  std::vector<Tensor> expanded;
  expanded.reserve(xs.size());
  for (const auto& x : xs) expanded.push_back(expand_dims(x, {axis}));
  return concatenate(expanded, axis);
}

Tensor pad(const Tensor& x, const std::vector<PadWidth>& widths, const Tensor& value) {
  require_defined("pad", x);
  require_defined("pad", value);
  if (value.ndim() != 0) {
    EMILY_THROW(ShapeError, "pad", "pad value must be 0-d, got shape ", to_string(value.shape()));
  }
  if (static_cast<int>(widths.size()) != x.ndim()) {
    EMILY_THROW(ShapeError, "pad", "got ", widths.size(), " pad widths for a tensor of rank ",
                x.ndim());
  }
  PadAttr attr;
  Shape shape(widths.size());
  for (int a = 0; a < x.ndim(); ++a) {
    const PadWidth& w = widths[a];
    if (w.interior < 0) {
      EMILY_THROW(ValueError, "pad", "interior padding of axis ", a, " is negative (", w.interior,
                  ")");
    }
    const std::int64_t n = x.shape()[a];
    shape[a] = w.low + w.high + n + std::max<std::int64_t>(n - 1, 0) * w.interior;
    if (shape[a] < 0) {
      EMILY_THROW(ShapeError, "pad", "axis ", a, " of size ", n, " padded by (", w.low, ", ",
                  w.high, ", ", w.interior, ") has negative size ", shape[a]);
    }
    attr.low.push_back(w.low);
    attr.high.push_back(w.high);
    attr.interior.push_back(w.interior);
  }
  return dispatch(Primitive::pad, {x, astype(value, x.dtype())}, shape, x.dtype(), attr);
}

Tensor pad(const Tensor& x, const std::vector<PadWidth>& widths, double value) {
  require_defined("pad", x);
  return pad(x, widths, scalar_tensor(value, x.dtype(), x.device()));
}

Tensor slice_update(const Tensor& x, const Tensor& update, const Shape& start, const Shape& stop,
                    const Shape& step) {
  require_defined("slice_update", x);
  require_defined("slice_update", update);
  Shape starts, steps, counts;
  detail::slice_geometry("slice_update", x, start, stop, step, starts, steps, counts);
  // The update must broadcast to the region itself (the region does not grow).
  if (broadcast_shapes("slice_update", update.shape(), counts) != counts) {
    EMILY_THROW(ShapeError, "slice_update", "update of shape ", to_string(update.shape()),
                " does not broadcast to the region ", to_string(counts));
  }
  Tensor u = broadcast_to(astype(update, x.dtype()), counts);
  return dispatch(Primitive::slice_update, {x, u}, x.shape(), x.dtype(), SliceAttr{starts, steps});
}

}  // namespace emily
