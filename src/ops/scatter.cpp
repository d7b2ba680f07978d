// gather and the scatter family, XLA style. `indices` has shape (..., axes.size()); each
// index row holds the start of one window on `axes` (the window starts at 0 on every other
// axis). gather reads the windows, scatter writes them into a copy of x.
//
// Starts are resolved like take's indices (clamped to [-n, n), negatives count from the
// end) and then clamped once more so that the whole window fits, as XLA does; a build with
// EMILY_DEBUG_BOUNDS_CHECK raises instead. Updates are applied in index order on the CPU,
// so with duplicate indices scatter keeps the last write and scatter_add/max/min combine
// all of them (docs/OPS.md).
#include <type_traits>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::dispatch;
using detail::require_defined;

struct Windows {
  std::vector<int> axes;  // normalized
  Shape batch;            // indices.shape[:-1]
};

Windows check_indices(const char* op, const Tensor& x, const Tensor& indices,
                      const std::vector<int>& axes) {
  require_defined(op, x);
  require_defined(op, indices);
  if (!is_integral(indices.dtype())) {
    EMILY_THROW(DTypeError, op, "indices must have an integer dtype, got ", name(indices.dtype()));
  }
  Windows w{normalize_axes(op, axes, x.ndim()), {}};
  if (indices.ndim() == 0 || indices.shape().back() != static_cast<std::int64_t>(w.axes.size())) {
    EMILY_THROW(ShapeError, op, "indices of shape ", to_string(indices.shape()),
                " must end in an axis of size ", w.axes.size(), " (one start per indexed axis)");
  }
  w.batch.assign(indices.shape().begin(), indices.shape().end() - 1);
  return w;
}

#ifdef EMILY_DEBUG_BOUNDS_CHECK
// Raises where the kernels would clamp: an index outside [-n, n), or a window that does
// not fit after negative indices wrap.
void check_bounds(const char* op, const Tensor& x, const Tensor& indices, const Windows& w,
                  const Shape& window) {
  Tensor h = to_host(astype(indices, DType::s64));
  const std::int64_t* p = h.data<std::int64_t>();
  const auto m = static_cast<std::int64_t>(w.axes.size());
  for (std::int64_t i = 0; i < h.size(); ++i) {
    const int axis = w.axes[static_cast<std::size_t>(i % m)];
    const std::int64_t n = x.shape()[axis];
    std::int64_t start = p[i] < 0 ? p[i] + n : p[i];
    if (p[i] < -n || p[i] >= n || start + window[axis] > n) {
      EMILY_THROW(ValueError, op, "index ", p[i], " on axis ", axis, " (size ", n,
                  ") leaves the window of size ", window[axis], " out of range");
    }
  }
}
#else
void check_bounds(const char*, const Tensor&, const Tensor&, const Windows&, const Shape&) {}
#endif

