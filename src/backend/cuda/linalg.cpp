// Linear algebra on CUDA through cuSOLVER and cuBLAS, f32 and f64 (the op layer converts
// everything else), with the CPU kernels' outputs, conventions and errors
// (src/backend/cpu/linalg.cpp).
//
// Layouts: the libraries are column-major and a row-major matrix read column-major is
// its transpose, which several routines can use as it stands: the Cholesky factor of a
// symmetric A is found from the other triangle of the same buffer, triangular solves go
// to trsm as X^T A^T = B^T (side right) straight from the input's strides, and an SVD of
// a wide matrix is the SVD of its tall transpose with U and V^T swapping places. The
// rest (LU, QR, eigh, solve, inv and tall SVDs) factor a column-major copy made by one
// strided copy on the device, so that pivots and failure indices match LAPACK's on the
// same matrix. Every copy and workspace comes from the stream-ordered pool.
//
// Batches: cuSOLVER's batched routines where they exist for every size (potrfBatched
// for small matrices, syevBatched, cuBLAS's trsmBatched through pointer arrays, which
// also serve stride-0 broadcast batches); elsewhere one call per matrix, all queued on
// the stream without waiting.
//
// Errors: the routines leave an info code per matrix on the device. Raising the CPU's
// ValueError for a singular, non-positive-definite or non-converging matrix needs those
// codes on the host, so each op that can fail ends with one small copy of them and a
// wait on its stream (the only synchronisation here); lu and qr never fail and never
// wait. The price is that those ops do not overlap with the host's next work; an
// asynchronous error report would need a way for Emily to raise later, which it has not.
#include <algorithm>
#include <climits>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/cuda/handles.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/math_helpers.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

cudaDataType real_type(DType d) {
  return d == DType::f64 ? CUDA_R_64F : CUDA_R_32F;
}

std::int64_t matrices(const Tensor& t) {
  std::int64_t count = 1;
  for (int d = 0; d < t.ndim() - 2; ++d) count *= t.shape()[d];
  return count;
}

Shape batch_of(const Tensor& t) {
  return Shape(t.shape().begin(), t.shape().end() - 2);
}

// A view of shape (batch..., rows, cols) over column-major matrices stored one after
// another in `storage` (leading dimension ld, `per` elements apart).
Tensor col_view(const Tensor& storage, const Shape& batch, std::int64_t rows, std::int64_t cols,
                std::int64_t ld, std::int64_t per) {
  Shape shape = batch;
  shape.insert(shape.end(), {rows, cols});
  Strides st(shape.size());
  std::int64_t s = per;
  for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
    st[d] = s;
    s *= batch[d];
  }
  st[shape.size() - 2] = 1;
  st[shape.size() - 1] = ld;
  return storage.with_layout(storage.dtype(), shape, st, storage.offset());
}

// A contiguous row-major copy of `t` on its device.
Tensor dense_copy(const Tensor& t, Stream s, const char* op) {
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_strided(c, t, s, op);
  return c;
}

char* at(const Tensor& t, std::int64_t elements) {
  return static_cast<char*>(t.raw_data()) + elements * static_cast<std::int64_t>(t.itemsize());
}

// A device workspace of `bytes` from the pool (none for 0) and a host one beside it.
struct Workspace {
  Tensor device;
  std::vector<char> host;
  Workspace(std::size_t dev_bytes, std::size_t host_bytes, Device d) : host(host_bytes) {
    if (dev_bytes > 0) device = Tensor::empty({static_cast<std::int64_t>(dev_bytes)}, DType::u8, d);
  }
  void* dev() const { return device.defined() ? device.raw_data() : nullptr; }
  std::size_t dev_bytes() const { return device.defined() ? device.nbytes() : 0; }
  void* hst() { return host.empty() ? nullptr : host.data(); }
};

struct Failure {
  std::int64_t index = -1;  // the first matrix of the batch that failed
  int info = 0;
  explicit operator bool() const { return index >= 0; }
};

