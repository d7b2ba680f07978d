// The binary op family: promote, check the dtype class, convert, broadcast, dispatch.
// Dtype rules (docs/OPS.md):
//  - the inputs convert to promote(a, b); divide and atan2 compute bool/integers in f32;
//  - comparisons compute in the promoted dtype and return bool; ordering comparisons,
//    maximum/minimum, atan2 and remainder reject c64;
//  - logical ops take any dtype (x != 0 per input, before promotion) and return bool;
//  - bitwise ops take bool and integers, shifts and quotient integers only;
//  - bool + bool is or, bool * bool is and; bool - bool, bool ** bool and bool % bool
//    are errors (as NumPy).
#include "core/convert.h"
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

// What sets one binary op apart: its name, its primitive, the dtype classes it takes
// (after promotion) and the type it computes in.
struct Rule {
  const char* op;
  Primitive p;
  unsigned accepts;
  Compute compute = Compute::promoted;
};

// The dtype `rule` computes inputs of dtypes `a` and `b` in; DTypeError when its class
// is not one the op takes.
DType compute_dtype(const Rule& rule, DType a, DType b) {
  DType t = promote(a, b);
  if (rule.compute == Compute::inexact) t = to_inexact(t);
  if (!(cls(t) & rule.accepts)) {
    EMILY_THROW(DTypeError, rule.op, "not defined for ", name(t), " (inputs ", name(a), " and ",
                name(b), ")");
  }
  return t;
}

Tensor binary(const Rule& rule, const Tensor& a, const Tensor& b, bool to_bool = false) {
  require_defined(rule.op, a);
  require_defined(rule.op, b);
  const DType t = compute_dtype(rule, a.dtype(), b.dtype());
  const DType out = to_bool ? DType::bool_ : t;
  // The common case, same dtype and shape, goes straight to the kernel: this path is
  // most of the eager dispatch overhead (bench/bench_dispatch.cpp).
  if (a.dtype() == t && b.dtype() == t && a.shape() == b.shape()) {
    return detail::dispatch(rule.p, {a, b}, a.shape(), out);
  }
  // Shapes first, so a mismatch fails before any conversion runs.
  broadcast_shapes(rule.op, a.shape(), b.shape());
  auto in = detail::broadcast_all(rule.op, {astype(a, t), astype(b, t)});
  return detail::dispatch(rule.p, in, in[0].shape(), out);
}

// The arithmetic that also takes a C++ scalar operand (binary_scalar).
constexpr Rule kAdd{"add", Primitive::add, kAny};
constexpr Rule kSubtract{"subtract", Primitive::subtract, kInt | kFloat | kComplex};
constexpr Rule kMultiply{"multiply", Primitive::multiply, kAny};
constexpr Rule kDivide{"divide", Primitive::divide, kFloat | kComplex, Compute::inexact};

const Rule& arithmetic_rule(Primitive p) {
  switch (p) {
    case Primitive::add:
      return kAdd;
    case Primitive::subtract:
      return kSubtract;
    case Primitive::multiply:
      return kMultiply;
    case Primitive::divide:
      return kDivide;
    default:
      EMILY_THROW(Error, "binary_scalar", name(p), " is not an arithmetic operator");
  }
}

// `value` as a 0-d host tensor of dtype `t`, converted as scalar_like and then astype
// would: first to `like` (the dtype scalar_like gives), then to `t`.
Tensor host_scalar(double value, DType like, DType t) {
  Tensor s = Tensor::empty({}, t, Device::cpu());
  visit_dtype(like, [&]<class L>() {
    const L v = detail::convert<L>(value);
    visit_dtype(t, [&]<class T>() { *s.data<T>() = detail::convert<T>(v); });
  });
  return s;
}

Tensor compare(const Rule& rule, const Tensor& a, const Tensor& b) {
  return binary(rule, a, b, true);
}

