// quantized_matmul's CPU kernel (the GEMV loops for M <= 8, dequantized tiles and
// sgemm above) against its decomposition, matmul(x, astype(dequantize(w), x.dtype())).
// The kernel computes s * q + b in f32 without rounding it to the scales' dtype or to
// x's, accumulates in f32 in another order, and adds each group's bias as
// bias * sum(x). So the oracle's tolerance is relative to the size of the terms that
// were rounded and added, |x| @ (|s| q + |b|) per output element:
//   tol = 1e-5 + 2 (u_scales + u_x), u the unit roundoff (f32 0, f16 2^-11, bf16 2^-8):
// the decomposition rounds s * q and then w to the scales' dtype, converts w to x's
// dtype, and rounds the result once to x's dtype (within the same bound).
#include <cmath>
#include <functional>
#include <optional>
#include <set>

#include "backend/cpu/quant_avx2.h"  // ForceGeneric: both GEMV forms on one machine

#include "emily/gguf.h"
#include "emily/quantization.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;
using testing::floats;

double roundoff(DType t) {
  return t == DType::f16 ? std::ldexp(1.0, -11) : t == DType::bf16 ? std::ldexp(1.0, -8) : 0.0;
}

double tolerance(DType x, DType scales) {
  return 1e-5 + 2 * (roundoff(x) + roundoff(scales));
}

std::set<std::string> dispatched(const std::function<void()>& fn) {
  std::set<std::string> seen;
  auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) seen.insert(*op);
  });
  fn();
  telemetry::detach(id);
  return seen;
}

// |s| q + |b| per weight, f32, as matmul's right operand (transposed for {N, K}).
Tensor magnitudes(const QuantizedTensor& w, bool transpose) {
  QuantizedTensor codes{w.packed, abs(astype(w.scales, DType::f32)),
                        abs(astype(w.biases, DType::f32)), w.bits, w.group_size};
  Tensor m = dequantize(codes);
  return transpose ? swapaxes(m, -1, -2) : m;
}

// |got - want| <= tol * (|x| @ terms) elementwise.
::testing::AssertionResult close_in_terms(const Tensor& got, const Tensor& want, const Tensor& x,
                                          const Tensor& terms, double tol) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure()
           << "shape or dtype differ: " << to_string(got.shape()) << " " << name(got.dtype())
           << " vs " << to_string(want.shape()) << " " << name(want.dtype());
  const std::vector<float> a = floats(got), b = floats(want);
  const std::vector<float> scale = floats(matmul(abs(astype(x, DType::f32)), terms));
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double bound = tol * scale[i] + 1e-30;
    if (!(std::fabs(double(a[i]) - double(b[i])) <= bound))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << b[i] << " (bound " << bound << ")";
  }
  return ::testing::AssertionSuccess();
}

struct Case {
  int bits, group;
  std::int64_t n, k;
  bool transpose;
};

// A random quantized weight for the case: {N, K} when transposed, else {K, N}.
QuantizedTensor weight(const Case& c, DType scales_dtype, std::uint64_t seed) {
  const Shape shape = c.transpose ? Shape{c.n, c.k} : Shape{c.k, c.n};
  Tensor w = random::normal(random::key(seed), shape, scales_dtype, 0.1, 1.0);
  return quantize(w, c.group, c.bits);
}

// Runs the kernel (which must be what runs) and the decomposition, and compares.
void check(const Tensor& x, const QuantizedTensor& w, bool transpose) {
  Tensor got;
  std::set<std::string> ops = dispatched([&] { got = quantized_matmul(x, w, transpose); });
  EXPECT_TRUE(ops.count("quantized_matmul"));
  Tensor want;
  {
    quant::DecomposeGuard guard;
    want = quantized_matmul(x, w, transpose);
  }
  EXPECT_TRUE(close_in_terms(got, want, x, magnitudes(w, transpose),
                             tolerance(x.dtype(), w.scales.dtype())));
}

