// The quant kernels on a GPU (src/backend/cuda/quant.cu) against the CPU kernels on the
// same inputs. Oracles and tolerances:
//   dequantize: the CPU kernel, bitwise (both round the product to the scales' dtype,
//     then the sum, with no fma);
//   quantized_matmul: the CPU kernel, |gpu - cpu| <= tol * (|x| @ (|s| q + |b|)) per
//     element with tol = 1e-5 + 2 (u_scales + u_x), u the unit roundoff (f32 0, f16
//     2^-11, bf16 2^-8): both accumulate in f32 in different orders, and the GPU's
//     dequantize + matmul road (M > 8, W {K, N}) rounds w to the scales' dtype and to
//     x's, which the CPU's GEMV does not; plus one rounding of the result;
//   the tensor-core path for prefill: the decomposition on the GPU, as stated at its test;
//   compiled plans (CUDA graphs): eager on the GPU, bitwise.
// Skips without a GPU; fails when anything fell back to the CPU (GpuTest).
#include <cmath>

#include "emily/quantization.h"
#include "support/gpu.h"
#include "support/testing.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/quant_gemv.h"
#endif

namespace emily {
namespace {

using testing::all_equal;
using testing::floats;

class CudaQuant : public testing::GpuTest {
 protected:
  QuantizedTensor to_gpu(const QuantizedTensor& q) {
    return {to_device(q.packed, gpu), to_device(q.scales, gpu), to_device(q.biases, gpu), q.bits,
            q.group_size};
  }
};

double roundoff(DType t) {
  return t == DType::f16 ? std::ldexp(1.0, -11) : t == DType::bf16 ? std::ldexp(1.0, -8) : 0.0;
}

// `w` on the CPU.
::testing::AssertionResult close_in_terms(const Tensor& got, const Tensor& want, const Tensor& x,
                                          const QuantizedTensor& w, bool transpose) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "shape or dtype differ";
  const double tol = 1e-5 + 2 * (roundoff(x.dtype()) + roundoff(w.scales.dtype()));
  QuantizedTensor codes{w.packed, abs(astype(w.scales, DType::f32)),
                        abs(astype(w.biases, DType::f32)), w.bits, w.group_size};
  Tensor terms = dequantize(codes);
  if (transpose) terms = swapaxes(terms, -1, -2);
  const std::vector<float> a = floats(to_host(got)), b = floats(want);
  const std::vector<float> scale = floats(matmul(abs(astype(x, DType::f32)), terms));
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double bound = tol * scale[i] + 1e-30;
    if (!(std::fabs(double(a[i]) - double(b[i])) <= bound))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << b[i] << " (bound " << bound << ")";
  }
  return ::testing::AssertionSuccess();
}

TEST_F(CudaQuant, DequantizeEqualsTheCpuKernel) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    for (int bits : {2, 3, 4, 6, 8}) {
      for (int group : {32, 64, 128}) {
        SCOPED_TRACE(std::string(name(dtype)) + " bits " + std::to_string(bits) + " group " +
                     std::to_string(group));
        Tensor w = random::normal(random::key(static_cast<std::uint64_t>(bits * group)), {5, 384},
                                  dtype, 0.2, 1.5);
        const QuantizedTensor q = quantize(w, group, bits);
        Tensor got = dequantize(to_gpu(q));
        EXPECT_EQ(got.device(), gpu);
        EXPECT_TRUE(all_equal(to_host(got), dequantize(q)));
      }
    }
  }
}

// Quantizing on the GPU (a composite of catalogue ops) gives the CPU's bits.
TEST_F(CudaQuant, QuantizeEqualsTheCpu) {
  Tensor w = random::normal(random::key(3), {4, 256}, DType::bf16);
  for (int bits : {3, 4, 8}) {
    const QuantizedTensor cpu = quantize(w, 64, bits);
    const QuantizedTensor dev = quantize(to_device(w, gpu), 64, bits);
    EXPECT_TRUE(all_equal(to_host(dev.packed), cpu.packed)) << bits;
    EXPECT_TRUE(all_equal(to_host(dev.scales), cpu.scales)) << bits;
  }
}

