// Per-device handles of the CUDA math libraries (cuBLAS, cuSOLVER) that conv and linalg
// share. A handle carries one bound stream, so a kernel holds the handle's lock from
// binding its stream until its last library call is queued; the calls only queue work,
// so the lock is held for microseconds, never across a device synchronisation. cuBLAS
// gets a workspace of its own from the stream-ordered pool for each binding: its
// default one belongs to the handle, and two streams taking turns on the handle would
// otherwise share it while both still run.
#pragma once

#include <cublas_v2.h>
#include <cusolverDn.h>

#include <mutex>

#include "emily/stream.h"
#include "emily/tensor.h"

namespace emily::cuda {

// Raises Error("[op] what failed with <library> status N") on a failed library call.
void check_blas(cublasStatus_t status, const char* op, const char* what);
void check_solver(cusolverStatus_t status, const char* op, const char* what);

// A library handle bound to `s`'s stream for as long as the guard lives.
class BlasHandle {
 public:
  BlasHandle(Stream s, const char* op);
  cublasHandle_t get() const { return handle_; }

 private:
  std::unique_lock<std::mutex> lock_;
  cublasHandle_t handle_ = nullptr;
  Tensor workspace_;
};

class SolverHandle {
 public:
  SolverHandle(Stream s, const char* op);
  cusolverDnHandle_t get() const { return handle_; }
  cusolverDnParams_t params() const { return params_; }

 private:
  std::unique_lock<std::mutex> lock_;
  cusolverDnHandle_t handle_ = nullptr;
  cusolverDnParams_t params_ = nullptr;
};

}  // namespace emily::cuda