TEST(QuantizedMatmul, KernelMatchesTheDecompositionForEveryFormat) {
  for (bool transpose : {true, false}) {
    for (int bits : {2, 3, 4, 6, 8}) {
      for (int group : {32, 64, 128}) {
        for (std::int64_t m : {1, 3, 8, 64}) {
          // Odd N where N is not the packed axis.
          const Case c{bits, group, transpose ? 67 : 256, transpose ? 384 : 67, transpose};
          SCOPED_TRACE("bits " + std::to_string(bits) + " group " + std::to_string(group) + " M " +
                       std::to_string(m) + (transpose ? " transposed" : ""));
          const QuantizedTensor w = weight(c, DType::f32, static_cast<std::uint64_t>(bits * group));
          Tensor x = random::normal(random::key(static_cast<std::uint64_t>(m)), {m, c.k});
          check(x, w, transpose);
        }
      }
    }
  }
}

// The transposed GEMV (M <= 8) has an AVX2 + FMA form for 2/4/8 bits with rows of whole
// 8-word blocks, used where the CPU has both, and the generic loops elsewhere; each runs
// here against the decomposition (oracle, tolerance as above) for every M, every group
// (2 to 32 words: a block holds several groups or lies inside one), and a K whose rows
// are not whole blocks (generic in both runs). f16 and bf16 scales take the same path.
TEST(QuantizedMatmul, GemvFormsMatchTheDecomposition) {
  for (bool generic : {false, true}) {
    std::optional<cpu::quant_avx2::ForceGeneric> force;
    if (generic) force.emplace();
    for (int bits : {2, 3, 4, 6, 8}) {
      for (int group : {32, 64, 128}) {
        // 8 groups of 32 codes is 8 * bits words: whole blocks; 5 groups of 32 is not
        // unless bits is 8.
        for (std::int64_t k : {std::int64_t{256}, std::int64_t{160}}) {
          if (k % group != 0) continue;
          for (DType st : {DType::f32, DType::bf16}) {
            const Case c{bits, group, 37, k, true};
            const QuantizedTensor w = weight(c, st, static_cast<std::uint64_t>(bits + group + k));
            for (std::int64_t m = 1; m <= 8; ++m) {
              SCOPED_TRACE(std::string(generic ? "generic" : "default") + " bits " +
                           std::to_string(bits) + " group " + std::to_string(group) + " K " +
                           std::to_string(k) + " " + std::string(name(st)) + " M " +
                           std::to_string(m));
              Tensor x = random::normal(random::key(static_cast<std::uint64_t>(m + 7)), {m, k});
              check(x, w, true);
            }
          }
        }
      }
    }
  }
}

TEST(QuantizedMatmul, HalfActivationsAndScales) {
  for (DType xt : {DType::f32, DType::f16, DType::bf16}) {
    for (DType st : {DType::f32, DType::f16, DType::bf16}) {
      for (bool transpose : {true, false}) {
        for (std::int64_t m : {1, 5, 33}) {
          SCOPED_TRACE(std::string(name(xt)) + " x, " + std::string(name(st)) + " scales, M " +
                       std::to_string(m) + (transpose ? " transposed" : ""));
          const Case c{4, 64, transpose ? 40 : 128, transpose ? 256 : 40, transpose};
          const QuantizedTensor w = weight(c, st, 11);
          Tensor x = random::normal(random::key(static_cast<std::uint64_t>(m + 100)), {m, c.k}, xt);
          check(x, w, transpose);
        }
      }
    }
  }
}

// x with batch axes {2, 3, K}, and a 1-D x {K}; results keep x's leading axes.
TEST(QuantizedMatmul, BatchedAndVectorActivations) {
  for (bool transpose : {true, false}) {
    const Case c{8, 32, transpose ? 48 : 96, transpose ? 96 : 48, transpose};
    const QuantizedTensor w = weight(c, DType::f32, 3);
    Tensor x = random::normal(random::key(4), {2, 3, c.k});
    check(x, w, transpose);
    EXPECT_EQ(quantized_matmul(x, w, transpose).shape(), (Shape{2, 3, c.n}));
    Tensor v = random::normal(random::key(5), {c.k});
    check(v, w, transpose);
    EXPECT_EQ(quantized_matmul(v, w, transpose).shape(), (Shape{c.n}));
  }
}

