// The op catalogue: free functions on tensors. Every op validates its arguments and
// raises an emily::Error whose message starts with "[op]". Semantics follow NumPy where
// NumPy has the op (broadcasting, negative axes, keep-dims); the exceptions are listed
// in docs/OPS.md (integer division by zero, shifts, index clamping, ...).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "emily/tensor.h"

namespace emily {

// ---- creation -----------------------------------------------------------------------
// Tensors made from nothing live on the current stream's device (current_stream().device,
// the CPU unless the program chose otherwise); the forms with a Device make them there
// (DeviceError when it is not available). The _like forms follow their argument, and
// full(shape, value) the value's device.
Tensor scalar_tensor(double value, DType dtype = DType::f32);
Tensor scalar_tensor(double value, DType dtype, Device device);
Tensor scalar_tensor(c64 value);
Tensor scalar_tensor(c64 value, Device device);
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::f32);
Tensor arange(double start, double stop, double step, DType dtype, Device device);
Tensor arange(std::int64_t stop, DType dtype = DType::s64);
Tensor arange(std::int64_t stop, DType dtype, Device device);
Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
Tensor full(const Shape& shape, double value, DType dtype, Device device);
Tensor full(const Shape& shape, const Tensor& value);  // value is 0-d
Tensor zeros(const Shape& shape, DType dtype = DType::f32);
Tensor zeros(const Shape& shape, DType dtype, Device device);
Tensor ones(const Shape& shape, DType dtype = DType::f32);
Tensor ones(const Shape& shape, DType dtype, Device device);
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
// n×m with ones on diagonal k (m < 0 means m = n).
Tensor eye(std::int64_t n, std::int64_t m = -1, std::int64_t k = 0, DType dtype = DType::f32);
Tensor eye(std::int64_t n, std::int64_t m, std::int64_t k, DType dtype, Device device);

