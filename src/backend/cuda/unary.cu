// Unary CUDA kernels that need no transcendental function: arithmetic (abs, negate, sign,
// rounding), bits and predicates, and the parts of complex numbers. Functors in
// elementwise_ops.cuh; the launch in elementwise.cuh.
#include "backend/cuda/elementwise.cuh"

namespace emily::cuda {

void register_unary(KernelTable& t) {
#define EMILY_REG(prim, Op) t.set(Primitive::prim, unary_kernel<Primitive::prim, ew::Op>);
  EMILY_REG(abs, Abs)
  EMILY_REG(negate, Negate)
  EMILY_REG(sign, Sign)
  EMILY_REG(floor, Floor)
  EMILY_REG(ceil, Ceil)
  EMILY_REG(round, Round)
  EMILY_REG(bitwise_not, BitwiseNot)
  EMILY_REG(logical_not, LogicalNot)
  EMILY_REG(is_nan, IsNan)
  EMILY_REG(is_infinity, IsInfinity)
  EMILY_REG(real, Real)
  EMILY_REG(imag, Imag)
  EMILY_REG(conjugate, Conjugate)
#undef EMILY_REG
}

}  // namespace emily::cuda
