// Updates in place. The kernels of the scatter family and slice_update begin by copying
// operand 0 into their output and then change part of it. The compiler may hand such a
// node operand 0's own storage as its output (plan_donation: a donated input whose last
// reader the node is), so a compiled decode step updates its KV cache where it lies
// instead of copying the whole cache every token. The kernels then skip the copy.
#pragma once

#include "emily/primitive.h"
#include "emily/tensor.h"

namespace emily {

// Whether `op`'s kernels accept their output in operand 0's storage.
constexpr bool updates_operand_in_place(Primitive op) {
  return op == Primitive::scatter || op == Primitive::scatter_add || op == Primitive::scatter_max ||
         op == Primitive::scatter_min || op == Primitive::slice_update;
}

// Whether `out` is `in` itself: the same elements at the same addresses.
inline bool same_storage(const Tensor& out, const Tensor& in) {
  return out.raw_data() == in.raw_data() && out.itemsize() == in.itemsize() &&
         out.shape() == in.shape() && out.strides() == in.strides();
}

}  // namespace emily
