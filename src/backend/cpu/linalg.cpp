// Linear algebra through LAPACK (OpenBLAS provides it): cholesky, eigh, inv, lu, pinv,
// qr, solve, solve_triangular, svd and tri_inv, f32 (s routines) and f64 (d routines).
//
// LAPACK is column-major and overwrites its operands, so every matrix of the batch is
// first copied into a column-major workspace straight from the input's strides (which
// also serves transposed and broadcast views), and results are transposed back into the
// row-major outputs. The copies are O(n²) next to the routines' O(n³).
//
// Batches of small matrices are spread over OpenMP threads; large matrices run one at a
// time so that OpenBLAS's own threads never nest inside ours (as in matmul.cpp). A
// kernel raises ValueError for a singular, non-positive-definite or non-converging
// matrix after the whole batch ran; the op layer made sure LAPACK never sees an
// illegal argument (reference xerbla would stop the process).
#include <cblas.h>  // blasint: the integer type this OpenBLAS was built with

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/threads.h"

// The Fortran routines. Every CHARACTER argument has a hidden length argument at the end
// (gfortran's convention); the routines OpenBLAS rewrote in C ignore it.
extern "C" {
using emily_fstrlen = std::size_t;
void spotrf_(const char*, const blasint*, float*, const blasint*, blasint*, emily_fstrlen);
void dpotrf_(const char*, const blasint*, double*, const blasint*, blasint*, emily_fstrlen);
void ssyevd_(const char*, const char*, const blasint*, float*, const blasint*, float*, float*,
             const blasint*, blasint*, const blasint*, blasint*, emily_fstrlen, emily_fstrlen);
void dsyevd_(const char*, const char*, const blasint*, double*, const blasint*, double*, double*,
             const blasint*, blasint*, const blasint*, blasint*, emily_fstrlen, emily_fstrlen);
void sgetrf_(const blasint*, const blasint*, float*, const blasint*, blasint*, blasint*);
void dgetrf_(const blasint*, const blasint*, double*, const blasint*, blasint*, blasint*);
void sgetri_(const blasint*, float*, const blasint*, const blasint*, float*, const blasint*,
             blasint*);
void dgetri_(const blasint*, double*, const blasint*, const blasint*, double*, const blasint*,
             blasint*);
void sgesdd_(const char*, const blasint*, const blasint*, float*, const blasint*, float*, float*,
             const blasint*, float*, const blasint*, float*, const blasint*, blasint*, blasint*,
             emily_fstrlen);
void dgesdd_(const char*, const blasint*, const blasint*, double*, const blasint*, double*, double*,
             const blasint*, double*, const blasint*, double*, const blasint*, blasint*, blasint*,
             emily_fstrlen);
void sgeqrf_(const blasint*, const blasint*, float*, const blasint*, float*, float*, const blasint*,
             blasint*);
void dgeqrf_(const blasint*, const blasint*, double*, const blasint*, double*, double*,
             const blasint*, blasint*);
void sorgqr_(const blasint*, const blasint*, const blasint*, float*, const blasint*, const float*,
             float*, const blasint*, blasint*);
void dorgqr_(const blasint*, const blasint*, const blasint*, double*, const blasint*, const double*,
             double*, const blasint*, blasint*);
void sgesv_(const blasint*, const blasint*, float*, const blasint*, blasint*, float*,
            const blasint*, blasint*);
void dgesv_(const blasint*, const blasint*, double*, const blasint*, blasint*, double*,
            const blasint*, blasint*);
void strtrs_(const char*, const char*, const char*, const blasint*, const blasint*, const float*,
             const blasint*, float*, const blasint*, blasint*, emily_fstrlen, emily_fstrlen,
             emily_fstrlen);
void dtrtrs_(const char*, const char*, const char*, const blasint*, const blasint*, const double*,
             const blasint*, double*, const blasint*, blasint*, emily_fstrlen, emily_fstrlen,
             emily_fstrlen);
void strtri_(const char*, const char*, const blasint*, float*, const blasint*, blasint*,
             emily_fstrlen, emily_fstrlen);
void dtrtri_(const char*, const char*, const blasint*, double*, const blasint*, blasint*,
             emily_fstrlen, emily_fstrlen);
}

