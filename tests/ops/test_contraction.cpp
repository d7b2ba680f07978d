// matmul, tensordot and einsum. Goldens: scripts/fixtures/shape.py (np.matmul,
// np.tensordot, np.einsum); other oracles are a textbook double-precision loop
// (`naive` below) or hand-computed values.
//
// Tolerances: f32 results go through OpenBLAS, whose blocked kernels sum in a different
// order than NumPy's, so they agree to rounding only: rtol 1e-5 (a few f32 ULP of sums
// of a handful of O(1) terms) with a small atol for results near zero. f64: rtol 1e-12.
// Integer and bool results are exact.
#include <cmath>
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::floats;

Tensor fx(const std::string& name) {
  return testing::op_fixture("shape", name);
}

// A golden whose NumPy value is 0-d: common.py saves through np.ascontiguousarray, which
// stores 0-d arrays with shape (1,), so the 0-d shape is restored here.
Tensor fx0(const std::string& name) {
  return reshape(fx(name), {});
}

constexpr double kRtol32 = 1e-5, kAtol32 = 1e-6;

// Oracle: a (batch, M, K) @ b (batch, K, N) by the textbook triple loop in double, on
// operands already broadcast to a common batch (2-d operands are batch 1).
Tensor naive(const Tensor& a3, const Tensor& b3) {
  Tensor a = a3.ndim() == 2 ? expand_dims(a3, {0}) : a3;
  Tensor b = b3.ndim() == 2 ? expand_dims(b3, {0}) : b3;
  const std::int64_t B = std::max(a.shape(0), b.shape(0)), M = a.shape(1), K = a.shape(2),
                     N = b.shape(2);
  a = broadcast_to(a, {B, M, K});
  b = broadcast_to(b, {B, K, N});
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(B * M * N), 0.0);
  for (std::int64_t p = 0; p < B; ++p)
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (std::int64_t k = 0; k < K; ++k) s += va[(p * M + i) * K + k] * vb[(p * K + k) * N + j];
        out[(p * M + i) * N + j] = s;
      }
  Shape shape = {M, N};
  if (a3.ndim() == 3 || b3.ndim() == 3) shape.insert(shape.begin(), B);
  return tensor(out, shape);
}

