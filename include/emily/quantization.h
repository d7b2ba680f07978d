// Affine group-wise quantization: the representation of quantized weights and its
// reference dequantization.
//
// A row of `cols` weights is cut into groups of `group_size` consecutive elements along
// the last axis; each group g has a scale s_g and a bias b_g, and an element with the
// unsigned `bits`-bit code q reads w = s_g * q + b_g. The layout is MLX's:
//   packed  u32, shape [..., cols * bits / 32]: 32 / bits codes per word, the first
//           element of the row in the lowest bits;
//   scales  shape [..., cols / group_size], a floating dtype;
//   biases  the same shape and dtype as scales.
// So element j of a row with bits = 4 sits in word j / 8 at bit 4 * (j % 8).
//
// GGUF's Q4_0, Q4_1 and Q8_0 map onto this exactly (include/emily/gguf.h says how).
#pragma once

#include "emily/tensor.h"

namespace emily {

struct QuantizedTensor {
  Tensor packed;
  Tensor scales;
  Tensor biases;
  int bits = 4;
  int group_size = 64;

  // The shape of the weights it stands for: packed's, with the last axis unpacked.
  Shape shape() const;
};

// w = scales * q + biases per group, in the dtype of the scales. The product is rounded
// before the bias is added (no fused multiply-add), so results do not depend on the
// backend; for GGUF's formats both steps are exact (see gguf.h).
// Bits 2, 4 and 8 (codes that do not straddle words); group sizes 32, 64 and 128.
Tensor dequantize(const QuantizedTensor& w);
Tensor dequantize(const Tensor& packed, const Tensor& scales, const Tensor& biases, int group_size,
                  int bits);

// x @ W^T (transpose, the Linear layout: w holds {N, K}) or x @ W (w holds {K, N}) for
// x {..., K}; the result has x's dtype. Today dequantize + matmul; to become a
// primitive with packed kernels.
Tensor quantized_matmul(const Tensor& x, const QuantizedTensor& w, bool transpose = true);

}  // namespace emily