namespace emily::cpu {

namespace {

using I = blasint;

// ---- typed wrappers: value arguments in, info out ----------------------------------------

I potrf(char uplo, I n, float* a, I lda) {
  I info = 0;
  spotrf_(&uplo, &n, a, &lda, &info, 1);
  return info;
}
I potrf(char uplo, I n, double* a, I lda) {
  I info = 0;
  dpotrf_(&uplo, &n, a, &lda, &info, 1);
  return info;
}
I syevd(char uplo, I n, float* a, I lda, float* w, float* work, I lwork, I* iwork, I liwork) {
  I info = 0;
  const char jobz = 'V';
  ssyevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork, &info, 1, 1);
  return info;
}
I syevd(char uplo, I n, double* a, I lda, double* w, double* work, I lwork, I* iwork, I liwork) {
  I info = 0;
  const char jobz = 'V';
  dsyevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork, &info, 1, 1);
  return info;
}
I getrf(I m, I n, float* a, I lda, I* ipiv) {
  I info = 0;
  sgetrf_(&m, &n, a, &lda, ipiv, &info);
  return info;
}
I getrf(I m, I n, double* a, I lda, I* ipiv) {
  I info = 0;
  dgetrf_(&m, &n, a, &lda, ipiv, &info);
  return info;
}
I getri(I n, float* a, I lda, const I* ipiv, float* work, I lwork) {
  I info = 0;
  sgetri_(&n, a, &lda, ipiv, work, &lwork, &info);
  return info;
}
I getri(I n, double* a, I lda, const I* ipiv, double* work, I lwork) {
  I info = 0;
  dgetri_(&n, a, &lda, ipiv, work, &lwork, &info);
  return info;
}
I gesdd(char jobz, I m, I n, float* a, I lda, float* s, float* u, I ldu, float* vt, I ldvt,
        float* work, I lwork, I* iwork) {
  I info = 0;
  sgesdd_(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info, 1);
  return info;
}
I gesdd(char jobz, I m, I n, double* a, I lda, double* s, double* u, I ldu, double* vt, I ldvt,
        double* work, I lwork, I* iwork) {
  I info = 0;
  dgesdd_(&jobz, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info, 1);
  return info;
}
I geqrf(I m, I n, float* a, I lda, float* tau, float* work, I lwork) {
  I info = 0;
  sgeqrf_(&m, &n, a, &lda, tau, work, &lwork, &info);
  return info;
}
I geqrf(I m, I n, double* a, I lda, double* tau, double* work, I lwork) {
  I info = 0;
  dgeqrf_(&m, &n, a, &lda, tau, work, &lwork, &info);
  return info;
}
I orgqr(I m, I n, I k, float* a, I lda, const float* tau, float* work, I lwork) {
  I info = 0;
  sorgqr_(&m, &n, &k, a, &lda, tau, work, &lwork, &info);
  return info;
}
I orgqr(I m, I n, I k, double* a, I lda, const double* tau, double* work, I lwork) {
  I info = 0;
  dorgqr_(&m, &n, &k, a, &lda, tau, work, &lwork, &info);
  return info;
}
I gesv(I n, I nrhs, float* a, I lda, I* ipiv, float* b, I ldb) {
  I info = 0;
  sgesv_(&n, &nrhs, a, &lda, ipiv, b, &ldb, &info);
  return info;
}
I gesv(I n, I nrhs, double* a, I lda, I* ipiv, double* b, I ldb) {
  I info = 0;
  dgesv_(&n, &nrhs, a, &lda, ipiv, b, &ldb, &info);
  return info;
}
I trtrs(char uplo, I n, I nrhs, const float* a, I lda, float* b, I ldb) {
  I info = 0;
  const char trans = 'N', diag = 'N';
  strtrs_(&uplo, &trans, &diag, &n, &nrhs, a, &lda, b, &ldb, &info, 1, 1, 1);
  return info;
}
I trtrs(char uplo, I n, I nrhs, const double* a, I lda, double* b, I ldb) {
  I info = 0;
  const char trans = 'N', diag = 'N';
  dtrtrs_(&uplo, &trans, &diag, &n, &nrhs, a, &lda, b, &ldb, &info, 1, 1, 1);
  return info;
}
I trtri(char uplo, I n, float* a, I lda) {
  I info = 0;
  const char diag = 'N';
  strtri_(&uplo, &diag, &n, a, &lda, &info, 1, 1);
  return info;
}
I trtri(char uplo, I n, double* a, I lda) {
  I info = 0;
  const char diag = 'N';
  dtrtri_(&uplo, &diag, &n, a, &lda, &info, 1, 1);
  return info;
}