// Deterministic values in [-1, 1) without a random generator.
Tensor wave(const Shape& shape, double phase = 0.0, DType dtype = DType::f32) {
  std::vector<double> v(static_cast<std::size_t>(numel(shape)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37 * static_cast<double>(i) + phase);
  return astype(tensor(v, shape), dtype);
}

// ---- matmul -------------------------------------------------------------------------------

TEST(Matmul, F32MatchesNumPy) {
  // Oracle: np.matmul; rtol 1e-5 (BLAS summation order, see the top of the file).
  for (const char* name : {"mm_batch_2d", "mm_vec_vec", "mm_bcast4d", "mm_vec_mat", "mm_mat_vec"}) {
    Tensor y = matmul(fx(std::string(name) + "_a"), fx(std::string(name) + "_b"));
    Tensor e = std::string(name) == "mm_vec_vec" ? fx0(name) : fx(name);
    EXPECT_EQ(y.shape(), e.shape()) << name;
    EXPECT_TRUE(all_close(y, e, kRtol32, kAtol32)) << name;
  }
}

TEST(Matmul, TransposedOperandsGoToBlasAsViews) {
  // Oracle: NumPy a.T @ b.T on the stored matrices; the transposes here are views.
  Tensor a = transpose(fx("mm_t_a")), b = transpose(fx("mm_t_b"));
  ASSERT_FALSE(a.is_contiguous());
  EXPECT_TRUE(all_close(matmul(a, b), fx("mm_t"), kRtol32, kAtol32));
  // Identity oracle: the same product with materialized copies.
  EXPECT_TRUE(all_close(matmul(a, contiguous(b)), fx("mm_t"), kRtol32, kAtol32));
}

TEST(Matmul, OtherDtypesMatchNumPy) {
  // Oracle: np.matmul in f64 (rtol 1e-12) and c64 (rtol 1e-5); integers wrap exactly
  // as NumPy's int32/int8 matmul; bool is the or of ands.
  EXPECT_TRUE(all_close(matmul(fx("mm_f64_a"), fx("mm_f64_b")), fx("mm_f64"), 1e-12, 1e-14));
  EXPECT_TRUE(all_equal(matmul(fx("mm_s32_a"), fx("mm_s32_b")), fx("mm_s32")));
  EXPECT_TRUE(all_equal(matmul(fx("mm_s8_a"), fx("mm_s8_b")), fx("mm_s8")));
  EXPECT_TRUE(all_close(matmul(fx("mm_c64_a"), fx("mm_c64_b")), fx("mm_c64"), kRtol32, kAtol32));
  EXPECT_TRUE(all_equal(matmul(fx("mm_bool_a"), fx("mm_bool_b")), fx("mm_bool")));
}

TEST(Matmul, HalfPrecisionAccumulatesInF32) {
  // Oracle: the f32 product of the f16/bf16 values rounded once (NumPy); tolerance one
  // ULP of the result type (rtol 2^-10 for f16, 2^-7 for bf16, subnormal atol).
  Tensor y = matmul(fx("mm_f16_a"), fx("mm_f16_b"));
  EXPECT_EQ(y.dtype(), DType::f16);
  EXPECT_TRUE(all_close(y, fx("mm_f16"), std::ldexp(1.0, -10), std::ldexp(1.0, -24)));
  Tensor a = view(fx("mm_bf16_a"), DType::bf16), b = view(fx("mm_bf16_b"), DType::bf16);
  Tensor z = matmul(a, b);
  EXPECT_EQ(z.dtype(), DType::bf16);
  EXPECT_TRUE(all_close(z, view(fx("mm_bf16"), DType::bf16), std::ldexp(1.0, -7), 1e-30));
}

TEST(Matmul, OddSizesMatchANaiveDoubleLoop) {
  // Oracle: `naive` in double; relative 1e-4 on f32 BLAS results of 513-term sums.
  Tensor a = wave({257, 513}), b = wave({513, 129}, 1.0);
  Tensor y = matmul(a, b);
  auto got = y.to_vector<double>(), want = naive(a, b).to_vector<double>();
  ASSERT_EQ(got.size(), want.size());
  double worst = 0, scale = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  EXPECT_LE(worst, 1e-4 * scale);
  EXPECT_TRUE(all_close(y, naive(a, b), 1e-4, 1e-4 * scale));
}

TEST(Matmul, LayoutsThatNeedACopy) {
  // Oracle: `naive`. Strided and reversed views cannot go to BLAS directly.
  Tensor base = wave({6, 10});
  Tensor a = slice(base, {0, 9}, {6, -11}, {2, -2});              // (3, 5), negative column stride
  Tensor b = slice(wave({10, 8}, 2.0), {0, 0}, {10, 8}, {2, 3});  // (5, 3)
  EXPECT_TRUE(all_close(matmul(a, b), naive(a, b), kRtol32, kAtol32));
  // A broadcast row inside a matrix (stride 0 on the row axis).
  Tensor r = broadcast_to(wave({1, 5}), {4, 5});
  EXPECT_TRUE(all_close(matmul(r, b), naive(r, b), kRtol32, kAtol32));
  // The same for f64, c64 and f16 (f16 tolerance: one f16 ULP).
  Tensor a64 = astype(a, DType::f64), b64 = astype(b, DType::f64);
  EXPECT_TRUE(all_close(matmul(a64, b64), naive(a64, b64), 1e-12, 1e-14));
  Tensor ah = astype(a, DType::f16), bh = astype(b, DType::f16);
  EXPECT_TRUE(all_close(matmul(ah, bh), astype(naive(ah, bh), DType::f16), std::ldexp(1.0, -10),
                        std::ldexp(1.0, -24)));
  Tensor ac = astype(a, DType::c64), bc = astype(b, DType::c64);
  EXPECT_TRUE(all_close(matmul(ac, bc), astype(naive(a, b), DType::c64), kRtol32, kAtol32));
}

TEST(Matmul, BroadcastBatchesWithoutCopies) {
  // Oracle: `naive` per broadcast batch. a's batch axis has stride 0.
  Tensor a = broadcast_to(wave({1, 3, 4}), {5, 3, 4});
  Tensor b = wave({5, 4, 2}, 0.5);
  Tensor y = matmul(a, b);
  EXPECT_EQ(y.shape(), (Shape{5, 3, 2}));
  EXPECT_TRUE(all_close(y, naive(a, b), kRtol32, kAtol32));
  // Batch broadcasting across both operands: (2, 1, M, K) @ (3, K, N) -> (2, 3, M, N).
  Tensor p = wave({2, 1, 2, 3}), q = wave({3, 3, 4}, 1.5);
  Tensor pq = matmul(p, q);
  EXPECT_EQ(pq.shape(), (Shape{2, 3, 2, 4}));
  Tensor first = reshape(slice(pq, {1, 2}, {2, 3}), {2, 4});  // p[1, 0] @ q[2]
  Tensor want = naive(reshape(slice(p, {1}, {2}), {2, 3}), reshape(slice(q, {2}, {3}), {3, 4}));
  EXPECT_TRUE(all_close(first, want, kRtol32, kAtol32));
  // A transposed, broadcast right operand.
  Tensor bt = broadcast_to(transpose(wave({2, 4}, 3.0)), {5, 4, 2});
  EXPECT_TRUE(all_close(matmul(a, bt), naive(a, bt), kRtol32, kAtol32));
}

TEST(Matmul, ManySmallAndFewLargeBatches) {
  // Oracle: `naive`. 64 small matrices take the OpenMP path over the batch.
  Tensor a = wave({64, 8, 9}), b = wave({64, 9, 7}, 0.3);
  EXPECT_TRUE(all_close(matmul(a, b), naive(a, b), kRtol32, kAtol32));
  // Integer loop kernel with several row blocks and batches (exact: small values).
  Tensor ai = astype(wave({3, 70, 33}) * 50.0, DType::s32);
  Tensor bi = astype(wave({33, 90}, 0.7) * 50.0, DType::s32);
  Tensor yi = matmul(ai, bi);
  EXPECT_EQ(yi.dtype(), DType::s32);
  EXPECT_TRUE(all_equal(yi, astype(naive(ai, broadcast_to(bi, {3, 33, 90})), DType::s32)));
}

TEST(Matmul, EveryDtypeFamily) {
  // Oracle: `naive` on small integer-valued operands (exact in every dtype).
  Tensor a = tensor<float>({1, 2, 0, 3, 1, 1}, {2, 3}),
         b = tensor<float>({2, 1, 0, 1, 3, 2}, {3, 2});
  Tensor want = naive(a, b);  // [[2, 3], [12, 8]]
  for (DType dt : kAllDTypes) {
    if (dt == DType::bool_) continue;
    Tensor y = matmul(astype(a, dt), astype(b, dt));
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_equal(y, astype(want, dt))) << name(dt);
  }
  // Bool: or of ands (hand-computed).
  Tensor p = tensor<bool>({true, false, false, false}, {2, 2});
  Tensor q = tensor<bool>({false, true, true, true}, {2, 2});
  EXPECT_EQ(matmul(p, q).to_vector<int>(), (std::vector<int>{0, 1, 0, 0}));
  // Promotion: s32 @ f32 -> f32, u8 @ s8 -> s16.
  EXPECT_EQ(matmul(astype(a, DType::s32), b).dtype(), DType::f32);
  EXPECT_EQ(matmul(astype(a, DType::u8), astype(b, DType::s8)).dtype(), DType::s16);
}

