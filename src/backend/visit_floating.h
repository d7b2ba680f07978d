// visit_dtype (emily/dtype.h) over the floating dtypes only, for the kernels behind op
// layers that admit floating inputs only (the fused and quantized ones; the CUDA kernels
// map the types to their device twins in backend/cuda/visit_float.cuh).
#pragma once

#include "emily/dtype.h"

namespace emily {

// Calls fn.template operator()<T>() for f16, bf16, f32 and f64; any other dtype calls
// nothing (the op layer has refused it before a kernel runs).
template <class Fn>
void visit_floating(DType t, Fn&& fn) {
  switch (t) {
    case DType::f16:
      return fn.template operator()<f16>();
    case DType::bf16:
      return fn.template operator()<bf16>();
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    default:
      return;
  }
}

}  // namespace emily