// A workspace size returned by a query (lwork = -1) in work[0]. In f32 a large size
// may have been rounded down on its way through a float, so round up with a margin.
template <class T>
I lwork_from(T queried) {
  return static_cast<I>(std::ceil(static_cast<double>(queried) * (1 + 1e-6))) + 1;
}

// ---- batches -----------------------------------------------------------------------------

// A matrix of at most this many multiply-adds (64³) is factored on one thread: OpenBLAS
// stays single-threaded for these, so batches of them go over our OpenMP threads.
constexpr double kSmallMatrix = 262144.0;

// The element offset of each matrix of `t` (batch order), from its batch strides.
std::vector<std::int64_t> matrix_offsets(const Tensor& t) {
  const int nb = t.ndim() - 2;
  const Shape& shape = t.shape();
  const Strides& strides = t.strides();
  std::int64_t count = 1;
  for (int d = 0; d < nb; ++d) count *= shape[d];
  std::vector<std::int64_t> offs(static_cast<std::size_t>(count));
  Shape idx(static_cast<std::size_t>(nb), 0);
  std::int64_t off = 0;
  for (auto& o : offs) {
    o = off;
    for (int d = nb - 1; d >= 0; --d) {  // odometer step
      off += strides[d];
      if (++idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return offs;
}

// Column-major copy (leading dimension ld) of the matrix at element offset `off` of t.
template <class T>
void load(const Tensor& t, std::int64_t off, T* dst, I ld) {
  const std::int64_t rows = t.shape(-2), cols = t.shape(-1);
  const std::int64_t rs = t.strides()[t.ndim() - 2], cs = t.strides()[t.ndim() - 1];
  const T* src = t.data<T>() + off;
  for (std::int64_t j = 0; j < cols; ++j)
    for (std::int64_t i = 0; i < rows; ++i) dst[i + j * ld] = src[i * rs + j * cs];
}

// Row-major rows x cols output from a column-major matrix (leading dimension ld).
template <class T>
void store(const T* src, I ld, std::int64_t rows, std::int64_t cols, T* dst) {
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) dst[i * cols + j] = src[i + j * ld];
}

// Zeroes the strict upper (lower = true keeps the lower triangle) or strict lower part of
// a column-major n x n matrix.
template <class T>
void keep_triangle(T* a, I ld, std::int64_t n, bool lower) {
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i < n; ++i)
      if (lower ? i < j : i > j) a[i + j * ld] = T(0);
}

I ld_of(std::int64_t rows) {
  return static_cast<I>(std::max<std::int64_t>(1, rows));
}

struct Failure {
  std::int64_t index = -1;  // the first matrix of the batch that failed
  I info = 0;
  explicit operator bool() const { return index >= 0; }
};

// Runs f(i) -> LAPACK info for every matrix i of a batch of `count` matrices whose larger
// side is `side`. Exceptions (allocation) must not leave an OpenMP region, so they are
// caught per matrix and the first one is rethrown after the loop.
template <class F>
Failure each_matrix(std::int64_t count, std::int64_t side, F&& f) {
  std::vector<I> infos(static_cast<std::size_t>(count), 0);
  std::exception_ptr error;
  auto one = [&](std::int64_t i) {
    try {
      infos[static_cast<std::size_t>(i)] = f(i);
    } catch (...) {
#pragma omp critical(emily_linalg_error)
      if (!error) error = std::current_exception();
    }
  };
  const auto s = static_cast<double>(side);
  if (count > 1 && s * s * s <= kSmallMatrix) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t i = 0; i < count; ++i) one(i);
  } else {
    for (std::int64_t i = 0; i < count; ++i) one(i);
  }
  if (error) std::rethrow_exception(error);
  for (std::int64_t i = 0; i < count; ++i)
    if (infos[static_cast<std::size_t>(i)] != 0) return {i, infos[static_cast<std::size_t>(i)]};
  return {};
}

