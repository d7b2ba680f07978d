// fft, ifft, fft2, ifft2, rfft, irfft. Goldens: scripts/fixtures/fft.py (numpy.fft in
// float64 of the stored float32/complex64 inputs, rounded once). Other oracles: a textbook
// O(n^2) DFT in double (`naive_dft`), mathematical identities (inverse, Parseval,
// linearity) and the same transform computed on another layout.
//
// Tolerances: a float32 FFT's rounding error grows like eps log2(n) times the signal's
// norm, so it is relative to the largest value of the spectrum, not to each element.
// `spectrum_close` allows 1e-5 of the largest golden magnitude per element (about 80
// float32 ulps of that magnitude; the FFTs here have log2 n <= 10) plus rtol 1e-5.
#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <numbers>
#include <set>
#include <thread>

#include "emily/telemetry.h"
#include "ops/catalogue.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;

Tensor fx(const std::string& name) {
  return testing::fixture("fft/" + name + ".npy");
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (c64 v : astype(t, DType::c64).to_vector<c64>()) m = std::max(m, double(std::abs(v)));
  return m;
}

constexpr double kRel = 1e-5;

::testing::AssertionResult spectrum_close(const Tensor& actual, const Tensor& expected,
                                          double rel = kRel) {
  if (actual.dtype() != expected.dtype()) {
    return ::testing::AssertionFailure()
           << "dtype " << name(actual.dtype()) << " != expected " << name(expected.dtype());
  }
  return all_close(actual, expected, kRel, rel * std::max(max_abs(expected), 1e-30));
}

// Oracle: the DFT by its definition, in double: out[k] = sum_j x[j] e^(sign 2 pi i jk/n),
// along `axis` of a c64 tensor, scaled by 1/n when `inverse`.
Tensor naive_dft(const Tensor& x, int axis, bool inverse) {
  auto v = astype(x, DType::c64).to_vector<c64>();
  const Shape& s = x.shape();
  std::int64_t outer = 1, inner = 1, n = s[axis];
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < x.ndim(); ++d) inner *= s[d];
  const double sign = inverse ? 1.0 : -1.0;
  std::vector<c64> out(v.size());
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i)
      for (std::int64_t k = 0; k < n; ++k) {
        std::complex<double> acc = 0;
        for (std::int64_t j = 0; j < n; ++j) {
          const double angle = sign * 2 * std::numbers::pi * static_cast<double>((j * k) % n) / n;
          acc += std::complex<double>(v[(o * n + j) * inner + i]) * std::polar(1.0, angle);
        }
        if (inverse) acc /= static_cast<double>(n);
        out[(o * n + k) * inner + i] = c64(acc);
      }
  return tensor(out, s);
}

// Deterministic values without a random generator.
Tensor wave(const Shape& shape, double phase = 0.0) {
  std::vector<float> v(static_cast<std::size_t>(numel(shape)));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + phase) +
                              0.25 * std::cos(1.91 * static_cast<double>(i)));
  return tensor(v, shape);
}

