// The floating dtypes as the device types the CUDA kernels compute on (__half,
// __nv_bfloat16, float, double): visit_floating's types through their device twins.
#pragma once

#include "backend/cuda/device_types.cuh"
#include "backend/visit_floating.h"

namespace emily::cuda {

template <class Fn>
void visit_float(DType t, Fn&& fn) {
  visit_floating(t, [&]<class T>() { fn.template operator()<S<T>>(); });
}

}  // namespace emily::cuda