// " (matrix 3 of the batch)" when there is a batch, else "".
std::string which(const Failure& f, std::int64_t count) {
  if (count <= 1) return "";
  return " (matrix " + std::to_string(f.index) + " of the batch)";
}

std::int64_t matrices(const Tensor& t) {
  std::int64_t count = 1;
  for (int d = 0; d < t.ndim() - 2; ++d) count *= t.shape()[d];
  return count;
}

// Calls body.template operator()<T>() with T the kernel's element type (f32 or f64).
template <class F>
void visit_real(DType t, F&& body) {
  if (t == DType::f64) {
    body.template operator()<double>();
  } else {
    body.template operator()<float>();
  }
}

// ---- kernels -----------------------------------------------------------------------------

// Runs `routine(uplo, n, matrix, ld)` on each matrix of the batch in place and keeps its
// `upper` (or lower) triangle: cholesky (potrf) and tri_inv (trtri) differ only there.
template <class Routine>
Failure triangle_in_place(const Tensor& a, Tensor& y_out, bool upper, Routine routine) {
  const std::int64_t n = a.shape(-1), count = matrices(a);
  const auto offs = matrix_offsets(a);
  Failure fail;
  visit_real(a.dtype(), [&]<class T>() {
    T* y = y_out.data<T>();
    fail = each_matrix(count, n, [&](std::int64_t i) {
      const I ld = ld_of(n);
      std::vector<T> w(static_cast<std::size_t>(ld * n));
      load(a, offs[i], w.data(), ld);
      const I info = routine(upper ? 'U' : 'L', static_cast<I>(n), w.data(), ld);
      keep_triangle(w.data(), ld, n, !upper);  // the other triangle was never read
      store(w.data(), ld, n, n, y + i * n * n);
      return info;
    });
  });
  return fail;
}

void cholesky_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const bool upper = std::get<LinalgAttr>(attr).upper;
  Failure fail = triangle_in_place(
      in[0], out[0], upper, [](char uplo, I n, auto* w, I ld) { return potrf(uplo, n, w, ld); });
  if (fail) {
    EMILY_THROW(ValueError, "linalg_cholesky", "matrix is not positive definite",
                which(fail, matrices(in[0])), ": its leading minor of order ", fail.info,
                " is not");
  }
}

void eigh_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const bool upper = std::get<LinalgAttr>(attr).upper;
  const Tensor& a = in[0];
  const std::int64_t n = a.shape(-1), count = matrices(a);
  const auto offs = matrix_offsets(a);
  Failure fail;
  visit_real(a.dtype(), [&]<class T>() {
    T* w_out = out[0].data<T>();
    T* v_out = out[1].data<T>();
    const char uplo = upper ? 'U' : 'L';
    fail = each_matrix(count, n, [&](std::int64_t i) {
      const I ld = ld_of(n), N = static_cast<I>(n);
      std::vector<T> m(static_cast<std::size_t>(ld * n));
      load(a, offs[i], m.data(), ld);
      T wq = 0;
      I iwq = 0;
      I info = syevd(uplo, N, m.data(), ld, w_out + i * n, &wq, -1, &iwq, -1);
      if (info != 0) return info;
      std::vector<T> work(static_cast<std::size_t>(lwork_from(wq)));
      std::vector<I> iwork(static_cast<std::size_t>(std::max<I>(1, iwq)));
      info = syevd(uplo, N, m.data(), ld, w_out + i * n, work.data(), static_cast<I>(work.size()),
                   iwork.data(), static_cast<I>(iwork.size()));
      store(m.data(), ld, n, n, v_out + i * n * n);  // eigenvectors are the columns
      return info;
    });
  });
  if (fail) {
    EMILY_THROW(ValueError, "linalg_eigh", "the eigenvalue iteration did not converge",
                which(fail, count), " (LAPACK info ", fail.info, ")");
  }
}

