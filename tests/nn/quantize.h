// A plain affine quantizer for tests (quantization.h's layout): per group of
// `group_size` elements along the last axis, scale = (max - min) / (2^bits - 1),
// bias = min, code = round((w - min) / scale); element j of a row at bit
// bits * (j % (32 / bits)) of word j / (32 / bits).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "emily/emily.h"

namespace emily::testing {

inline QuantizedTensor quantize_for_test(const Tensor& w, int bits = 4, int group_size = 32) {
  const std::int64_t rows = w.shape(0), cols = w.shape(1), per_word = 32 / bits;
  const std::int64_t groups = cols / group_size;
  const std::vector<float> v = w.to_vector<float>();
  std::vector<std::uint32_t> packed(static_cast<std::size_t>(rows * cols / per_word), 0);
  std::vector<float> scales(static_cast<std::size_t>(rows * groups)), biases(scales.size());
  const float levels = static_cast<float>((1 << bits) - 1);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t g = 0; g < groups; ++g) {
      const float* x = v.data() + r * cols + g * group_size;
      const float lo = *std::min_element(x, x + group_size);
      const float hi = *std::max_element(x, x + group_size);
      const float scale = hi > lo ? (hi - lo) / levels : 1.0f;
      scales[r * groups + g] = scale;
      biases[r * groups + g] = lo;
      for (std::int64_t i = 0; i < group_size; ++i) {
        const std::int64_t j = g * group_size + i;
        const auto code = static_cast<std::uint32_t>(
            std::clamp(std::nearbyint((x[i] - lo) / scale), 0.0f, levels));
        packed[(r * cols + j) / per_word] |= code << (bits * (j % per_word));
      }
    }
  }
  return {tensor<std::uint32_t>(packed, {rows, cols / per_word}),
          tensor<float>(scales, {rows, groups}), tensor<float>(biases, {rows, groups}), bits,
          group_size};
}

}  // namespace emily::testing
