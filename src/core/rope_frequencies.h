// The angle step of each rotated pair of a rotary embedding without given frequencies:
// scale * base^(-2i/dims), computed in double and rounded to f32 once. The kernels and
// the decomposition share it, so both turn by the same f32 steps.
#pragma once

#include <cmath>
#include <vector>

namespace emily::detail {

inline std::vector<float> rope_inverse_frequencies(int dims, double base, double scale) {
  std::vector<float> f(static_cast<std::size_t>(dims / 2));
  for (int i = 0; i < dims / 2; ++i)
    f[i] = static_cast<float>(scale * std::pow(base, -2.0 * i / dims));
  return f;
}

}  // namespace emily::detail