void inv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& a = in[0];
  const std::int64_t n = a.shape(-1), count = matrices(a);
  const auto offs = matrix_offsets(a);
  Failure fail;
  visit_real(a.dtype(), [&]<class T>() {
    T* y = out[0].data<T>();
    fail = each_matrix(count, n, [&](std::int64_t i) {
      const I ld = ld_of(n), N = static_cast<I>(n);
      std::vector<T> m(static_cast<std::size_t>(ld * n));
      std::vector<I> ipiv(static_cast<std::size_t>(n));
      load(a, offs[i], m.data(), ld);
      I info = getrf(N, N, m.data(), ld, ipiv.data());
      if (info != 0) return info;
      T wq = 0;
      getri(N, m.data(), ld, ipiv.data(), &wq, -1);
      std::vector<T> work(static_cast<std::size_t>(lwork_from(wq)));
      info = getri(N, m.data(), ld, ipiv.data(), work.data(), static_cast<I>(work.size()));
      store(m.data(), ld, n, n, y + i * n * n);
      return info;
    });
  });
  if (fail) {
    EMILY_THROW(ValueError, "linalg_inv", "matrix is singular", which(fail, count), ": pivot ",
                fail.info - 1, " of its LU factorization is exactly zero");
  }
}

void lu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  const auto offs = matrix_offsets(a);
  visit_real(a.dtype(), [&]<class T>() {
    T* P = out[0].data<T>();
    T* L = out[1].data<T>();
    T* U = out[2].data<T>();
    each_matrix(count, std::max(m, n), [&](std::int64_t b) {
      const I ld = ld_of(m);
      std::vector<T> w(static_cast<std::size_t>(ld * n));
      std::vector<I> ipiv(static_cast<std::size_t>(k));
      load(a, offs[b], w.data(), ld);
      // info > 0 only says U has an exact zero on its diagonal: no error for lu.
      getrf(static_cast<I>(m), static_cast<I>(n), w.data(), ld, ipiv.data());
      T* l = L + b * m * k;
      T* u = U + b * k * n;
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t c = 0; c < k; ++c)
          l[r * k + c] = r == c ? T(1) : (r > c ? w[r + c * ld] : T(0));
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t c = 0; c < n; ++c) u[r * n + c] = r <= c ? w[r + c * ld] : T(0);
      // getrf swapped row i with row ipiv[i] in turn; row i of L·U is row perm[i] of A,
      // so A = P·L·U with P[perm[i], i] = 1.
      std::vector<std::int64_t> perm(static_cast<std::size_t>(m));
      for (std::int64_t r = 0; r < m; ++r) perm[r] = r;
      for (std::int64_t r = 0; r < k; ++r) std::swap(perm[r], perm[ipiv[r] - 1]);
      T* p = P + b * m * m;
      std::fill(p, p + m * m, T(0));
      for (std::int64_t r = 0; r < m; ++r) p[perm[r] * m + r] = T(1);
      return I(0);
    });
  });
}

// svd_one's info for an input with NaN or Inf (LAPACK's own infos are small).
constexpr I kNotFinite = std::numeric_limits<I>::min();

// The SVD of one column-major m x n matrix (destroyed): s (k), and with jobz 'S' the
// column-major u (m x k, ldu) and vt (k x n, ldvt). Returns gesdd's info.
template <class T>
I svd_one(char jobz, std::int64_t m, std::int64_t n, T* a, I lda, T* s, T* u, I ldu, T* vt,
          I ldvt) {
  // gesdd's answer to NaN or Inf depends on the LAPACK version (-4, no convergence, or
  // NaNs out), so look first and answer the same everywhere.
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i < m; ++i)
      if (!std::isfinite(a[i + j * lda])) return kNotFinite;
  const std::int64_t k = std::min(m, n);
  const I M = static_cast<I>(m), N = static_cast<I>(n);
  std::vector<I> iwork(static_cast<std::size_t>(std::max<std::int64_t>(1, 8 * k)));
  T wq = 0;
  I info = gesdd(jobz, M, N, a, lda, s, u, ldu, vt, ldvt, &wq, -1, iwork.data());
  if (info != 0) return info;
  std::vector<T> work(static_cast<std::size_t>(lwork_from(wq)));
  return gesdd(jobz, M, N, a, lda, s, u, ldu, vt, ldvt, work.data(), static_cast<I>(work.size()),
               iwork.data());
}

