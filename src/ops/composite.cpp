// Transformer composites, built only from public ops (no kernels of their own).
// Integer and bool inputs compute in f32; f16/bf16 inputs compute in f32 and round once
// at the end, so a bf16 softmax is the f32 softmax rounded (not a chain of bf16
// roundings). Complex inputs raise DTypeError.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

// The dtype the result has and the one the arithmetic runs in.
struct Types {
  DType result, compute;
};

Types types(const char* op, const Tensor& x) {
  detail::require_defined(op, x);
  if (is_complex(x.dtype())) EMILY_THROW(DTypeError, op, "complex inputs are not supported");
  DType result = to_inexact(x.dtype());
  DType compute = (result == DType::f16 || result == DType::bf16) ? DType::f32 : result;
  return {result, compute};
}

Shape reduced_shape(const Shape& shape, const std::vector<int>& axes) {
  Shape out;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) out.push_back(shape[i]);
  return out;
}

Tensor softmax_impl(const char* op, const Tensor& x, const std::vector<int>& axes, bool log) {
  Types t = types(op, x);
  std::vector<int> ax = normalize_axes(op, axes, x.ndim());
  Tensor xf = astype(x, t.compute);
  if (x.size() == 0) return astype(xf, t.result);  // nothing to normalize
  // Subtracting the max keeps exp finite for large logits; a row that is all -inf gives
  // NaN (0/0), as NumPy and JAX do.
  Tensor shifted = xf - max(xf, ax, true);
  Tensor y = log ? shifted - emily::log(sum(exp(shifted), ax, true)) : [&] {
    Tensor e = exp(shifted);
    return e / sum(e, ax, true);
  }();
  return astype(y, t.result);
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) {
  return softmax(x, std::vector<int>{axis});
}

Tensor softmax(const Tensor& x, const std::vector<int>& axes) {
  return softmax_impl("softmax", x, axes, false);
}

Tensor log_softmax(const Tensor& x, int axis) {
  return softmax_impl("log_softmax", x, {axis}, true);
}

// log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the max, replaced by 0 where it
// is not finite (as SciPy), so an all -inf slice gives -inf, +inf gives +inf, and an
// empty slice gives log(0) = -inf.
Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Types t = types("logsumexp", x);
  std::vector<int> ax = normalize_axes("logsumexp", axes, x.ndim());
  Tensor xf = astype(x, t.compute);
  Tensor y;
  bool empty = false;
  for (int a : ax) empty = empty || x.shape()[a] == 0;
  if (empty) {
    Shape kept = x.shape();
    for (int a : ax) kept[a] = 1;
    y = full(kept, -INFINITY, t.compute, x.device());
  } else {
    Tensor m = max(xf, ax, true);
    m = where(logical_or(is_infinity(m), is_nan(m)), zeros_like(m), m);
    y = emily::log(sum(exp(xf - m), ax, true)) + m;
  }
  if (!keepdims) y = reshape(y, reduced_shape(x.shape(), ax));
  return astype(y, t.result);
}

Tensor logsumexp(const Tensor& x, int axis, bool keepdims) {
  return logsumexp(x, std::vector<int>{axis}, keepdims);
}

Tensor gelu(const Tensor& x) {
  Types t = types("gelu", x);
  Tensor xf = astype(x, t.compute);
  return astype(xf * 0.5 * (1.0 + erf(xf * (std::numbers::sqrt2 / 2))), t.result);
}

Tensor gelu_tanh(const Tensor& x) {
  Types t = types("gelu_tanh", x);
  Tensor xf = astype(x, t.compute);
  const double k = std::sqrt(2.0 / std::numbers::pi);
  Tensor inner = (xf + xf * xf * xf * 0.044715) * k;
  return astype(xf * 0.5 * (1.0 + tanh(inner)), t.result);
}

Tensor silu(const Tensor& x) {
  Types t = types("silu", x);
  Tensor xf = astype(x, t.compute);
  return astype(xf * sigmoid(xf), t.result);
}

}  // namespace emily
