// Registration entry points of the CPU backend, one per kernel family file.
#pragma once

#include "emily/backend.h"

namespace emily::cpu {

void register_creation(KernelTable& t);   // creation.cpp: arange eye full
void register_unary(KernelTable& t);      // unary.cpp
void register_binary(KernelTable& t);     // binary.cpp
void register_convert(KernelTable& t);    // convert.cpp: astype copy where
void register_reduction(KernelTable& t);  // reduction.cpp: sum ... argmin
void register_shape(KernelTable& t);      // shape.cpp: concatenate pad slice_update
void register_indexing(KernelTable& t);   // indexing.cpp: take take_along_axis
void register_matmul(KernelTable& t);     // matmul.cpp
void register_random(KernelTable& t);     // random.cpp: random_bits
void register_scatter(KernelTable& t);    // scatter.cpp: gather scatter scatter_add/max/min
void register_scan(KernelTable& t);       // scan.cpp: cumulative_*
void register_sort(KernelTable& t);       // sort.cpp: sort argsort top_k
void register_conv(KernelTable& t);       // conv.cpp: conv_general
void register_window(KernelTable& t);     // window.cpp: window_* window_scatter_*
void register_fft(KernelTable& t);        // fft.cpp: fft ifft rfft irfft (FFTW)
void register_linalg(KernelTable& t);     // linalg.cpp: linalg_* tri_inv (LAPACK)
void register_fused(KernelTable& t);      // fused.cpp: fused (block functions from the above)
void register_fast(KernelTable& t);       // fast.cpp: fast_rms_norm ... fast_sdpa
void register_quant(KernelTable& t);      // quant.cpp: dequantize quantized_matmul

inline void register_all(KernelTable& t) {
  register_creation(t);
  register_unary(t);
  register_binary(t);
  register_convert(t);
  register_reduction(t);
  register_shape(t);
  register_indexing(t);
  register_matmul(t);
  register_random(t);
  register_scatter(t);
  register_scan(t);
  register_sort(t);
  register_conv(t);
  register_window(t);
  register_fft(t);
  register_linalg(t);
  register_fused(t);
  register_fast(t);
  register_quant(t);
}

}  // namespace emily::cpu