Tensor cwave(const Shape& shape, double phase = 0.0) {
  auto re = wave(shape, phase).to_vector<float>(), im = wave(shape, phase + 1.3).to_vector<float>();
  std::vector<c64> v(re.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = {re[i], im[i]};
  return tensor(v, shape);
}

// ---- goldens --------------------------------------------------------------------------

TEST(Fft, OneAxisMatchesNumPy) {
  // Oracle: numpy.fft.fft/ifft in float64; spectrum_close (see the top of the file).
  Tensor x7 = fx("x7");
  EXPECT_TRUE(spectrum_close(fft(x7), fx("fft_x7")));
  EXPECT_TRUE(spectrum_close(fft(x7, 10), fx("fft_x7_n10")));
  EXPECT_TRUE(spectrum_close(fft(x7, 5), fx("fft_x7_n5")));
  EXPECT_TRUE(spectrum_close(ifft(x7), fx("ifft_x7")));
  EXPECT_TRUE(spectrum_close(ifft(x7, 4), fx("ifft_x7_n4")));
  EXPECT_TRUE(spectrum_close(ifft(x7, 12), fx("ifft_x7_n12")));
  // Real float32 rows of Whisper's frame length 400 and of the prime length 97.
  EXPECT_TRUE(spectrum_close(fft(fx("s400")), fx("fft_s400")));
  EXPECT_TRUE(spectrum_close(fft(fx("p97")), fx("fft_p97")));
  EXPECT_TRUE(spectrum_close(ifft(fx("p97")), fx("ifft_p97")));
}

TEST(Fft, NonLastAxisMatchesNumPy) {
  // Oracle: numpy.fft with axis=0 in float64; spectrum_close.
  Tensor a = fx("a");
  EXPECT_TRUE(spectrum_close(fft(a, -1, 0), fx("fft_a_axis0")));
  EXPECT_TRUE(spectrum_close(fft(a, -1, -2), fx("fft_a_axis0")));
  EXPECT_TRUE(spectrum_close(ifft(a, 8, 0), fx("ifft_a_n8_axis0")));
  EXPECT_TRUE(spectrum_close(fft(a, 2, 0), fx("fft_a_n2_axis0")));
}

TEST(Fft, TwoAxesMatchNumPy) {
  // Oracle: numpy.fft.fft2/ifft2 in float64; spectrum_close.
  Tensor b = fx("b"), c = fx("c");
  EXPECT_TRUE(spectrum_close(fft2(b), fx("fft2_b")));
  EXPECT_TRUE(spectrum_close(ifft2(b), fx("ifft2_b")));
  EXPECT_TRUE(spectrum_close(fft2(b, {5, 3}), fx("fft2_b_s53")));
  EXPECT_TRUE(spectrum_close(ifft2(b, {3, 7}), fx("ifft2_b_s37")));
  EXPECT_TRUE(spectrum_close(fft2(c, {}, {0, 2}), fx("fft2_c_axes02")));
  EXPECT_TRUE(spectrum_close(ifft2(c, {}, {2, 0}), fx("ifft2_c_axes20")));
  EXPECT_TRUE(spectrum_close(fft2(c, {-1, -1}, {0, -1}), fx("fft2_c_axes02")));
}

TEST(Fft, RfftMatchesNumPy) {
  // Oracle: numpy.fft.rfft in float64; spectrum_close.
  Tensor r = fx("r");
  EXPECT_TRUE(spectrum_close(rfft(r), fx("rfft_r")));
  EXPECT_EQ(rfft(r).shape(), (Shape{4, 9}));
  EXPECT_TRUE(spectrum_close(rfft(r, 11), fx("rfft_r_n11")));
  EXPECT_TRUE(spectrum_close(rfft(r, 20), fx("rfft_r_n20")));
  EXPECT_TRUE(spectrum_close(rfft(r, -1, 0), fx("rfft_r_axis0")));
  EXPECT_TRUE(spectrum_close(rfft(r, 7, 0), fx("rfft_r_n7_axis0")));
  EXPECT_TRUE(spectrum_close(rfft(fx("w400")), fx("rfft_w400")));
  EXPECT_EQ(rfft(fx("w400")).shape(), (Shape{5, 201}));
}

TEST(Fft, IrfftMatchesNumPy) {
  // Oracle: numpy.fft.irfft in float64; spectrum_close. The inputs have nonzero imaginary
  // parts in the zero-frequency and last bins, which both must ignore.
  Tensor h = fx("h");
  EXPECT_TRUE(spectrum_close(irfft(h), fx("irfft_h")));
  EXPECT_EQ(irfft(h).shape(), (Shape{3, 16}));
  EXPECT_TRUE(spectrum_close(irfft(h, 17), fx("irfft_h_n17")));
  EXPECT_TRUE(spectrum_close(irfft(h, 7), fx("irfft_h_n7")));
  EXPECT_TRUE(spectrum_close(irfft(h, 30), fx("irfft_h_n30")));
  EXPECT_TRUE(spectrum_close(irfft(h, 5, 0), fx("irfft_h_axis0_n5")));
}

// ---- dtypes -----------------------------------------------------------------------------

TEST(Fft, RealAndIntegerInputsAreConvertedFirst) {
  // Oracle: the same transform of the input converted by hand (astype is exact for these
  // small integers and for f32 -> c64), so the results must be bitwise equal.
  Tensor i = tensor<std::int32_t>({3, -1, 4, 1, -5, 9, 2}, {7});
  Tensor f = astype(i, DType::f32);
  EXPECT_TRUE(testing::all_equal(fft(i), fft(astype(f, DType::c64))));
  EXPECT_TRUE(testing::all_equal(ifft(i), ifft(astype(f, DType::c64))));
  EXPECT_TRUE(testing::all_equal(rfft(i), rfft(f)));
  EXPECT_TRUE(testing::all_equal(irfft(i), irfft(astype(f, DType::c64))));
  for (DType dt : {DType::bool_, DType::u8, DType::s64, DType::f16, DType::bf16, DType::f64}) {
    Tensor x = astype(i, dt);
    EXPECT_EQ(fft(x).dtype(), DType::c64) << name(dt);
    EXPECT_EQ(fft2(reshape(x, {1, 7})).dtype(), DType::c64) << name(dt);
    EXPECT_EQ(rfft(x).dtype(), DType::c64) << name(dt);
    EXPECT_EQ(irfft(x).dtype(), DType::f32) << name(dt);
    EXPECT_TRUE(testing::all_equal(rfft(x), rfft(astype(x, DType::f32)))) << name(dt);
  }
}

TEST(Fft, F64IsTransformedInSinglePrecision) {
  // Oracle: numpy.fft.fft in float64 of the float32 input; f64 has no c128 to go to, so
  // the f64 input is rounded to c64 and the result carries float32 error (spectrum_close).
  Tensor s = astype(fx("s400"), DType::f64);
  EXPECT_EQ(fft(s).dtype(), DType::c64);
  EXPECT_TRUE(spectrum_close(fft(s), fx("fft_s400")));
  EXPECT_TRUE(spectrum_close(rfft(astype(fx("w400"), DType::f64)), fx("rfft_w400")));
}

TEST(Fft, NoAxesGivesTheInputAsComplex) {
  // Oracle: numpy.fft.fft2(x, axes=()) returns x unchanged.
  Tensor x = wave({2, 3});
  EXPECT_TRUE(testing::all_equal(fft2(x, {}, {}), astype(x, DType::c64)));
  EXPECT_TRUE(testing::all_equal(ifft2(x, {}, {}), astype(x, DType::c64)));
}

// ---- properties -------------------------------------------------------------------------

TEST(Fft, InverseUndoesForward) {
  // Oracle: ifft(fft(x)) = x and irfft(rfft(x), n) = x; tolerance 1e-5 of max |x| (two
  // float32 FFTs' rounding, see spectrum_close).
  for (std::int64_t n : {1, 2, 3, 7, 16, 97, 400, 1024}) {
    Tensor x = cwave({3, n});
    EXPECT_TRUE(spectrum_close(ifft(fft(x)), x)) << n;
    EXPECT_TRUE(spectrum_close(fft(ifft(x)), x)) << n;
    Tensor r = wave({3, n});
    if (n > 1) {
      EXPECT_TRUE(spectrum_close(irfft(rfft(r), n), r)) << n;
    }
  }
  Tensor x = cwave({4, 6, 5});
  EXPECT_TRUE(spectrum_close(ifft2(fft2(x)), x));
  EXPECT_TRUE(spectrum_close(ifft2(fft2(x, {}, {0, 2}), {}, {0, 2}), x));
}

TEST(Fft, Parseval) {
  // Oracle: sum |x|^2 = sum |X|^2 / n (Parseval's theorem), evaluated in double from the
  // float32 values; relative tolerance 1e-5.
  for (std::int64_t n : {7, 64, 400}) {
    Tensor x = cwave({n}, 0.5);
    double ex = 0, eX = 0;
    for (c64 v : x.to_vector<c64>()) ex += std::norm(std::complex<double>(v));
    for (c64 v : fft(x).to_vector<c64>()) eX += std::norm(std::complex<double>(v));
    EXPECT_NEAR(eX / static_cast<double>(n), ex, 1e-5 * ex) << n;
  }
}

TEST(Fft, Linearity) {
  // Oracle: fft(2x - 3y) = 2 fft(x) - 3 fft(y); spectrum_close against the right side.
  Tensor x = cwave({5, 12}), y = cwave({5, 12}, 2.0);
  EXPECT_TRUE(spectrum_close(fft(x * 2.0 - y * 3.0), fft(x) * 2.0 - fft(y) * 3.0));
  Tensor a = wave({5, 12}), b = wave({5, 12}, 2.0);
  EXPECT_TRUE(spectrum_close(rfft(a * 2.0 - b * 3.0), rfft(a) * 2.0 - rfft(b) * 3.0));
}

TEST(Fft, SmallSizesMatchTheDefinition) {
  // Oracle: naive_dft in double; spectrum_close.
  for (std::int64_t n : {1, 2, 3, 5, 8, 13}) {
    Tensor x = cwave({2, n});
    EXPECT_TRUE(spectrum_close(fft(x), naive_dft(x, 1, false))) << n;
    EXPECT_TRUE(spectrum_close(ifft(x), naive_dft(x, 1, true))) << n;
  }
}

// ---- layouts and batches ------------------------------------------------------------------

TEST(Fft, StridedInputsMatchContiguousCopies) {
  // Oracle: the same transform of contiguous(x); the strided input goes to FFTW with its
  // own strides, which may pick another algorithm, so spectrum_close rather than equality.
  Tensor base = cwave({6, 10});
  Tensor t = transpose(base);  // (10, 6), strides (1, 10)
  ASSERT_FALSE(t.is_contiguous());
  EXPECT_TRUE(spectrum_close(fft(t), fft(contiguous(t))));
  EXPECT_TRUE(spectrum_close(fft(t, -1, 0), fft(contiguous(t), -1, 0)));
  EXPECT_TRUE(spectrum_close(fft2(t), fft2(contiguous(t))));
  Tensor stepped = slice(base, {0, 1}, {6, 10}, {2, 2});  // (3, 5), strides (20, 2)
  EXPECT_TRUE(spectrum_close(ifft(stepped), ifft(contiguous(stepped))));
  Tensor reversed = slice(base, {5, 9}, {-7, -11}, {-1, -1});  // negative strides
  ASSERT_EQ(reversed.shape(), (Shape{6, 10}));
  EXPECT_TRUE(spectrum_close(fft(reversed), fft(contiguous(reversed))));
  Tensor bcast = broadcast_to(cwave({1, 10}), {4, 10});  // stride 0 over the batch
  EXPECT_TRUE(spectrum_close(fft(bcast), fft(contiguous(bcast))));
  Tensor flat = broadcast_to(cwave({4, 1}), {4, 10});  // stride 0 along the transform
  EXPECT_TRUE(spectrum_close(fft(flat), fft(contiguous(flat))));
  EXPECT_TRUE(spectrum_close(rfft(broadcast_to(wave({3, 1}), {3, 8})),
                             rfft(contiguous(broadcast_to(wave({3, 1}), {3, 8})))));

  Tensor rbase = wave({6, 10});
  Tensor rt = transpose(rbase);
  EXPECT_TRUE(spectrum_close(rfft(rt), rfft(contiguous(rt))));
  EXPECT_TRUE(spectrum_close(rfft(rt, -1, 0), rfft(contiguous(rt), -1, 0)));
  Tensor rrev = slice(rbase, {5, 9}, {-7, -11}, {-1, -1});
  EXPECT_TRUE(spectrum_close(rfft(rrev), rfft(contiguous(rrev))));
  Tensor spec = rfft(rbase);  // (6, 6)
  EXPECT_TRUE(
      spectrum_close(irfft(transpose(spec), 10, 0), irfft(contiguous(transpose(spec)), 10, 0)));
  EXPECT_TRUE(spectrum_close(irfft(slice(spec, {5, 0}, {-7, 6}, {-1, 1})),
                             irfft(contiguous(slice(spec, {5, 0}, {-7, 6}, {-1, 1})))));
}

TEST(Fft, BatchedRowsMatchRowByRow) {
  // Oracle: each row transformed on its own (a one-transform plan, no threads) against the
  // batched call (one plan per thread chunk); spectrum_close per row. 3000 x 400 is one
  // Whisper clip; 1001 x 7 complex rows start chunks at addresses of other alignments.
  Tensor frames = wave({3000, 400});
  Tensor spec = rfft(frames);
  ASSERT_EQ(spec.shape(), (Shape{3000, 201}));
  for (std::int64_t row : {0, 1, 1499, 1500, 1501, 2999}) {
    Tensor one = slice(frames, {row, 0}, {row + 1, 400});
    EXPECT_TRUE(spectrum_close(slice(spec, {row, 0}, {row + 1, 201}), rfft(contiguous(one))))
        << row;
  }
  Tensor c = cwave({1001, 7});
  Tensor f = fft(c);
  EXPECT_TRUE(spectrum_close(f, naive_dft(c, 1, false)));
  EXPECT_TRUE(spectrum_close(ifft(f), c));
  // The transform axis in the middle, batch axes on both sides (split on the last one).
  Tensor m = cwave({40, 7, 300});
  EXPECT_TRUE(spectrum_close(fft(m, -1, 1), naive_dft(m, 1, false)));
  EXPECT_TRUE(spectrum_close(ifft(m, -1, 1), naive_dft(m, 1, true)));
  Tensor mr = wave({40, 12, 300});
  EXPECT_TRUE(spectrum_close(irfft(rfft(mr, -1, 1), 12, 1), mr));
}

TEST(Fft, ConcurrentCallsAgreeWithSerialOnes) {
  // Oracle: the same transforms run afterwards on one thread. The threads go first, with
  // lengths no other test uses, so they create plans concurrently (under the planner lock)
  // as well as share them; every result must be bitwise the serial one.
  std::vector<Tensor> inputs;
  for (std::int64_t n : {5, 12, 31, 67, 100, 257, 1031}) inputs.push_back(cwave({8, n}));
  std::vector<std::vector<Tensor>> got(4);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int rep = 0; rep < 10; ++rep)
        for (std::size_t i = 0; i < inputs.size(); ++i)
          got[t].push_back((i + t) % 2 ? fft(inputs[i]) : ifft(inputs[i]));
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < 4; ++t)
    for (std::size_t k = 0; k < got[t].size(); ++k) {
      const std::size_t i = k % inputs.size();
      Tensor serial = (i + t) % 2 ? fft(inputs[i]) : ifft(inputs[i]);
      EXPECT_TRUE(testing::all_equal(got[t][k], serial)) << t << " " << k;
    }
}

