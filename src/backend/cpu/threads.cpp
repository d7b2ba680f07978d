#include "backend/cpu/threads.h"

#include <cblas.h>
#include <omp.h>

#include "emily/config.h"

namespace emily::cpu {

int threads() {
  static const int n = [] {
    // OpenBLAS runs single-threaded inside OpenMP's team (backend/cpu/gemm.h says why).
    openblas_set_num_threads(1);
    const int wanted = config::settings().num_threads;
    return wanted > 0 ? wanted : omp_get_max_threads();
  }();
  return n;
}

}  // namespace emily::cpu
