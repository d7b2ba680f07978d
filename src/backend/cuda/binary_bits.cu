// Binary CUDA kernels on integers and truth values: quotient, the bitwise ops, shifts
// and the logical ops (whose operands the op layer has already made bool).
#include "backend/cuda/elementwise.cuh"

namespace emily::cuda {

void register_binary_bits(KernelTable& t) {
#define EMILY_REG(prim, Op) t.set(Primitive::prim, binary_kernel<Primitive::prim, ew::Op>);
  EMILY_REG(quotient, Quotient)
  EMILY_REG(bitwise_and, BitwiseAnd)
  EMILY_REG(bitwise_or, BitwiseOr)
  EMILY_REG(bitwise_xor, BitwiseXor)
  EMILY_REG(left_shift, LeftShift)
  EMILY_REG(right_shift, RightShift)
  EMILY_REG(logical_and, LogicalAnd)
  EMILY_REG(logical_or, LogicalOr)
  EMILY_REG(logical_xor, LogicalXor)
#undef EMILY_REG
}

}  // namespace emily::cuda