// The info codes of one call, `per` per matrix, on the device (zeroed when made).
class Codes {
 public:
  Codes(std::int64_t count, int per, Device d, Stream s, const char* op)
      : count_(count), t_(Tensor::empty({std::max<std::int64_t>(1, count * per)}, DType::s32, d)) {
    check(cudaMemsetAsync(t_.raw_data(), 0, t_.nbytes(), stream(s)), op, "cudaMemsetAsync");
  }
  int* at(std::int64_t i, int which = 0) const {
    return static_cast<int*>(t_.raw_data()) + which * count_ + i;
  }
  // The first matrix whose code (the first nonzero of its `per` codes, in order) is not
  // 0: one copy to the host, which waits for the stream.
  Failure first(Stream s, const char* op) const {
    std::vector<int> host(static_cast<std::size_t>(t_.size()));
    cudaStream_t cs = stream(s);
    check(cudaMemcpyAsync(host.data(), t_.raw_data(), t_.nbytes(), cudaMemcpyDeviceToHost, cs), op,
          "cudaMemcpyAsync");
    check(cudaStreamSynchronize(cs), op, "cudaStreamSynchronize");
    const std::int64_t per = t_.size() / std::max<std::int64_t>(1, count_);
    for (std::int64_t i = 0; i < count_; ++i)
      for (std::int64_t w = 0; w < per; ++w)
        if (int c = host[static_cast<std::size_t>(w * count_ + i)]; c != 0) return {i, c};
    return {};
  }

 private:
  std::int64_t count_;
  Tensor t_;
};

// " (matrix 3 of the batch)" when there is a batch, else "".
std::string which(const Failure& f, std::int64_t count) {
  if (count <= 1) return "";
  return " (matrix " + std::to_string(f.index) + " of the batch)";
}

cublasFillMode_t fill(bool upper) {
  return upper ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER;
}

bool real_dtype(const Tensor& t) {
  return t.dtype() == DType::f32 || t.dtype() == DType::f64;
}

// ---- cholesky ------------------------------------------------------------------------------

// Batches of matrices up to this order go through potrfBatched, larger ones one call each
// (the batched routine is meant for small matrices).
constexpr std::int64_t kBatchedPotrf = 128;

void cholesky_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                     Stream s) {
  constexpr const char* op = "linalg_cholesky";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_cholesky, in, out, attr);
  const bool upper = std::get<LinalgAttr>(attr).upper;
  Tensor& y = out[0];
  const std::int64_t n = y.shape(-1), count = matrices(y);
  const cudaDataType type = real_type(y.dtype());
  copy_strided(y, in[0], s, op);
  Codes codes(count, 1, y.device(), s, op);
  {
    // Column-major, the buffer holds A^T = A: the triangle `upper` names is the other one.
    const cublasFillMode_t uplo = fill(!upper);
    SolverHandle h(s, op);
    if (count > 1 && n <= kBatchedPotrf && count <= INT_MAX) {
      Tensor ptrs = matrix_pointers(y, s, op);
      const cusolverStatus_t st =
          y.dtype() == DType::f64
              ? cusolverDnDpotrfBatched(h.get(), uplo, static_cast<int>(n),
                                        static_cast<double**>(ptrs.raw_data()), static_cast<int>(n),
                                        codes.at(0), static_cast<int>(count))
              : cusolverDnSpotrfBatched(h.get(), uplo, static_cast<int>(n),
                                        static_cast<float**>(ptrs.raw_data()), static_cast<int>(n),
                                        codes.at(0), static_cast<int>(count));
      check_solver(st, op, "potrfBatched");
    } else {
      std::size_t dev = 0, host = 0;
      check_solver(cusolverDnXpotrf_bufferSize(h.get(), h.params(), uplo, n, type, y.raw_data(), n,
                                               type, &dev, &host),
                   op, "cusolverDnXpotrf_bufferSize");
      Workspace w(dev, host, y.device());
      for (std::int64_t i = 0; i < count; ++i)
        check_solver(cusolverDnXpotrf(h.get(), h.params(), uplo, n, type, at(y, i * n * n), n, type,
                                      w.dev(), w.dev_bytes(), w.hst(), host, codes.at(i)),
                     op, "cusolverDnXpotrf");
    }
  }
  keep_triangle(y, upper ? Part::upper : Part::lower, s, op);  // the other was never read
  if (Failure f = codes.first(s, op)) {
    EMILY_THROW(ValueError, op, "matrix is not positive definite", which(f, count),
                ": its leading minor of order ", f.info, " is not");
  }
}

