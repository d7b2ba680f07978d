// The floating dtypes as the device types the CUDA kernels compute on (__half,
// __nv_bfloat16, float, double): one visitor for the fused and quantized kernels.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "emily/dtype.h"

namespace emily::cuda {

// Calls fn.template operator()<T>() for t's device type; other dtypes do nothing (the op
// layer admits floating dtypes only).
template <class Fn>
void visit_float(DType t, Fn&& fn) {
  switch (t) {
    case DType::f16:
      return fn.template operator()<__half>();
    case DType::bf16:
      return fn.template operator()<__nv_bfloat16>();
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    default:
      return;
  }
}

}  // namespace emily::cuda