TEST(Matmul, IntegersWrap) {
  // Hand-computed: 200 * 200 + 100 * 100 = 50000 wraps to 50000 - 65536 = -15536 in s16;
  // u8: 16 * 16 = 256 wraps to 0; s64: INT64_MAX + INT64_MAX = -2.
  EXPECT_EQ(matmul(tensor<std::int16_t>({200, 100}), tensor<std::int16_t>({200, 100})).item<int>(),
            -15536);
  EXPECT_EQ(matmul(tensor<std::uint8_t>({16}), tensor<std::uint8_t>({16})).item<int>(), 0);
  const auto big = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(
      matmul(tensor<std::int64_t>({big, 1}), tensor<std::int64_t>({1, big})).item<std::int64_t>(),
      -2);
}

TEST(Matmul, NanInfAndEmpty) {
  // IEEE: inf * 0 is NaN and NaN propagates. Rows [1, inf], [inf, 1], [NaN, 0] times
  // the column [1, 0]: 1 + inf*0 = NaN, inf + 0 = inf, NaN.
  const float inf = std::numeric_limits<float>::infinity();
  Tensor a = tensor<float>({1, inf, inf, 1, NAN, 0}, {3, 2});
  Tensor b = tensor<float>({1, 0}, {2, 1});
#ifndef EMILY_DEBUG_NAN_INF
  auto y = floats(matmul(a, b));
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], inf);
  EXPECT_TRUE(std::isnan(y[2]));
