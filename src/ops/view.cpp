// Shape ops that are views: metadata only, no kernel, on every backend.
#include <algorithm>
#include <numeric>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {
using detail::require_defined;
}  // namespace

Tensor contiguous(const Tensor& x) {
  require_defined("contiguous", x);
  if (x.is_contiguous()) return x;
  return detail::dispatch(Primitive::copy, {x}, x.shape(), x.dtype());
}

Tensor reshape(const Tensor& x, Shape shape) {
  require_defined("reshape", x);
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) EMILY_THROW(ShapeError, "reshape", "more than one -1 in ", to_string(shape));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      EMILY_THROW(ShapeError, "reshape", "negative dimension in ", to_string(shape));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.size() % known != 0) {
      EMILY_THROW(ShapeError, "reshape", "cannot reshape ", to_string(x.shape()), " into ",
                  to_string(shape));
    }
    shape[infer] = x.size() / known;
  }
  if (numel(shape) != x.size()) {
    EMILY_THROW(ShapeError, "reshape", "cannot reshape ", to_string(x.shape()), " (", x.size(),
                " elements) into ", to_string(shape));
  }
  // A view when x is dense; otherwise copy first (the copy is dense).
  Tensor base = contiguous(x);
  return base.with_layout(base.dtype(), shape, row_major_strides(shape), base.offset());
}

Tensor flatten(const Tensor& x) {
  return reshape(x, {-1});
}

Tensor squeeze(const Tensor& x) {
  require_defined("squeeze", x);
  std::vector<int> axes;
  for (int i = 0; i < x.ndim(); ++i)
    if (x.shape()[i] == 1) axes.push_back(i);
  return squeeze(x, axes);
}

Tensor squeeze(const Tensor& x, const std::vector<int>& axes) {
  require_defined("squeeze", x);
  auto ax = normalize_axes("squeeze", axes, x.ndim());
  Shape shape;
  Strides strides;
  for (int i = 0; i < x.ndim(); ++i) {
    if (std::find(ax.begin(), ax.end(), i) != ax.end()) {
      if (x.shape()[i] != 1) {
        EMILY_THROW(ShapeError, "squeeze", "axis ", i, " has size ", x.shape()[i], ", not 1");
      }
      continue;
    }
    shape.push_back(x.shape()[i]);
    strides.push_back(x.strides()[i]);
  }
  return x.with_layout(x.dtype(), shape, strides, x.offset());
}

Tensor expand_dims(const Tensor& x, const std::vector<int>& axes) {
  require_defined("expand_dims", x);
  int rank = x.ndim() + static_cast<int>(axes.size());
  auto ax = normalize_axes("expand_dims", axes, rank);
  Shape shape;
  Strides strides;
  int src = 0;
  for (int i = 0; i < rank; ++i) {
    if (std::find(ax.begin(), ax.end(), i) != ax.end()) {
      shape.push_back(1);
      strides.push_back(0);
    } else {
      shape.push_back(x.shape()[src]);
      strides.push_back(x.strides()[src]);
      ++src;
    }
  }
  return x.with_layout(x.dtype(), shape, strides, x.offset());
}

Tensor transpose(const Tensor& x) {
  require_defined("transpose", x);
  std::vector<int> perm(static_cast<std::size_t>(x.ndim()));
  std::iota(perm.rbegin(), perm.rend(), 0);
  return transpose(x, perm);
}

Tensor transpose(const Tensor& x, const std::vector<int>& perm) {
  require_defined("transpose", x);
  if (static_cast<int>(perm.size()) != x.ndim()) {
    EMILY_THROW(ShapeError, "transpose", "permutation has ", perm.size(), " axes, tensor has ",
                x.ndim());
  }
  auto p = normalize_axes("transpose", perm, x.ndim());
  Shape shape(p.size());
  Strides strides(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    shape[i] = x.shape()[p[i]];
    strides[i] = x.strides()[p[i]];
  }
  return x.with_layout(x.dtype(), shape, strides, x.offset());
}

Tensor swapaxes(const Tensor& x, int a, int b) {
  require_defined("swapaxes", x);
  a = normalize_axis("swapaxes", a, x.ndim());
  b = normalize_axis("swapaxes", b, x.ndim());
  std::vector<int> perm(static_cast<std::size_t>(x.ndim()));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[a], perm[b]);
  return transpose(x, perm);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  require_defined("broadcast_to", x);
  if (shape.size() < x.shape().size()) {
    EMILY_THROW(ShapeError, "broadcast_to", "cannot broadcast ", to_string(x.shape()), " to ",
                to_string(shape), " (fewer axes)");
  }
  std::size_t lead = shape.size() - x.shape().size();
  Strides strides(shape.size(), 0);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      EMILY_THROW(ShapeError, "broadcast_to", "negative dimension in ", to_string(shape));
    if (i < lead) continue;
    std::int64_t d = x.shape()[i - lead];
    if (d == shape[i]) {
      strides[i] = x.strides()[i - lead];
    } else if (d != 1) {
      EMILY_THROW(ShapeError, "broadcast_to", "cannot broadcast ", to_string(x.shape()), " to ",
                  to_string(shape));
    }
  }
  return x.with_layout(x.dtype(), shape, strides, x.offset());
}