TEST_F(CudaQuant, QuantizedMatmulMatchesTheCpuKernel) {
  for (bool transpose : {true, false}) {
    for (int bits : {2, 3, 4, 6, 8}) {
      for (int group : {32, 64, 128}) {
        // N odd where it is not the packed axis.
        const std::int64_t n = transpose ? 67 : 256, k = transpose ? 512 : 67;
        Tensor dense = random::normal(random::key(static_cast<std::uint64_t>(bits + group)),
                                      transpose ? Shape{n, k} : Shape{k, n}, DType::f32, 0.1);
        const QuantizedTensor q = quantize(dense, group, bits);
        const QuantizedTensor qg = to_gpu(q);
        for (std::int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 33}) {
          for (DType xt : {DType::f32, DType::bf16}) {
            SCOPED_TRACE("bits " + std::to_string(bits) + " group " + std::to_string(group) +
                         " M " + std::to_string(m) + " " + std::string(name(xt)) +
                         (transpose ? " transposed" : ""));
            Tensor x = random::normal(random::key(static_cast<std::uint64_t>(m)), {m, k}, xt);
            Tensor got = quantized_matmul(to_device(x, gpu), qg, transpose);
            EXPECT_EQ(got.device(), gpu);
            EXPECT_TRUE(close_in_terms(got, quantized_matmul(x, q, transpose), x, q, transpose));
          }
        }
      }
    }
  }
}

// The GEMV's launch plan (qgemv::plan in quant_gemv.cuh) at its edges, against the
// decomposition on the GPU (quant::DecomposeGuard; tolerance as close_in_terms): K with
// fewer chunks of 32 codes than a warp has lanes (64), blocks of several warps sharing K
// whose chunks do not fill their last round (37 x 9600: 8 warps over 300 chunks; 130 x
// 4096: 4 warps), K split across blocks with a ragged last split (5 x 32000: 1000 chunks,
// 8 warps, 3 splits), every activation dtype and M bucket (1, 2, 3-4, 5-8).
TEST_F(CudaQuant, GemvPlanEdgesMatchTheDecomposition) {
  struct Shape2 {
    std::int64_t n, k;
  };
  for (const Shape2 s : {Shape2{1, 64}, Shape2{37, 9600}, Shape2{130, 4096}, Shape2{5, 32000}}) {
    for (int bits : {3, 4, 8}) {
      Tensor dense = random::normal(random::key(static_cast<std::uint64_t>(s.n * 7 + bits)),
                                    {s.n, s.k}, DType::bf16, 0.1);
      const QuantizedTensor q = quantize(dense, 64, bits);
      const QuantizedTensor qg = to_gpu(q);
      for (std::int64_t m : {1, 2, 3, 6, 8}) {
        for (DType xt : {DType::f32, DType::f16, DType::bf16}) {
          if (xt == DType::f32 && s.k > 10000) continue;  // f32 rounding grows with K
          SCOPED_TRACE("N " + std::to_string(s.n) + " K " + std::to_string(s.k) + " bits " +
                       std::to_string(bits) + " M " + std::to_string(m) + " " +
                       std::string(name(xt)));
          Tensor x = random::normal(random::key(static_cast<std::uint64_t>(100 + m)), {m, s.k}, xt);
          Tensor xg = to_device(x, gpu);
          Tensor got = quantized_matmul(xg, qg);
          Tensor want;
          {
            quant::DecomposeGuard decompose;
            want = to_host(quantized_matmul(xg, qg));
          }
          EXPECT_EQ(got.device(), gpu);
          EXPECT_TRUE(close_in_terms(got, want, x, q, true));
        }
      }
    }
  }
}

