// conv_general: XLA's ConvGeneralDilated in Nx/PyTorch layout. The op layer checks the
// geometry, promotes both operands to one floating dtype, makes the per-axis options
// explicit (one entry per spatial axis) and hands the kernel a contiguous kernel tensor.
//
// Batch groups follow XLA (checked against jax.lax.conv_general_dilated): the input batch
// is N = batch_groups x N' with the group index major, and output channel o reads batch
// group o / (O / batch_groups).
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::require_defined;

constexpr const char* kOp = "conv_general";

// `v` with one entry per spatial axis: `fill` everywhere when empty.
Shape per_axis(const char* what, const Shape& v, std::size_t n, std::int64_t fill) {
  if (v.empty()) return Shape(n, fill);
  if (v.size() != n) {
    EMILY_THROW(ShapeError, kOp, what, " has ", v.size(), " entries, the input has ", n,
                " spatial axes");
  }
  return v;
}

void require_positive(const char* what, const Shape& v) {
  for (std::int64_t s : v) {
    if (s < 1) EMILY_THROW(ValueError, kOp, what, " must be positive, got ", to_string(v));
  }
}

}  // namespace

Tensor conv_general(const Tensor& input, const Tensor& kernel, const ConvOptions& options) {
  require_defined(kOp, input);
  require_defined(kOp, kernel);
  if (input.ndim() < 3) {
    EMILY_THROW(ShapeError, kOp, "the input must be (N, C, spatial...) with at least one spatial ",
                "axis, got shape ", to_string(input.shape()));
  }
  if (kernel.ndim() != input.ndim()) {
    EMILY_THROW(ShapeError, kOp, "the kernel has rank ", kernel.ndim(), ", the input has rank ",
                input.ndim());
  }
  const DType dtype = promote(input.dtype(), kernel.dtype());
  if (!is_floating(dtype)) {
    EMILY_THROW(DTypeError, kOp, "needs floating operands, got ", name(input.dtype()), " and ",
                name(kernel.dtype()), " (convert integers with astype first)");
  }

  const std::size_t ns = static_cast<std::size_t>(input.ndim() - 2);
  ConvAttr a;
  a.strides = per_axis("strides", options.strides, ns, 1);
  a.padding_low = per_axis("padding_low", options.padding_low, ns, 0);
  a.padding_high = per_axis("padding_high", options.padding_high, ns, 0);
  a.kernel_dilation = per_axis("kernel_dilation", options.kernel_dilation, ns, 1);
  a.input_dilation = per_axis("input_dilation", options.input_dilation, ns, 1);
  a.feature_groups = options.feature_groups;
  a.batch_groups = options.batch_groups;
  require_positive("strides", a.strides);
  require_positive("kernel_dilation", a.kernel_dilation);
  require_positive("input_dilation", a.input_dilation);
  if (a.feature_groups < 1 || a.batch_groups < 1) {
    EMILY_THROW(ValueError, kOp, "feature_groups and batch_groups must be positive, got ",
                a.feature_groups, " and ", a.batch_groups);
  }
  if (a.feature_groups > 1 && a.batch_groups > 1) {
    EMILY_THROW(ValueError, kOp, "feature_groups and batch_groups cannot both exceed 1");
  }

  const std::int64_t N = input.shape(0), C = input.shape(1), O = kernel.shape(0),
                     Ck = kernel.shape(1);
  if (C % a.feature_groups != 0) {
    EMILY_THROW(ShapeError, kOp, "feature_groups ", a.feature_groups,
                " does not divide the input channels ", C);
  }
  if (Ck * a.feature_groups != C) {
    EMILY_THROW(ShapeError, kOp, "the kernel has ", Ck, " input channels, expected ",
                C / a.feature_groups, " (input channels ", C, " / feature_groups ",
                a.feature_groups, ")");
  }
  const std::int64_t groups = a.feature_groups * a.batch_groups;  // one of them is 1
  if (O % groups != 0) {
    EMILY_THROW(ShapeError, kOp, "the kernel's ", O, " output channels are not divisible by ",
                a.feature_groups > 1 ? "feature_groups " : "batch_groups ", groups);
  }
  if (N % a.batch_groups != 0) {
    EMILY_THROW(ShapeError, kOp, "batch_groups ", a.batch_groups, " does not divide the batch ", N);
  }

  Shape out = {N / a.batch_groups, O};
  for (std::size_t d = 0; d < ns; ++d) {
    const std::int64_t in = input.shape()[d + 2], k = kernel.shape()[d + 2];
    const std::int64_t dilated_in = in == 0 ? 0 : (in - 1) * a.input_dilation[d] + 1;
    const std::int64_t padded = dilated_in + a.padding_low[d] + a.padding_high[d];
    if (padded < 0) {
      EMILY_THROW(ShapeError, kOp, "padding (", a.padding_low[d], ", ", a.padding_high[d],
                  ") crops spatial axis ", d, " of size ", dilated_in, " below 0");
    }
    if (k == 0) EMILY_THROW(ShapeError, kOp, "the kernel's spatial axis ", d, " has size 0");
    const std::int64_t dilated_k = (k - 1) * a.kernel_dilation[d] + 1;
    out.push_back(padded < dilated_k ? 0 : (padded - dilated_k) / a.strides[d] + 1);
  }

  // The kernel reads weights as one (O, C/g * prod(kernel spatial)) row-major matrix.
  return detail::dispatch(Primitive::conv_general,
                          {astype(input, dtype), contiguous(astype(kernel, dtype))}, out, dtype, a);
}

}  // namespace emily
