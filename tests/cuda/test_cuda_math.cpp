// The CUDA convolution, FFT and linear algebra kernels against the CPU backend. Oracle:
// the same op on the same inputs on the CPU (im2col + OpenBLAS, FFTW, LAPACK). The two
// sides sum in different orders, so values are compared by the normwise relative error
// ||got - want|| / ||want|| with a bound per dtype stated at each test; where a result is
// unique only up to signs (eigenvectors, singular vectors, QR's Q and R) the test checks
// defining invariants instead (reconstruction, orthogonality). Every test also asserts
// that no `fallback` event fired for the dtypes the CUDA kernels claim. Every test skips,
// saying why, on a machine without a CUDA device.
#include <cmath>
#include <set>
#include <string>

#include "emily/fft.h"
#include "emily/linalg.h"
#include "emily/telemetry.h"
#include "support/testing.h"

namespace emily {
namespace {

class CudaMath : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
    // Only this file's primitives count: helpers such as pad (the FFT's zero padding)
    // belong to other kernel files and may still run on the CPU.
    static const std::set<std::string> mine = {"conv_general",
                                               "fft",
                                               "ifft",
                                               "rfft",
                                               "irfft",
                                               "linalg_cholesky",
                                               "linalg_eigh",
                                               "linalg_inv",
                                               "linalg_lu",
                                               "linalg_pinv",
                                               "linalg_qr",
                                               "linalg_solve",
                                               "linalg_solve_triangular",
                                               "linalg_svd",
                                               "tri_inv"};
    id_ = telemetry::attach("emily.fallback.start", [this](const telemetry::Event& e) {
      const std::string* op = e.find("op");
      if (op && !mine.count(*op)) return;
      fallbacks_ += (fallbacks_.empty() ? "" : " ") + (op ? *op : std::string("?"));
    });
    attached_ = true;
  }
  void TearDown() override {
    if (attached_) telemetry::detach(id_);
  }
  // This file's ops that fell back to the CPU since the test started (space separated).
  const std::string& fallbacks() const { return fallbacks_; }

  Device gpu = Device::cuda(0);

 private:
  std::string fallbacks_;
  telemetry::HandlerId id_{};
  bool attached_ = false;
};

Tensor normal(std::uint64_t seed, const Shape& shape, DType dtype = DType::f32) {
  return astype(random::normal(random::key(seed), shape), dtype);
}

// Real and imaginary parts side by side in f64 (a real tensor's own values).
Tensor parts(const Tensor& t) {
  Tensor h = to_host(t);
  if (!is_complex(h.dtype())) return astype(h, DType::f64);
  return concatenate({astype(real(h), DType::f64), astype(imag(h), DType::f64)}, 0);
}

// ||got - want|| / ||want||, computed in f64 on the host.
double relative_error(const Tensor& got, const Tensor& want) {
  Tensor g = reshape(parts(got), {-1}), w = reshape(parts(want), {-1});
  const double den = std::sqrt(sum(w * w).item<double>());
  const double num = std::sqrt(sum((g - w) * (g - w)).item<double>());
  return den == 0.0 ? num : num / den;
}

// ---- convolution -------------------------------------------------------------------------

