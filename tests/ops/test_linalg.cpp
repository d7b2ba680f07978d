// emily::linalg and tri_inv. Goldens: scripts/fixtures/linalg.py (NumPy 2 / SciPy, in
// f64 from the same f32 inputs); the other oracles are the defining identities
// (L·Lᵀ = A, Q·R = A, A·inv(A) = I, ...) evaluated with matmul.
//
// Tolerances: the inputs are small (≤ 5x5), well-conditioned f32 matrices with O(1) to
// O(10) entries, factored by f32 LAPACK, so results agree with the f64 oracles to a few
// hundred f32 ULP: rtol 1e-4 with atol 1e-5 (kR32/kA32). Identities re-multiplied in f32
// get atol 1e-4 (sums of O(10)-sized products). f64 runs: rtol 1e-10, atol 1e-12.
#include <cmath>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::floats;

constexpr double kR32 = 1e-4, kA32 = 1e-5, kId32 = 1e-4;
constexpr double kR64 = 1e-10, kA64 = 1e-12;

Tensor fx(const std::string& name) {
  return testing::fixture("linalg/" + name + ".npy");
}

// Swaps the last two axes (a view).
Tensor mT(const Tensor& x) {
  std::vector<int> perm(static_cast<std::size_t>(x.ndim()));
  for (int i = 0; i < x.ndim(); ++i) perm[i] = i;
  std::swap(perm[x.ndim() - 1], perm[x.ndim() - 2]);
  return transpose(x, perm);
}

// The identity of x's trailing square shape, broadcast over its batch.
Tensor identity_like(const Tensor& x) {
  return broadcast_to(eye(x.shape(-1), -1, 0, x.dtype()), x.shape());
}

// x·diag(d): column j of x scaled by d[..., j].
Tensor scale_columns(const Tensor& x, const Tensor& d) {
  return x * expand_dims(d, {d.ndim() - 1});
}

// The lower (or upper) triangle of a 2-d tensor, computed on the host.
Tensor triangle(const Tensor& x, bool upper) {
  const std::int64_t n = x.shape(0), m = x.shape(1);
  auto v = x.to_vector<double>();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < m; ++j)
      if (upper ? i > j : i < j) v[static_cast<std::size_t>(i * m + j)] = 0;
  return astype(tensor(v, x.shape()), x.dtype());
}

// Whether every entry strictly above (upper = false) or below the diagonal is zero.
bool is_triangular(const Tensor& x, bool upper) {
  const std::int64_t n = x.shape(-2), m = x.shape(-1),
                     count = x.size() / std::max<std::int64_t>(1, n * m);
  auto v = x.to_vector<double>();
  for (std::int64_t b = 0; b < count; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < m; ++j)
        if ((upper ? i > j : i < j) && v[static_cast<std::size_t>((b * n + i) * m + j)] != 0)
          return false;
  return true;
}

// ---- cholesky -------------------------------------------------------------------------------