// A weight with batch axes runs the decomposition (matmul broadcasts it). Oracle: the
// per-matrix products.
TEST(QuantizedMatmul, BatchedWeightsBroadcastLikeMatmul) {
  Tensor dense = random::normal(random::key(8), {2, 16, 64});
  QuantizedTensor w = quantize(dense, 32, 4);
  Tensor x = random::normal(random::key(9), {2, 3, 64});
  Tensor got = quantized_matmul(x, w);
  ASSERT_EQ(got.shape(), (Shape{2, 3, 16}));
  for (std::int64_t e = 0; e < 2; ++e) {
    QuantizedTensor we{reshape(slice(w.packed, {e, 0, 0}, {e + 1, 16, 8}), {16, 8}),
                       reshape(slice(w.scales, {e, 0, 0}, {e + 1, 16, 2}), {16, 2}),
                       reshape(slice(w.biases, {e, 0, 0}, {e + 1, 16, 2}), {16, 2}), 4, 32};
    Tensor xe = reshape(slice(x, {e, 0, 0}, {e + 1, 3, 64}), {3, 64});
    Tensor want = quantized_matmul(xe, we);
    EXPECT_TRUE(close_in_terms(reshape(slice(got, {e, 0, 0}, {e + 1, 3, 16}), {3, 16}), want, xe,
                               magnitudes(we, true), 1e-5));
  }
}

// Oracle: eager results of the same function; compiled plans (native replay and fused)
// run the same kernels on the same values, so they are bitwise equal.
TEST(QuantizedMatmul, CompiledPlansEqualEager) {
  const Case c{4, 64, 96, 128, true};
  const QuantizedTensor w = weight(c, DType::bf16, 21);
  const QuantizedTensor w3 = weight({3, 32, 96, 128, false}, DType::f32, 22);
  auto fn = [&](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    QuantizedTensor a{in[1], in[2], in[3], w.bits, w.group_size};
    Tensor y = quantized_matmul(in[0], a);
    return {y, quantized_matmul(astype(in[0], DType::f32) * 0.5, w3, false), dequantize(a)};
  };
  for (std::int64_t m : {1, 16}) {
    Tensor x = random::normal(random::key(23), {m, c.k}, DType::bf16);
    std::vector<Tensor> in{x, w.packed, w.scales, w.biases};
    std::vector<Tensor> eager = fn(in);
    for (CompileMode mode : {CompileMode::native, CompileMode::fuse}) {
      auto f = compile(fn, testing::compile_options(mode, "quantized_matmul"));
      for (int call = 0; call < 2; ++call) {
        std::vector<Tensor> got = f(in);
        ASSERT_EQ(got.size(), eager.size());
        for (std::size_t j = 0; j < got.size(); ++j)
          EXPECT_TRUE(all_equal(got[j], eager[j])) << "M " << m << " result " << j;
      }
    }
  }
}

// GGUF weights (the io fixtures: Q4_0, Q4_1, Q8_0 blocks with zero, constant, large and
// tiny groups). Oracle: matmul with the gguf package's own dequantization of the same
// blocks (the .dequant.npy fixtures), f32, tolerance 1e-5 relative to |x| @ (|s| q + |b|).
TEST(QuantizedMatmul, GgufWeights) {
  GgufFile f = GgufFile::open(std::string(EMILY_FIXTURES_DIR) + "/gguf/model_v3.gguf");
  for (const char* tensor_name : {"w.q4_0", "w.q4_1", "w.q8_0"}) {
    SCOPED_TRACE(tensor_name);
    QuantizedTensor q = f.quantized_tensor(tensor_name);
    Tensor dense = testing::fixture(std::string("gguf/") + tensor_name + ".dequant.npy");
    const std::int64_t k = dense.shape(-1);
    // Rank-3 weights ({2, 2, 64} for Q4_1) as a matrix of their rows.
    const std::int64_t n = dense.size() / k;
    q = {reshape(q.packed, {n, q.packed.shape(-1)}), reshape(q.scales, {n, q.scales.shape(-1)}),
         reshape(q.biases, {n, q.biases.shape(-1)}), q.bits, q.group_size};
    dense = reshape(astype(dense, DType::f32), {n, k});
    for (std::int64_t m : {1, 4, 20}) {
      Tensor x = random::normal(random::key(static_cast<std::uint64_t>(m)), {m, k});
      Tensor got = quantized_matmul(x, q);
      Tensor want = matmul(x, swapaxes(dense, 0, 1));
      EXPECT_TRUE(close_in_terms(got, want, x, magnitudes(q, true), 1e-5)) << "M " << m;
    }
  }
}

