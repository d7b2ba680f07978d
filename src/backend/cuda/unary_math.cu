// Unary CUDA kernels of the transcendental functions, on f16/bf16 (computed in float),
// f32, f64 and c64 (computed in complex128, complex.cuh). Float functions are CUDA's
// libdevice (a few ULP from the CPU's libm); erf_inv goes through double as on the CPU.
#include "backend/cuda/elementwise.cuh"

namespace emily::cuda {

void register_unary_math(KernelTable& t) {
#define EMILY_REG(prim, Op) t.set(Primitive::prim, unary_kernel<Primitive::prim, ew::Op>);
  EMILY_REG(acos, Acos)
  EMILY_REG(acosh, Acosh)
  EMILY_REG(asin, Asin)
  EMILY_REG(asinh, Asinh)
  EMILY_REG(atan, Atan)
  EMILY_REG(atanh, Atanh)
  EMILY_REG(cos, Cos)
  EMILY_REG(cosh, Cosh)
  EMILY_REG(erf, Erf)
  EMILY_REG(erf_inv, ErfInv)
  EMILY_REG(exp, Exp)
  EMILY_REG(expm1, Expm1)
  EMILY_REG(log, Log)
  EMILY_REG(log1p, Log1p)
  EMILY_REG(rsqrt, Rsqrt)
  EMILY_REG(sigmoid, Sigmoid)
  EMILY_REG(sin, Sin)
  EMILY_REG(sinh, Sinh)
  EMILY_REG(sqrt, Sqrt)
  EMILY_REG(tan, Tan)
  EMILY_REG(tanh, Tanh)
#undef EMILY_REG
}

}  // namespace emily::cuda
