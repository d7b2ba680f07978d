#include "backend/cpu/gemm.h"

#include <omp.h>

#include <type_traits>

#include "backend/cpu/threads.h"

namespace emily::cpu {

namespace {

// Below this many multiply-adds a split costs more than it saves.
constexpr double kSplitWork = 1 << 18;

// Each thread computes a block of C's rows (or of its columns, when C is wider than it
// is tall) as a GEMM of its own: the slices of A (or B) and C are the same matrices
// shifted, so BLAS sees ordinary operands.
template <class T, class Blas>
void split_gemm(bool ta, bool tb, blasint m, blasint n, blasint k, const T* a, blasint lda,
                const T* b, blasint ldb, T* c, blasint ldc, Blas blas) {
  const int team = threads();
  if (team <= 1 || omp_in_parallel() ||
      static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < kSplitWork) {
    blas(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  const bool by_rows = m >= n;
#pragma omp parallel num_threads(team)
  {
    const auto t = static_cast<long long>(omp_get_thread_num());
    const auto parts = static_cast<long long>(omp_get_num_threads());
    const blasint total = by_rows ? m : n;
    const auto lo = static_cast<blasint>(total * t / parts);
    const auto hi = static_cast<blasint>(total * (t + 1) / parts);
    if (hi > lo) {
      if (by_rows) {
        // op(A)'s rows lo..hi: rows of A, or columns when A is stored transposed.
        blas(ta, tb, hi - lo, n, k, ta ? a + lo : a + static_cast<long long>(lo) * lda, lda, b, ldb,
             c + static_cast<long long>(lo) * ldc, ldc);
      } else {
        blas(ta, tb, m, hi - lo, k, a, lda, tb ? b + static_cast<long long>(lo) * ldb : b + lo, ldb,
             c + lo, ldc);
      }
    }
  }
}

CBLAS_TRANSPOSE op(bool t) {
  return t ? CblasTrans : CblasNoTrans;
}

// One BLAS call on one thread: ?gemm for T with alpha 1 and beta 0.
template <class T>
void blas(bool ta, bool tb, blasint m, blasint n, blasint k, const T* a, blasint lda, const T* b,
          blasint ldb, T* c, blasint ldc) {
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, op(ta), op(tb), m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, op(ta), op(tb), m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
  } else {
    const c64 one(1.0f, 0.0f), zero(0.0f, 0.0f);
    cblas_cgemm(CblasRowMajor, op(ta), op(tb), m, n, k, &one, a, lda, b, ldb, &zero, c, ldc);
  }
}

}  // namespace

void gemm(bool ta, bool tb, blasint m, blasint n, blasint k, const float* a, blasint lda,
          const float* b, blasint ldb, float* c, blasint ldc) {
  split_gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, blas<float>);
}

void gemm(bool ta, bool tb, blasint m, blasint n, blasint k, const double* a, blasint lda,
          const double* b, blasint ldb, double* c, blasint ldc) {
  split_gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, blas<double>);
}

void gemm(bool ta, bool tb, blasint m, blasint n, blasint k, const c64* a, blasint lda,
          const c64* b, blasint ldb, c64* c, blasint ldc) {
  split_gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, blas<c64>);
}

}  // namespace emily::cpu
