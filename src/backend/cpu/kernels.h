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
}

}  // namespace emily::cpu