// ---- eigh ----------------------------------------------------------------------------------

void eigh_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_eigh";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_eigh, in, out, attr);
  const bool upper = std::get<LinalgAttr>(attr).upper;
  const Tensor& a = in[0];
  const std::int64_t n = a.shape(-1), count = matrices(a);
  const cudaDataType type = real_type(a.dtype());
  // Row-major A read column-major is A^T = A, with the triangles swapped.
  Tensor m = dense_copy(a, s, op);
  const cublasFillMode_t uplo = fill(!upper);
  const auto jobz = CUSOLVER_EIG_MODE_VECTOR;
  Codes codes(count, 1, a.device(), s, op);
  {
    SolverHandle h(s, op);
    std::size_t dev = 0, host = 0;
    // syevBatched addresses the whole batch with 32-bit indices.
    if (count > 1 && n * n * count <= INT_MAX) {
      check_solver(
          cusolverDnXsyevBatched_bufferSize(h.get(), h.params(), jobz, uplo, n, type, m.raw_data(),
                                            n, type, out[0].raw_data(), type, &dev, &host, count),
          op, "cusolverDnXsyevBatched_bufferSize");
      Workspace w(dev, host, a.device());
      check_solver(cusolverDnXsyevBatched(h.get(), h.params(), jobz, uplo, n, type, m.raw_data(), n,
                                          type, out[0].raw_data(), type, w.dev(), w.dev_bytes(),
                                          w.hst(), host, codes.at(0), count),
                   op, "cusolverDnXsyevBatched");
    } else {
      check_solver(
          cusolverDnXsyevd_bufferSize(h.get(), h.params(), jobz, uplo, n, type, m.raw_data(), n,
                                      type, out[0].raw_data(), type, &dev, &host),
          op, "cusolverDnXsyevd_bufferSize");
      Workspace w(dev, host, a.device());
      for (std::int64_t i = 0; i < count; ++i)
        check_solver(cusolverDnXsyevd(h.get(), h.params(), jobz, uplo, n, type, at(m, i * n * n), n,
                                      type, at(out[0], i * n), type, w.dev(), w.dev_bytes(),
                                      w.hst(), host, codes.at(i)),
                     op, "cusolverDnXsyevd");
    }
  }
  // The eigenvectors are the columns of the column-major result.
  copy_strided(out[1], col_view(m, batch_of(a), n, n, n, n * n), s, op);
  if (Failure f = codes.first(s, op)) {
    EMILY_THROW(ValueError, op, "the eigenvalue iteration did not converge", which(f, count),
                " (cuSOLVER info ", f.info, ")");
  }
}

// ---- LU-based: inv, solve, lu --------------------------------------------------------------

// Factors every column-major matrix (m x n, leading dimension m) of `w` in place with
// partial pivoting; pivots (1-based, int64) into `ipiv` (min(m, n) per matrix).
void getrf_all(SolverHandle& h, const Tensor& w, std::int64_t m, std::int64_t n, std::int64_t count,
               const Tensor& ipiv, const Codes& codes, const char* op) {
  const cudaDataType type = real_type(w.dtype());
  const std::int64_t k = std::min(m, n), ld = std::max<std::int64_t>(1, m);
  std::size_t dev = 0, host = 0;
  check_solver(cusolverDnXgetrf_bufferSize(h.get(), h.params(), m, n, type, w.raw_data(), ld, type,
                                           &dev, &host),
               op, "cusolverDnXgetrf_bufferSize");
  Workspace ws(dev, host, w.device());
  auto* piv = static_cast<std::int64_t*>(ipiv.raw_data());
  for (std::int64_t i = 0; i < count; ++i)
    check_solver(
        cusolverDnXgetrf(h.get(), h.params(), m, n, type, at(w, i * m * n), ld, piv + i * k, type,
                         ws.dev(), ws.dev_bytes(), ws.hst(), host, codes.at(i)),
        op, "cusolverDnXgetrf");
}

