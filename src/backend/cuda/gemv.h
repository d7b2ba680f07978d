// The M = 1 path of matmul (gemv.cu).
#pragma once

#include <span>

#include "emily/primitive.h"
#include "emily/stream.h"
#include "emily/tensor.h"

namespace emily::cuda {

// c (.., 1, N) = a (.., 1, K) . b (.., K, N) with one batch, for f32/f16/bf16 when b's
// layout and alignment suit 16-byte loads; false (nothing launched) otherwise.
bool gemv(const Tensor& a, const Tensor& b, Tensor& c, Stream s);

// fast_linear_swiglu for one row of x: the stacked gate/up GEMV with swiglu as its
// epilogue, bit for bit the GEMV above followed by the swiglu kernel. The accepts test
// declines more rows, misaligned operands and shapes where the GEMV gives a row a whole
// block (the op then runs the product and swiglu apart).
bool linear_swiglu_accepts(std::span<const Tensor> in, const Attr& attr);
void linear_swiglu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                          Stream s);

}  // namespace emily::cuda
