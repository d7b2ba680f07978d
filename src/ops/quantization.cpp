// Reference dequantization, written with catalogue ops only: it runs on any backend and
// traces under compile like any composite. The quantization issue's fused kernels are to
// be checked against it.
#include "emily/quantization.h"

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

constexpr const char* kOp = "dequantize";

bool supported_bits(int bits) {
  return bits == 2 || bits == 4 || bits == 8;
}

bool supported_group(int group_size) {
  return group_size == 32 || group_size == 64 || group_size == 128;
}

// The logical number of columns, after checking everything dequantize relies on.
std::int64_t checked_columns(const Tensor& packed, const Tensor& scales, const Tensor& biases,
                             int group_size, int bits) {
  detail::require_defined(kOp, packed);
  detail::require_defined(kOp, scales);
  detail::require_defined(kOp, biases);
  if (bits == 3 || bits == 6)
    EMILY_THROW(Unsupported, kOp, bits, "-bit codes straddle words and are not supported yet");
  if (!supported_bits(bits)) EMILY_THROW(ValueError, kOp, "bits must be 2, 4 or 8, got ", bits);
  if (!supported_group(group_size))
    EMILY_THROW(ValueError, kOp, "group_size must be 32, 64 or 128, got ", group_size);
  if (packed.dtype() != DType::u32)
    EMILY_THROW(DTypeError, kOp, "packed codes must be u32, got ", name(packed.dtype()));
  if (!is_floating(scales.dtype()))
    EMILY_THROW(DTypeError, kOp, "scales must be floating, got ", name(scales.dtype()));
  if (biases.dtype() != scales.dtype())
    EMILY_THROW(DTypeError, kOp, "biases are ", name(biases.dtype()), " but scales are ",
                name(scales.dtype()));
  if (biases.shape() != scales.shape())
    EMILY_THROW(ShapeError, kOp, "biases ", to_string(biases.shape()), " and scales ",
                to_string(scales.shape()), " differ");
  if (packed.ndim() < 1 || scales.ndim() != packed.ndim())
    EMILY_THROW(ShapeError, kOp, "packed ", to_string(packed.shape()), " and scales ",
                to_string(scales.shape()), " must have the same rank, at least 1");
  for (int axis = 0; axis + 1 < packed.ndim(); ++axis) {
    if (packed.shape(axis) != scales.shape(axis))
      EMILY_THROW(ShapeError, kOp, "packed ", to_string(packed.shape()), " and scales ",
                  to_string(scales.shape()), " differ before the last axis");
  }
  std::int64_t cols = packed.shape(-1) * (32 / bits);
  if (cols != scales.shape(-1) * group_size)
    EMILY_THROW(ShapeError, kOp, "rows of ", cols, " ", bits, "-bit codes need ", cols / group_size,
                " groups of ", group_size, ", scales have ", scales.shape(-1));
  return cols;
}

}  // namespace

Shape QuantizedTensor::shape() const {
  Shape s = packed.shape();
  if (!s.empty() && supported_bits(bits)) s.back() *= 32 / bits;
  return s;
}

Tensor dequantize(const Tensor& packed, const Tensor& scales, const Tensor& biases, int group_size,
                  int bits) {
  std::int64_t cols = checked_columns(packed, scales, biases, group_size, bits);
  Shape out_shape = packed.shape();
  out_shape.back() = cols;
  Shape grouped = scales.shape();
  grouped.push_back(group_size);

  // Each word becomes a row of its codes: word >> [0, bits, 2 bits, ...] & mask.
  Tensor shifts = arange(0, 32, bits, DType::u32);
  Tensor mask = scalar_tensor(static_cast<double>((1u << bits) - 1), DType::u32);
  Tensor codes = bitwise_and(right_shift(expand_dims(packed, {-1}), shifts), mask);
  Tensor q = reshape(astype(codes, scales.dtype()), grouped);
  Tensor w = multiply(q, expand_dims(scales, {-1})) + expand_dims(biases, {-1});
  return reshape(w, out_shape);
}

Tensor dequantize(const QuantizedTensor& w) {
  return dequantize(w.packed, w.scales, w.biases, w.group_size, w.bits);
}

Tensor quantized_matmul(const Tensor& x, const QuantizedTensor& w, bool transpose) {
  Tensor dense = astype(dequantize(w), x.dtype());
  return matmul(x, transpose ? swapaxes(dense, -1, -2) : dense);
}

}  // namespace emily