// svd_one's info: kNotFinite, or gesdd's (> 0: no convergence).
[[noreturn]] void svd_failed(const char* op, const Failure& f, std::int64_t count) {
  if (f.info == kNotFinite) {
    EMILY_THROW(ValueError, op, "matrix contains NaN or Inf", which(f, count));
  }
  EMILY_THROW(ValueError, op, "the SVD did not converge", which(f, count), " (LAPACK info ", f.info,
              ")");
}

void svd_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const bool uv = std::get<LinalgAttr>(attr).compute_uv;
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  const auto offs = matrix_offsets(a);
  Failure fail;
  visit_real(a.dtype(), [&]<class T>() {
    T* S = out[uv ? 1 : 0].data<T>();
    fail = each_matrix(count, std::max(m, n), [&](std::int64_t b) {
      const I lda = ld_of(m), ldu = ld_of(m), ldvt = ld_of(k);
      std::vector<T> w(static_cast<std::size_t>(lda * n));
      load(a, offs[b], w.data(), lda);
      if (!uv) {
        T dummy[1] = {T(0)};
        return svd_one('N', m, n, w.data(), lda, S + b * k, dummy, I(1), dummy, I(1));
      }
      std::vector<T> u(static_cast<std::size_t>(ldu * k)), vt(static_cast<std::size_t>(ldvt * n));
      const I info = svd_one('S', m, n, w.data(), lda, S + b * k, u.data(), ldu, vt.data(), ldvt);
      store(u.data(), ldu, m, k, out[0].data<T>() + b * m * k);
      store(vt.data(), ldvt, k, n, out[2].data<T>() + b * k * n);
      return info;
    });
  });
  if (fail) svd_failed("linalg_svd", fail, count);
}

void pinv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  const auto offs = matrix_offsets(a);
  Failure fail;
  visit_real(a.dtype(), [&]<class T>() {
    T* Y = out[0].data<T>();
    fail = each_matrix(count, std::max(m, n), [&](std::int64_t b) {
      const I lda = ld_of(m), ldu = ld_of(m), ldvt = ld_of(k);
      std::vector<T> w(static_cast<std::size_t>(lda * n)), s(static_cast<std::size_t>(k));
      std::vector<T> u(static_cast<std::size_t>(ldu * k)), vt(static_cast<std::size_t>(ldvt * n));
      load(a, offs[b], w.data(), lda);
      const I info = svd_one('S', m, n, w.data(), lda, s.data(), u.data(), ldu, vt.data(), ldvt);
      if (info != 0) return info;
      // pinv (n x m) = V·diag(1/s)·Uᵀ over the singular values above the cutoff (NumPy's
      // rtol=None: max(M, N)·eps·σ_max); s is descending, so s[0] is σ_max.
      const T cut = static_cast<T>(std::max(m, n)) * std::numeric_limits<T>::epsilon() * s[0];
      T* y = Y + b * n * m;
      std::fill(y, y + n * m, T(0));
      for (std::int64_t j = 0; j < k; ++j) {
        if (!(s[j] > cut)) continue;
        const T inv_s = T(1) / s[j];
        const T* uj = u.data() + j * ldu;  // column j of U
        for (std::int64_t r = 0; r < n; ++r) {
          const T c = vt[j + r * ldvt] * inv_s;
          T* row = y + r * m;
          for (std::int64_t q = 0; q < m; ++q) row[q] += c * uj[q];
        }
      }
      return I(0);
    });
  });
  if (fail) svd_failed("linalg_pinv", fail, count);
}

