#include "backend/cpu/threads.h"

#include <cblas.h>
#include <omp.h>

#include "emily/config.h"

namespace emily::cpu {

int threads() {
  static const int n = [] {
    int wanted = config::settings().num_threads;
    if (wanted <= 0) return omp_get_max_threads();
    // OpenBLAS keeps its own pool; keep GEMM inside the same budget.
    openblas_set_num_threads(wanted);
    return wanted;
  }();
  return n;
}

}  // namespace emily::cpu