// ---- unary --------------------------------------------------------------------------
// Transcendental ops on bool/integer inputs compute in f32 (as Nx does).
Tensor abs(const Tensor& x);
Tensor acos(const Tensor& x);
Tensor acosh(const Tensor& x);
Tensor asin(const Tensor& x);
Tensor asinh(const Tensor& x);
Tensor atan(const Tensor& x);
Tensor atanh(const Tensor& x);
Tensor bitwise_not(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor conjugate(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor cosh(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor erf_inv(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor floor(const Tensor& x);
Tensor imag(const Tensor& x);
Tensor is_infinity(const Tensor& x);
Tensor is_nan(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor logical_not(const Tensor& x);
Tensor negate(const Tensor& x);
Tensor real(const Tensor& x);
Tensor round(const Tensor& x);  // half to even, as NumPy
Tensor rsqrt(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor sinh(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor tan(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- binary (broadcasting; result dtype from promote()) -----------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor subtract(const Tensor& a, const Tensor& b);
Tensor multiply(const Tensor& a, const Tensor& b);
Tensor divide(const Tensor& a, const Tensor& b);  // true division; integers give f32
Tensor pow(const Tensor& a, const Tensor& b);
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, const Tensor& b);  // sign of the divisor, as NumPy
Tensor quotient(const Tensor& a, const Tensor& b);   // integers only, truncates toward 0
Tensor maximum(const Tensor& a, const Tensor& b);    // NaN propagates
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor left_shift(const Tensor& a, const Tensor& b);
Tensor right_shift(const Tensor& a, const Tensor& b);
Tensor equal(const Tensor& a, const Tensor& b);
Tensor not_equal(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greater_equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor less_equal(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);

// Arithmetic operators. A C++ scalar takes the tensor's dtype, so `x * 0.5` keeps a bf16
// tensor bf16; a fraction, inf or NaN with an integer or bool tensor gives f32, a whole
// number with a bool tensor gives s32, and a whole number outside an integer tensor's
// range raises ValueError (NumPy 2's rule).
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
// A 0-d tensor holding `value` in the dtype an op with `like` should see (see above).
Tensor scalar_like(const Tensor& like, double value);

// ---- selection and casts ------------------------------------------------------------
Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y);
Tensor clip(const Tensor& x, const std::optional<Tensor>& low, const std::optional<Tensor>& high);
Tensor clip(const Tensor& x, double low, double high);
// Converts values (float to integer truncates toward zero; out-of-range values and NaN
// saturate, NaN gives 0; see docs/OPS.md).
Tensor astype(const Tensor& x, DType dtype);
// Reinterprets the bytes as `dtype`. The last axis scales by the size ratio.
Tensor view(const Tensor& x, DType dtype);
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
               bool equal_nan = false);
Tensor allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8,
                bool equal_nan = false);  // 0-d bool

// ---- reductions ---------------------------------------------------------------------
// Sums of bool and signed integers are s64, of unsigned integers u64; f16/bf16
// accumulate in f32. max/min of an empty axis raise ShapeError.
Tensor sum(const Tensor& x, bool keepdims = false);
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor sum(const Tensor& x, int axis, bool keepdims = false);
Tensor product(const Tensor& x, bool keepdims = false);
Tensor product(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor product(const Tensor& x, int axis, bool keepdims = false);
Tensor max(const Tensor& x, bool keepdims = false);
Tensor max(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor max(const Tensor& x, int axis, bool keepdims = false);
Tensor min(const Tensor& x, bool keepdims = false);
Tensor min(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor min(const Tensor& x, int axis, bool keepdims = false);
Tensor all(const Tensor& x, bool keepdims = false);
Tensor all(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor all(const Tensor& x, int axis, bool keepdims = false);
Tensor any(const Tensor& x, bool keepdims = false);
Tensor any(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor any(const Tensor& x, int axis, bool keepdims = false);
// Index (s64) of the first max/min; NaN counts as the max and the min, as in NumPy.
Tensor argmax(const Tensor& x, bool keepdims = false);  // over the flattened tensor
Tensor argmax(const Tensor& x, int axis, bool keepdims = false);
Tensor argmin(const Tensor& x, bool keepdims = false);
Tensor argmin(const Tensor& x, int axis, bool keepdims = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor mean(const Tensor& x, int axis, bool keepdims = false);

// ---- shape --------------------------------------------------------------------------
Tensor reshape(const Tensor& x, Shape shape);  // one -1 is inferred
Tensor flatten(const Tensor& x);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, const std::vector<int>& axes);
Tensor expand_dims(const Tensor& x, const std::vector<int>& axes);
Tensor transpose(const Tensor& x);  // reverses the axes
Tensor transpose(const Tensor& x, const std::vector<int>& perm);
Tensor swapaxes(const Tensor& x, int a, int b);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor concatenate(const std::vector<Tensor>& xs, int axis = 0);
Tensor stack(const std::vector<Tensor>& xs, int axis = 0);
// NumPy basic slicing per axis: start/stop clamp to the axis, negative values count
// from the end, step may be negative (never 0). Omitted trailing axes are whole.
Tensor slice(const Tensor& x, const Shape& start, const Shape& stop, const Shape& step = {});
// x with the region slice(x, start, stop, step) replaced by `update` (broadcast to it).
Tensor slice_update(const Tensor& x, const Tensor& update, const Shape& start, const Shape& stop,
                    const Shape& step = {});
struct PadWidth {
  std::int64_t low = 0, high = 0, interior = 0;
};
// Nx-style padding: negative low/high crop; interior inserts between elements.
Tensor pad(const Tensor& x, const std::vector<PadWidth>& widths, double value = 0.0);
Tensor pad(const Tensor& x, const std::vector<PadWidth>& widths, const Tensor& value);
// A view with explicit shape, strides and offset (in elements, relative to x's buffer
// start); every reachable element must lie inside the buffer.
Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, std::int64_t offset);
// A contiguous copy (the tensor itself when already contiguous).
Tensor contiguous(const Tensor& x);

// ---- indexing -----------------------------------------------------------------------
// Indices are integer tensors. Negative indices count from the end; indices outside
// [-n, n) are clamped (or raise ValueError in a EMILY_DEBUG_BOUNDS_CHECK build).
Tensor take(const Tensor& x, const Tensor& indices, int axis);
Tensor take(const Tensor& x, const Tensor& indices);  // over the flattened tensor
Tensor take_along_axis(const Tensor& x, const Tensor& indices, int axis);

// XLA-style gather: `indices` has shape (..., axes.size()); each row holds the starts of
// one window on `axes` (other axes start at 0), and the result is
// indices.shape[:-1] + slice_sizes. Starts are clamped so the window fits (or raise in a
// EMILY_DEBUG_BOUNDS_CHECK build), as take's indices are.
Tensor gather(const Tensor& x, const Tensor& indices, const std::vector<int>& axes,
              const Shape& slice_sizes);
// The inverse direction: a copy of x with windows of `updates` written at the same
// starts. updates has shape indices.shape[:-1] + window, where the window has rank x.ndim
// or x.ndim - axes.size() (the indexed axes then have size 1). Rows apply in index order:
// with duplicate indices scatter keeps the last, the others combine all of them.
Tensor scatter(const Tensor& x, const Tensor& indices, const Tensor& updates,
               const std::vector<int>& axes);
Tensor scatter_add(const Tensor& x, const Tensor& indices, const Tensor& updates,
                   const std::vector<int>& axes);
Tensor scatter_max(const Tensor& x, const Tensor& indices, const Tensor& updates,
                   const std::vector<int>& axes);
Tensor scatter_min(const Tensor& x, const Tensor& indices, const Tensor& updates,
                   const std::vector<int>& axes);

// ---- scans --------------------------------------------------------------------------
// Running sum/product/max/min along `axis`; `reverse` runs from the end, an exclusive scan
// starts from the identity and leaves the element itself out. Dtypes as the reductions.
Tensor cumulative_sum(const Tensor& x, int axis = 0, bool reverse = false, bool inclusive = true);
Tensor cumulative_product(const Tensor& x, int axis = 0, bool reverse = false,
                          bool inclusive = true);
Tensor cumulative_max(const Tensor& x, int axis = 0, bool reverse = false, bool inclusive = true);
Tensor cumulative_min(const Tensor& x, int axis = 0, bool reverse = false, bool inclusive = true);

// ---- ordering -----------------------------------------------------------------------
// Stable; NaN counts as the largest value (last ascending, first descending).
Tensor sort(const Tensor& x, int axis = -1, bool descending = false);
Tensor argsort(const Tensor& x, int axis = -1, bool descending = false);  // s64
// The k largest values along `axis`, largest first (equal values in index order), and
// their s64 indices.
std::pair<Tensor, Tensor> top_k(const Tensor& x, std::int64_t k, int axis = -1);

// ---- contraction --------------------------------------------------------------------
// NumPy matmul: 1-d operands are promoted and squeezed back; batch axes broadcast.
// f16/bf16 accumulate in f32; integers wrap.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor tensordot(const Tensor& a, const Tensor& b, int axes = 2);
Tensor tensordot(const Tensor& a, const Tensor& b, const std::vector<int>& axes_a,
                 const std::vector<int>& axes_b);
// NumPy einsum subscripts ("ij,jk->ik", "...ij,...jk", "ii->i"); implicit output
// when "->" is absent.
Tensor einsum(const std::string& subscripts, const std::vector<Tensor>& operands);

// ---- convolution and windows ---------------------------------------------------------
// Per spatial axis options of conv_general; an empty vector means the default for every
// spatial axis (strides, dilations 1; padding 0). Negative padding crops.
struct ConvOptions {
  Shape strides, padding_low, padding_high, kernel_dilation, input_dilation;
  std::int64_t feature_groups = 1, batch_groups = 1;
};
// XLA's general convolution (cross-correlation: the kernel is not flipped) in Nx/PyTorch
// layout: input (N, C, spatial...), kernel (O, C / feature_groups, spatial...), output
// (N / batch_groups, O, out_spatial...), out = floor((padded dilated input - dilated
// kernel) / stride) + 1 per axis (0 when the kernel does not fit). feature_groups splits
// channels into groups (depthwise: groups = C); batch_groups splits the batch, output
// channel o using batch group o / (O / batch_groups). Floating dtypes only (promoted
// together; f16/bf16 accumulate in f32); integer, bool and complex raise DTypeError.
Tensor conv_general(const Tensor& input, const Tensor& kernel, const ConvOptions& options = {});

// Windowed reductions over every axis of x (`window` has one size per axis). Empty
// vectors mean strides 1 (as Nx's default, not the window size), padding 0, dilation 1.
// Padding holds the reduction's identity (0, 1, -inf or the lowest value, +inf or the
// highest), so it never wins. Sums and products keep x's dtype (integers wrap; f16/bf16
// accumulate in f32); max/min propagate NaN as emily::max does.
struct WindowOptions {
  Shape strides, padding_low, padding_high, dilation;
};
Tensor window_sum(const Tensor& x, const Shape& window, const WindowOptions& options = {});
Tensor window_product(const Tensor& x, const Shape& window, const WindowOptions& options = {});
Tensor window_max(const Tensor& x, const Shape& window, const WindowOptions& options = {});
Tensor window_min(const Tensor& x, const Shape& window, const WindowOptions& options = {});
// XLA's SelectAndScatter (Nx.window_scatter_max/min, the gradient of max pooling): a
// tensor of x's shape filled with init_value (0-d) to which, for every window position,
// the matching element of `source` (shaped as window_max's output) is added at the
// window's max (min) of x. Ties go to the first position in row-major window order; NaN
// counts as the max and the min; padding never wins (an all-padding window drops its
// value). The result dtype is promote(source, init_value).
Tensor window_scatter_max(const Tensor& x, const Tensor& source, const Tensor& init_value,
                          const Shape& window, const WindowOptions& options = {});
Tensor window_scatter_min(const Tensor& x, const Tensor& source, const Tensor& init_value,
                          const Shape& window, const WindowOptions& options = {});

// ---- composites used by transformers --------------------------------------------------
Tensor softmax(const Tensor& x, int axis = -1);
Tensor softmax(const Tensor& x, const std::vector<int>& axes);
Tensor log_softmax(const Tensor& x, int axis = -1);
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims = false);
Tensor logsumexp(const Tensor& x, int axis, bool keepdims = false);
Tensor gelu(const Tensor& x);       // x/2 (1 + erf(x/√2))
Tensor gelu_tanh(const Tensor& x);  // the tanh approximation
Tensor silu(const Tensor& x);       // x sigmoid(x)

}  // namespace emily