void qr_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  const auto offs = matrix_offsets(a);
  visit_real(a.dtype(), [&]<class T>() {
    T* Q = out[0].data<T>();
    T* R = out[1].data<T>();
    each_matrix(count, std::max(m, n), [&](std::int64_t b) {
      const I ld = ld_of(m), M = static_cast<I>(m), N = static_cast<I>(n), K = static_cast<I>(k);
      std::vector<T> w(static_cast<std::size_t>(ld * n)), tau(static_cast<std::size_t>(k));
      load(a, offs[b], w.data(), ld);
      T q1 = 0, q2 = 0;
      geqrf(M, N, w.data(), ld, tau.data(), &q1, -1);
      orgqr(M, K, K, w.data(), ld, tau.data(), &q2, -1);
      std::vector<T> work(static_cast<std::size_t>(std::max(lwork_from(q1), lwork_from(q2))));
      const I lwork = static_cast<I>(work.size());
      geqrf(M, N, w.data(), ld, tau.data(), work.data(), lwork);
      T* r = R + b * k * n;  // R is the upper triangle of the first k rows
      for (std::int64_t i = 0; i < k; ++i)
        for (std::int64_t j = 0; j < n; ++j) r[i * n + j] = i <= j ? w[i + j * ld] : T(0);
      orgqr(M, K, K, w.data(), ld, tau.data(), work.data(), lwork);
      store(w.data(), ld, m, k, Q + b * m * k);
      return I(0);
    });
  });
}

// solve and solve_triangular: a (batch, n, n) and b (batch, n, k), broadcast by the op
// layer (stride-0 batch axes are read, never materialized).
template <bool Triangular>
void solve_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const bool upper = std::get<LinalgAttr>(attr).upper;
  const Tensor &a = in[0], &b = in[1];
  const std::int64_t n = a.shape(-1), k = b.shape(-1), count = matrices(a);
  const auto aoffs = matrix_offsets(a), boffs = matrix_offsets(b);
  Failure fail;
  visit_real(a.dtype(), [&]<class T>() {
    T* X = out[0].data<T>();
    fail = each_matrix(count, std::max(n, k), [&](std::int64_t i) {
      const I ld = ld_of(n), N = static_cast<I>(n), K = static_cast<I>(k);
      std::vector<T> am(static_cast<std::size_t>(ld * n)), bm(static_cast<std::size_t>(ld * k));
      load(a, aoffs[i], am.data(), ld);
      load(b, boffs[i], bm.data(), ld);
      I info;
      if constexpr (Triangular) {
        info = trtrs(upper ? 'U' : 'L', N, K, am.data(), ld, bm.data(), ld);
      } else {
        std::vector<I> ipiv(static_cast<std::size_t>(n));
        info = gesv(N, K, am.data(), ld, ipiv.data(), bm.data(), ld);
      }
      store(bm.data(), ld, n, k, X + i * n * k);
      return info;
    });
  });
  if (fail) {
    const char* op = Triangular ? "linalg_solve_triangular" : "linalg_solve";
    EMILY_THROW(ValueError, op, "matrix a is singular", which(fail, count), ": ",
                Triangular ? "diagonal entry " : "pivot ", fail.info - 1, " is exactly zero");
  }
}

void tri_inv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const bool upper = std::get<LinalgAttr>(attr).upper;
  Failure fail = triangle_in_place(
      in[0], out[0], upper, [](char uplo, I n, auto* w, I ld) { return trtri(uplo, n, w, ld); });
  if (fail) {
    EMILY_THROW(ValueError, "tri_inv", "matrix is singular", which(fail, matrices(in[0])),
                ": diagonal entry ", fail.info - 1, " is exactly zero");
  }
}

}  // namespace

void register_linalg(KernelTable& t) {
  t.set(Primitive::linalg_cholesky, cholesky_kernel);
  t.set(Primitive::linalg_eigh, eigh_kernel);
  t.set(Primitive::linalg_inv, inv_kernel);
  t.set(Primitive::linalg_lu, lu_kernel);
  t.set(Primitive::linalg_pinv, pinv_kernel);
  t.set(Primitive::linalg_qr, qr_kernel);
  t.set(Primitive::linalg_solve, solve_kernel<false>);
  t.set(Primitive::linalg_solve_triangular, solve_kernel<true>);
  t.set(Primitive::linalg_svd, svd_kernel);
  t.set(Primitive::tri_inv, tri_inv_kernel);
}

}  // namespace emily::cpu
