// Registration entry points of the CUDA backend, one per kernel family file.
#pragma once

#include "emily/backend.h"

namespace emily::cuda {

void register_elementwise(KernelTable& t);  // elementwise.cu: copy astype where, arithmetic
void register_matmul(KernelTable& t);       // matmul.cpp: cuBLASLt
void register_reduction(KernelTable& t);    // reduction.cu: sum product max min all any
void register_indexing(KernelTable& t);     // indexing.cu: concatenate take take_along_axis

inline void register_all(KernelTable& t) {
  register_elementwise(t);
  register_matmul(t);
  register_reduction(t);
  register_indexing(t);
}

// Runs primitive `p` on the CPU for inputs on a GPU and writes the results into `out`
// (GPU buffers): the path for dtypes or layouts a CUDA kernel does not cover yet. Emits
// the same `fallback` telemetry span as the dispatcher's fallback.
void run_on_cpu(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr);

}  // namespace emily::cuda
