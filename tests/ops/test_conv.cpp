// conv_general. Goldens: scripts/fixtures/conv.py (jax.lax.conv_general_dilated in
// float64 on the stored f32 inputs, rounded once to f32). The other oracle is `naive`
// below: XLA's definition of the convolution written as a direct loop in double, which
// the im2col + GEMM kernel must match on random shapes and options.
//
// Tolerances: f32 results come out of sgemm, which sums the C/g * prod(kernel) products
// (at most a few hundred O(1) terms here) in its own blocked order, so they sit within
// a few ULP of the sum's magnitude of the exact answer: rtol 1e-5 with atol 1e-5 (sums
// that cancel to near 0). f64: rtol/atol 1e-12. Results with f16/bf16 inputs must equal
// the f32 convolution of the same values to within one rounding of the output type.
#include <algorithm>
#include <cmath>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;

Tensor fx(const std::string& name) {
  return testing::fixture("conv/" + name + ".npy");
}

constexpr double kRtol32 = 1e-5, kAtol32 = 1e-5;

// Deterministic values in [-1, 1) without a random generator.
Tensor wave(const Shape& shape, double phase = 0.0, DType dtype = DType::f32) {
  std::vector<double> v(static_cast<std::size_t>(numel(shape)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37 * static_cast<double>(i) + phase);
  return astype(tensor(v, shape), dtype);
}

// Oracle: XLA's ConvGeneralDilated by its definition, in double. out[n, o, p...] sums,
// over the group's input channels c and kernel positions q, input[b, c0 + c, i] *
// kernel[o, c, q], where i = p * stride - low + q * kernel_dilation is an index into the
// input dilated by input_dilation (only multiples of it are real elements) and
// b = (o / (O / batch_groups)) * N' + n.
Tensor naive(const Tensor& x, const Tensor& w, const ConvOptions& o) {
  const int ns = x.ndim() - 2;
  auto opt = [&](const Shape& v, std::int64_t fill) { return v.empty() ? Shape(ns, fill) : v; };
  const Shape st = opt(o.strides, 1), lo = opt(o.padding_low, 0), hi = opt(o.padding_high, 0),
              kd = opt(o.kernel_dilation, 1), id = opt(o.input_dilation, 1);
  const std::int64_t N = x.shape(0), C = x.shape(1), O = w.shape(0), Cg = w.shape(1);
  const std::int64_t Np = N / o.batch_groups, Og = O / o.feature_groups, Ob = O / o.batch_groups;
  Shape out = {Np, O}, xs = Shape(x.shape().begin() + 2, x.shape().end()),
        ks = Shape(w.shape().begin() + 2, w.shape().end());
  for (int d = 0; d < ns; ++d) {
    const std::int64_t padded = (xs[d] - 1) * id[d] + 1 + lo[d] + hi[d];
    const std::int64_t dk = (ks[d] - 1) * kd[d] + 1;
    out.push_back(padded < dk ? 0 : (padded - dk) / st[d] + 1);
  }
  const Shape osp(out.begin() + 2, out.end());
  auto vx = x.to_vector<double>(), vw = w.to_vector<double>();
  std::vector<double> vy(static_cast<std::size_t>(numel(out)), 0.0);
  const std::int64_t P = numel(osp), K = numel(ks), X = numel(xs);
  for (std::int64_t n = 0; n < Np; ++n)
    for (std::int64_t oc = 0; oc < O; ++oc) {
      const std::int64_t b = (oc / Ob) * Np + n, c0 = (oc / Og) * Cg;
      for (std::int64_t p = 0; p < P; ++p) {
        double s = 0;
        for (std::int64_t c = 0; c < Cg; ++c)
          for (std::int64_t q = 0; q < K; ++q) {
            std::int64_t pr = p, qr = q, xi = 0, xstride = 1;
            bool ok = true;
            for (int d = ns - 1; d >= 0; --d) {
              const std::int64_t pd = pr % osp[d], qd = qr % ks[d];
              pr /= osp[d];
              qr /= ks[d];
              const std::int64_t i = pd * st[d] - lo[d] + qd * kd[d];
              ok = ok && i >= 0 && i % id[d] == 0 && i / id[d] < xs[d];
              xi += (i / id[d]) * xstride;
              xstride *= xs[d];
            }
            if (ok) s += vx[(b * C + c0 + c) * X + xi] * vw[(oc * Cg + c) * K + q];
          }
        vy[(n * O + oc) * P + p] = s;
      }
    }
  return tensor(vy, out);
}

// ---- goldens ----------------------------------------------------------------------------

struct Golden {
  const char* name;
  ConvOptions options;
};

TEST(Conv, MatchesJax) {
  // Oracle: jax.lax.conv_general_dilated (float64, rounded to f32); rtol/atol 1e-5.
  const Golden cases[] = {
      {"whisper1d", {.padding_low = {1}, .padding_high = {1}}},
      {"sdp2d",
       {.strides = {2, 1},
        .padding_low = {1, 0},
        .padding_high = {2, 1},
        .kernel_dilation = {1, 2}}},
      {"idil2d",
       {.strides = {1, 2},
        .padding_low = {1, 2},
        .padding_high = {1, 0},
        .input_dilation = {2, 3}}},
      {"depthwise2d", {.padding_low = {1, 1}, .padding_high = {1, 1}, .feature_groups = 4}},
      {"groups2d", {.feature_groups = 2}},
      {"bgroups1d", {.batch_groups = 2}},
      {"negpad2d", {.padding_low = {-1, 2}, .padding_high = {-2, 0}}},
      {"conv3d", {.strides = {1, 2, 1}, .padding_low = {1, 1, 1}, .padding_high = {1, 1, 1}}},
  };
  for (const auto& c : cases) {
    const std::string n = c.name;
    Tensor y = conv_general(fx(n + "_x"), fx(n + "_k"), c.options);
    Tensor e = fx(n);
    EXPECT_EQ(y.dtype(), DType::f32) << n;
    EXPECT_TRUE(all_close(y, e, kRtol32, kAtol32)) << n;
    // The same case through the direct-loop oracle, which checks the oracle itself.
    EXPECT_TRUE(all_close(naive(fx(n + "_x"), fx(n + "_k"), c.options), e, kRtol32, kAtol32)) << n;
  }
}

TEST(Conv, F64MatchesJax) {
  // Oracle: jax.lax.conv_general_dilated in float64; rtol/atol 1e-12 (dgemm order).
  ConvOptions o{
      .strides = {2, 1}, .padding_low = {1, 0}, .padding_high = {2, 1}, .kernel_dilation = {1, 2}};
  Tensor y = conv_general(fx("sdp2d_f64_x"), fx("sdp2d_f64_k"), o);
  EXPECT_EQ(y.dtype(), DType::f64);
  EXPECT_TRUE(all_close(y, fx("sdp2d_f64"), 1e-12, 1e-12));
}

TEST(Conv, HalfPrecisionAccumulatesInF32) {
  // Oracle: the f32 convolution of the same (already rounded) values, rounded once to
  // the half type; the kernel computes exactly that, up to one rounding of the result
  // (f16: rtol 2^-10; bf16: rtol 2^-7) on top of the f32 tolerance.
  ConvOptions o{.padding_low = {1}, .padding_high = {1}};
  for (auto [dt, rtol] : {std::pair{DType::f16, 1e-3}, std::pair{DType::bf16, 8e-3}}) {
    Tensor x = astype(fx("whisper1d_x"), dt), k = astype(fx("whisper1d_k"), dt);
    Tensor y = conv_general(x, k, o);
    EXPECT_EQ(y.dtype(), dt);
    Tensor e = conv_general(astype(x, DType::f32), astype(k, DType::f32), o);
    EXPECT_TRUE(all_close(astype(y, DType::f32), e, rtol, 1e-3)) << name(dt);
  }
  // Mixed f16 and f32 operands promote to f32.
  EXPECT_EQ(conv_general(astype(fx("whisper1d_x"), DType::f16), fx("whisper1d_k"), o).dtype(),
            DType::f32);
}

// ---- the GEMM path against the direct loop ------------------------------------------------

TEST(Conv, GemmPathMatchesDirectLoop) {
  // Oracle: `naive` (direct loop in double) on deterministic pseudo-random data;
  // rtol 1e-5 and atol 1e-7 per summed product (K = C/g * prod(kernel) products of
  // values in [-1, 1], summed by sgemm in f32: about 2e-5 off for ViT's K = 768).
  struct Case {
    Shape x, k;
    ConvOptions o;
  };
  const Case cases[] = {
      // ViT's patch embedding, scaled down: non-overlapping 16x16 patches.
      {{1, 3, 32, 48}, {8, 3, 16, 16}, {.strides = {16, 16}}},
      // Whisper's conv1d shape, scaled down in channels.
      {{1, 8, 300}, {12, 8, 3}, {.padding_low = {1}, .padding_high = {1}}},
      // Whisper's second conv: stride 2.
      {{2, 6, 31}, {5, 6, 3}, {.strides = {2}, .padding_low = {1}, .padding_high = {1}}},
      // 1x1 kernels: the input is the column matrix (no im2col).
      {{2, 5, 4, 6}, {7, 5, 1, 1}, {}},
      {{2, 6, 4, 6}, {4, 3, 1, 1}, {.feature_groups = 2}},
      // Everything at once, with input dilation and kernel dilation.
      {{2, 4, 7, 9},
       {6, 2, 3, 2},
       {.strides = {2, 3},
        .padding_low = {2, -1},
        .padding_high = {0, 3},
        .kernel_dilation = {2, 1},
        .input_dilation = {1, 2},
        .feature_groups = 2}},
      {{6, 3, 5, 5}, {9, 3, 2, 3}, {.strides = {1, 2}, .padding_low = {1, 1}, .batch_groups = 3}},
      // Many tiny GEMMs (depthwise), which run across threads.
      {{3, 16, 9, 9},
       {16, 1, 3, 3},
       {.padding_low = {1, 1}, .padding_high = {1, 1}, .feature_groups = 16}},
      // A kernel larger than the padded input: no output positions.
      {{1, 2, 3}, {2, 2, 5}, {}},
  };
  int i = 0;
  for (const auto& c : cases) {
    Tensor x = wave(c.x, 0.1), k = wave(c.k, 1.3);
    Tensor y = conv_general(x, k, c.o);
    const double terms = static_cast<double>(numel(c.k) / c.k[0]);
    EXPECT_TRUE(all_close(y, naive(x, k, c.o), kRtol32, std::max(kAtol32, 1e-7 * terms)))
        << "case " << i;
    ++i;
  }
}

TEST(Conv, ChunksColumnsAboveTheScratchBound) {
  // C/g * prod(kernel) = 64 * 256 rows of 1089 positions is 71 MB of f32 columns, more
  // than the 64 MiB bound, so the positions are cut into chunks. Oracle: linearity over
  // input channels, i.e. the sum of the convolutions of the two channel halves, whose
  // columns (36 MB each) fit in one chunk; rtol 1e-5, atol 1e-4 (sums of 16384 products
  // of values below 0.1, added in another order).
  Tensor x = wave({1, 64, 48, 48}, 0.2), k = wave({2, 64, 16, 16}, 0.7) * 0.1;
  Tensor y = conv_general(x, k);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 33, 33}));
  Tensor lo = conv_general(slice(x, {0, 0}, {1, 32}), slice(k, {0, 0}, {2, 32}));
  Tensor hi = conv_general(slice(x, {0, 32}, {1, 64}), slice(k, {0, 32}, {2, 64}));
  EXPECT_TRUE(all_close(y, lo + hi, 1e-5, 1e-4));
}