// The tensor-core GEMV (quant_gemv_tc.cuh: transposed, M <= 8, 4 and 8 bits, f16 or
// bf16 x; forced for every case here) against the CPU kernel, which also takes s q + b in f32
// without rounding it and accumulates in f32. The GPU's products are exact (codes and x in x's
// 16-bit type), its sums f32 in the tensor cores, its scale and bias applied in f32. Both round y
// once to x's dtype. Tolerance per element: 1e-5 of sum |x| (|s| q + |b|) for f32 sums in different
// orders, plus 2 u_x |want| for the two roundings of y (u_x as in close_in_terms, twice the unit
// roundoff). Much tighter than close_in_terms, which allows for rounding w: a code met with the
// wrong activation, a piece with another group's scale or a lost piece errs by about |s x| in a sum
// of K terms, far above 1e-5 of the sum. Shapes: N odd and below one 16-row tile (1, 17, 67), K of
// a few groups that ends inside a 4-piece segment (96: 3 int4 or 6 int8 pieces; 160, 320), K split
// across blocks (5 x 8192), every M from 1 to 8 (one to four sets of mma), every group
// size and scale dtype.
TEST_F(CudaQuant, TensorCoreGemvMatchesTheCpuKernel) {
#ifdef EMILY_HAS_CUDA
  // Every call on the tensor cores, also where the library would pick the FMA kernel
  // (M = 1 with int8 or small N).
  const cuda::qgemv::ForceGemv force(cuda::qgemv::GemvKernel::tensor_cores);
#endif
  struct Case {
    std::int64_t n, k;
    int group;
  };
  const Case cases[] = {{1, 96, 32}, {17, 160, 32}, {67, 320, 64}, {33, 384, 128}, {5, 8192, 64}};
  for (const Case& c : cases) {
    for (int bits : {4, 8}) {
      for (DType st : {DType::f32, DType::f16, DType::bf16}) {
        Tensor dense = random::normal(random::key(static_cast<std::uint64_t>(c.n * 13 + bits)),
                                      {c.n, c.k}, st, 0.1, 1.0);
        const QuantizedTensor q = quantize(dense, c.group, bits);
        const QuantizedTensor qg = to_gpu(q);
        QuantizedTensor mags{q.packed, abs(astype(q.scales, DType::f32)),
                             abs(astype(q.biases, DType::f32)), bits, c.group};
        const Tensor terms = swapaxes(dequantize(mags), -1, -2);
        for (DType xt : {DType::f16, DType::bf16}) {
          for (std::int64_t m = 1; m <= 8; ++m) {
            SCOPED_TRACE("N " + std::to_string(c.n) + " K " + std::to_string(c.k) + " group " +
                         std::to_string(c.group) + " bits " + std::to_string(bits) + " M " +
                         std::to_string(m) + " " + std::string(name(xt)) + " x, " +
                         std::string(name(st)) + " scales");
            Tensor x =
                random::normal(random::key(static_cast<std::uint64_t>(m * 5 + bits)), {m, c.k}, xt);
            Tensor got = quantized_matmul(to_device(x, gpu), qg);
            ASSERT_EQ(got.device(), gpu);
            const Tensor want = quantized_matmul(x, q);
            ASSERT_EQ(got.shape(), want.shape());
            const std::vector<float> a = floats(to_host(got)), b = floats(want);
            const std::vector<float> scale = floats(matmul(abs(astype(x, DType::f32)), terms));
            const double u = roundoff(xt);
            int bad = 0;
            for (std::size_t i = 0; i < a.size(); ++i) {
              const double bound = 1e-5 * scale[i] + 2 * u * std::fabs(double(b[i])) + 1e-30;
              if (!(std::fabs(double(a[i]) - double(b[i])) <= bound) && bad++ < 3)
                ADD_FAILURE() << "element " << i << ": " << a[i] << " vs " << b[i] << " (bound "
                              << bound << ")";
            }
          }
        }
      }
    }
  }
}