#else
  // Debug builds stop at the producing op instead (docs/CONFIGURATION.md).
  EXPECT_EMILY_ERROR(matmul(a, b), ValueError, "matmul");
  EXPECT_EQ(floats(matmul(tensor<float>({1, 2}, {1, 2}), b)), std::vector<float>{1});
#endif
  // An empty K gives zeros (an empty sum), for BLAS and loop dtypes alike.
  Tensor z = matmul(zeros({2, 0}), zeros({0, 3}));
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(floats(z), std::vector<float>(6, 0.0f));
  EXPECT_EQ(matmul(zeros({2, 0}, DType::s32), zeros({0, 2}, DType::s32)).to_vector<int>(),
            std::vector<int>(4, 0));
  EXPECT_EQ(matmul(zeros({0, 2}, DType::s32), zeros({2, 3}, DType::s32)).shape(), (Shape{0, 3}));
  EXPECT_EQ(matmul(zeros({4, 0, 2}), zeros({2})).shape(), (Shape{4, 0}));
}

TEST(Matmul, Errors) {
  EXPECT_EMILY_ERROR(matmul(scalar_tensor(1), zeros({2})), ShapeError, "matmul");
  EXPECT_EMILY_ERROR(matmul(zeros({2, 3}), zeros({4, 2})), ShapeError, "matmul");
  try {
    matmul(zeros({2, 3}), zeros({4, 2}));
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "[matmul] inner dimensions 3 and 4 differ");
  }
  EXPECT_EMILY_ERROR(matmul(zeros({2, 2, 3}), zeros({3, 3, 2})), ShapeError, "matmul");
  EXPECT_EMILY_ERROR(matmul(zeros({3}), zeros({4})), ShapeError, "matmul");
  EXPECT_EMILY_ERROR(matmul(Tensor(), zeros({2})), ValueError, "matmul");
}

// ---- tensordot ----------------------------------------------------------------------------

TEST(Tensordot, MatchesNumPy) {
  // Oracle: np.tensordot; rtol 1e-5 (BLAS, as matmul).
  Tensor a = fx("td_a"), b = fx("td_b"), c = fx("td_c");
  EXPECT_TRUE(all_close(tensordot(a, b), fx("td_axes2"), kRtol32, kAtol32));
  EXPECT_TRUE(all_close(tensordot(a, c, {2, 0}, {0, 1}), fx("td_lists"), kRtol32, kAtol32));
  EXPECT_TRUE(all_close(tensordot(a, c, {-1, -3}, {0, -2}), fx("td_lists"), kRtol32, kAtol32));
}

TEST(Tensordot, OuterProductAndFullContraction) {
  // Hand-computed: axes = 0 is the outer product; contracting everything gives a 0-d
  // sum of products; dtypes promote (s32 with f64 gives f64).
  Tensor u = tensor<float>({1, 2}), v = tensor<float>({3, 4, 5});
  Tensor o = tensordot(u, v, 0);
  EXPECT_EQ(o.shape(), (Shape{2, 3}));
  EXPECT_EQ(floats(o), (std::vector<float>{3, 4, 5, 6, 8, 10}));
  Tensor m = tensor<std::int32_t>({1, 2, 3, 4}, {2, 2});
  Tensor full_sum = tensordot(m, tensor<double>({1, 1, 1, 2}, {2, 2}), 2);
  EXPECT_EQ(full_sum.ndim(), 0);
  EXPECT_EQ(full_sum.dtype(), DType::f64);
  EXPECT_EQ(full_sum.item<double>(), 1 + 2 + 3 + 8);
}