Tensor scatter_like(const char* op, Primitive p, const Tensor& x, const Tensor& indices,
                    const Tensor& updates, const std::vector<int>& axes) {
  Windows w = check_indices(op, x, indices, axes);
  require_defined(op, updates);
  if ((p == Primitive::scatter_max || p == Primitive::scatter_min) && is_complex(x.dtype())) {
    EMILY_THROW(DTypeError, op, "complex values have no order");
  }
  // The window is the trailing part of updates' shape: rank x.ndim, or x.ndim minus the
  // indexed axes (these then have size 1, as when scattering rows of an embedding table).
  const int batch_rank = static_cast<int>(w.batch.size());
  const int window_rank = updates.ndim() - batch_rank;
  Shape window;
  if (window_rank == x.ndim()) {
    window.assign(updates.shape().begin() + batch_rank, updates.shape().end());
  } else if (window_rank == x.ndim() - static_cast<int>(w.axes.size()) && window_rank >= 0) {
    auto rest = updates.shape().begin() + batch_rank;
    for (int d = 0; d < x.ndim(); ++d) {
      bool indexed = std::find(w.axes.begin(), w.axes.end(), d) != w.axes.end();
      window.push_back(indexed ? 1 : *rest++);
    }
  } else {
    EMILY_THROW(ShapeError, op, "updates of shape ", to_string(updates.shape()),
                " must be indices.shape[:-1] ", to_string(w.batch),
                " followed by a window of rank ", x.ndim(), " or ",
                x.ndim() - static_cast<int>(w.axes.size()));
  }
  if (!std::equal(w.batch.begin(), w.batch.end(), updates.shape().begin())) {
    EMILY_THROW(ShapeError, op, "updates of shape ", to_string(updates.shape()),
                " do not start with the index batch shape ", to_string(w.batch));
  }
  for (int d = 0; d < x.ndim(); ++d) {
    if (window[d] > x.shape()[d]) {
      EMILY_THROW(ShapeError, op, "update window ", to_string(window), " exceeds x of shape ",
                  to_string(x.shape()), " on axis ", d);
    }
    bool indexed = std::find(w.axes.begin(), w.axes.end(), d) != w.axes.end();
    if (indexed && x.shape()[d] == 0 && numel(w.batch) > 0) {
      EMILY_THROW(ValueError, op, "cannot scatter into axis ", d, " of size 0");
    }
  }
  check_bounds(op, x, indices, w, window);
  Shape full = w.batch;
  full.insert(full.end(), window.begin(), window.end());
  Tensor u = contiguous(astype(reshape(updates, full), x.dtype()));
  return dispatch(p, {contiguous(x), contiguous(indices), u}, x.shape(), x.dtype(),
                  AxesAttr{w.axes});
}

}  // namespace

Tensor gather(const Tensor& x, const Tensor& indices, const std::vector<int>& axes,
              const Shape& slice_sizes) {
  Windows w = check_indices("gather", x, indices, axes);
  if (static_cast<int>(slice_sizes.size()) != x.ndim()) {
    EMILY_THROW(ShapeError, "gather", "slice_sizes ", to_string(slice_sizes), " must have rank ",
                x.ndim(), " (one size per axis of x)");
  }
  for (int d = 0; d < x.ndim(); ++d) {
    if (slice_sizes[d] < 0 || slice_sizes[d] > x.shape()[d]) {
      EMILY_THROW(ShapeError, "gather", "slice size ", slice_sizes[d], " on axis ", d,
                  " must lie in [0, ", x.shape()[d], "]");
    }
    bool indexed = std::find(w.axes.begin(), w.axes.end(), d) != w.axes.end();
    if (indexed && x.shape()[d] == 0 && numel(w.batch) > 0) {
      EMILY_THROW(ValueError, "gather", "cannot gather from axis ", d, " of size 0");
    }
  }
  check_bounds("gather", x, indices, w, slice_sizes);
  Shape shape = w.batch;
  shape.insert(shape.end(), slice_sizes.begin(), slice_sizes.end());
  return dispatch(Primitive::gather, {contiguous(x), contiguous(indices)}, shape, x.dtype(),
                  AxesAttr{w.axes});
}

Tensor scatter(const Tensor& x, const Tensor& indices, const Tensor& updates,
               const std::vector<int>& axes) {
  return scatter_like("scatter", Primitive::scatter, x, indices, updates, axes);
}
Tensor scatter_add(const Tensor& x, const Tensor& indices, const Tensor& updates,
                   const std::vector<int>& axes) {
  return scatter_like("scatter_add", Primitive::scatter_add, x, indices, updates, axes);
}
Tensor scatter_max(const Tensor& x, const Tensor& indices, const Tensor& updates,
                   const std::vector<int>& axes) {
  return scatter_like("scatter_max", Primitive::scatter_max, x, indices, updates, axes);
}
Tensor scatter_min(const Tensor& x, const Tensor& indices, const Tensor& updates,
                   const std::vector<int>& axes) {
  return scatter_like("scatter_min", Primitive::scatter_min, x, indices, updates, axes);
}

}  // namespace emily