// X = A^-1 B for every matrix: A (n x n) factored by getrf_all, B (n x k) column-major
// in place, one getrs each.
void getrs_all(SolverHandle& h, const Tensor& w, const Tensor& ipiv, const Tensor& b,
               std::int64_t n, std::int64_t k, std::int64_t count, Stream s, const char* op) {
  const cudaDataType type = real_type(w.dtype());
  const auto* piv = static_cast<const std::int64_t*>(ipiv.raw_data());
  // getrs reports only illegal arguments, which cannot happen here; its code goes to a
  // scratch slot that nobody reads.
  Codes scratch(1, 1, w.device(), s, op);
  for (std::int64_t i = 0; i < count; ++i)
    check_solver(cusolverDnXgetrs(h.get(), h.params(), CUBLAS_OP_N, n, k, type, at(w, i * n * n), n,
                                  piv + i * n, type, at(b, i * n * k), n, scratch.at(0)),
                 op, "cusolverDnXgetrs");
}

// Batches of matrices up to this order factor and solve through cuBLAS's batched LU (a
// few launches for the whole batch) rather than one cuSOLVER call per matrix.
constexpr std::int64_t kBatchedLu = 64;

bool lu_batched(std::int64_t n, std::int64_t k, std::int64_t count) {
  return count > 1 && n <= kBatchedLu && k <= INT_MAX && count <= INT_MAX;
}

// getrf_all + getrs_all for a batch of small matrices: w (batch, n, n) and x (batch, n, k)
// column-major views.
void lu_solve_batched(const Tensor& w, const Tensor& x, std::int64_t n, std::int64_t k,
                      std::int64_t count, const Codes& codes, Stream s, const char* op) {
  Tensor pw = matrix_pointers(w, s, op), px = matrix_pointers(x, s, op);
  Tensor piv = Tensor::empty({count * n}, DType::s32, w.device());
  auto* ipiv = static_cast<int*>(piv.raw_data());
  const int N = static_cast<int>(n), K = static_cast<int>(k), B = static_cast<int>(count);
  int arg_info = 0;  // getrsBatched reports bad arguments on the host
  BlasHandle h(s, op);
  if (w.dtype() == DType::f64) {
    auto* a = static_cast<double* const*>(pw.raw_data());
    check_blas(cublasDgetrfBatched(h.get(), N, a, N, ipiv, codes.at(0), B), op,
               "cublasDgetrfBatched");
    check_blas(cublasDgetrsBatched(h.get(), CUBLAS_OP_N, N, K, a, N, ipiv,
                                   static_cast<double* const*>(px.raw_data()), N, &arg_info, B),
               op, "cublasDgetrsBatched");
  } else {
    auto* a = static_cast<float* const*>(pw.raw_data());
    check_blas(cublasSgetrfBatched(h.get(), N, a, N, ipiv, codes.at(0), B), op,
               "cublasSgetrfBatched");
    check_blas(cublasSgetrsBatched(h.get(), CUBLAS_OP_N, N, K, a, N, ipiv,
                                   static_cast<float* const*>(px.raw_data()), N, &arg_info, B),
               op, "cublasSgetrsBatched");
  }
}

void inv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_inv";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_inv, in, out, attr);
  const Tensor& a = in[0];
  const std::int64_t n = a.shape(-1), count = matrices(a);
  Tensor w = col_major(a, s, op);
  Tensor x = Tensor::empty(a.shape(), a.dtype(), a.device());  // the identity, then A^-1
  fill_identity(x, s, op);                                     // (column-major)
  Codes codes(count, 1, a.device(), s, op);
  if (lu_batched(n, n, count)) {
    lu_solve_batched(w, x, n, n, count, codes, s, op);
  } else {
    Tensor ipiv = Tensor::empty({count * n}, DType::s64, a.device());
    SolverHandle h(s, op);
    getrf_all(h, w, n, n, count, ipiv, codes, op);
    getrs_all(h, w, ipiv, x, n, n, count, s, op);
  }
  copy_strided(out[0], col_view(x, batch_of(a), n, n, n, n * n), s, op);
  if (Failure f = codes.first(s, op)) {
    EMILY_THROW(ValueError, op, "matrix is singular", which(f, count), ": pivot ", f.info - 1,
                " of its LU factorization is exactly zero");
  }
}

