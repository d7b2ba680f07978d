// The quantized GEMV's host-side choice (quant.cu): M <= 8 with transposed weights runs
// the tensor-core kernel (quant_gemv_tc.cuh) or the f32-FMA kernel (quant_gemv.cuh).
// The tensor-core kernel applies to 4 and 8 bits with f16/bf16 x; where both apply,
// the choice follows H100 measurements (bench/results/fast-quant.md, sessions 17 and
// 26): the tensor cores for M >= 2 and for N >= 2048; the FMA kernel for M = 1 at
// smaller N.
#pragma once

namespace emily::cuda::qgemv {

enum class GemvKernel { automatic, fma, tensor_cores };

// For benchmarks and tests: while alive, every GEMV takes `kernel` (tensor_cores only
// where it applies) instead of the measured choice, so both run in one process.
// Process-wide; use it where no other thread runs kernels.
class ForceGemv {
 public:
  explicit ForceGemv(GemvKernel kernel);
  ~ForceGemv();
  ForceGemv(const ForceGemv&) = delete;
  ForceGemv& operator=(const ForceGemv&) = delete;

 private:
  GemvKernel previous_;
};

}  // namespace emily::cuda::qgemv