// ||got - want|| / ||want|| over all elements, in double.
double relative_l2(const Tensor& got, const Tensor& want) {
  const std::vector<float> a = floats(to_host(got)), b = floats(to_host(want));
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

// The tensor-core path for prefill (quant_mma.cu: M > 8, transposed weights, x f16 or
// bf16, every bit width) against the decomposition on the GPU (quant::DecomposeGuard:
// the weight dequantized with the product rounded to the scales' dtype, then the bias,
// then converted to x's dtype, then cuBLASLt). The kernel takes w = s q + b in f32 and
// rounds it once to x's dtype, and accumulates in f32 in another order; both round y
// once. Tolerances: per element close_in_terms's worst case (2 (u_x + u_s) of
// sum |x| (|s| q + |b|): w rounded differently, plus y's rounding; 1e-5 for the f32
// sums), and over all elements ||got - want|| / ||want|| <= 4 (u_x + u_s), since those
// roundings have random signs (measured about 1 u_s for bf16 scales with f16 x, where
// the decomposition's w carries bf16's rounding; a wrong code, scale or tile gives
// errors of order 1).
// Shapes: M = 9 (the first M past the GEMV), M, N and K not multiples of the tiles
// (64 x 128 or 128 x 128 outputs, 64 codes of K: K = 352 and 96 end in half a K tile),
// K split across blocks (small M; 4032 = 63 tiles in 13 splits, the last shorter), every group
// size, scales of each float dtype, batched activations, and a shape with enough 128 x 128 tiles
// (17 x 11) to take the large tiles, unsplit, on an H100.
TEST_F(CudaQuant, TensorCorePathMatchesTheDecomposition) {
  struct Case {
    Shape x;
    std::int64_t n;
    int group;
    DType weights;  // the dtype of scales and biases
  };
  const Case cases[] = {{{9, 352}, 67, 32, DType::bf16},    {{3, 11, 384}, 130, 64, DType::f32},
                        {{100, 640}, 200, 128, DType::f16}, {{300, 96}, 72, 32, DType::bf16},
                        {{65, 4032}, 136, 64, DType::bf16}, {{2100, 352}, 1400, 32, DType::bf16}};
  for (const Case& c : cases) {
    const std::int64_t k = c.x.back(), n = c.n, m = numel(c.x) / k;
    for (int bits : {2, 3, 4, 6, 8}) {
      Tensor dense = random::normal(random::key(static_cast<std::uint64_t>(n * 31 + bits)), {n, k},
                                    c.weights, 0.1, 1.0);
      const QuantizedTensor q = quantize(dense, c.group, bits);
      const QuantizedTensor qg = to_gpu(q);
      for (DType xt : {DType::f16, DType::bf16}) {
        SCOPED_TRACE("M " + std::to_string(m) + " K " + std::to_string(k) + " N " +
                     std::to_string(n) + " group " + std::to_string(c.group) + " bits " +
                     std::to_string(bits) + " " + std::string(name(xt)) + " x, " +
                     std::string(name(c.weights)) + " scales");
        Tensor x = random::normal(random::key(static_cast<std::uint64_t>(k + bits)), c.x, xt);
        Tensor xg = to_device(x, gpu);
        Tensor got = quantized_matmul(xg, qg);
        Tensor want;
        {
          quant::DecomposeGuard decompose;
          want = quantized_matmul(xg, qg);
        }
        EXPECT_EQ(got.device(), gpu);
        ASSERT_EQ(got.shape(), want.shape());
        EXPECT_LE(relative_l2(got, want), 4 * (roundoff(xt) + roundoff(c.weights)));
        EXPECT_TRUE(close_in_terms(reshape(got, {m, n}), to_host(reshape(want, {m, n})),
                                   reshape(x, {m, k}), q, true));
      }
    }
  }
}

TEST_F(CudaQuant, HalfScalesAndBatchedActivations) {
  for (DType st : {DType::f16, DType::bf16}) {
    Tensor dense = random::normal(random::key(7), {96, 256}, st);
    const QuantizedTensor q = quantize(dense, 64, 4);
    for (DType xt : {DType::f32, DType::f16, DType::bf16}) {
      Tensor x = random::normal(random::key(8), {2, 3, 256}, xt);
      Tensor got = quantized_matmul(to_device(x, gpu), to_gpu(q));
      EXPECT_TRUE(close_in_terms(got, quantized_matmul(x, q), x, q, true))
          << name(st) << " scales, " << name(xt) << " x";
    }
  }
}

TEST_F(CudaQuant, CompiledPlansEqualEager) {
  Tensor dense = random::normal(random::key(9), {128, 256});
  const QuantizedTensor q = to_gpu(quantize(dense, 64, 4));
  auto fn = [&](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {quantized_matmul(in[0], q), dequantize(q)};
  };
  for (std::int64_t m : {1, 33}) {
    Tensor x = to_device(random::normal(random::key(10), {m, 256}, DType::bf16), gpu);
    std::vector<Tensor> eager = fn({x});
    for (CompileMode mode : {CompileMode::native, CompileMode::fuse}) {
      auto f = compile(fn, testing::compile_options(mode, "quant"));
      for (int call = 0; call < 2; ++call) {
        std::vector<Tensor> got = f({x});
        for (std::size_t j = 0; j < got.size(); ++j)
          EXPECT_TRUE(all_equal(to_host(got[j]), to_host(eager[j]))) << "M " << m << " " << j;
      }
    }
  }
}

}  // namespace
}  // namespace emily