namespace {
// Resolves NumPy slice bounds for one axis; returns the element count.
std::int64_t resolve_slice(std::int64_t n, std::int64_t& start, std::int64_t stop,
                           std::int64_t step) {
  auto clamp = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
    if (v < 0) v += n;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    start = clamp(start, 0, n);
    stop = clamp(stop, 0, n);
    return stop > start ? (stop - start + step - 1) / step : 0;
  }
  start = clamp(start, -1, n - 1);
  stop = clamp(stop, -1, n - 1);
  return start > stop ? (start - stop - step - 1) / -step : 0;
}
}  // namespace

namespace detail {
// Shared by slice and slice_update: the per-axis start, step and count of a slice.
void slice_geometry(const char* op, const Tensor& x, const Shape& start, const Shape& stop,
                    const Shape& step, Shape& starts, Shape& steps, Shape& counts) {
  int nd = x.ndim();
  if (static_cast<int>(start.size()) > nd || static_cast<int>(stop.size()) > nd ||
      static_cast<int>(step.size()) > nd) {
    EMILY_THROW(ShapeError, op, "slice has more axes than the tensor's ", nd);
  }
  if (start.size() != stop.size()) {
    EMILY_THROW(ShapeError, op, "start has ", start.size(), " axes, stop has ", stop.size());
  }
  starts.assign(nd, 0);
  steps.assign(nd, 1);
  counts = x.shape();
  for (int i = 0; i < nd; ++i) {
    std::int64_t n = x.shape()[i];
    std::int64_t st = i < static_cast<int>(step.size()) ? step[i] : 1;
    if (st == 0) EMILY_THROW(ValueError, op, "step of axis ", i, " is zero");
    std::int64_t s = i < static_cast<int>(start.size()) ? start[i] : (st > 0 ? 0 : n - 1);
    std::int64_t e = i < static_cast<int>(stop.size()) ? stop[i] : (st > 0 ? n : -n - 1);
    counts[i] = resolve_slice(n, s, e, st);
    starts[i] = s;
    steps[i] = st;
  }
}
}  // namespace detail

Tensor slice(const Tensor& x, const Shape& start, const Shape& stop, const Shape& step) {
  require_defined("slice", x);
  Shape starts, steps, counts;
  detail::slice_geometry("slice", x, start, stop, step, starts, steps, counts);
  std::int64_t offset = x.offset();
  Strides strides(x.ndim());
  for (int i = 0; i < x.ndim(); ++i) {
    if (counts[i] > 0) offset += starts[i] * x.strides()[i];
    strides[i] = x.strides()[i] * steps[i];
  }
  return x.with_layout(x.dtype(), counts, strides, offset);
}

Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides,
                  std::int64_t offset) {
  require_defined("as_strided", x);
  if (shape.size() != strides.size()) {
    EMILY_THROW(ShapeError, "as_strided", "shape has ", shape.size(), " axes, strides ",
                strides.size());
  }
  std::int64_t lo = offset, hi = offset;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      EMILY_THROW(ShapeError, "as_strided", "negative dimension in ", to_string(shape));
    if (shape[i] == 0) {
      lo = hi = 0;
      break;
    }
    // Checked arithmetic: a wrapped reach could land back inside the buffer.
    std::int64_t span = 0;
    if (__builtin_mul_overflow(shape[i] - 1, strides[i], &span) ||
        __builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi)) {
      EMILY_THROW(ValueError, "as_strided", "shape ", to_string(shape),
                  " with these strides reaches past the int64 range");
    }
  }
  std::int64_t capacity = static_cast<std::int64_t>(x.buffer()->bytes() / x.itemsize());
  if (numel(shape) > 0 && (lo < 0 || hi >= capacity)) {
    EMILY_THROW(ValueError, "as_strided", "view reaches elements [", lo, ", ", hi,
                "] outside the buffer of ", capacity, " elements");
  }
  return x.with_layout(x.dtype(), shape, strides, offset);
}

Tensor view(const Tensor& x, DType dtype) {
  require_defined("view", x);
  // A bool must hold 0 or 1; other bytes read as bool are undefined behaviour in the
  // kernels, and checking them would need the values. Make bools with not_equal/astype.
  if (dtype == DType::bool_ && x.dtype() != DType::bool_) {
    EMILY_THROW(DTypeError, "view", "cannot view ", name(x.dtype()),
                " bytes as bool; use astype or not_equal");
  }
  std::size_t from = x.itemsize(), to = size_of(dtype);
  if (from == to) {
    return x.with_layout(dtype, x.shape(), x.strides(), x.offset());
  }
  if (x.ndim() == 0) {
    EMILY_THROW(ShapeError, "view", "cannot view a 0-d ", name(x.dtype()), " as ", name(dtype));
  }
  Tensor c = contiguous(x);
  Shape shape = c.shape();
  std::int64_t bytes_last = shape.back() * static_cast<std::int64_t>(from);
  if (bytes_last % static_cast<std::int64_t>(to) != 0 ||
      (c.offset() * static_cast<std::int64_t>(from)) % static_cast<std::int64_t>(to) != 0) {
    EMILY_THROW(ShapeError, "view", "last axis of ", bytes_last, " bytes does not divide into ",
                name(dtype), " elements");
  }
  shape.back() = bytes_last / static_cast<std::int64_t>(to);
  std::int64_t offset =
      c.offset() * static_cast<std::int64_t>(from) / static_cast<std::int64_t>(to);
  return c.with_layout(dtype, shape, row_major_strides(shape), offset);
}

}  // namespace emily
