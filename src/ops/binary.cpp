// The binary op family: promote, check the dtype class, convert, broadcast, dispatch.
// Dtype rules (docs/OPS.md):
//  - the inputs convert to promote(a, b); divide and atan2 compute bool/integers in f32;
//  - comparisons compute in the promoted dtype and return bool; ordering comparisons,
//    maximum/minimum, atan2 and remainder reject c64;
//  - logical ops take any dtype (x != 0 per input, before promotion) and return bool;
//  - bitwise ops take bool and integers, shifts and quotient integers only;
//  - bool + bool is or, bool * bool is and; bool - bool, bool ** bool and bool % bool
//    are errors (as NumPy).
#include "emily/ops.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"

namespace emily {

namespace {

using detail::require_defined;

enum Cls : unsigned { kBool = 1, kInt = 2, kFloat = 4, kComplex = 8 };
constexpr unsigned kReal = kBool | kInt | kFloat;
constexpr unsigned kAny = kReal | kComplex;

unsigned cls(DType t) {
  switch (kind(t)) {
    case DTypeKind::boolean:
      return kBool;
    case DTypeKind::unsigned_int:
    case DTypeKind::signed_int:
      return kInt;
    case DTypeKind::floating:
      return kFloat;
    case DTypeKind::complex:
      return kComplex;
  }
  return 0;
}

enum class Compute { promoted, inexact };

Tensor binary(const char* op, Primitive p, const Tensor& a, const Tensor& b, unsigned accepts,
              Compute compute = Compute::promoted, bool to_bool = false) {
  require_defined(op, a);
  require_defined(op, b);
  DType t = promote(a.dtype(), b.dtype());
  if (compute == Compute::inexact) t = to_inexact(t);
  if (!(cls(t) & accepts)) {
    EMILY_THROW(DTypeError, op, "not defined for ", name(t), " (inputs ", name(a.dtype()), " and ",
                name(b.dtype()), ")");
  }
  const DType out = to_bool ? DType::bool_ : t;
  // The common case, same dtype and shape, goes straight to the kernel: this path is
  // most of the eager dispatch overhead (bench/bench_dispatch.cpp).
  if (a.dtype() == t && b.dtype() == t && a.shape() == b.shape()) {
    return detail::dispatch(p, {a, b}, a.shape(), out);
  }
  // Shapes first, so a mismatch fails before any conversion runs.
  broadcast_shapes(op, a.shape(), b.shape());
  auto in = detail::broadcast_all(op, {astype(a, t), astype(b, t)});
  return detail::dispatch(p, in, in[0].shape(), out);
}

Tensor compare(const char* op, Primitive p, const Tensor& a, const Tensor& b, unsigned accepts) {
  return binary(op, p, a, b, accepts, Compute::promoted, true);
}

// Truth per input before promotion: promoting f64 1e-300 to c64 would make it 0.
Tensor logical(const char* op, Primitive p, const Tensor& a, const Tensor& b) {
  require_defined(op, a);
  require_defined(op, b);
  broadcast_shapes(op, a.shape(), b.shape());
  return compare(op, p, astype(a, DType::bool_), astype(b, DType::bool_), kBool);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary("add", Primitive::add, a, b, kAny);
}
Tensor subtract(const Tensor& a, const Tensor& b) {
  return binary("subtract", Primitive::subtract, a, b, kInt | kFloat | kComplex);
}
Tensor multiply(const Tensor& a, const Tensor& b) {
  return binary("multiply", Primitive::multiply, a, b, kAny);
}
Tensor divide(const Tensor& a, const Tensor& b) {
  return binary("divide", Primitive::divide, a, b, kFloat | kComplex, Compute::inexact);
}
Tensor pow(const Tensor& a, const Tensor& b) {
  return binary("pow", Primitive::pow, a, b, kInt | kFloat | kComplex);
}
Tensor atan2(const Tensor& a, const Tensor& b) {
  return binary("atan2", Primitive::atan2, a, b, kFloat, Compute::inexact);
}
Tensor remainder(const Tensor& a, const Tensor& b) {
  return binary("remainder", Primitive::remainder, a, b, kInt | kFloat);
}
Tensor quotient(const Tensor& a, const Tensor& b) {
  return binary("quotient", Primitive::quotient, a, b, kInt);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary("maximum", Primitive::maximum, a, b, kReal);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary("minimum", Primitive::minimum, a, b, kReal);
}
Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  return binary("bitwise_and", Primitive::bitwise_and, a, b, kBool | kInt);
}
Tensor bitwise_or(const Tensor& a, const Tensor& b) {
  return binary("bitwise_or", Primitive::bitwise_or, a, b, kBool | kInt);
}
Tensor bitwise_xor(const Tensor& a, const Tensor& b) {
  return binary("bitwise_xor", Primitive::bitwise_xor, a, b, kBool | kInt);
}
Tensor left_shift(const Tensor& a, const Tensor& b) {
  return binary("left_shift", Primitive::left_shift, a, b, kInt);
}
Tensor right_shift(const Tensor& a, const Tensor& b) {
  return binary("right_shift", Primitive::right_shift, a, b, kInt);
}

Tensor equal(const Tensor& a, const Tensor& b) {
  return compare("equal", Primitive::equal, a, b, kAny);
}
Tensor not_equal(const Tensor& a, const Tensor& b) {
  return compare("not_equal", Primitive::not_equal, a, b, kAny);
}
Tensor greater(const Tensor& a, const Tensor& b) {
  return compare("greater", Primitive::greater, a, b, kReal);
}
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return compare("greater_equal", Primitive::greater_equal, a, b, kReal);
}
Tensor less(const Tensor& a, const Tensor& b) {
  return compare("less", Primitive::less, a, b, kReal);
}
Tensor less_equal(const Tensor& a, const Tensor& b) {
  return compare("less_equal", Primitive::less_equal, a, b, kReal);
}

Tensor logical_and(const Tensor& a, const Tensor& b) {
  return logical("logical_and", Primitive::logical_and, a, b);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return logical("logical_or", Primitive::logical_or, a, b);
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return logical("logical_xor", Primitive::logical_xor, a, b);
}

}  // namespace emily
