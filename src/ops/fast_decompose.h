// The decompositions of the `fast` primitives into catalogue ops. The op layer runs
// them where the device's backend has no kernel (and under fast::DecomposeGuard); they
// take the operands and attribute exactly as the kernel would.
#pragma once

#include <utility>
#include <vector>

#include "emily/primitive.h"
#include "emily/tensor.h"

namespace emily::detail {

Tensor decompose_fast(Primitive p, const std::vector<Tensor>& inputs, const Attr& attr);

// fast_rms_norm or fast_layer_norm with a residual operand: {x + residual, its norm}.
std::pair<Tensor, Tensor> decompose_add_norm(Primitive p, const std::vector<Tensor>& inputs,
                                             const NormAttr& attr);

}  // namespace emily::detail
