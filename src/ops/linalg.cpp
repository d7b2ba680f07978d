// Linear algebra: validation, dtype handling and output shapes; the CPU kernels
// (src/backend/cpu/linalg.cpp) call LAPACK one matrix at a time.
//
// Everything LAPACK could reject is rejected here first: reference LAPACK's xerbla
// prints and stops the process on a bad argument, so no kernel may ever trigger it.
// Kernels see f32 or f64 only; they read strided inputs (transposed or broadcast views)
// themselves, so no operand is copied here just to make it contiguous.
#include <climits>

#include "emily/linalg.h"
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

using detail::dispatch;
using detail::OutSpec;
using detail::require_defined;

// The dtype a kernel computes in and the dtype the op returns, for input dtype `t`.
struct Types {
  DType compute;
  DType result;
};

Types types(const char* op, DType t) {
  if (is_complex(t)) {
    EMILY_THROW(Unsupported, op, "complex inputs (", name(t), ") are not supported yet");
  }
  if (t == DType::f64) return {DType::f64, DType::f64};
  // f16/bf16 compute in f32 and round back once; bool and integers give f32.
  if (t == DType::f16 || t == DType::bf16) return {DType::f32, t};
  return {DType::f32, DType::f32};
}

// Checks that `a` is a stack of matrices (and square when asked) whose sides LAPACK's
// 32-bit integers can address.
void check_matrix(const char* op, const Tensor& a, bool square, const char* what = "input") {
  require_defined(op, a);
  if (a.ndim() < 2) {
    EMILY_THROW(ShapeError, op, what, " must have at least 2 axes (..., M, N), got shape ",
                to_string(a.shape()));
  }
  const std::int64_t m = a.shape(-2), n = a.shape(-1);
  if (square && m != n) {
    EMILY_THROW(ShapeError, op, what, " must be square in its last two axes, got shape ",
                to_string(a.shape()));
  }
  if (m > INT_MAX / 2 || n > INT_MAX / 2) {
    EMILY_THROW(Unsupported, op, what, " of shape ", to_string(a.shape()),
                " is too large for LAPACK's 32-bit indices");
  }
}

Shape batch_of(const Tensor& a) {
  return Shape(a.shape().begin(), a.shape().end() - 2);
}

Shape with(Shape batch, std::initializer_list<std::int64_t> tail) {
  batch.insert(batch.end(), tail);
  return batch;
}

Tensor back(const Tensor& t, DType result) {
  return t.dtype() == result ? t : astype(t, result);
}

// One-input, one-output ops whose output has the input's shape.
Tensor square_op(Primitive p, const char* op, const Tensor& a, bool upper) {
  check_matrix(op, a, true);
  const Types ty = types(op, a.dtype());
  Tensor x = astype(a, ty.compute);
  return back(dispatch(p, {x}, x.shape(), ty.compute, LinalgAttr{upper, true}), ty.result);
}

// solve and solve_triangular: b is a vector when 1-d (NumPy 2), else (..., N, K); the
// batch axes of a and b broadcast.
Tensor solve_op(Primitive p, const char* op, const Tensor& a, const Tensor& b, bool upper) {
  check_matrix(op, a, true, "a");
  require_defined(op, b);
  const Types ty = types(op, promote(a.dtype(), b.dtype()));
  const std::int64_t n = a.shape(-1);
  const bool vector = b.ndim() == 1;
  Tensor B = astype(b, ty.compute);
  if (vector) B = expand_dims(B, {1});
  if (B.ndim() < 2) {
    EMILY_THROW(ShapeError, op, "b must have at least 1 axis, got shape ", to_string(b.shape()));
  }
  if (B.shape(-2) != n) {
    EMILY_THROW(ShapeError, op, "a of shape ", to_string(a.shape()), " and b of shape ",
                to_string(b.shape()), " disagree: b needs ", n, vector ? " entries" : " rows");
  }
  const std::int64_t k = B.shape(-1);
  if (k > INT_MAX / 2) {
    EMILY_THROW(Unsupported, op, "b of shape ", to_string(b.shape()),
                " is too large for LAPACK's 32-bit indices");
  }
  Shape batch;
  try {
    batch = broadcast_shapes(op, batch_of(a), vector ? Shape{} : batch_of(B));
  } catch (const ShapeError&) {
    EMILY_THROW(ShapeError, op, "the batch axes of a ", to_string(a.shape()), " and b ",
                to_string(b.shape()), " do not broadcast");
  }
  Tensor A = broadcast_to(astype(a, ty.compute), with(batch, {n, n}));
  B = broadcast_to(B, with(batch, {n, k}));
  Tensor x = dispatch(p, {A, B}, with(batch, {n, k}), ty.compute, LinalgAttr{upper, true});
  if (vector) x = reshape(x, with(batch, {n}));
  return back(x, ty.result);
}

}  // namespace

