#include "backend/cuda/handles.h"

#include <map>

#include "backend/cuda/runtime.h"
#include "emily/error.h"

namespace emily::cuda {

void check_blas(cublasStatus_t status, const char* op, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    EMILY_THROW(Error, op, what, " failed with cuBLAS status ", static_cast<int>(status));
}

void check_solver(cusolverStatus_t status, const char* op, const char* what) {
  if (status != CUSOLVER_STATUS_SUCCESS)
    EMILY_THROW(Error, op, what, " failed with cuSOLVER status ", static_cast<int>(status));
}

namespace {

// What cuBLAS asks for on Hopper to reach its fastest kernels.
constexpr std::int64_t kBlasWorkspace = std::int64_t{32} << 20;

// Made once per device on first use and never destroyed: kernels may still run while
// statics go away at exit.
struct Blas {
  std::mutex mutex;
  cublasHandle_t handle = nullptr;
};
struct Solver {
  std::mutex mutex;
  cusolverDnHandle_t handle = nullptr;
  cusolverDnParams_t params = nullptr;
};

template <class H>
H& per_device(int device, void (*make)(H&, const char*), const char* op) {
  static std::mutex m;
  static std::map<int, H*> all;
  std::lock_guard lock(m);
  H*& h = all[device];
  if (!h) {
    auto* fresh = new H();
    make(*fresh, op);
    h = fresh;
  }
  return *h;
}

}  // namespace

BlasHandle::BlasHandle(Stream s, const char* op) {
  cudaStream_t cs = stream(s);  // also makes s's device current, as the handle needs
  Blas& b = per_device<Blas>(
      s.device.index,
      [](Blas& fresh, const char* o) {
        check_blas(cublasCreate(&fresh.handle), o, "cublasCreate");
      },
      op);
  lock_ = std::unique_lock(b.mutex);
  handle_ = b.handle;
  check_blas(cublasSetStream(handle_, cs), op, "cublasSetStream");
  workspace_ = Tensor::empty({kBlasWorkspace}, DType::u8, s.device);
  check_blas(cublasSetWorkspace(handle_, workspace_.raw_data(), kBlasWorkspace), op,
             "cublasSetWorkspace");
}

SolverHandle::SolverHandle(Stream s, const char* op) {
  cudaStream_t cs = stream(s);
  Solver& v = per_device<Solver>(
      s.device.index,
      [](Solver& fresh, const char* o) {
        check_solver(cusolverDnCreate(&fresh.handle), o, "cusolverDnCreate");
        check_solver(cusolverDnCreateParams(&fresh.params), o, "cusolverDnCreateParams");
      },
      op);
  lock_ = std::unique_lock(v.mutex);
  handle_ = v.handle;
  params_ = v.params;
  check_solver(cusolverDnSetStream(handle_, cs), op, "cusolverDnSetStream");
}

}  // namespace emily::cuda
