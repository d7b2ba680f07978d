// Affine group-wise quantization: the representation of quantized weights, quantizing,
// dequantizing, and products with quantized weights.
//
// A row of `cols` weights is cut into groups of `group_size` consecutive elements along
// the last axis; each group g has a scale s_g and a bias b_g, and an element with the
// unsigned `bits`-bit code q reads w = s_g * q + b_g. The layout (MLX's, generalised to
// codes that straddle words):
//   packed  u32, shape [..., cols * bits / 32]: each row is a little-endian bit stream,
//           element j occupying bits [bits * j, bits * (j + 1)) of the row's words,
//           low bits first (bit i of the stream is bit i % 32 of word i / 32);
//   scales  shape [..., cols / group_size], a floating dtype;
//   biases  the same shape and dtype as scales.
// For 2, 4 and 8 bits no code straddles a word: element j sits in word j / (32 / bits)
// at bit bits * (j % (32 / bits)). 3- and 6-bit codes may straddle two words. Since a
// group holds a multiple of 32 elements, every group starts on a word boundary (32
// elements take exactly `bits` words), which is what the kernels rely on.
//
// bits is 2, 3, 4, 6 or 8; group_size 32, 64 or 128; cols must be a multiple of
// group_size (hence cols * bits is a multiple of 32).
//
// GGUF's Q4_0, Q4_1 and Q8_0 map onto this exactly (include/emily/gguf.h says how);
// docs/QUANTIZATION.md describes the kernels.
#pragma once

#include "emily/decompose.h"
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

// Quantizes w {..., cols} (f32, f16 or bf16; cols a multiple of group_size) per group of
// its last axis: bias = min, scale = (max - min) / (2^bits - 1), both computed in f32 and
// rounded to w's dtype (the dtype of scales and biases), then
// code = clamp(round_half_even((w - bias) / scale), 0, 2^bits - 1) with the rounded
// scale and bias. A group whose elements are all equal gets scale 0 and codes 0, so it
// dequantizes to its value exactly. Hence |dequantize(quantize(w)) - w| <= scale / 2 per
// element, up to the rounding of scale, bias and the dequantized value to w's dtype.
// Non-finite weights give non-finite scales (garbage in, garbage out, but no crash).
// Written with catalogue ops: runs on any device and traces under compile.
QuantizedTensor quantize(const Tensor& w, int group_size = 64, int bits = 4);

// w = scales * q + biases per group, in the dtype of the scales. The product is rounded
// before the bias is added (no fused multiply-add), so results do not depend on the
// backend; for GGUF's formats both steps are exact (see gguf.h). A primitive (family
// quant) whose kernels are bit-identical to its decomposition into catalogue ops.
Tensor dequantize(const QuantizedTensor& w);
Tensor dequantize(const Tensor& packed, const Tensor& scales, const Tensor& biases, int group_size,
                  int bits);

// x @ W^T (transpose, the Linear layout: w holds {N, K}) or x @ W (w holds {K, N}) for
// x {..., K} (f32, f16 or bf16); the result has x's dtype. Defined as
// matmul(x, astype(dequantize(w), x.dtype()) [transposed]), which is its decomposition
// and oracle. The kernels read the packed codes directly, take s * q + b in f32 without
// rounding it to the scales' or x's dtype (the decomposition rounds it to both; the CUDA
// tensor-core kernel for M > 8 rounds it once to x's dtype, its operands being 16-bit)
// and accumulate in f32, so they agree with it to those roundings, not bitwise. A weight
// with batch axes (packed of rank > 2) always runs the decomposition (matmul's batch
// broadcasting).
Tensor quantized_matmul(const Tensor& x, const QuantizedTensor& w, bool transpose = true);

namespace quant {

// While alive, dequantize and quantized_matmul run their decompositions on this thread
// even where a kernel exists (emily/decompose.h): the tests' oracle. The one guard of
// decompose.h, with the family fixed.
class DecomposeGuard : public emily::DecomposeGuard {
 public:
  DecomposeGuard() : emily::DecomposeGuard(Family::quant) {}
};

}  // namespace quant

}  // namespace emily
