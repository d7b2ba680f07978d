// Dense GEMM for the CPU kernels: C = op(A) op(B), row-major, through BLAS, with the
// output split over the backend's OpenMP threads.
//
// OpenBLAS itself runs one thread (set once in cpu::threads()). Its own thread pool would
// compete for the same cores with OpenMP's workers, which spin for a while after every
// parallel region, and a model interleaves the two all the time: on the 2-core
// development machine SmolLM2's prefill ran at half speed (73 vs 141 tok/s with
// GOMP_SPINCOUNT lowered). One pool, OpenMP's, does both now.
#pragma once

#include <cblas.h>

#include "emily/dtype.h"

namespace emily::cpu {

void gemm(bool trans_a, bool trans_b, blasint m, blasint n, blasint k, const float* a, blasint lda,
          const float* b, blasint ldb, float* c, blasint ldc);
void gemm(bool trans_a, bool trans_b, blasint m, blasint n, blasint k, const double* a, blasint lda,
          const double* b, blasint ldb, double* c, blasint ldc);
void gemm(bool trans_a, bool trans_b, blasint m, blasint n, blasint k, const c64* a, blasint lda,
          const c64* b, blasint ldb, c64* c, blasint ldc);

}  // namespace emily::cpu