void solve_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_solve";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_solve, in, out, attr);
  const Tensor &a = in[0], &b = in[1];
  const std::int64_t n = a.shape(-1), k = b.shape(-1), count = matrices(a);
  Tensor w = col_major(a, s, op);  // broadcast batches become real copies here
  Tensor x = col_major(b, s, op);
  Codes codes(count, 1, a.device(), s, op);
  if (lu_batched(n, k, count)) {
    lu_solve_batched(w, x, n, k, count, codes, s, op);
  } else {
    Tensor ipiv = Tensor::empty({count * n}, DType::s64, a.device());
    SolverHandle h(s, op);
    getrf_all(h, w, n, n, count, ipiv, codes, op);
    getrs_all(h, w, ipiv, x, n, k, count, s, op);
  }
  copy_strided(out[0], x, s, op);
  if (Failure f = codes.first(s, op)) {
    EMILY_THROW(ValueError, op, "matrix a is singular", which(f, count), ": pivot ", f.info - 1,
                " is exactly zero");
  }
}

void lu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_lu";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_lu, in, out, attr);
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  Tensor w = col_major(a, s, op);
  Tensor ipiv = Tensor::empty({std::max<std::int64_t>(1, count * k)}, DType::s64, a.device());
  if (k > 0) {
    // A zero pivot only says U is singular: no error for lu, so the codes are not read.
    Codes codes(count, 1, a.device(), s, op);
    SolverHandle h(s, op);
    getrf_all(h, w, m, n, count, ipiv, codes, op);
  }
  extract_triangle(out[1], w, m * n, m, Part::unit_lower, s, op);
  extract_triangle(out[2], w, m * n, m, Part::upper, s, op);
  lu_permutation(out[0], static_cast<const std::int64_t*>(ipiv.raw_data()), k, s, op);
}

// ---- qr --------------------------------------------------------------------------------------

template <class T>
void orgqr_all(SolverHandle& h, const Tensor& w, const Tensor& tau, std::int64_t m, std::int64_t n,
               std::int64_t k, std::int64_t count, Stream s, const char* op) {
  const int M = static_cast<int>(m), K = static_cast<int>(k), ld = static_cast<int>(m);
  T* w0 = w.data<T>();
  const T* t0 = tau.data<T>();
  int lwork = 0;
  if constexpr (std::is_same_v<T, double>) {
    check_solver(cusolverDnDorgqr_bufferSize(h.get(), M, K, K, w0, ld, t0, &lwork), op,
                 "cusolverDnDorgqr_bufferSize");
  } else {
    check_solver(cusolverDnSorgqr_bufferSize(h.get(), M, K, K, w0, ld, t0, &lwork), op,
                 "cusolverDnSorgqr_bufferSize");
  }
  Tensor work = Tensor::empty({std::max(1, lwork)}, w.dtype(), w.device());
  Codes scratch(1, 1, w.device(), s, op);  // orgqr reports illegal arguments only
  for (std::int64_t i = 0; i < count; ++i) {
    T* wi = w0 + i * m * n;
    const T* ti = t0 + i * k;
    if constexpr (std::is_same_v<T, double>) {
      check_solver(
          cusolverDnDorgqr(h.get(), M, K, K, wi, ld, ti, work.data<T>(), lwork, scratch.at(0)), op,
          "cusolverDnDorgqr");
    } else {
      check_solver(
          cusolverDnSorgqr(h.get(), M, K, K, wi, ld, ti, work.data<T>(), lwork, scratch.at(0)), op,
          "cusolverDnSorgqr");
    }
  }
}