namespace linalg {

Tensor cholesky(const Tensor& a, bool upper) {
  return square_op(Primitive::linalg_cholesky, "linalg_cholesky", a, upper);
}

std::pair<Tensor, Tensor> eigh(const Tensor& a, bool upper) {
  check_matrix("linalg_eigh", a, true);
  const Types ty = types("linalg_eigh", a.dtype());
  Tensor x = astype(a, ty.compute);
  const std::int64_t n = x.shape(-1);
  const Shape batch = batch_of(x);
  auto out = dispatch(
      Primitive::linalg_eigh, {x},
      std::vector<OutSpec>{{with(batch, {n}), ty.compute}, {with(batch, {n, n}), ty.compute}},
      LinalgAttr{upper, true});
  return {back(out[0], ty.result), back(out[1], ty.result)};
}

Tensor inv(const Tensor& a) {
  return square_op(Primitive::linalg_inv, "linalg_inv", a, false);
}

std::tuple<Tensor, Tensor, Tensor> lu(const Tensor& a) {
  check_matrix("linalg_lu", a, false);
  const Types ty = types("linalg_lu", a.dtype());
  Tensor x = astype(a, ty.compute);
  const std::int64_t m = x.shape(-2), n = x.shape(-1), k = std::min(m, n);
  const Shape batch = batch_of(x);
  auto out = dispatch(Primitive::linalg_lu, {x},
                      std::vector<OutSpec>{{with(batch, {m, m}), ty.compute},
                                           {with(batch, {m, k}), ty.compute},
                                           {with(batch, {k, n}), ty.compute}},
                      LinalgAttr{});
  return {back(out[0], ty.result), back(out[1], ty.result), back(out[2], ty.result)};
}

Tensor pinv(const Tensor& a) {
  check_matrix("linalg_pinv", a, false);
  const Types ty = types("linalg_pinv", a.dtype());
  Tensor x = astype(a, ty.compute);
  const std::int64_t m = x.shape(-2), n = x.shape(-1);
  return back(
      dispatch(Primitive::linalg_pinv, {x}, with(batch_of(x), {n, m}), ty.compute, LinalgAttr{}),
      ty.result);
}

std::pair<Tensor, Tensor> qr(const Tensor& a) {
  check_matrix("linalg_qr", a, false);
  const Types ty = types("linalg_qr", a.dtype());
  Tensor x = astype(a, ty.compute);
  const std::int64_t m = x.shape(-2), n = x.shape(-1), k = std::min(m, n);
  const Shape batch = batch_of(x);
  auto out = dispatch(
      Primitive::linalg_qr, {x},
      std::vector<OutSpec>{{with(batch, {m, k}), ty.compute}, {with(batch, {k, n}), ty.compute}},
      LinalgAttr{});
  return {back(out[0], ty.result), back(out[1], ty.result)};
}

Tensor solve(const Tensor& a, const Tensor& b) {
  return solve_op(Primitive::linalg_solve, "linalg_solve", a, b, false);
}

Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper) {
  return solve_op(Primitive::linalg_solve_triangular, "linalg_solve_triangular", a, b, upper);
}

std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& a, bool compute_uv) {
  check_matrix("linalg_svd", a, false);
  const Types ty = types("linalg_svd", a.dtype());
  Tensor x = astype(a, ty.compute);
  const std::int64_t m = x.shape(-2), n = x.shape(-1), k = std::min(m, n);
  const Shape batch = batch_of(x);
  const LinalgAttr attr{false, compute_uv};
  if (!compute_uv) {
    Tensor s = dispatch(Primitive::linalg_svd, {x}, with(batch, {k}), ty.compute, attr);
    return {Tensor(), back(s, ty.result), Tensor()};
  }
  auto out = dispatch(Primitive::linalg_svd, {x},
                      std::vector<OutSpec>{{with(batch, {m, k}), ty.compute},
                                           {with(batch, {k}), ty.compute},
                                           {with(batch, {k, n}), ty.compute}},
                      attr);
  return {back(out[0], ty.result), back(out[1], ty.result), back(out[2], ty.result)};
}

}  // namespace linalg

Tensor tri_inv(const Tensor& a, bool upper) {
  return square_op(Primitive::tri_inv, "tri_inv", a, upper);
}

}  // namespace emily
