// Fused elementwise chains on the CPU. Each elementwise kernel file registers, beside its
// kernels, one block function per (primitive, dtype) it computes; the `fused` kernel
// runs a FusedAttr program by calling them block by block, so a chain's intermediates
// live in a few cache-sized scratch registers instead of full-size tensors.
#pragma once

#include <cstdint>

#include "emily/dtype.h"
#include "emily/primitive.h"

namespace emily::cpu {

// n elements of one step. args[k] points at operand k's first element; strides[k] (in
// elements) is 1 for a dense run or 0 for one repeated value.
using BlockFn = void (*)(const void* const* args, const std::int64_t* strides, void* out,
                         std::int64_t n);

// `op` computing on `dtype` produces `result`. astype is keyed by (dtype, result) pairs,
// everything else by (op, dtype).
void set_block(Primitive op, DType dtype, DType result, BlockFn fn);
// Null when no block function computes `op` on `dtype` into `result`.
BlockFn find_block(Primitive op, DType dtype, DType result);

}  // namespace emily::cpu