TEST(Cholesky, MatchesNumPy) {
  // Oracle: np.linalg.cholesky and scipy.linalg.cholesky(lower=False); kR32/kA32.
  Tensor a = fx("spd4");
  EXPECT_TRUE(all_close(linalg::cholesky(a), fx("cholesky_lower"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::cholesky(a, true), fx("cholesky_upper"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::cholesky(fx("spd_batch")), fx("cholesky_batch"), kR32, kA32));
}

TEST(Cholesky, ReconstructsAndReadsOneTriangle) {
  // Oracle: L·Lᵀ = A and Uᵀ·U = A; atol kId32.
  Tensor a = fx("spd_batch");
  Tensor l = linalg::cholesky(a);
  EXPECT_TRUE(is_triangular(l, false));
  EXPECT_TRUE(all_close(matmul(l, mT(l)), a, 0, kId32));
  Tensor u = linalg::cholesky(a, true);
  EXPECT_TRUE(is_triangular(u, true));
  EXPECT_TRUE(all_close(matmul(mT(u), u), a, 0, kId32));
  // Oracle: the unread triangle does not matter (garbage there gives the same factor).
  Tensor s = fx("spd4");
  Tensor junk = triangle(s, false) + triangle(full({4, 4}, 100.0), true) * (1.0 - eye(4));
  EXPECT_TRUE(all_close(linalg::cholesky(junk), fx("cholesky_lower"), kR32, kA32));
}

TEST(Cholesky, F64AndStridedInput) {
  // Oracle: L·Lᵀ = A in f64; atol 1e-12. A transposed (non-contiguous) view of a
  // symmetric matrix is the same matrix.
  Tensor a = astype(fx("spd4"), DType::f64);
  Tensor at = mT(a);
  ASSERT_FALSE(at.is_contiguous());
  Tensor l = linalg::cholesky(at);
  EXPECT_EQ(l.dtype(), DType::f64);
  EXPECT_TRUE(all_close(matmul(l, mT(l)), a, 0, 1e-12));
  EXPECT_TRUE(all_close(l, astype(fx("cholesky_lower"), DType::f64), kR32, kA32));
}

// ---- eigh -----------------------------------------------------------------------------------

TEST(Eigh, EigenvaluesMatchNumPy) {
  // Oracle: np.linalg.eigvalsh (ascending; UPLO as given); kR32/kA32. Eigenvectors have
  // no golden (their signs are arbitrary): see the next test.
  EXPECT_TRUE(all_close(linalg::eigh(fx("spd4")).first, fx("eigh_w"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::eigh(fx("spd_batch")).first, fx("eigh_batch_w"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::eigh(fx("nonsym4")).first, fx("eigh_lower_w"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::eigh(fx("nonsym4"), true).first, fx("eigh_upper_w"), kR32, kA32));
}

TEST(Eigh, EigenvectorsSatisfyAVEqualsVW) {
  // Oracle: A·V = V·diag(w) and Vᵀ·V = I; atol kId32 (f32), 1e-12 (f64).
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = astype(fx("spd_batch"), dt);
    auto [w, v] = linalg::eigh(a);
    EXPECT_EQ(v.shape(), a.shape());
    const double tol = dt == DType::f32 ? kId32 : 1e-12;
    EXPECT_TRUE(all_close(matmul(a, v), scale_columns(v, w), 0, tol)) << name(dt);
    EXPECT_TRUE(all_close(matmul(mT(v), v), identity_like(a), 0, tol)) << name(dt);
  }
  // The upper triangle of a non-symmetric matrix defines the symmetric matrix read.
  Tensor n = fx("nonsym4");
  Tensor sym = triangle(n, true) + mT(triangle(n, true)) - triangle(triangle(n, true), false);
  auto [w, v] = linalg::eigh(n, true);
  EXPECT_TRUE(all_close(matmul(sym, v), scale_columns(v, w), 0, kId32));
}

// ---- inv ------------------------------------------------------------------------------------

TEST(Inv, MatchesNumPy) {
  // Oracle: np.linalg.inv; kR32/kA32.
  EXPECT_TRUE(all_close(linalg::inv(fx("gen4")), fx("inv"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::inv(fx("gen_batch")), fx("inv_batch"), kR32, kA32));
  // inv(Aᵀ) = inv(A)ᵀ, through a non-contiguous view.
  EXPECT_TRUE(all_close(linalg::inv(mT(fx("gen4"))), mT(fx("inv")), kR32, kA32));
}

TEST(Inv, TimesAIsIdentity) {
  // Oracle: A·inv(A) = I; atol kId32 (f32), 1e-12 (f64).
  Tensor a = fx("gen_batch");
  EXPECT_TRUE(all_close(matmul(a, linalg::inv(a)), identity_like(a), 0, kId32));
  Tensor a64 = astype(a, DType::f64);
  Tensor i64 = linalg::inv(a64);
  EXPECT_EQ(i64.dtype(), DType::f64);
  EXPECT_TRUE(all_close(matmul(a64, i64), identity_like(a64), 0, 1e-12));
}

// ---- lu -------------------------------------------------------------------------------------

TEST(Lu, MatchesSciPy) {
  // Oracle: scipy.linalg.lu (A = P·L·U; partial pivoting has no ties on these inputs, so
  // P, L, U are unique); kR32/kA32.
  for (const char* name : {"gen4", "tall", "wide"}) {
    std::string key = std::string(name) == "gen4" ? "lu" : std::string("lu_") + name;
    auto [p, l, u] = linalg::lu(fx(name));
    EXPECT_TRUE(all_close(p, fx(key + "_p"), 0, 0)) << name;
    EXPECT_TRUE(all_close(l, fx(key + "_l"), kR32, kA32)) << name;
    EXPECT_TRUE(all_close(u, fx(key + "_u"), kR32, kA32)) << name;
  }
}

TEST(Lu, ReconstructsBatchedAndF64) {
  // Oracle: P·L·U = A, L unit lower and U upper triangular; atol kId32 / 1e-12.
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = astype(fx("gen_batch"), dt);
    auto [p, l, u] = linalg::lu(mT(a));  // a transposed, non-contiguous input
    const double tol = dt == DType::f32 ? kId32 : 1e-12;
    EXPECT_TRUE(all_close(matmul(p, matmul(l, u)), mT(a), 0, tol)) << name(dt);
    EXPECT_TRUE(is_triangular(l, false));
    EXPECT_TRUE(is_triangular(u, true));
  }
  // A singular matrix is no error for lu (SciPy): U just has a zero pivot.
  auto [p, l, u] = linalg::lu(fx("rank2"));
  EXPECT_TRUE(all_close(matmul(p, matmul(l, u)), fx("rank2"), 0, 1e-4));
}

// ---- pinv -----------------------------------------------------------------------------------

TEST(Pinv, MatchesNumPy) {
  // Oracle: np.linalg.pinv with the f32 cutoff max(M, N)·eps(f32)·σ_max; kR32/kA32.
  for (const char* name : {"tall", "wide", "rank2"}) {
    Tensor x = linalg::pinv(fx(name));
    Tensor e = fx(std::string("pinv_") + name);
    EXPECT_EQ(x.shape(), e.shape()) << name;
    EXPECT_TRUE(all_close(x, e, kR32, kA32)) << name;
  }
}

TEST(Pinv, MoorePenroseOnRankDeficient) {
  // Oracle: the four Moore-Penrose conditions on a rank-2 4x3 matrix:
  // A·X·A = A, X·A·X = X, (A·X)ᵀ = A·X, (X·A)ᵀ = X·A. atol 1e-4 (A has entries ≤ 15).
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = astype(fx("rank2"), dt);
    Tensor x = linalg::pinv(a);
    const double tol = dt == DType::f32 ? 1e-4 : 1e-12;
    EXPECT_TRUE(all_close(matmul(a, matmul(x, a)), a, 0, tol)) << name(dt);
    EXPECT_TRUE(all_close(matmul(x, matmul(a, x)), x, 0, tol)) << name(dt);
    Tensor ax = matmul(a, x), xa = matmul(x, a);
    EXPECT_TRUE(all_close(mT(ax), ax, 0, tol)) << name(dt);
    EXPECT_TRUE(all_close(mT(xa), xa, 0, tol)) << name(dt);
  }
  // A zero matrix has the zero pseudo-inverse.
  EXPECT_TRUE(all_close(linalg::pinv(zeros({2, 3})), zeros({3, 2}), 0, 0));
}

// ---- qr -------------------------------------------------------------------------------------

// Q·D and D·R with D = sign(diag R): the form the goldens are stored in.
std::pair<Tensor, Tensor> normalized(const Tensor& q, const Tensor& r) {
  auto rv = r.to_vector<double>();
  const std::int64_t k = r.shape(0), n = r.shape(1);
  std::vector<double> d(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < k; ++i) d[i] = rv[static_cast<std::size_t>(i * n + i)] < 0 ? -1 : 1;
  Tensor dt = astype(tensor(d, {k}), q.dtype());
  return {q * dt, r * reshape(dt, {k, 1})};
}

TEST(Qr, MatchesNumPyUpToSigns) {
  // Oracle: np.linalg.qr(mode="reduced"), both sides normalized to diag(R) >= 0;
  // kR32/kA32.
  for (const char* name : {"tall", "wide"}) {
    auto [q, r] = linalg::qr(fx(name));
    auto [qn, rn] = normalized(q, r);
    EXPECT_TRUE(all_close(qn, fx(std::string("qr_") + name + "_q"), kR32, kA32)) << name;
    EXPECT_TRUE(all_close(rn, fx(std::string("qr_") + name + "_r"), kR32, kA32)) << name;
  }
}

TEST(Qr, ReconstructsWithOrthonormalQ) {
  // Oracle: Q·R = A, Qᵀ·Q = I, R upper triangular; atol kId32 / 1e-12.
  for (DType dt : {DType::f32, DType::f64}) {
    for (Tensor a :
         {astype(fx("gen_batch"), dt), astype(fx("tall"), dt), mT(astype(fx("tall"), dt))}) {
      auto [q, r] = linalg::qr(a);
      const double tol = dt == DType::f32 ? kId32 : 1e-12;
      EXPECT_TRUE(all_close(matmul(q, r), a, 0, tol)) << to_string(a.shape());
      Tensor qtq = matmul(mT(q), q);
      EXPECT_TRUE(all_close(qtq, identity_like(qtq), 0, tol)) << to_string(a.shape());
      EXPECT_TRUE(is_triangular(r, true));
    }
  }
}

// ---- solve ----------------------------------------------------------------------------------

TEST(Solve, MatchesNumPy) {
  // Oracle: np.linalg.solve (1-d b is a vector, NumPy 2); kR32/kA32.
  Tensor a = fx("gen4");
  Tensor xv = linalg::solve(a, fx("b_vec"));
  EXPECT_EQ(xv.shape(), Shape({4}));
  EXPECT_TRUE(all_close(xv, fx("solve_vec"), kR32, kA32));
  EXPECT_TRUE(all_close(linalg::solve(a, fx("b_mat")), fx("solve_mat"), kR32, kA32));
  EXPECT_TRUE(
      all_close(linalg::solve(fx("gen_batch"), fx("b_batch")), fx("solve_batch"), kR32, kA32));
}

TEST(Solve, BroadcastsBatchesAndSatisfiesAx) {
  // Oracle: A·x = b; atol kId32 (f32), 1e-12 (f64).
  Tensor a = fx("gen_batch"), b = fx("b_batch");
  // One matrix against a batch of right-hand sides.
  Tensor a0 = slice(a, {0, 0, 0}, {1, 3, 3});
  Tensor x = linalg::solve(reshape(a0, {3, 3}), b);
  EXPECT_EQ(x.shape(), Shape({2, 3, 2}));
  EXPECT_TRUE(all_close(matmul(broadcast_to(a0, {2, 3, 3}), x), b, 0, kId32));
  // A batch of matrices against one vector: x is (2, 3).
  Tensor v = tensor<float>({1, -2, 0.5f}, {3});
  Tensor xv = linalg::solve(a, v);
  EXPECT_EQ(xv.shape(), Shape({2, 3}));
  EXPECT_TRUE(all_close(matmul(a, expand_dims(xv, {2})),
                        broadcast_to(reshape(v, {3, 1}), {2, 3, 1}), 0, kId32));
  // f64, transposed a.
  Tensor a64 = astype(a, DType::f64), b64 = astype(b, DType::f64);
  Tensor x64 = linalg::solve(mT(a64), b64);
  EXPECT_EQ(x64.dtype(), DType::f64);
  EXPECT_TRUE(all_close(matmul(mT(a64), x64), b64, 0, 1e-12));
}

TEST(SolveTriangular, MatchesSciPyReadingOneTriangle) {
  // Oracle: scipy.linalg.solve_triangular(lower=...) on the full gen4 (SciPy reads only
  // the named triangle, as we do); kR32/kA32. Then tril(A)·x = b; atol kId32.
  Tensor a = fx("gen4"), b = fx("b_mat");
  for (bool upper : {false, true}) {
    Tensor x = linalg::solve_triangular(a, b, upper);
    EXPECT_TRUE(
        all_close(x, fx(upper ? "solve_triangular_upper" : "solve_triangular_lower"), kR32, kA32));
    EXPECT_TRUE(all_close(matmul(triangle(a, upper), x), b, 0, kId32));
  }
  // A 1-d b and f64.
  Tensor a64 = astype(a, DType::f64);
  Tensor bv = astype(fx("b_vec"), DType::f64);
  Tensor xv = linalg::solve_triangular(a64, bv);
  EXPECT_EQ(xv.shape(), Shape({4}));
  EXPECT_TRUE(all_close(matmul(triangle(a64, false), xv), bv, 0, 1e-12));
}

// ---- svd ------------------------------------------------------------------------------------

TEST(Svd, SingularValuesMatchNumPy) {
  // Oracle: np.linalg.svd(compute_uv=False), descending; kR32/kA32.
  for (const char* name : {"tall", "wide"}) {
    auto [u, s, vt] = linalg::svd(fx(name), false);
    EXPECT_FALSE(u.defined());
    EXPECT_FALSE(vt.defined());
    EXPECT_TRUE(all_close(s, fx(std::string("svd_") + name + "_s"), kR32, kA32)) << name;
    auto [u2, s2, vt2] = linalg::svd(fx(name));
    EXPECT_TRUE(all_close(s2, s, kR32, kA32)) << name;
  }
}

TEST(Svd, ReconstructsWithOrthonormalFactors) {
  // Oracle: U·diag(S)·Vᵀ = A, Uᵀ·U = I, Vᵀ·V = I (reduced shapes); atol kId32 / 1e-12.
  for (DType dt : {DType::f32, DType::f64}) {
    for (Tensor a : {astype(fx("tall"), dt), astype(fx("wide"), dt), astype(fx("gen_batch"), dt),
                     mT(astype(fx("tall"), dt))}) {
      auto [u, s, vt] = linalg::svd(a);
      const std::int64_t k = std::min(a.shape(-2), a.shape(-1));
      EXPECT_EQ(u.shape(-1), k);
      EXPECT_EQ(vt.shape(-2), k);
      const double tol = dt == DType::f32 ? kId32 : 1e-12;
      EXPECT_TRUE(all_close(matmul(scale_columns(u, s), vt), a, 0, tol)) << to_string(a.shape());
      Tensor utu = matmul(mT(u), u), vvt = matmul(vt, mT(vt));
      EXPECT_TRUE(all_close(utu, identity_like(utu), 0, tol));
      EXPECT_TRUE(all_close(vvt, identity_like(vvt), 0, tol));
    }
  }
}

// ---- tri_inv --------------------------------------------------------------------------------

TEST(TriInv, MatchesNumPyAndInverts) {
  // Oracle: np.linalg.inv(np.tril/np.triu(gen4)); kR32/kA32. Then tri_inv(T)·T = I;
  // atol kId32.
  Tensor a = fx("gen4");
  for (bool upper : {false, true}) {
    Tensor x = tri_inv(a, upper);
    EXPECT_TRUE(all_close(x, fx(upper ? "tri_inv_upper" : "tri_inv_lower"), kR32, kA32));
    EXPECT_TRUE(is_triangular(x, upper));
    EXPECT_TRUE(all_close(matmul(x, triangle(a, upper)), eye(4), 0, kId32));
  }
  Tensor b = astype(fx("gen_batch"), DType::f64);
  Tensor xb = tri_inv(b);
  Tensor lb = stack({triangle(reshape(slice(b, {0, 0, 0}, {1, 3, 3}), {3, 3}), false),
                     triangle(reshape(slice(b, {1, 0, 0}, {2, 3, 3}), {3, 3}), false)});
  EXPECT_TRUE(all_close(matmul(xb, lb), identity_like(b), 0, 1e-12));
}

// ---- dtypes and shapes ----------------------------------------------------------------------

TEST(Linalg, DtypeRules) {
  // Oracle: the dtype table of docs/OPS.md ("Linear algebra"); values vs the f32 result
  // with the input's rounding error (f16: rtol 1e-2).
  Tensor a = fx("gen4");
  Tensor h = astype(a, DType::f16);
  Tensor ih = linalg::inv(h);
  EXPECT_EQ(ih.dtype(), DType::f16);
  EXPECT_TRUE(all_close(astype(ih, DType::f32), linalg::inv(astype(h, DType::f32)), 1e-2, 1e-3));
  EXPECT_EQ(linalg::cholesky(astype(fx("spd4"), DType::bf16)).dtype(), DType::bf16);
  // Integers and bool compute in f32 and return f32.
  Tensor ints = tensor<std::int32_t>({2, 1, 1, 3}, {2, 2});
  Tensor ii = linalg::inv(ints);
  EXPECT_EQ(ii.dtype(), DType::f32);
  EXPECT_TRUE(all_close(ii, tensor<float>({0.6f, -0.2f, -0.2f, 0.4f}, {2, 2}), 1e-6, 1e-7));
  auto [q, r] = linalg::qr(tensor<bool>({true, false, true, true}, {2, 2}));
  EXPECT_EQ(q.dtype(), DType::f32);
  // solve promotes a and b first: f32 with f64 computes in f64.
  EXPECT_EQ(linalg::solve(a, astype(fx("b_vec"), DType::f64)).dtype(), DType::f64);
}

TEST(Linalg, EmptyShapes) {
  // Oracle: NumPy's shapes for empty operands; nothing runs for empty outputs.
  EXPECT_EQ(linalg::inv(zeros({0, 3, 3})).shape(), Shape({0, 3, 3}));
  EXPECT_EQ(linalg::pinv(zeros({3, 0})).shape(), Shape({0, 3}));
  auto [p, l, u] = linalg::lu(zeros({3, 0}));
  EXPECT_TRUE(all_close(p, eye(3), 0, 0));
  EXPECT_EQ(l.shape(), Shape({3, 0}));
  EXPECT_EQ(u.shape(), Shape({0, 0}));
  EXPECT_EQ(std::get<1>(linalg::svd(zeros({2, 0, 4}))).shape(), Shape({2, 0}));
}

TEST(Linalg, ManyMatricesInParallel) {
  // Oracle: A·inv(A) = I for each of 64 batch matrices (spread over OpenMP threads);
  // atol kId32.
  Tensor a = broadcast_to(fx("gen4"), {64, 4, 4}) + reshape(arange(0, 64, 1), {64, 1, 1}) * 0.01;
  EXPECT_TRUE(all_close(matmul(a, linalg::inv(a)), identity_like(a), 0, kId32));
}

TEST(Linalg, LargeMatricesOneAtATime) {
  // Oracle: A·inv(A) = I, U·diag(S)·Vᵀ = A and L·Lᵀ = A for 96x96 matrices (above the
  // batch-threading size, so OpenBLAS may thread inside); f64, atol 1e-10.
  const std::int64_t n = 96;
  Tensor wave = sin(reshape(arange(0, 2 * n * n, 1, DType::f64), {2, n, n}) * 0.37);
  Tensor a = wave + identity_like(wave) * static_cast<double>(n);
  EXPECT_TRUE(all_close(matmul(a, linalg::inv(a)), identity_like(a), 0, 1e-10));
  auto [u, s, vt] = linalg::svd(slice(a, {0, 0, 0}, {2, n, 70}));
  EXPECT_TRUE(
      all_close(matmul(scale_columns(u, s), vt), slice(a, {0, 0, 0}, {2, n, 70}), 0, 1e-10));
  Tensor spd = matmul(a, mT(a));
  Tensor l = linalg::cholesky(spd);
  EXPECT_TRUE(all_close(matmul(l, mT(l)), spd, 1e-12, 1e-9));
}

// ---- errors ---------------------------------------------------------------------------------

TEST(Linalg, ErrorsNameTheOp) {
  Tensor sing = tensor<float>({1, 2, 2, 4}, {2, 2});
  EXPECT_EMILY_ERROR(linalg::inv(sing), ValueError, "linalg_inv");
  EXPECT_EMILY_ERROR(linalg::solve(sing, ones({2})), ValueError, "linalg_solve");
  // The failing matrix of a batch is named.
  try {
    linalg::inv(stack({eye(2), sing}));
    ADD_FAILURE() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("matrix 1 of the batch"), std::string::npos) << e.what();
  }
  Tensor indef = tensor<float>({1, 2, 2, 1}, {2, 2});
  EXPECT_EMILY_ERROR(linalg::cholesky(indef), ValueError, "linalg_cholesky");
  EXPECT_EMILY_ERROR(linalg::cholesky(indef, true), ValueError, "linalg_cholesky");
  EXPECT_EMILY_ERROR(tri_inv(tensor<float>({1, 0, 5, 0}, {2, 2})), ValueError, "tri_inv");
  EXPECT_EMILY_ERROR(linalg::solve_triangular(tensor<float>({0, 0, 1, 1}, {2, 2}), ones({2})),
                     ValueError, "linalg_solve_triangular");
  // NaN input: the SVD reports it rather than returning garbage.
  Tensor nan = tensor<float>({1, NAN, 0, 1}, {2, 2});
  EXPECT_EMILY_ERROR(linalg::svd(nan), ValueError, "linalg_svd");
  EXPECT_EMILY_ERROR(linalg::pinv(nan), ValueError, "linalg_pinv");

  // Non-square inputs where a square one is needed.
  Tensor rect = zeros({2, 3});
  EXPECT_EMILY_ERROR(linalg::cholesky(rect), ShapeError, "linalg_cholesky");
  EXPECT_EMILY_ERROR(linalg::eigh(rect), ShapeError, "linalg_eigh");
  EXPECT_EMILY_ERROR(linalg::inv(rect), ShapeError, "linalg_inv");
  EXPECT_EMILY_ERROR(linalg::solve(rect, ones({2})), ShapeError, "linalg_solve");
  EXPECT_EMILY_ERROR(linalg::solve_triangular(rect, ones({2})), ShapeError,
                     "linalg_solve_triangular");
  EXPECT_EMILY_ERROR(tri_inv(rect), ShapeError, "tri_inv");

  // Rank < 2.
  Tensor vec = ones({3});
  EXPECT_EMILY_ERROR(linalg::cholesky(vec), ShapeError, "linalg_cholesky");
  EXPECT_EMILY_ERROR(linalg::eigh(vec), ShapeError, "linalg_eigh");
  EXPECT_EMILY_ERROR(linalg::inv(vec), ShapeError, "linalg_inv");
  EXPECT_EMILY_ERROR(linalg::lu(vec), ShapeError, "linalg_lu");
  EXPECT_EMILY_ERROR(linalg::pinv(vec), ShapeError, "linalg_pinv");
  EXPECT_EMILY_ERROR(linalg::qr(vec), ShapeError, "linalg_qr");
  EXPECT_EMILY_ERROR(linalg::svd(vec), ShapeError, "linalg_svd");
  EXPECT_EMILY_ERROR(tri_inv(scalar_tensor(1.0)), ShapeError, "tri_inv");

  // Mismatched solve shapes.
  Tensor a = eye(3);
  EXPECT_EMILY_ERROR(linalg::solve(a, ones({4})), ShapeError, "linalg_solve");
  EXPECT_EMILY_ERROR(linalg::solve(a, ones({2, 3})), ShapeError, "linalg_solve");
  EXPECT_EMILY_ERROR(linalg::solve(a, scalar_tensor(1.0)), ShapeError, "linalg_solve");
  EXPECT_EMILY_ERROR(linalg::solve(zeros({2, 3, 3}), ones({4, 3, 1})), ShapeError, "linalg_solve");
  EXPECT_EMILY_ERROR(linalg::solve_triangular(a, ones({4, 1})), ShapeError,
                     "linalg_solve_triangular");

  // Complex inputs and undefined tensors.
  Tensor c = astype(eye(2), DType::c64);
  EXPECT_EMILY_ERROR(linalg::inv(c), Unsupported, "linalg_inv");
  EXPECT_EMILY_ERROR(linalg::svd(c), Unsupported, "linalg_svd");
  EXPECT_EMILY_ERROR(linalg::solve(eye(2), astype(ones({2}), DType::c64)), Unsupported,
                     "linalg_solve");
  EXPECT_EMILY_ERROR(linalg::qr(Tensor()), ValueError, "linalg_qr");
}

}  // namespace
}  // namespace emily
