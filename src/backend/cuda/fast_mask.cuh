// What the attention kernels (fast_sdpa.cu, fast_flash.cu) share: where the mask operand
// lies and how a score is masked. Scores are kept in the log2 domain (multiplied by
// log2(e)) so the softmax runs on exp2; an additive mask is scaled the same way.
#pragma once

#include <cmath>
#include <span>

#include "emily/primitive.h"
#include "emily/tensor.h"

namespace emily::cuda {

inline constexpr float kLog2e = 1.4426950408889634f;

struct MaskArgs {
  SdpaMask kind = SdpaMask::none;
  const void* data = nullptr;  // bool, or f32 for an additive mask (the op layer's)
  std::int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  bool causal = false;
  std::int64_t causal_offset = 0;
  const float* sinks = nullptr;  // {Nq} f32
};

inline MaskArgs mask_args(std::span<const Tensor> in, const SdpaAttr& a) {
  MaskArgs m;
  m.kind = a.mask;
  m.causal = a.causal;
  m.causal_offset = a.causal_offset;
  if (a.mask != SdpaMask::none) {
    const Tensor& t = in[3];
    m.data = t.raw_data();
    m.s0 = t.strides()[0];
    m.s1 = t.strides()[1];
    if (a.mask != SdpaMask::keys) {
      m.s2 = t.strides()[2];
      m.s3 = t.strides()[3];
    }
  }
  if (a.has_sinks) m.sinks = in.back().data<float>();
  return m;
}

// Score s (log2 domain) of query i of head h against key j of batch b after the mask
// operand (not the causal rule): -inf where the key is hidden.
__device__ inline float apply_mask_operand(const MaskArgs& m, float s, std::int64_t b,
                                           std::int64_t h, std::int64_t i, std::int64_t j) {
  switch (m.kind) {
    case SdpaMask::keys:
      return static_cast<const bool*>(m.data)[b * m.s0 + j * m.s1] ? s : -INFINITY;
    case SdpaMask::boolean:
      return static_cast<const bool*>(m.data)[b * m.s0 + h * m.s1 + i * m.s2 + j * m.s3]
                 ? s
                 : -INFINITY;
    case SdpaMask::additive:
      return s +
             static_cast<const float*>(m.data)[b * m.s0 + h * m.s1 + i * m.s2 + j * m.s3] * kLog2e;
    default:
      return s;
  }
}

// The same after every mask, the causal rule included.
__device__ inline float apply_mask(const MaskArgs& m, float s, std::int64_t b, std::int64_t h,
                                   std::int64_t i, std::int64_t j) {
  if (m.causal && j > i + m.causal_offset) return -INFINITY;
  return apply_mask_operand(m, s, b, h, i, j);
}

}  // namespace emily::cuda