void qr_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_qr";
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  if (!real_dtype(a) || m > INT_MAX || k > INT_MAX)
    return run_on_cpu(Primitive::linalg_qr, in, out, attr);
  const cudaDataType type = real_type(a.dtype());
  Tensor w = col_major(a, s, op);
  Tensor tau = Tensor::empty({count * k}, a.dtype(), a.device());
  Codes codes(count, 1, a.device(), s, op);  // never fails: not read
  SolverHandle h(s, op);
  std::size_t dev = 0, host = 0;
  check_solver(cusolverDnXgeqrf_bufferSize(h.get(), h.params(), m, n, type, w.raw_data(), m, type,
                                           tau.raw_data(), type, &dev, &host),
               op, "cusolverDnXgeqrf_bufferSize");
  Workspace ws(dev, host, a.device());
  for (std::int64_t i = 0; i < count; ++i)
    check_solver(
        cusolverDnXgeqrf(h.get(), h.params(), m, n, type, at(w, i * m * n), m, type, at(tau, i * k),
                         type, ws.dev(), ws.dev_bytes(), ws.hst(), host, codes.at(i)),
        op, "cusolverDnXgeqrf");
  // R is the upper triangle of the first k rows; then Q overwrites the reflectors.
  extract_triangle(out[1], w, m * n, m, Part::upper, s, op);
  if (a.dtype() == DType::f64)
    orgqr_all<double>(h, w, tau, m, n, k, count, s, op);
  else
    orgqr_all<float>(h, w, tau, m, n, k, count, s, op);
  copy_strided(out[0], col_view(w, batch_of(a), m, k, m, m * n), s, op);
}

// ---- triangular solves ---------------------------------------------------------------------

// X = A^-1 X in place for the row-major (batch, n, k) `x`, reading the `upper` (or lower)
// triangle of A (batch, n, n) through its strides. Column-major, x holds X^T, and
// A X = B is X^T A^T = B^T: trsm from the right, with A^T being a row-major A's own
// buffer (the triangle swapped) or, for a column-major view, A itself transposed.
void triangular_solve(const Tensor& a_in, const Tensor& x, bool upper, Stream s, const char* op) {
  const std::int64_t n = a_in.shape(-1), k = x.shape(-1), count = matrices(x);
  const std::int64_t rs = a_in.strides()[a_in.ndim() - 2], cs = a_in.strides()[a_in.ndim() - 1];
  Tensor a = a_in;
  cublasFillMode_t uplo;
  cublasOperation_t trans = CUBLAS_OP_N;
  std::int64_t lda;
  if (n == 1 || (cs == 1 && rs >= n)) {
    uplo = fill(!upper);
    lda = n == 1 ? 1 : rs;
  } else if (rs == 1 && cs >= n) {
    uplo = fill(upper);
    trans = CUBLAS_OP_T;
    lda = cs;
  } else {
    a = dense_copy(a_in, s, op);
    uplo = fill(!upper);
    lda = n;
  }
  if (count > INT_MAX || lda > INT_MAX || k > INT_MAX)
    EMILY_THROW(Unsupported, op, "matrices or batches above INT_MAX for cuBLAS");
  Tensor pa = matrix_pointers(a, s, op), px = matrix_pointers(x, s, op);
  BlasHandle h(s, op);
  const int M = static_cast<int>(k), N = static_cast<int>(n);
  cublasStatus_t st;
  if (x.dtype() == DType::f64) {
    const double one = 1.0;
    st = cublasDtrsmBatched(h.get(), CUBLAS_SIDE_RIGHT, uplo, trans, CUBLAS_DIAG_NON_UNIT, M, N,
                            &one, static_cast<const double* const*>(pa.raw_data()),
                            static_cast<int>(lda), static_cast<double* const*>(px.raw_data()), M,
                            static_cast<int>(count));
  } else {
    const float one = 1.0f;
    st = cublasStrsmBatched(h.get(), CUBLAS_SIDE_RIGHT, uplo, trans, CUBLAS_DIAG_NON_UNIT, M, N,
                            &one, static_cast<const float* const*>(pa.raw_data()),
                            static_cast<int>(lda), static_cast<float* const*>(px.raw_data()), M,
                            static_cast<int>(count));
  }
  check_blas(st, op, "cublas?trsmBatched");
}

