// The quantized GEMV's host-side switch (quant.cu): M <= 8 with transposed weights runs
// the tensor-core kernel (quant_gemv_tc.cuh) for 4 and 8 bits with f16/bf16 x, the
// f32-FMA kernel (quant_gemv.cuh) otherwise.
#pragma once

namespace emily::cuda::qgemv {

// For benchmarks: while alive, every GEMV takes the f32-FMA kernel, so before and after
// run in one process. Process-wide; use it where no other thread runs kernels.
class ForceFma {
 public:
  ForceFma();
  ~ForceFma();
  ForceFma(const ForceFma&) = delete;
  ForceFma& operator=(const ForceFma&) = delete;

 private:
  bool previous_;
};

}  // namespace emily::cuda::qgemv
