// Kernels that only move elements (copy, concatenate, pad, take) do not care what the
// bytes mean, so they are instantiated once per element width rather than per dtype.
#pragma once

#include <cstddef>

namespace emily::cpu {

// An element of W bytes, moved by plain assignment.
template <std::size_t W>
struct Bytes {
  unsigned char b[W];
};

// Calls fn.template operator()<W>() with W the element width in bytes (1, 2, 4 or 8;
// every dtype is one of these).
template <class Fn>
void visit_width(std::size_t width, Fn&& fn) {
  switch (width) {
    case 1:
      fn.template operator()<1>();
      break;
    case 2:
      fn.template operator()<2>();
      break;
    case 4:
      fn.template operator()<4>();
      break;
    default:
      fn.template operator()<8>();
      break;
  }
}

}  // namespace emily::cpu
