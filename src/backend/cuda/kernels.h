// Registration entry points of the CUDA backend, one per kernel family file.
#pragma once

#include "emily/backend.h"

namespace emily::cuda {

void register_elementwise(KernelTable& t);  // elementwise.cu: copy astype where, arithmetic
void register_matmul(KernelTable& t);       // matmul.cpp: cuBLASLt
void register_reduction(KernelTable& t);    // reduction.cu: sum product max min all any
void register_indexing(KernelTable& t);     // indexing.cu: concatenate take take_along_axis
void register_creation(KernelTable& t);     // creation.cu: arange eye full
void register_ordering(KernelTable& t);     // ordering.cu: argmax argmin scans sort argsort top_k
void register_shape(KernelTable& t);        // shape.cu: pad slice_update
void register_scatter(KernelTable& t);      // scatter.cu: gather scatter scatter_add/max/min
void register_window(KernelTable& t);       // window.cu: window_* reductions and scatters
void register_random(KernelTable& t);       // random.cu: random_bits
void register_fft(KernelTable& t);          // fft.cpp: cuFFT
void register_linalg(KernelTable& t);       // linalg.cpp: cuSOLVER
void register_conv(KernelTable& t);         // conv.cu: conv_general
void register_fused(KernelTable& t);        // fused.cpp: fused (NVRTC-generated kernels)
void register_quant(KernelTable& t);        // quant.cu: dequantize quantized_matmul
void register_fast(KernelTable& t);         // fast.cu, fast_sdpa.cu, fast_flash.cu: fast_*

inline void register_all(KernelTable& t) {
  register_elementwise(t);
  register_matmul(t);
  register_reduction(t);
  register_indexing(t);
  register_creation(t);
  register_ordering(t);
  register_shape(t);
  register_scatter(t);
  register_window(t);
  register_random(t);
  register_fft(t);
  register_linalg(t);
  register_conv(t);
  register_fused(t);
  register_quant(t);
  register_fast(t);
}

// Runs primitive `p` on the CPU for inputs on a GPU and writes the results into `out`
// (GPU buffers): the path for dtypes or layouts a CUDA kernel does not cover yet. Emits
// the same `fallback` telemetry span as the dispatcher's fallback.
void run_on_cpu(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr);

}  // namespace emily::cuda