// Truth per input before promotion: promoting f64 1e-300 to c64 would make it 0.
Tensor logical(const char* op, Primitive p, const Tensor& a, const Tensor& b) {
  require_defined(op, a);
  require_defined(op, b);
  broadcast_shapes(op, a.shape(), b.shape());
  return compare({op, p, kBool}, astype(a, DType::bool_), astype(b, DType::bool_));
}

}  // namespace

namespace detail {

Tensor binary_scalar(Primitive p, const Tensor& a, double value, bool scalar_first) {
  const Rule& rule = arithmetic_rule(p);
  require_defined("scalar_like", a);  // where an undefined tensor was always reported
  if (!host_scalar_ok(p, a.device())) {
    const Tensor s = scalar_like(a, value);
    return scalar_first ? binary(rule, s, a) : binary(rule, a, s);
  }
  // scalar_like's dtype and checks, then binary's promotion, with the scalar's value
  // converted on the host and handed to the kernel as it is (no upload, no broadcast).
  const DType like = scalar_dtype(a.dtype(), value);
  const DType t =
      scalar_first ? compute_dtype(rule, like, a.dtype()) : compute_dtype(rule, a.dtype(), like);
  const Tensor s = host_scalar(value, like, t);
  const Tensor x = a.dtype() == t ? a : astype(a, t);
  return scalar_first ? dispatch_with_host_scalar(p, {s, x}, x.shape(), t)
                      : dispatch_with_host_scalar(p, {x, s}, x.shape(), t);
}

}  // namespace detail

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(kAdd, a, b);
}
Tensor subtract(const Tensor& a, const Tensor& b) {
  return binary(kSubtract, a, b);
}
Tensor multiply(const Tensor& a, const Tensor& b) {
  return binary(kMultiply, a, b);
}
Tensor divide(const Tensor& a, const Tensor& b) {
  return binary(kDivide, a, b);
}
Tensor pow(const Tensor& a, const Tensor& b) {
  return binary({"pow", Primitive::pow, kInt | kFloat | kComplex}, a, b);
}
Tensor atan2(const Tensor& a, const Tensor& b) {
  return binary({"atan2", Primitive::atan2, kFloat, Compute::inexact}, a, b);
}
Tensor remainder(const Tensor& a, const Tensor& b) {
  return binary({"remainder", Primitive::remainder, kInt | kFloat}, a, b);
}
Tensor quotient(const Tensor& a, const Tensor& b) {
  return binary({"quotient", Primitive::quotient, kInt}, a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary({"maximum", Primitive::maximum, kReal}, a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary({"minimum", Primitive::minimum, kReal}, a, b);
}
Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  return binary({"bitwise_and", Primitive::bitwise_and, kBool | kInt}, a, b);
}
Tensor bitwise_or(const Tensor& a, const Tensor& b) {
  return binary({"bitwise_or", Primitive::bitwise_or, kBool | kInt}, a, b);
}
Tensor bitwise_xor(const Tensor& a, const Tensor& b) {
  return binary({"bitwise_xor", Primitive::bitwise_xor, kBool | kInt}, a, b);
}
Tensor left_shift(const Tensor& a, const Tensor& b) {
  return binary({"left_shift", Primitive::left_shift, kInt}, a, b);
}
Tensor right_shift(const Tensor& a, const Tensor& b) {
  return binary({"right_shift", Primitive::right_shift, kInt}, a, b);
}

Tensor equal(const Tensor& a, const Tensor& b) {
  return compare({"equal", Primitive::equal, kAny}, a, b);
}
Tensor not_equal(const Tensor& a, const Tensor& b) {
  return compare({"not_equal", Primitive::not_equal, kAny}, a, b);
}
Tensor greater(const Tensor& a, const Tensor& b) {
  return compare({"greater", Primitive::greater, kReal}, a, b);
}
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return compare({"greater_equal", Primitive::greater_equal, kReal}, a, b);
}
Tensor less(const Tensor& a, const Tensor& b) {
  return compare({"less", Primitive::less, kReal}, a, b);
}
Tensor less_equal(const Tensor& a, const Tensor& b) {
  return compare({"less_equal", Primitive::less_equal, kReal}, a, b);
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