// Empty operands: no rows, no outputs, or K = 0 (every output an empty sum, 0).
// Oracle: the decomposition.
TEST(QuantizedMatmul, EmptyOperands) {
  const QuantizedTensor w = quantize(random::normal(random::key(1), {5, 64}), 32, 4);
  const QuantizedTensor none = quantize(zeros({0, 64}), 32, 4);
  const QuantizedTensor no_k = quantize(zeros({5, 0}), 32, 4);
  struct Run {
    Tensor x;
    const QuantizedTensor* w;
    bool transpose;
    Shape shape;
  };
  for (const Run& r :
       {Run{zeros({0, 64}), &w, true, {0, 5}}, Run{zeros({3, 64}), &none, true, {3, 0}},
        Run{ones({3, 0}), &no_k, true, {3, 5}}, Run{ones({2, 0}), &none, false, {2, 64}}}) {
    Tensor got = quantized_matmul(r.x, *r.w, r.transpose);
    EXPECT_EQ(got.shape(), r.shape);
    quant::DecomposeGuard guard;
    EXPECT_TRUE(all_equal(got, quantized_matmul(r.x, *r.w, r.transpose)));
  }
}

// Non-finite weights quantize to something (no crash); finite groups are unaffected.
TEST(QuantizedMatmul, NonFiniteWeightsDoNotCrash) {
  std::vector<float> v(128, 0.5f);
  v[3] = NAN;
  v[70] = INFINITY;
  const QuantizedTensor q = quantize(tensor(v, {2, 64}), 32, 4);
  Tensor x = ones({1, 64});
  EXPECT_EQ(quantized_matmul(x, q).shape(), (Shape{1, 2}));
  EXPECT_EQ(floats(dequantize(q))[40], 0.5f);  // row 0, second group: constant 0.5
}

TEST(QuantizedMatmul, BadArgumentsNameTheOp) {
  const QuantizedTensor w = quantize(zeros({8, 64}), 32, 4);  // {N 8, K 64}
  Tensor x = zeros({2, 64});
  EXPECT_EQ(quantized_matmul(x, w).shape(), (Shape{2, 8}));
  EXPECT_EQ(quantized_matmul(zeros({2, 8}), w, false).shape(), (Shape{2, 64}));
  EXPECT_EMILY_ERROR(quantized_matmul(zeros({2, 63}), w), ShapeError, "quantized_matmul");
  EXPECT_EMILY_ERROR(quantized_matmul(x, w, false), ShapeError, "quantized_matmul");
  EXPECT_EMILY_ERROR(quantized_matmul(zeros({}), w), ShapeError, "quantized_matmul");
  EXPECT_EMILY_ERROR(quantized_matmul(zeros({2, 64}, DType::s32), w), DTypeError,
                     "quantized_matmul");
  EXPECT_EMILY_ERROR(quantized_matmul(zeros({2, 64}, DType::f64), w), DTypeError,
                     "quantized_matmul");
  EXPECT_EMILY_ERROR(quantized_matmul(Tensor(), w), Error, "quantized_matmul");
  QuantizedTensor bad = w;
  bad.bits = 5;
  EXPECT_EMILY_ERROR(quantized_matmul(x, bad), ValueError, "quantized_matmul");
  bad = w;
  bad.group_size = 16;
  EXPECT_EMILY_ERROR(quantized_matmul(x, bad), ValueError, "quantized_matmul");
  bad = w;
  bad.bits = 8;  // the packed rows are too short for 8-bit codes
  EXPECT_EMILY_ERROR(quantized_matmul(x, bad), ShapeError, "quantized_matmul");
  bad = w;
  bad.packed = astype(w.packed, DType::s32);
  EXPECT_EMILY_ERROR(quantized_matmul(x, bad), DTypeError, "quantized_matmul");
  bad = quantize(zeros({64}), 32, 4);  // a vector is not a weight matrix
  EXPECT_EMILY_ERROR(quantized_matmul(x, bad), ShapeError, "quantized_matmul");
}

}  // namespace
}  // namespace emily