TEST(Tensordot, Errors) {
  Tensor a = zeros({2, 3}), b = zeros({3, 2});
  EXPECT_EMILY_ERROR(tensordot(a, b, -1), ValueError, "tensordot");
  EXPECT_EMILY_ERROR(tensordot(a, b, 3), ShapeError, "tensordot");
  EXPECT_EMILY_ERROR(tensordot(a, b, 2), ShapeError, "tensordot");  // 2 x 3 vs 3 x 2
  EXPECT_EMILY_ERROR(tensordot(a, b, {0}, {0, 1}), ShapeError, "tensordot");
  EXPECT_EMILY_ERROR(tensordot(a, b, {1, 1}, {0, 0}), ShapeError, "tensordot");
  EXPECT_EMILY_ERROR(tensordot(a, b, {2}, {0}), ShapeError, "tensordot");
  EXPECT_EMILY_ERROR(tensordot(a, Tensor(), 1), ValueError, "tensordot");
}

// ---- einsum -------------------------------------------------------------------------------

struct EinsumCase {
  const char* name;
  const char* pattern;
  int operands;
  bool zero_d = false;  // NumPy's result is 0-d
};

TEST(Einsum, MatchesNumPy) {
  // Oracle: np.einsum on f32 operands; rtol 1e-5 (BLAS summation order).
  const EinsumCase cases[] = {
      {"es_matmul", "ij,jk->ik", 2},     {"es_bmm", "bij,bjk->bik", 2},
      {"es_diag", "ii->i", 1},           {"es_trace", "ii", 1, true},
      {"es_transpose", "ij->ji", 1},     {"es_dot", "i,i->", 2, true},
      {"es_outer", "i,j->ij", 2},        {"es_ellipsis", "...ij,...jk->...ik", 2},
      {"es_attn", "bhqd,bhkd->bhqk", 2}, {"es_sumall", "ijk->", 1, true},
      {"es_chain", "ij,jk,kl->il", 3},   {"es_diag3", "iij->ij", 1},
      {"es_implicit", "Ba,aC", 2},       {"es_sumone", "ij,jk->k", 2},
  };
  for (const auto& c : cases) {
    std::vector<Tensor> ops;
    for (int k = 0; k < c.operands; ++k)
      ops.push_back(fx(std::string(c.name) + "_" + std::to_string(k)));
    Tensor y = einsum(c.pattern, ops);
    EXPECT_EQ(y.dtype(), DType::f32) << c.pattern;
    Tensor e = c.zero_d ? fx0(c.name) : fx(c.name);
    EXPECT_TRUE(all_close(y, e, kRtol32, kAtol32)) << c.pattern;
  }
}