TEST(Fft, PlanCacheEvictionUnderConcurrentUse) {
  // Oracle: naive_dft in double; spectrum_close. 2 x 300 lengths make more plans than the
  // cache keeps (256), so it starts over while the other thread still runs its plans.
  std::vector<Tensor> inputs, expected;
  for (std::int64_t n = 1; n <= 300; ++n) {
    inputs.push_back(cwave({n}, 0.1 * static_cast<double>(n)));
    expected.push_back(naive_dft(inputs.back(), 0, false));
  }
  std::vector<Tensor> got[2];
  std::thread up([&] {
    for (const auto& x : inputs) got[0].push_back(fft(x));
  });
  std::thread down([&] {
    for (auto it = inputs.rbegin(); it != inputs.rend(); ++it) got[1].push_back(fft(*it, -1, 0));
  });
  up.join();
  down.join();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(spectrum_close(got[0][i], expected[i])) << i + 1;
    EXPECT_TRUE(spectrum_close(got[1][inputs.size() - 1 - i], expected[i])) << i + 1;
  }
}

// ---- errors -----------------------------------------------------------------------------

TEST(Fft, Errors) {
  Tensor x = cwave({2, 4}), r = wave({2, 4});
  // Lengths: 0 and negatives other than -1 (the default), and defaults that come out <= 0.
  EXPECT_EMILY_ERROR(fft(x, 0), ValueError, "fft");
  EXPECT_EMILY_ERROR(ifft(x, -2), ValueError, "ifft");
  EXPECT_EMILY_ERROR(rfft(r, 0), ValueError, "rfft");
  EXPECT_EMILY_ERROR(irfft(x, 0), ValueError, "irfft");
  EXPECT_EMILY_ERROR(fft2(x, {0, 4}), ValueError, "fft2");
  EXPECT_EMILY_ERROR(ifft2(x, {2, -3}), ValueError, "ifft2");
  EXPECT_EMILY_ERROR(fft(zeros({2, 0}, DType::c64)), ValueError, "fft");
  EXPECT_EMILY_ERROR(rfft(zeros({0})), ValueError, "rfft");
  EXPECT_EMILY_ERROR(irfft(zeros({3, 1}, DType::c64)), ValueError, "irfft");  // 2 (1 - 1)
  // Axes out of range.
  EXPECT_EMILY_ERROR(fft(x, -1, 2), ShapeError, "fft");
  EXPECT_EMILY_ERROR(ifft(x, -1, -3), ShapeError, "ifft");
  EXPECT_EMILY_ERROR(rfft(r, -1, 2), ShapeError, "rfft");
  EXPECT_EMILY_ERROR(irfft(x, -1, 2), ShapeError, "irfft");
  EXPECT_EMILY_ERROR(fft2(cwave({4})), ShapeError, "fft2");
  EXPECT_EMILY_ERROR(ifft2(x, {}, {0, 5}), ShapeError, "ifft2");
  // 0-d inputs.
  Tensor s = scalar_tensor(1.0);
  EXPECT_EMILY_ERROR(fft(s), ShapeError, "fft");
  EXPECT_EMILY_ERROR(ifft(s), ShapeError, "ifft");
  EXPECT_EMILY_ERROR(fft2(s), ShapeError, "fft2");
  EXPECT_EMILY_ERROR(ifft2(s, {}, {}), ShapeError, "ifft2");
  EXPECT_EMILY_ERROR(rfft(s), ShapeError, "rfft");
  EXPECT_EMILY_ERROR(irfft(s), ShapeError, "irfft");
  // Repeated axes, and lengths that do not match the axes.
  EXPECT_EMILY_ERROR(fft2(x, {}, {1, 1}), ShapeError, "fft2");
  EXPECT_EMILY_ERROR(ifft2(x, {}, {0, -2}), ShapeError, "ifft2");
  EXPECT_EMILY_ERROR(fft2(x, {4}), ShapeError, "fft2");
  EXPECT_EMILY_ERROR(ifft2(x, {4, 4, 4}), ShapeError, "ifft2");
  // rfft takes real signals only (NumPy 2 raises TypeError).
  EXPECT_EMILY_ERROR(rfft(x), DTypeError, "rfft");
  // Undefined tensors.
  EXPECT_EMILY_ERROR(fft(Tensor()), ValueError, "fft");
  EXPECT_EMILY_ERROR(ifft(Tensor()), ValueError, "ifft");
  EXPECT_EMILY_ERROR(fft2(Tensor()), ValueError, "fft2");
  EXPECT_EMILY_ERROR(ifft2(Tensor()), ValueError, "ifft2");
  EXPECT_EMILY_ERROR(rfft(Tensor()), ValueError, "rfft");
  EXPECT_EMILY_ERROR(irfft(Tensor()), ValueError, "irfft");
}