TEST(Conv, StridedInputsMatchContiguousCopies) {
  // Oracle: the same convolution on contiguous copies (identical arithmetic); exact.
  Tensor xt = wave({2, 3, 10, 4}, 0.3), kt = wave({5, 2, 3, 3}, 0.9);
  Tensor x = swapaxes(xt, 2, 3), k = swapaxes(kt, 0, 1);  // (2, 3, 4, 10), (2, 5, 3, 3)
  ASSERT_FALSE(x.is_contiguous());
  ConvOptions o{.strides = {1, 2}, .padding_low = {1, 1}, .padding_high = {1, 1}};
  Tensor k5 = wave({5, 3, 3, 3}, 0.4);
  EXPECT_TRUE(all_close(conv_general(x, k5, o), conv_general(contiguous(x), k5, o), 0, 0));
  Tensor x5 = wave({1, 5, 6, 6}, 0.5);
  EXPECT_TRUE(all_close(conv_general(x5, k, {}), conv_general(x5, contiguous(k), {}), 0, 0));
}

TEST(Conv, OutputShapes) {
  // Hand-computed from the documented formula.
  Tensor x = zeros({1, 80, 3000}), k = zeros({384, 80, 3});
  EXPECT_EQ(conv_general(x, k, {.padding_low = {1}, .padding_high = {1}}).shape(),
            (Shape{1, 384, 3000}));
  EXPECT_EQ(
      conv_general(zeros({2, 3, 224, 224}), zeros({16, 3, 16, 16}), {.strides = {16, 16}}).shape(),
      (Shape{2, 16, 14, 14}));
  // (5 - 1) * 2 + 1 = 9 dilated, padded to 10; kernel 3 dilated by 2 spans 5; stride 2.
  EXPECT_EQ(
      conv_general(
          zeros({1, 1, 5}), zeros({1, 1, 3}),
          {.strides = {2}, .padding_high = {1}, .kernel_dilation = {2}, .input_dilation = {2}})
          .shape(),
      (Shape{1, 1, 3}));
  // No input channels: every output is an empty sum (0).
  Tensor e = conv_general(zeros({1, 0, 4}), zeros({2, 0, 2}));
  EXPECT_EQ(e.shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(testing::floats(e), std::vector<float>(6, 0.0f));
}

// ---- errors ---------------------------------------------------------------------------------

TEST(Conv, Errors) {
  Tensor x = zeros({2, 4, 6}), k = zeros({6, 4, 3});
  EXPECT_EMILY_ERROR(conv_general(Tensor(), k), Error, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(zeros({2, 4}), zeros({6, 4})), ShapeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, zeros({6, 4, 3, 3})), ShapeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, zeros({6, 3, 3})), ShapeError, "conv_general");  // channels
  EXPECT_EMILY_ERROR(conv_general(x, zeros({6, 1, 3}), {.feature_groups = 3}), ShapeError,
                     "conv_general");  // 3 does not divide 4 channels
  EXPECT_EMILY_ERROR(conv_general(x, zeros({6, 4, 3}), {.feature_groups = 2}), ShapeError,
                     "conv_general");  // kernel should have 2 input channels
  EXPECT_EMILY_ERROR(conv_general(x, zeros({5, 2, 3}), {.feature_groups = 2}), ShapeError,
                     "conv_general");  // 5 output channels in 2 groups
  EXPECT_EMILY_ERROR(conv_general(x, zeros({5, 4, 3}), {.batch_groups = 2}), ShapeError,
                     "conv_general");
  EXPECT_EMILY_ERROR(conv_general(zeros({3, 4, 6}), k, {.batch_groups = 2}), ShapeError,
                     "conv_general");  // batch 3 in 2 groups
  EXPECT_EMILY_ERROR(conv_general(x, zeros({6, 2, 3}), {.feature_groups = 2, .batch_groups = 2}),
                     ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.feature_groups = 0}), ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.batch_groups = -1}), ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.strides = {0}}), ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.strides = {-1}}), ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.kernel_dilation = {0}}), ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.input_dilation = {-2}}), ValueError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.strides = {1, 1}}), ShapeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.padding_low = {0, 0}}), ShapeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.padding_high = {1, 1}}), ShapeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.kernel_dilation = {1, 1}}), ShapeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, k, {.input_dilation = {1, 1}}), ShapeError, "conv_general");
  // Negative padding that crops the axis below 0: output size < 0.
  EXPECT_EMILY_ERROR(conv_general(x, k, {.padding_low = {-4}, .padding_high = {-3}}), ShapeError,
                     "conv_general");
  EXPECT_EMILY_ERROR(conv_general(x, zeros({6, 4, 0})), ShapeError, "conv_general");
  // Integer, bool and complex operands.
  EXPECT_EMILY_ERROR(conv_general(zeros({2, 4, 6}, DType::s32), zeros({6, 4, 3}, DType::s32)),
                     DTypeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(zeros({2, 4, 6}, DType::bool_), zeros({6, 4, 3}, DType::bool_)),
                     DTypeError, "conv_general");
  EXPECT_EMILY_ERROR(conv_general(zeros({2, 4, 6}, DType::c64), k), DTypeError, "conv_general");
}

}  // namespace
}  // namespace emily