TEST(Einsum, ImplicitOutputAndSpaces) {
  // Hand-computed. Implicit output: labels used once, in ASCII order (uppercase first),
  // after the "..." axes.
  Tensor x = reshape(arange(6, DType::f32), {2, 3});  // [[0,1,2],[3,4,5]]
  EXPECT_EQ(einsum("ba", {x}).shape(), (Shape{3, 2}));
  EXPECT_EQ(floats(einsum("ba", {x})), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(einsum("bA", {x}).shape(), (Shape{3, 2}));
  EXPECT_EQ(einsum("ab", {x}).shape(), (Shape{2, 3}));
  EXPECT_EQ(einsum(" i j -> j ", {x}).to_vector<float>(), (std::vector<float>{3, 5, 7}));
  EXPECT_EQ(einsum("i...", {zeros({2, 3, 4})}).shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(einsum("...", {x}).shape(), (Shape{2, 3}));
  // "ij->ij" is the operand itself.
  EXPECT_TRUE(all_equal(einsum("ij->ij", {x}), x));
}

TEST(Einsum, BroadcastingAndNonContiguous) {
  // Hand-computed / identity oracles. A size-1 label broadcasts as in NumPy (i of
  // sizes 3 and 1); as a contracted label the size-1 side multiplies the other's sum.
  Tensor v = tensor<float>({1, 2, 3}), one = tensor<float>({2});
  EXPECT_EQ(floats(einsum("i,i->i", {v, one})), (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(einsum("i,i", {v, one}).item<float>(), 12.0f);
  // Ellipsis axes broadcast: (2, 1, 2, 2) with (3, 2, 2) -> (2, 3, 2, 2).
  Tensor a = wave({2, 1, 2, 2}), b = wave({3, 2, 2}, 0.5);
  EXPECT_TRUE(all_close(einsum("...ij,...jk->...ik", {a, b}), matmul(a, b), kRtol32, kAtol32));
  // Transposed operands: "ij,kj->ik" on views equals matmul with a transpose.
  Tensor p = transpose(wave({4, 3})), q = wave({5, 4}, 1.0);
  EXPECT_TRUE(all_close(einsum("ij,kj->ik", {p, q}), naive(p, transpose(q)), kRtol32, kAtol32));
  // A diagonal of a transposed view: trace is invariant (0 + 4 + 8 for arange(9)).
  Tensor sq = transpose(reshape(arange(9, DType::f32), {3, 3}));
  EXPECT_EQ(einsum("ii", {sq}).item<float>(), 12.0f);
  // Four operands, contracted left to right: a sum of ones over i, j, k, l, m.
  Tensor w = ones({2, 3});
  EXPECT_EQ(einsum("ij,jk,kl,lm->", {w, transpose(w), w, transpose(w)}).item<float>(),
            2.0f * 3 * 2 * 3 * 2);
}

TEST(Einsum, DtypesFollowPromotion) {
  // Hand-computed: integer einsum stays in its type (trace of [[1,2],[3,4]] = 5); bool
  // is the or of ands; mixed operands promote (s32 with f32 gives f32).
  Tensor m = tensor<std::int32_t>({1, 2, 3, 4}, {2, 2});
  Tensor t = einsum("ii", {m});
  EXPECT_EQ(t.dtype(), DType::s32);
  EXPECT_EQ(t.item<int>(), 5);
  EXPECT_EQ(einsum("ij->", {m}).dtype(), DType::s32);
  Tensor b = tensor<bool>({true, false, false, false}, {2, 2});
  Tensor bb = einsum("ij,jk->ik", {b, b});
  EXPECT_EQ(bb.dtype(), DType::bool_);
  EXPECT_EQ(bb.to_vector<int>(), (std::vector<int>{1, 0, 0, 0}));
  EXPECT_EQ(einsum("ij->", {b}).to_vector<int>(), (std::vector<int>{1}));
  EXPECT_EQ(einsum("ij,j->i", {m, tensor<float>({1, 1})}).dtype(), DType::f32);
}

TEST(Einsum, Errors) {
  Tensor m = zeros({2, 3}), s = zeros({3, 3});
  const char* op = "einsum";
  EXPECT_EMILY_ERROR(einsum("ij", {}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ij->i->j", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("i.j", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("i1", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("......", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ijk", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("i", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ijk...", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ij,jk", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ij->k", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ij->ii", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("...i->i", {m}), ValueError, op);
  EXPECT_EMILY_ERROR(einsum("ij,jk", {m, zeros({4, 2})}), ShapeError, op);
  EXPECT_EMILY_ERROR(einsum("ii", {m}), ShapeError, op);
  EXPECT_EMILY_ERROR(einsum("ij", {Tensor()}), ValueError, op);
  // j has sizes 1, 0 and 5: the 1 broadcasts, but 0 and 5 disagree.
  EXPECT_EMILY_ERROR(einsum("ij,jk,jl->ikl", {zeros({2, 1}), zeros({0, 2}), zeros({5, 2})}),
                     ShapeError, op);
  EXPECT_TRUE(einsum("ii->", {s}).defined());
}

}  // namespace
}  // namespace emily