void solve_triangular_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                             Stream s) {
  constexpr const char* op = "linalg_solve_triangular";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_solve_triangular, in, out, attr);
  const bool upper = std::get<LinalgAttr>(attr).upper;
  const std::int64_t count = matrices(out[0]);
  Codes codes(count, 1, out[0].device(), s, op);
  zero_diagonal_info(in[0], codes.at(0), s, op);
  copy_strided(out[0], in[1], s, op);
  triangular_solve(in[0], out[0], upper, s, op);
  if (Failure f = codes.first(s, op)) {
    EMILY_THROW(ValueError, op, "matrix a is singular", which(f, count), ": diagonal entry ",
                f.info - 1, " is exactly zero");
  }
}

void tri_inv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "tri_inv";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::tri_inv, in, out, attr);
  const bool upper = std::get<LinalgAttr>(attr).upper;
  const std::int64_t count = matrices(out[0]);
  Codes codes(count, 1, out[0].device(), s, op);
  zero_diagonal_info(in[0], codes.at(0), s, op);
  fill_identity(out[0], s, op);
  triangular_solve(in[0], out[0], upper, s, op);
  keep_triangle(out[0], upper ? Part::upper : Part::lower, s, op);
  if (Failure f = codes.first(s, op)) {
    EMILY_THROW(ValueError, op, "matrix is singular", which(f, count), ": diagonal entry ",
                f.info - 1, " is exactly zero");
  }
}

// ---- svd and pinv ----------------------------------------------------------------------------

// The svd codes' first slot: the matrix holds NaN or Inf (checked before the SVD, as
// the CPU does, since what an SVD makes of them depends on the library).
constexpr int kNotFinite = -1;

// The reduced SVD of every matrix of `a` (batch, m, n): s (batch, k) and, when `uv`,
// u (batch, m, k) and vt (batch, k, n), all row-major. Codes: slot 0 non-finite flags,
// slot 1 gesvd's info.
void svd_into(const Tensor& a, const Tensor& u, const Tensor& sv, const Tensor& vt, bool uv,
              const Codes& codes, Stream s, const char* op) {
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  const cudaDataType type = real_type(a.dtype());
  const bool wide = m < n;
  // cuSOLVER's gesvd wants rows >= cols: a wide A is factored as its transpose, which is
  // what its row-major buffer holds column-major; then U and V^T trade places.
  Tensor w = wide ? dense_copy(a, s, op) : col_major(a, s, op);
  const std::int64_t rows = wide ? n : m, cols = wide ? m : n;
  nonfinite_info(w.with_layout(w.dtype(), {count, rows, cols}, {rows * cols, cols, 1}, 0),
                 codes.at(0, 0), kNotFinite, s, op);
  // Column-major outputs of the tall problem: U_t (rows x k) and VT_t (k x cols).
  Tensor ut, vtt;
  if (uv) {
    ut = wide ? vt : Tensor::empty({count, k, rows}, a.dtype(), a.device());
    vtt = wide ? u : Tensor::empty({count, cols, k}, a.dtype(), a.device());
  }
  const signed char job = uv ? 'S' : 'N';
  {
    SolverHandle h(s, op);
    std::size_t dev = 0, host = 0;
    check_solver(cusolverDnXgesvd_bufferSize(h.get(), h.params(), job, job, rows, cols, type,
                                             w.raw_data(), rows, type, sv.raw_data(), type,
                                             uv ? ut.raw_data() : nullptr, rows, type,
                                             uv ? vtt.raw_data() : nullptr, k, type, &dev, &host),
                 op, "cusolverDnXgesvd_bufferSize");
    Workspace ws(dev, host, a.device());
    for (std::int64_t i = 0; i < count; ++i)
      check_solver(
          cusolverDnXgesvd(h.get(), h.params(), job, job, rows, cols, type, at(w, i * rows * cols),
                           rows, type, at(sv, i * k), type, uv ? at(ut, i * rows * k) : nullptr,
                           rows, type, uv ? at(vtt, i * k * cols) : nullptr, k, type, ws.dev(),
                           ws.dev_bytes(), ws.hst(), host, codes.at(i, 1)),
          op, "cusolverDnXgesvd");
  }
  if (uv && !wide) {
    copy_strided(u, col_view(ut, batch_of(a), m, k, m, m * k), s, op);
    copy_strided(vt, col_view(vtt, batch_of(a), k, n, k, k * n), s, op);
  }
}