TEST_F(CudaMath, ConvMatchesTheCpu) {
  // Oracle: the CPU's conv_general. Bounds on the normwise relative error: summation
  // order differs (cuBLAS vs OpenBLAS), so f32 1e-5 and f64 1e-13; f16/bf16 results
  // round to their own precision on both sides (2e-3, 1.6e-2).
  struct Case {
    const char* what;
    Shape x, w;
    ConvOptions o;
    bool transpose_x = false;  // x arrives as a strided view (last two axes swapped)
  };
  const Case cases[] = {
      {"whisper conv1", {2, 8, 50}, {16, 8, 3}, {{}, {1}, {1}}},
      {"whisper conv2 stride 2", {2, 16, 50}, {16, 16, 3}, {{2}, {1}, {1}}},
      {"vit patches", {2, 3, 32, 32}, {8, 3, 8, 8}, {{8, 8}}},
      {"dilations and asymmetric padding",
       {2, 3, 9, 11},
       {4, 3, 3, 2},
       {{2, 1}, {2, 0}, {-1, 3}, {2, 1}, {2, 3}}},
      {"depthwise", {2, 6, 9, 9}, {6, 1, 3, 3}, {{}, {1, 1}, {1, 1}, {}, {}, 6}},
      {"depth multiplier 2", {2, 4, 8}, {8, 1, 3}, {{}, {1}, {1}, {}, {}, 4}},
      {"depthwise, every option",
       {1, 3, 10, 10},
       {3, 1, 3, 3},
       {{2, 1}, {1, 2}, {0, -1}, {2, 1}, {2, 1}, 3}},
      {"depthwise 3d",
       {1, 2, 4, 5, 6},
       {4, 1, 2, 2, 3},
       {{1, 2, 1}, {1, 0, 2}, {0, 1, 1}, {1, 1, 2}, {1, 2, 1}, 2}},
      {"depthwise, strided input", {2, 12, 5}, {5, 1, 3}, {{}, {1}, {1}, {}, {}, 5}, true},
      {"feature groups", {3, 4, 7, 7}, {6, 2, 3, 3}, {{}, {}, {}, {}, {}, 2}},
      {"batch groups", {4, 3, 6, 6}, {4, 3, 3, 3}, {{}, {}, {}, {}, {}, 1, 2}},
      {"1x1 direct", {2, 5, 4, 4}, {7, 5, 1, 1}, {}},
      {"1x1 direct, batch groups", {4, 5, 4, 4}, {6, 5, 1, 1}, {{}, {}, {}, {}, {}, 1, 2}},
      {"1x1 strided", {2, 5, 7, 7}, {3, 5, 1, 1}, {{2, 2}}},
      {"3d", {1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, {{}, {1, 0, 1}, {1, 1, 0}}},
      {"strided input", {2, 10, 8}, {4, 8, 3}, {{}, {2}, {0}}, true},
      {"kernel larger than input", {1, 2, 3}, {2, 2, 5}, {}},
      {"no input channels", {2, 0, 5}, {3, 0, 2}, {}},
      {"empty batch", {0, 3, 5}, {2, 3, 2}, {}},
  };
  int seed = 1000;
  for (DType d : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    const double bound = d == DType::f32   ? 1e-5
                         : d == DType::f64 ? 1e-13
                         : d == DType::f16 ? 2e-3
                                           : 1.6e-2;
    for (const Case& c : cases) {
      Tensor x = normal(seed++, c.x, d), w = normal(seed++, c.w, d);
      if (c.transpose_x) x = swapaxes(x, 1, 2);
      Tensor want = conv_general(x, w, c.o);
      Tensor got = conv_general(to_device(x, gpu), to_device(w, gpu), c.o);
      ASSERT_EQ(got.shape(), want.shape()) << c.what;
      EXPECT_EQ(got.dtype(), want.dtype()) << c.what;
      EXPECT_LE(relative_error(got, want), bound) << name(d) << " " << c.what;
    }
  }
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, ConvSplitsLargeColumnsIntoChunks) {
  // 64 items of 576 x 4096 unrolled f32 columns are 600 MiB, more than one column
  // buffer: the items go in chunks. Oracle: the CPU; bound 1e-5 (f32, as above).
  Tensor x = normal(7, {64, 64, 64, 64}), w = normal(8, {32, 64, 3, 3});
  const ConvOptions o{{}, {1, 1}, {1, 1}};
  Tensor want = conv_general(x, w, o);
  Tensor got = conv_general(to_device(x, gpu), to_device(w, gpu), o);
  EXPECT_LE(relative_error(got, want), 1e-5);
  // One item of 576 x 131072 columns is 288 MiB: its output positions go in chunks.
  Tensor x1 = normal(11, {1, 64, 128, 1024}), w1 = normal(12, {8, 64, 3, 3});
  EXPECT_LE(relative_error(conv_general(to_device(x1, gpu), to_device(w1, gpu), o),
                           conv_general(x1, w1, o)),
            1e-5);
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, ConvOfComplexRaisesAsOnTheCpu) {
  Tensor x = astype(normal(9, {1, 2, 5}), DType::c64),
         w = astype(normal(10, {1, 2, 2}), DType::c64);
  EXPECT_EMILY_ERROR(conv_general(to_device(x, gpu), to_device(w, gpu)), DTypeError,
                     "conv_general");
}

// ---- FFT ---------------------------------------------------------------------------------

namespace fft_tests {

// A complex signal with independent real and imaginary parts.
Tensor signal(std::uint64_t seed, const Shape& shape) {
  Tensor i = tensor<c64>({c64(0.0f, 1.0f)}, {});
  return astype(normal(seed, shape), DType::c64) + astype(normal(seed + 1, shape), DType::c64) * i;
}

}  // namespace fft_tests

TEST_F(CudaMath, FftMatchesTheCpu) {
  // Oracle: FFTW (single precision) on the CPU. Both sides compute in f32 with O(log n)
  // error growth, so the normwise relative error is bounded by 4e-6 (lengths here are at
  // most 4096; prime lengths included, which cuFFT and FFTW both handle without loss).
  using fft_tests::signal;
  struct Case {
    const char* what;
    Shape shape;
    std::vector<int> axes;
    Shape s;  // transform lengths (empty: the axes' own)
  };
  const Case cases[] = {
      {"last axis", {4, 100}, {-1}, {}},
      {"middle axis", {3, 64, 5}, {1}, {}},
      {"first axis", {48, 6}, {0}, {}},
      {"prime length", {2, 97}, {-1}, {}},
      {"long", {4096}, {0}, {}},
      {"padded", {3, 40}, {-1}, {64}},
      {"cropped", {3, 40}, {-1}, {25}},
      {"2d last axes", {8, 16, 12}, {1, 2}, {}},
      {"2d outer axes", {6, 7, 10}, {0, 2}, {}},
      {"2d reversed axes", {6, 7, 10}, {2, 1}, {}},
      {"4 axes (two passes)", {3, 4, 5, 6}, {0, 1, 2, 3}, {}},
      {"length one axis", {5, 1, 8}, {1, 2}, {}},
  };
  int seed = 2000;
  for (const Case& c : cases) {
    Tensor x = signal(seed, c.shape);
    seed += 2;
    Tensor gx = to_device(x, gpu);
    for (bool inverse : {false, true}) {
      Tensor want, got;
      if (c.axes.size() == 1) {
        const std::int64_t n = c.s.empty() ? -1 : c.s[0];
        want = inverse ? ifft(x, n, c.axes[0]) : fft(x, n, c.axes[0]);
        got = inverse ? ifft(gx, n, c.axes[0]) : fft(gx, n, c.axes[0]);
      } else {
        want = inverse ? ifft2(x, c.s, c.axes) : fft2(x, c.s, c.axes);
        got = inverse ? ifft2(gx, c.s, c.axes) : fft2(gx, c.s, c.axes);
      }
      ASSERT_EQ(got.shape(), want.shape()) << c.what;
      EXPECT_EQ(got.dtype(), DType::c64);
      EXPECT_LE(relative_error(got, want), 4e-6) << (inverse ? "ifft " : "fft ") << c.what;
    }
  }
  // Strided inputs: a transposed view and a stepped slice.
  Tensor x = signal(seed, {20, 30});
  Tensor t = transpose(x);
  EXPECT_LE(relative_error(fft(transpose(to_device(x, gpu)), -1, 1), fft(t, -1, 1)), 4e-6);
  EXPECT_LE(relative_error(fft(transpose(to_device(x, gpu)), -1, 0), fft(t, -1, 0)), 4e-6);
  Tensor st = slice(x, {0, 1}, {20, 30}, {2, 3});
  Tensor gst = slice(to_device(x, gpu), {0, 1}, {20, 30}, {2, 3});
  EXPECT_LE(relative_error(fft2(gst), fft2(st)), 4e-6);
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, RealFftMatchesTheCpu) {
  // Oracle: FFTW on the CPU; bound 4e-6 as for fft. irfft's input is an arbitrary complex
  // tensor: both sides treat it as Hermitian, which ignores the imaginary parts of the
  // zero (and, for even n, the Nyquist) bins.
  using fft_tests::signal;
  struct Case {
    const char* what;
    Shape shape;
    int axis;
    std::int64_t n;
  };
  const Case cases[] = {
      {"even", {5, 128}, -1, -1},     {"odd", {5, 99}, -1, -1},
      {"first axis", {40, 6}, 0, -1}, {"padded", {3, 40}, -1, 50},
      {"cropped", {3, 40}, -1, 31},   {"whisper frames", {3000, 400}, -1, -1},
      {"single", {1}, 0, -1},         {"middle axis", {3, 16, 4}, 1, -1},
  };
  int seed = 3000;
  for (const Case& c : cases) {
    Tensor x = normal(seed++, c.shape);
    Tensor want = rfft(x, c.n, c.axis);
    Tensor got = rfft(to_device(x, gpu), c.n, c.axis);
    ASSERT_EQ(got.shape(), want.shape()) << c.what;
    EXPECT_LE(relative_error(got, want), 4e-6) << "rfft " << c.what;

    Tensor z = signal(seed, want.shape());
    seed += 2;
    for (std::int64_t n : {std::int64_t{-1}, c.n, std::int64_t{2 * want.shape(c.axis) - 1}}) {
      if (n == -1 && want.shape(c.axis) == 1) continue;  // default n would be 0
      Tensor wi = irfft(z, n, c.axis);
      Tensor gi = irfft(to_device(z, gpu), n, c.axis);
      ASSERT_EQ(gi.shape(), wi.shape()) << c.what;
      EXPECT_EQ(gi.dtype(), DType::f32);
      EXPECT_LE(relative_error(gi, wi), 4e-6) << "irfft " << c.what << " n=" << n;
    }
  }
  // A transposed real input.
  Tensor x = normal(seed, {30, 20});
  EXPECT_LE(relative_error(rfft(transpose(to_device(x, gpu)), -1, 1), rfft(transpose(x), -1, 1)),
            4e-6);
  EXPECT_EQ(fallbacks(), "");
}

// ---- linear algebra ----------------------------------------------------------------------

namespace linalg_tests {

// A well-conditioned matrix: normal entries plus n on the diagonal.
Tensor well(std::uint64_t seed, const Shape& shape, DType d) {
  const std::int64_t n = shape.back();
  Tensor a = random::normal(random::key(seed), shape, DType::f64);
  if (shape[shape.size() - 2] == n) a = a + eye(n, n, 0, DType::f64) * static_cast<double>(n);
  return astype(a, d);
}

// A symmetric positive definite matrix: B B^T + n I.
Tensor spd(std::uint64_t seed, const Shape& shape, DType d) {
  const std::int64_t n = shape.back();
  Tensor b = random::normal(random::key(seed), shape, DType::f64);
  return astype(matmul(b, swapaxes(b, -1, -2)) + eye(n, n, 0, DType::f64) * static_cast<double>(n),
                d);
}

Tensor h64(const Tensor& t) {
  return astype(to_host(t), DType::f64);
}

Tensor mT(const Tensor& t) {
  return swapaxes(t, -1, -2);
}

// The (batch..., k, k) identity, batch taken from `like`.
Tensor identity(std::int64_t k, const Tensor& like) {
  Shape shape(like.shape().begin(), like.shape().end() - 2);
  shape.insert(shape.end(), {k, k});
  return broadcast_to(eye(k, k, 0, DType::f64), shape);
}

// Normwise relative error bound per dtype for results that the two libraries compute
// by different (backward-stable) algorithms on well-conditioned inputs: f32 1e-4
// (n * eps for n up to a few hundred), f64 1e-11.
double bound(DType d) {
  return d == DType::f64 ? 1e-11 : 1e-4;
}

// The message of the error `f` raises ("no error" when none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace linalg_tests

TEST_F(CudaMath, CholeskyInvSolveMatchTheCpu) {
  // Oracle: LAPACK on the CPU. These results are unique, so they are compared directly;
  // bounds: linalg_tests::bound (f32 1e-4, f64 1e-11 normwise relative).
  using namespace linalg_tests;
  const Shape shapes[] = {{1, 1}, {5, 5}, {3, 8, 8}, {2, 150, 150}, {2, 1, 4, 4}};
  int seed = 4000;
  for (DType d : {DType::f32, DType::f64}) {
    for (const Shape& sh : shapes) {
      const std::string where = std::string(name(d)) + " " + to_string(sh);
      Tensor p = spd(seed++, sh, d), gp = to_device(p, gpu);
      for (bool upper : {false, true}) {
        EXPECT_LE(relative_error(linalg::cholesky(gp, upper), linalg::cholesky(p, upper)), bound(d))
            << "cholesky " << where << " upper=" << upper;
      }
      Tensor a = well(seed++, sh, d), ga = to_device(a, gpu);
      EXPECT_LE(relative_error(linalg::inv(ga), linalg::inv(a)), bound(d)) << "inv " << where;
      EXPECT_LE(relative_error(linalg::inv(mT(ga)), linalg::inv(mT(a))), bound(d))
          << "inv of a transposed view " << where;
      Shape bs = sh;
      bs.back() = 3;
      Tensor b = astype(random::normal(random::key(seed++), bs), d), gb = to_device(b, gpu);
      EXPECT_LE(relative_error(linalg::solve(ga, gb), linalg::solve(a, b)), bound(d))
          << "solve " << where;
    }
    // b a vector; a broadcast against b's batch.
    Tensor a = well(seed++, {5, 5}, d), ga = to_device(a, gpu);
    Tensor v = astype(random::normal(random::key(seed++), {5}), d);
    EXPECT_LE(relative_error(linalg::solve(ga, to_device(v, gpu)), linalg::solve(a, v)), bound(d));
    Tensor b = astype(random::normal(random::key(seed++), {4, 5, 2}), d);
    EXPECT_LE(relative_error(linalg::solve(ga, to_device(b, gpu)), linalg::solve(a, b)), bound(d));
  }
  // Half precision and integers compute in f32 on the same kernels.
  Tensor h = well(seed++, {6, 6}, DType::f16);
  EXPECT_LE(relative_error(linalg::inv(to_device(h, gpu)), linalg::inv(h)), 2e-3);
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, TriangularSolvesMatchTheCpu) {
  // Oracle: LAPACK's trtrs/trtri on the CPU, which read one triangle only: the inputs
  // have a random other triangle, so reading the wrong one fails. Bounds as above.
  using namespace linalg_tests;
  int seed = 5000;
  for (DType d : {DType::f32, DType::f64}) {
    for (bool upper : {false, true}) {
      Tensor a = well(seed++, {3, 7, 7}, d), ga = to_device(a, gpu);
      Tensor b = astype(random::normal(random::key(seed++), {3, 7, 4}), d), gb = to_device(b, gpu);
      const std::string where = std::string(name(d)) + (upper ? " upper" : " lower");
      EXPECT_LE(relative_error(linalg::solve_triangular(ga, gb, upper),
                               linalg::solve_triangular(a, b, upper)),
                bound(d))
          << where;
      // a column-major view (the transposed path), a stepped slice (copied first), a
      // broadcast a, a vector b.
      EXPECT_LE(relative_error(linalg::solve_triangular(mT(ga), gb, upper),
                               linalg::solve_triangular(mT(a), b, upper)),
                bound(d))
          << "transposed " << where;
      Tensor big = well(seed++, {14, 14}, d), gbig = to_device(big, gpu);
      Tensor cut = slice(big, {0, 0}, {14, 14}, {2, 2}),
             gcut = slice(gbig, {0, 0}, {14, 14}, {2, 2});
      EXPECT_LE(relative_error(linalg::solve_triangular(gcut, gb, upper),
                               linalg::solve_triangular(cut, b, upper)),
                bound(d))
          << "stepped " << where;
      Tensor v = astype(random::normal(random::key(seed++), {7}), d);
      EXPECT_LE(relative_error(linalg::solve_triangular(slice(ga, {0, 0, 0}, {1, 7, 7}),
                                                        to_device(v, gpu), upper),
                               linalg::solve_triangular(slice(a, {0, 0, 0}, {1, 7, 7}), v, upper)),
                bound(d))
          << "vector " << where;
      EXPECT_LE(relative_error(tri_inv(ga, upper), tri_inv(a, upper)), bound(d))
          << "tri_inv " << where;
      EXPECT_LE(relative_error(tri_inv(mT(ga), upper), tri_inv(mT(a), upper)), bound(d))
          << "tri_inv transposed " << where;
    }
  }
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, LuMatchesTheCpu) {
  // Oracle: LAPACK's getrf on the CPU. Partial pivoting on the same matrix picks the same
  // rows, so P is compared exactly and L, U by the bounds above; P L U = A as well.
  using namespace linalg_tests;
  const Shape shapes[] = {{5, 5}, {3, 4, 6}, {2, 6, 4}, {1, 1}, {3, 0}, {40, 40}};
  int seed = 6000;
  for (DType d : {DType::f32, DType::f64}) {
    for (const Shape& sh : shapes) {
      const std::string where = std::string(name(d)) + " " + to_string(sh);
      Tensor a = astype(random::normal(random::key(seed++), sh), d);
      auto [P, L, U] = linalg::lu(a);
      auto [gP, gL, gU] = linalg::lu(to_device(a, gpu));
      EXPECT_TRUE(testing::all_equal(to_host(gP), P)) << where;
      EXPECT_LE(relative_error(gL, L), bound(d)) << "L " << where;
      EXPECT_LE(relative_error(gU, U), bound(d)) << "U " << where;
      if (a.size() > 0) {
        Tensor back = matmul(h64(gP), matmul(h64(gL), h64(gU)));
        EXPECT_LE(relative_error(back, astype(a, DType::f64)), bound(d)) << "PLU " << where;
      }
    }
  }
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, QrSvdEighPinvHoldTheirInvariants) {
  // Q, R, U, V and eigenvectors are unique only up to signs, so they are checked by
  // invariants (Q R = A, Q^T Q = I, U diag(S) V^T = A, U^T U = V V^T = I, V diag(w) V^T
  // equal to the CPU's) and by |Q|, |R| against the CPU; singular values, eigenvalues and
  // pinv are unique and compared directly. Bounds: linalg_tests::bound.
  using namespace linalg_tests;
  int seed = 7000;
  for (DType d : {DType::f32, DType::f64}) {
    const double tol = bound(d);
    const Shape shapes[] = {{6, 4},    {4, 6}, {3, 5, 5}, {9, 9},
                            {2, 1, 7}, {7, 1}, {2, 3, 8}, {60, 45}};
    for (const Shape& sh : shapes) {
      const std::string where = std::string(name(d)) + " " + to_string(sh);
      Tensor a = astype(random::normal(random::key(seed++), sh), d), ga = to_device(a, gpu);
      Tensor a64 = astype(a, DType::f64);
      const std::int64_t k = std::min(sh[sh.size() - 2], sh.back());

      auto [Q, R] = linalg::qr(a);
      auto [gQ, gR] = linalg::qr(ga);
      EXPECT_LE(relative_error(matmul(h64(gQ), h64(gR)), a64), tol) << "QR " << where;
      EXPECT_LE(relative_error(matmul(mT(h64(gQ)), h64(gQ)), identity(k, gR)), tol)
          << "Q^T Q " << where;
      EXPECT_LE(relative_error(abs(h64(gQ)), abs(astype(Q, DType::f64))), tol) << "|Q| " << where;
      EXPECT_LE(relative_error(abs(h64(gR)), abs(astype(R, DType::f64))), tol) << "|R| " << where;

      auto [U, S, Vt] = linalg::svd(a);
      auto [gU, gS, gVt] = linalg::svd(ga);
      EXPECT_LE(relative_error(gS, S), tol) << "S " << where;
      Tensor us = h64(gU) * expand_dims(h64(gS), {-2});
      EXPECT_LE(relative_error(matmul(us, h64(gVt)), a64), tol) << "U S V^T " << where;
      EXPECT_LE(relative_error(matmul(mT(h64(gU)), h64(gU)), identity(k, gR)), tol)
          << "U^T U " << where;
      EXPECT_LE(relative_error(matmul(h64(gVt), mT(h64(gVt))), identity(k, gR)), tol)
          << "V^T V " << where;
      auto [none, gS2, none2] = linalg::svd(ga, false);
      EXPECT_FALSE(none.defined());
      EXPECT_LE(relative_error(gS2, S), tol) << "S only " << where;

      EXPECT_LE(relative_error(linalg::pinv(ga), linalg::pinv(a)), 10 * tol) << "pinv " << where;

      if (sh[sh.size() - 2] == sh.back()) {
        for (bool upper : {false, true}) {  // a is not symmetric: one triangle is read
          auto [w, V] = linalg::eigh(a, upper);
          auto [gw, gV] = linalg::eigh(ga, upper);
          EXPECT_LE(relative_error(gw, w), tol) << "eigenvalues " << where;
          Tensor want = matmul(astype(V, DType::f64) * expand_dims(astype(w, DType::f64), {-2}),
                               mT(astype(V, DType::f64)));
          Tensor got = matmul(h64(gV) * expand_dims(h64(gw), {-2}), mT(h64(gV)));
          EXPECT_LE(relative_error(got, want), tol) << "V w V^T " << where;
          EXPECT_LE(relative_error(matmul(mT(h64(gV)), h64(gV)), identity(k, gV)), tol)
              << "V^T V " << where;
        }
      }
    }
    // A rank-deficient matrix: pinv drops the zero singular value on both sides.
    Tensor r = astype(tensor<double>({1, 2, 0, 3, 4, 0, 5, 6, 0, 7, 8, 0}, {4, 3}), d);
    EXPECT_LE(relative_error(linalg::pinv(to_device(r, gpu)), linalg::pinv(r)), 10 * tol);
  }
  EXPECT_EQ(fallbacks(), "");
}

TEST_F(CudaMath, LinalgErrorsMatchTheCpu) {
  // The same ValueError message as the CPU, batch index and pivot included.
  using namespace linalg_tests;
  auto both = [&](auto&& f, const Tensor& x) {
    const std::string want = error_of([&] { f(x); });
    const std::string got = error_of([&] { f(to_device(x, gpu)); });
    EXPECT_NE(want, "no error");
    EXPECT_EQ(got, want);
  };
  Tensor singular = tensor<float>({1, 0, 0, 1, 1, 2, 2, 4}, {2, 2, 2});
  both([](const Tensor& x) { return linalg::inv(x); }, singular);
  both(
      [](const Tensor& x) {
        return linalg::solve(x, to_device(ones({2, 2, 1}), x.device()));
      },
      singular);
  // One matrix alone takes cuSOLVER's path, a batch cuBLAS's batched one.
  Tensor alone = tensor<double>({1, 2, 2, 4}, {2, 2});
  both([](const Tensor& x) { return linalg::inv(x); }, alone);
  both([](const Tensor& x) { return linalg::solve(x, to_device(ones({2}), x.device())); }, alone);
  Tensor indefinite = tensor<double>({4, 0, 0, 4, 1, 2, 2, 1}, {2, 2, 2});
  both([](const Tensor& x) { return linalg::cholesky(x); }, indefinite);
  both([](const Tensor& x) { return linalg::cholesky(x, true); }, indefinite);
  Tensor zero_diag = tensor<float>({1, 0, 5, 0, 0, 0, 3, 7, 1}, {3, 3});
  both([](const Tensor& x) { return tri_inv(x); }, zero_diag);
  both(
      [](const Tensor& x) { return linalg::solve_triangular(x, to_device(ones({3}), x.device())); },
      zero_diag);
  Tensor nan = tensor<float>({1, 2, 3, 4, 1, std::nanf(""), 3, 4}, {2, 2, 2});
  both([](const Tensor& x) { return linalg::svd(x); }, nan);
  both([](const Tensor& x) { return linalg::pinv(x); }, nan);
  // lu of a singular matrix is no error.
  auto [P, L, U] = linalg::lu(to_device(singular, gpu));
  EXPECT_EQ(U.shape(), (Shape{2, 2, 2}));
}

TEST_F(CudaMath, CompiledFunctionsReplayTheseKernels) {
  // Oracle: eager on the GPU. Native replay calls the same kernels on the same layouts,
  // and these kernels are deterministic (cuBLAS and cuFFT with fixed plans and
  // algorithms; cuSOLVER's LU), so results are bitwise equal.
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor y = conv_general(in[0], in[1], {{}, {1}, {1}});
    return std::vector<Tensor>{rfft(y), linalg::inv(in[2])};
  };
  auto f = compile(fn, testing::native());
  Tensor x = to_device(normal(1, {2, 4, 16}), gpu), w = to_device(normal(2, {6, 4, 3}), gpu);
  Tensor a = to_device(linalg_tests::well(3, {3, 5, 5}, DType::f32), gpu);
  const auto want = fn({x, w, a});
  for (int i = 0; i < 3; ++i) {
    const auto got = f({x, w, a});
    EXPECT_TRUE(testing::all_equal(to_host(got[0]), to_host(want[0])));
    EXPECT_TRUE(testing::all_equal(to_host(got[1]), to_host(want[1])));
  }
  EXPECT_EQ(fallbacks(), "");
}

}  // namespace
}  // namespace emily
