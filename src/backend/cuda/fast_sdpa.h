// Attention on CUDA (fast_sdpa): which operands the kernels take, and the two kernels.
// fast_sdpa.cu holds the split-KV decode kernel (up to kDecodeQueries query rows, any
// dtype but f64, head sizes up to 256) and chooses; fast_flash.cu holds the tensor-core
// prefill kernel (f16/bf16, head size 64 or 128). What neither takes runs as the
// decomposition (backend.h's KernelAccepts).
#pragma once

#include <span>

#include "emily/backend.h"

namespace emily::cuda {

inline constexpr std::int64_t kDecodeQueries = 8;

bool sdpa_accepts(std::span<const Tensor> in, const Attr& attr);
void sdpa_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s);

// fast_flash.cu: whether the prefill kernel takes these operands, and the kernel.
bool flash_fits(std::span<const Tensor> in, const SdpaAttr& a);
void flash_attention(std::span<const Tensor> in, Tensor& out, const SdpaAttr& a, Stream s);

// For tests: while alive, prefill takes the mma.sync kernel on sm_90 too (the kernel other
// GPUs run) instead of the tensor-copy one, so both are checked on one GPU. Process-wide;
// use it where no other thread runs kernels.
class ForceMmaSyncPrefill {
 public:
  ForceMmaSyncPrefill();
  ~ForceMmaSyncPrefill();
  ForceMmaSyncPrefill(const ForceMmaSyncPrefill&) = delete;
  ForceMmaSyncPrefill& operator=(const ForceMmaSyncPrefill&) = delete;

 private:
  bool previous_;
};

}  // namespace emily::cuda