[[noreturn]] void svd_failed(const char* op, const Failure& f, std::int64_t count) {
  if (f.info == kNotFinite) {
    EMILY_THROW(ValueError, op, "matrix contains NaN or Inf", which(f, count));
  }
  EMILY_THROW(ValueError, op, "the SVD did not converge", which(f, count), " (cuSOLVER info ",
              f.info, ")");
}

void svd_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_svd";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_svd, in, out, attr);
  const bool uv = std::get<LinalgAttr>(attr).compute_uv;
  const std::int64_t count = matrices(in[0]);
  Codes codes(count, 2, in[0].device(), s, op);
  if (uv)
    svd_into(in[0], out[0], out[1], out[2], true, codes, s, op);
  else
    svd_into(in[0], Tensor(), out[0], Tensor(), false, codes, s, op);
  if (Failure f = codes.first(s, op)) svd_failed(op, f, count);
}

void pinv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "linalg_pinv";
  if (!real_dtype(in[0])) return run_on_cpu(Primitive::linalg_pinv, in, out, attr);
  const Tensor& a = in[0];
  const std::int64_t m = a.shape(-2), n = a.shape(-1), k = std::min(m, n), count = matrices(a);
  if (m > INT_MAX || n > INT_MAX || count > INT_MAX)
    return run_on_cpu(Primitive::linalg_pinv, in, out, attr);
  const DType dt = a.dtype();
  // The factors keep a's batch axes: svd_into writes them through views of that shape.
  auto with = [&](std::initializer_list<std::int64_t> tail) {
    Shape sh = batch_of(a);
    sh.insert(sh.end(), tail);
    return sh;
  };
  Tensor u = Tensor::empty(with({m, k}), dt, a.device());
  Tensor sv = Tensor::empty(with({k}), dt, a.device());
  Tensor vt = Tensor::empty(with({k, n}), dt, a.device());
  Codes codes(count, 2, a.device(), s, op);
  svd_into(a, u, sv, vt, true, codes, s, op);
  // pinv = V diag(1/s) U^T over the singular values above the cutoff: scale V^T's rows,
  // then one batched product. Column-major, the (n x m) row-major result is the m x n
  // matrix U (V^T)_scaled, and both row-major operands enter transposed.
  pinv_scale_rows(vt, sv, std::max(m, n), s, op);
  {
    BlasHandle h(s, op);
    const bool f64 = dt == DType::f64;
    const double one64 = 1.0, zero64 = 0.0;
    const float one32 = 1.0f, zero32 = 0.0f;
    const cudaDataType type = real_type(dt);
    check_blas(cublasGemmStridedBatchedEx(
                   h.get(), CUBLAS_OP_T, CUBLAS_OP_T, static_cast<int>(m), static_cast<int>(n),
                   static_cast<int>(k), f64 ? static_cast<const void*>(&one64) : &one32,
                   u.raw_data(), type, static_cast<int>(k), m * k, vt.raw_data(), type,
                   static_cast<int>(n), k * n, f64 ? static_cast<const void*>(&zero64) : &zero32,
                   out[0].raw_data(), type, static_cast<int>(m), n * m, static_cast<int>(count),
                   f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               op, "cublasGemmStridedBatchedEx");
  }
  if (Failure f = codes.first(s, op)) svd_failed(op, f, count);
}

}  // namespace

void register_linalg(KernelTable& t) {
  t.set(Primitive::linalg_cholesky, cholesky_kernel);
  t.set(Primitive::linalg_eigh, eigh_kernel);
  t.set(Primitive::linalg_inv, inv_kernel);
  t.set(Primitive::linalg_lu, lu_kernel);
  t.set(Primitive::linalg_pinv, pinv_kernel);
  t.set(Primitive::linalg_qr, qr_kernel);
  t.set(Primitive::linalg_solve, solve_kernel);
  t.set(Primitive::linalg_solve_triangular, solve_triangular_kernel);
  t.set(Primitive::linalg_svd, svd_kernel);
  t.set(Primitive::tri_inv, tri_inv_kernel);
}

}  // namespace emily::cuda
