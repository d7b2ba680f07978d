// quantized_matmul for prefill on tensor cores (quant_mma.cu): y {M, N} = x {M, K} . W^T
// for a packed weight W {N, K}, M past the GEMV's rows. Tiles of the packed codes are
// dequantized in shared memory into x's 16-bit type and multiplied with mma.sync, so the
// weight never exists densely in device memory (the dequantize + matmul road writes and
// re-reads N * K elements of x's dtype per call).
#pragma once

#include <cstdint>
#include <span>

#include "emily/backend.h"

namespace emily::cuda::qmma {

// Whether the tensor-core kernel takes this call: transposed weights, x f16/bf16,
// scales f32/f16/bf16, and operands that allow its vector copies (x's data 16-byte
// aligned, the packed codes aligned to a 32-code chunk's copy width). Every bit width
// is taken. Never true while a ForceDequantize is alive.
bool fits(std::span<const Tensor> in, const QuantAttr& a, std::int64_t m, std::int64_t k);

// y {m, n} = x {m, k} . W^T, y of x's dtype, accumulated in f32 and rounded once.
void matmul(std::span<const Tensor> in, Tensor& y, const QuantAttr& a, std::int64_t m,
            std::int64_t n, std::int64_t k, Stream s);

// For benchmarks: while alive, fits() is false, so M > 8 runs the old road (the whole
// weight dequantized, then the dense matmul) in the same process. Process-wide; use it
// where no other thread runs kernels.
class ForceDequantize {
 public:
  ForceDequantize();
  ~ForceDequantize();
  ForceDequantize(const ForceDequantize&) = delete;
  ForceDequantize& operator=(const ForceDequantize&) = delete;

 private:
  bool previous_;
};

}  // namespace emily::cuda::qmma
