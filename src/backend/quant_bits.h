// The bit widths of quantized weights (emily/quantization.h) as a compile-time constant:
// the CPU and CUDA kernels instantiate one unpacking loop per width.
#pragma once

namespace emily {

// Calls fn.template operator()<Bits>() for bits in {2, 3, 4, 6, 8}; other values do
// nothing (the op layer admits these widths only).
template <class Fn>
void visit_bits(int bits, Fn&& fn) {
  switch (bits) {
    case 2:
      return fn.template operator()<2>();
    case 3:
      return fn.template operator()<3>();
    case 4:
      return fn.template operator()<4>();
    case 6:
      return fn.template operator()<6>();
    case 8:
      return fn.template operator()<8>();
    default:
      return;
  }
}

}  // namespace emily
