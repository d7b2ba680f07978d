// The M = 1 path of matmul (gemv.cu).
#pragma once

#include "emily/stream.h"
#include "emily/tensor.h"

namespace emily::cuda {

// c (.., 1, N) = a (.., 1, K) . b (.., K, N) with one batch, for f32/f16/bf16 when b's
// layout and alignment suit 16-byte loads; false (nothing launched) otherwise.
bool gemv(const Tensor& a, const Tensor& b, Tensor& c, Stream s);

}  // namespace emily::cuda
