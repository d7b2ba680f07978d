// softmax, log_softmax, logsumexp, gelu, gelu_tanh, silu.
// Oracle: float64 evaluations of the textbook formulas on the same f32 (or bf16) inputs
// (scripts/fixtures/reduction.py, ops/reduction/*), rounded once. Tolerances:
//   softmax: exp(x - m) loses |x - m| * 2^-24 relative to the rounding of x - m; entries
//     with |x - m| > 8 are below e^-8 ~ 3e-4, so rtol 1e-6 with atol 1e-7 covers them.
//   log_softmax/logsumexp: absolute error about ulp(|x - m|) (rtol 1e-6, atol 1e-6).
//   gelu/gelu_tanh: 1 + erf (or tanh) cancels for x < 0: absolute error up to
//     |x|/2 * ulp(1) * a few, |x| <= 8 (atol 5e-7); silu rtol 1e-6.
//   bf16 inputs: computed in f32 and rounded once, so within one bf16 ulp (2^-8
//     relative, rtol 8e-3) of the rounded f64 answer.
#include <cmath>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor fx(const std::string& name) {
  return testing::op_fixture("reduction", name);
}
Tensor fx_bf16(const std::string& name) {
  return testing::op_fixture_bf16("reduction", name);
}

TEST(Composite, SoftmaxMatchesFloat64) {
  Tensor x = fx("logits");  // includes 1000-scale logits and -inf mask entries
  EXPECT_TRUE(all_close(softmax(x), fx("softmax_1"), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(softmax(x, 1), fx("softmax_1"), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(softmax(x, 0), fx("softmax_0"), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(softmax(x, -2), fx("softmax_0"), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(softmax(x, {0, 1}), fx("softmax_01"), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(softmax(x, {-1, 0}), fx("softmax_01"), 1e-6, 1e-7));
  // Masked entries are exactly 0.
  auto row2 = slice(softmax(x), {2, 0}, {3, 8}).to_vector<float>();
  EXPECT_EQ(row2[0], 0.0f);
  EXPECT_EQ(row2[5], 0.0f);
  EXPECT_EQ(softmax(x).dtype(), DType::f32);
}

TEST(Composite, LogSoftmaxAndLogSumExpMatchFloat64) {
  Tensor x = fx("logits");
  EXPECT_TRUE(all_close(log_softmax(x), fx("log_softmax_1"), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(log_softmax(x, 1), fx("log_softmax_1"), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(logsumexp(x, 1), fx("logsumexp_1"), 1e-6, 1e-6));
  Tensor k = logsumexp(x, 0, true);
  EXPECT_EQ(k.shape(), (Shape{1, 8}));
  EXPECT_TRUE(all_close(k, fx("logsumexp_0_keep"), 1e-6, 1e-6));
  Tensor all_axes = logsumexp(x, {1, 0});
  EXPECT_EQ(all_axes.ndim(), 0);
  EXPECT_TRUE(all_close(reshape(all_axes, {1}), fx("logsumexp_01"), 1e-6, 1e-6));
  EXPECT_EQ(logsumexp(x, {0, 1}, true).shape(), (Shape{1, 1}));
}

TEST(Composite, MaskedAndInfiniteRows) {
  // Hand-computed: a row that is all -inf has no distribution (NaN, as NumPy/JAX), its
  // logsumexp is log(0) = -inf; a +inf entry makes logsumexp +inf.
  Tensor x = tensor<float>({-INFINITY, -INFINITY, 0, 1, INFINITY, 2}, {3, 2});
  auto s = softmax(x).to_vector<float>();
  EXPECT_TRUE(std::isnan(s[0]) && std::isnan(s[1]));
  auto l = logsumexp(x, 1).to_vector<float>();
  EXPECT_EQ(l[0], -INFINITY);
  EXPECT_NEAR(l[1], std::log(1 + std::exp(1.0)), 1e-6);
  EXPECT_EQ(l[2], INFINITY);
  auto ls = log_softmax(x).to_vector<float>();
  EXPECT_TRUE(std::isnan(ls[0]));
  EXPECT_NEAR(ls[3], -std::log(1 + std::exp(-1.0)), 1e-6);
  // Large logits stay finite thanks to the max shift: softmax(1000, 1000) = 1/2.
  EXPECT_TRUE(all_equal(softmax(tensor<float>({1000, 1000})), tensor<float>({0.5f, 0.5f})));
  EXPECT_EQ(logsumexp(tensor<float>({1000, 1000}), 0).item<float>(),
            1000.0f + static_cast<float>(std::log(2.0)));
}

TEST(Composite, EmptyAndZeroDimensional) {
  EXPECT_EQ(softmax(zeros({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(log_softmax(zeros({2, 0})).shape(), (Shape{2, 0}));
  // The sum over nothing is 0; its log is -inf (as SciPy/JAX).
  EXPECT_TRUE(all_equal(logsumexp(zeros({2, 0}), 1), full({2}, -INFINITY)));
  EXPECT_TRUE(all_equal(logsumexp(zeros({0, 3}), 0, true), full({1, 3}, -INFINITY)));
  EXPECT_EQ(logsumexp(zeros({0, 3}), 1).shape(), (Shape{0}));
  // An empty axes list normalizes over nothing: every entry is its own distribution.
  EXPECT_TRUE(all_equal(softmax(tensor<float>({3, -1}), std::vector<int>{}), ones({2})));
  EXPECT_TRUE(all_equal(gelu(scalar_tensor(0.0)), scalar_tensor(0.0)));
}

TEST(Composite, NonContiguousAndIntegerInputs) {
  Tensor x = fx("logits");
  // Identity: softmax over axis 0 of the transpose is the transpose of softmax over 1
  // (the sums run in another order: a few ulp, rtol 5e-7).
  EXPECT_TRUE(all_close(softmax(transpose(x), 0), transpose(softmax(x, 1)), 5e-7, 0));
  Tensor row = tensor<float>({0.5f, -1, 2});
  EXPECT_TRUE(all_close(softmax(broadcast_to(row, {4, 3}), 1), broadcast_to(softmax(row), {4, 3}),
                        5e-7, 0));
  // Integers and bool compute in f32: same values as the f32 input.
  Tensor i = tensor<std::int32_t>({1, 2, 3, -4});
  for (auto f :
       {+[](const Tensor& t) { return softmax(t); },
        +[](const Tensor& t) { return log_softmax(t); },
        +[](const Tensor& t) { return logsumexp(t, 0); }, +[](const Tensor& t) { return gelu(t); },
        +[](const Tensor& t) { return gelu_tanh(t); }, +[](const Tensor& t) { return silu(t); }}) {
    Tensor r = f(i);
    EXPECT_EQ(r.dtype(), DType::f32);
    EXPECT_TRUE(all_equal(r, f(astype(i, DType::f32))));
  }
  EXPECT_EQ(silu(tensor<bool>({true})).dtype(), DType::f32);
  EXPECT_EQ(gelu(tensor<double>({1.0})).dtype(), DType::f64);
}

TEST(Composite, ActivationsMatchFloat64) {
  Tensor a = fx("act");  // -8..8 in steps of 0.25, and +-12.5, +-30
  EXPECT_TRUE(all_close(gelu(a), fx("gelu"), 1e-6, 5e-7));
  EXPECT_TRUE(all_close(gelu_tanh(a), fx("gelu_tanh"), 1e-6, 5e-7));
  EXPECT_TRUE(all_close(silu(a), fx("silu"), 1e-6, 1e-12));
  // Hand-computed anchors: gelu(0) = 0, gelu(x) -> x for large x, silu(0) = 0.
  EXPECT_EQ(gelu(tensor<float>({0, 30})).to_vector<float>(), (std::vector<float>{0, 30}));
  EXPECT_EQ(silu(tensor<float>({0})).item<float>(), 0.0f);
}

TEST(Composite, BFloat16RoundsTheF32Answer) {
  Tensor x = fx_bf16("logits_bf16");
  Tensor s = softmax(x);
  EXPECT_EQ(s.dtype(), DType::bf16);
  EXPECT_TRUE(all_close(s, fx_bf16("softmax_bf16_1"), 8e-3, 1e-6));
  EXPECT_TRUE(all_close(log_softmax(x), fx_bf16("log_softmax_bf16_1"), 8e-3, 1e-3));
  Tensor a = fx_bf16("act_bf16");
  EXPECT_EQ(gelu(a).dtype(), DType::bf16);
  EXPECT_TRUE(all_close(gelu(a), fx_bf16("gelu_bf16"), 8e-3, 5e-7));
  EXPECT_TRUE(all_close(gelu_tanh(a), fx_bf16("gelu_tanh_bf16"), 8e-3, 5e-7));
  EXPECT_TRUE(all_close(silu(a), fx_bf16("silu_bf16"), 8e-3, 1e-12));
  // f16 keeps its dtype too.
  EXPECT_EQ(softmax(astype(fx("logits"), DType::f16)).dtype(), DType::f16);
}

TEST(Composite, Errors) {
  Tensor x = fx("logits");
  Tensor c = zeros({2}, DType::c64);
  EXPECT_EMILY_ERROR(softmax(x, 2), ShapeError, "softmax");
  EXPECT_EMILY_ERROR(softmax(x, {0, -2}), ShapeError, "softmax");
  EXPECT_EMILY_ERROR(softmax(scalar_tensor(1.0)), ShapeError, "softmax");
  EXPECT_EMILY_ERROR(softmax(c), DTypeError, "softmax");
  EXPECT_EMILY_ERROR(softmax(Tensor()), ValueError, "softmax");
  EXPECT_EMILY_ERROR(log_softmax(x, -3), ShapeError, "log_softmax");
  EXPECT_EMILY_ERROR(log_softmax(c), DTypeError, "log_softmax");
  EXPECT_EMILY_ERROR(logsumexp(x, 2), ShapeError, "logsumexp");
  EXPECT_EMILY_ERROR(logsumexp(x, {1, 1}), ShapeError, "logsumexp");
  EXPECT_EMILY_ERROR(logsumexp(c, 0), DTypeError, "logsumexp");
  EXPECT_EMILY_ERROR(gelu(c), DTypeError, "gelu");
  EXPECT_EMILY_ERROR(gelu(Tensor()), ValueError, "gelu");
  EXPECT_EMILY_ERROR(gelu_tanh(c), DTypeError, "gelu_tanh");
  EXPECT_EMILY_ERROR(silu(c), DTypeError, "silu");
}

}  // namespace
}  // namespace emily
