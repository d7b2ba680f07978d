// Binary CUDA kernels of arithmetic and comparison: add subtract multiply divide pow
// atan2 remainder maximum minimum and the six comparisons. Wrapping integer arithmetic
// and equality run signed types through the unsigned kernel of their width, and greater
// (greater_equal) is less (less_equal) with the operands swapped, which keeps the number
// of instantiated kernels (and this file's compile time) down. add, subtract, multiply and
// divide also take a host scalar operand (elementwise.cuh, binary_host_scalar_kernel).
#include "backend/cuda/elementwise.cuh"

namespace emily::cuda {

void register_binary(KernelTable& t) {
#define EMILY_REG(prim, ...) t.set(Primitive::prim, binary_kernel<Primitive::prim, __VA_ARGS__>);
  // The arithmetic operators' C++ numbers (`x * 0.5`) arrive as kernel arguments.
#define EMILY_REG_SCALAR(prim, Op)                                         \
  t.set(Primitive::prim, binary_kernel<Primitive::prim, Op, false, true>); \
  t.take_host_scalars(Primitive::prim);
  EMILY_REG_SCALAR(add, ew::Add)
  EMILY_REG_SCALAR(subtract, ew::Subtract)
  EMILY_REG_SCALAR(multiply, ew::Multiply)
  EMILY_REG_SCALAR(divide, ew::Divide)
#undef EMILY_REG_SCALAR
  EMILY_REG(pow, ew::Pow)
  EMILY_REG(atan2, ew::Atan2)
  EMILY_REG(remainder, ew::Remainder)
  EMILY_REG(maximum, ew::Maximum)
  EMILY_REG(minimum, ew::Minimum)
  EMILY_REG(equal, ew::Equal)
  EMILY_REG(not_equal, ew::NotEqual)
  EMILY_REG(less, ew::Less)
  EMILY_REG(less_equal, ew::LessEqual)
  EMILY_REG(greater, ew::Less, true)
  EMILY_REG(greater_equal, ew::LessEqual, true)
#undef EMILY_REG
}

}  // namespace emily::cuda
