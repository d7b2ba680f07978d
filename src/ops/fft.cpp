// fft, ifft, fft2, ifft2, rfft, irfft (include/emily/fft.h). The op layer fixes every
// length before a kernel runs: it crops the input (a view) or zero-pads it to the
// transform length, converts it to the dtype the primitive takes (c64, or f32 for rfft)
// and passes the transform axes non-negative; the output shape then carries the lengths.
// Cropping comes before the conversion and padding after it, so neither converts
// elements that the transform would not read.
#include <algorithm>

#include "emily/fft.h"
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::dispatch;
using detail::require_defined;

void check_input(const char* op, const Tensor& x) {
  require_defined(op, x);
  if (x.ndim() == 0)
    EMILY_THROW(ShapeError, op, "input must have at least one axis, got a 0-d tensor");
}

// The transform length: `n`, or `fallback` (derived from an axis of length `axis_len`)
// when n is -1, NumPy's n=None.
std::int64_t length(const char* op, std::int64_t n, std::int64_t fallback, std::int64_t axis_len) {
  if (n == -1) {
    if (fallback <= 0) {
      EMILY_THROW(ValueError, op, "invalid number of data points ", fallback,
                  " (the default for an axis of length ", axis_len, ")");
    }
    return fallback;
  }
  if (n <= 0) {
    EMILY_THROW(ValueError, op, "invalid number of data points ", n,
                " (n must be positive, or -1 for the default)");
  }
  return n;
}

// x cropped or zero-padded to `lengths` along `axes`, in `dtype`.
Tensor fit(const Tensor& x, const std::vector<int>& axes, const Shape& lengths, DType dtype) {
  Shape start(x.ndim(), 0), stop = x.shape();
  std::vector<PadWidth> widths(x.ndim());
  bool crop = false, grow = false;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const std::int64_t have = x.shape()[axes[i]], want = lengths[i];
    if (want < have) {
      stop[axes[i]] = want;
      crop = true;
    } else if (want > have) {
      widths[axes[i]].high = want - have;
      grow = true;
    }
  }
  Tensor y = crop ? slice(x, start, stop) : x;
  y = astype(y, dtype);
  return grow ? pad(y, widths, 0.0) : y;
}

// fft/ifft over `axes` with lengths `s` (empty: the axes' own lengths).
Tensor c2c(const char* op, Primitive p, const Tensor& x, const Shape& s,
           const std::vector<int>& axes_in) {
  check_input(op, x);
  std::vector<int> axes = normalize_axes(op, axes_in, x.ndim());  // repeats raise ShapeError
  if (!s.empty() && s.size() != axes.size()) {
    EMILY_THROW(ShapeError, op, "got ", s.size(), " lengths for ", axes.size(), " axes");
  }
  if (axes.empty()) return astype(x, DType::c64);  // NumPy returns the input untouched
  Shape lengths;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const std::int64_t len = x.shape()[axes[i]];
    lengths.push_back(length(op, s.empty() ? -1 : s[i], len, len));
  }
  Tensor y = fit(x, axes, lengths, DType::c64);
  return dispatch(p, {y}, y.shape(), DType::c64, FftAttr{axes});
}

}  // namespace

Tensor fft(const Tensor& x, std::int64_t n, int axis) {
  return c2c("fft", Primitive::fft, x, {n}, {axis});
}

Tensor ifft(const Tensor& x, std::int64_t n, int axis) {
  return c2c("ifft", Primitive::ifft, x, {n}, {axis});
}

Tensor fft2(const Tensor& x, const Shape& s, const std::vector<int>& axes) {
  return c2c("fft2", Primitive::fft, x, s, axes);
}

Tensor ifft2(const Tensor& x, const Shape& s, const std::vector<int>& axes) {
  return c2c("ifft2", Primitive::ifft, x, s, axes);
}

Tensor rfft(const Tensor& x, std::int64_t n, int axis) {
  check_input("rfft", x);
  if (is_complex(x.dtype())) {
    EMILY_THROW(DTypeError, "rfft", "input must be real, got ", name(x.dtype()),
                " (use fft for complex signals)");
  }
  axis = normalize_axis("rfft", axis, x.ndim());
  n = length("rfft", n, x.shape()[axis], x.shape()[axis]);
  Tensor y = fit(x, {axis}, {n}, DType::f32);
  Shape shape = y.shape();
  shape[axis] = n / 2 + 1;
  return dispatch(Primitive::rfft, {y}, shape, DType::c64, FftAttr{{axis}});
}

Tensor irfft(const Tensor& x, std::int64_t n, int axis) {
  check_input("irfft", x);
  axis = normalize_axis("irfft", axis, x.ndim());
  n = length("irfft", n, 2 * (x.shape()[axis] - 1), x.shape()[axis]);
  Tensor y = fit(x, {axis}, {n / 2 + 1}, DType::c64);
  Shape shape = y.shape();
  shape[axis] = n;
  return dispatch(Primitive::irfft, {y}, shape, DType::f32, FftAttr{{axis}});
}

}  // namespace emily