// ---- catalogue ----------------------------------------------------------------------------

TEST(Fft, CatalogueStatusAndCompositeParts) {
  // Oracle: `emily ops` lines, and the emily.eval telemetry of fft2/ifft2 calls that crop,
  // pad and convert (the check Catalogue.CompositePartsCoverWhatTheyDispatch makes for
  // the other composites).
  EXPECT_EQ(catalogue_line("fft").rfind("fft cpu=native", 0), 0u);
  EXPECT_EQ(catalogue_line("ifft").rfind("ifft cpu=native", 0), 0u);
  EXPECT_EQ(catalogue_line("rfft").rfind("rfft cpu=native", 0), 0u);
  EXPECT_EQ(catalogue_line("irfft").rfind("irfft cpu=native", 0), 0u);
  EXPECT_EQ(catalogue_line("fft2").rfind("fft2 cpu=composite", 0), 0u);
  EXPECT_EQ(catalogue_line("ifft2").rfind("ifft2 cpu=composite", 0), 0u);
  Tensor i = tensor<std::int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"fft2",
       [&] {
         fft2(i, {3, 2});
       }},
      {"ifft2",
       [&] {
         ifft2(transpose(i), {1, 4});
       }},
  };
  for (const auto& [op, call] : calls) {
    const auto* parts = composite_parts(op);
    ASSERT_NE(parts, nullptr) << op;
    std::set<std::string> seen;
    auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
      if (const std::string* p = e.find("op")) seen.insert(*p);
    });
    call();
    telemetry::detach(id);
    EXPECT_TRUE(seen.count(op.substr(0, op.size() - 1))) << op;  // the fft/ifft primitive
    for (const auto& p : seen)
      EXPECT_TRUE(std::find(parts->begin(), parts->end(), p) != parts->end())
          << op << " dispatches " << p << " but does not declare it";
  }
}

}  // namespace
}  // namespace emily
