// Unary elementwise ops. Oracles: NumPy goldens from scripts/fixtures/elementwise.py
// (float functions evaluated in float64 from the exact inputs and rounded once),
// hand-computed values, and identities (erf(erf_inv(x)) = x; a strided view gives the
// same values as its contiguous copy; f16/bf16 equal the f32 result rounded once).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor golden(const std::string& name) {
  return testing::op_fixture("elementwise", name);
}

using UnaryFn = Tensor (*)(const Tensor&);
struct Case {
  const char* name;
  UnaryFn fn;
};
#define EMILY_CASE(op)               \
  Case {                             \
#op, static_cast < UnaryFn>(&op) \
  }

// Float functions: bool/integers compute in f32.
const Case kFloatFns[] = {
    EMILY_CASE(acos), EMILY_CASE(acosh),   EMILY_CASE(asin),  EMILY_CASE(asinh),
    EMILY_CASE(atan), EMILY_CASE(atanh),   EMILY_CASE(cos),   EMILY_CASE(cosh),
    EMILY_CASE(erf),  EMILY_CASE(erf_inv), EMILY_CASE(exp),   EMILY_CASE(expm1),
    EMILY_CASE(log),  EMILY_CASE(log1p),   EMILY_CASE(rsqrt), EMILY_CASE(sigmoid),
    EMILY_CASE(sin),  EMILY_CASE(sinh),    EMILY_CASE(sqrt),  EMILY_CASE(tan),
    EMILY_CASE(tanh),
};
// Ops with exact results on f32.
const Case kExactFns[] = {
    EMILY_CASE(abs),         EMILY_CASE(negate), EMILY_CASE(sign),        EMILY_CASE(floor),
    EMILY_CASE(ceil),        EMILY_CASE(round),  EMILY_CASE(logical_not), EMILY_CASE(is_nan),
    EMILY_CASE(is_infinity), EMILY_CASE(real),   EMILY_CASE(imag),        EMILY_CASE(conjugate),
};

// f32 tolerance of the float functions: the golden is the exact value rounded (error
// <= 0.5 ULP); glibc's single-precision functions stay within ~2 ULP, and one ULP is
// at most 1.2e-7 relative, so rtol 2e-6 (>= 16 ULP) separates a wrong formula from
// last-bit noise. atol 1e-37 (below FLT_MIN) covers subnormal results, which carry
// fewer significant bits.
constexpr double kF32Rtol = 2e-6, kF32Atol = 1e-37;

TEST(Unary, FloatFunctionsF32MatchNumPy) {
  Tensor x = golden("unary_f32_x");
  for (const auto& c : kFloatFns) {
    Tensor y = c.fn(x);
    EXPECT_EQ(y.dtype(), DType::f32) << c.name;
    EXPECT_TRUE(all_close(y, golden(std::string("unary_f32_") + c.name), kF32Rtol, kF32Atol))
        << c.name;
  }
}

TEST(Unary, ExactOpsF32MatchNumPyBitForBit) {
  // Oracle: NumPy on the same f32 values; bitwise equality also checks signed zeros
  // (floor(-0.5) = -0, round(-0.5) = -0, sign(-0) = +0, negate(0) = -0).
  Tensor x = golden("unary_f32_x");
  for (const auto& c : kExactFns) {
    EXPECT_TRUE(all_equal(c.fn(x), golden(std::string("unary_f32_") + c.name))) << c.name;
  }
}

TEST(Unary, Int32KeepsDtypeAndWraps) {
  // Oracle: NumPy on int32 (abs and negate of INT_MIN wrap to INT_MIN; floor/ceil/round
  // are the identity; bitwise_not is ~x); exact.
  Tensor x = golden("unary_s32_x");
  for (const auto& c : kExactFns) {
    EXPECT_TRUE(all_equal(c.fn(x), golden(std::string("unary_s32_") + c.name))) << c.name;
  }
  EXPECT_TRUE(all_equal(bitwise_not(x), golden("unary_s32_bitwise_not")));
}

TEST(Unary, Int32FloatFunctionsComputeInF32) {
  // Oracle: NumPy float64 on x.astype(float32), rounded to f32; tolerance as for f32.
  Tensor x = golden("unary_s32_x");
  for (const auto& c : kFloatFns) {
    std::string n = c.name;
    if (n != "exp" && n != "sqrt" && n != "sin" && n != "sigmoid" && n != "erf" && n != "log1p")
      continue;
    Tensor y = c.fn(x);
    EXPECT_EQ(y.dtype(), DType::f32) << n;
    EXPECT_TRUE(all_close(y, golden("unary_s32_" + n), kF32Rtol, kF32Atol)) << n;
  }
}

TEST(Unary, Float64MatchesNumPy) {
  // Oracle: NumPy float64 (erf: math.erf; erf_inv: bisection on math.erf/math.erfc).
  // glibc's double functions are within 1-2 ULP (2.2e-16); erf_inv converges past
  // that, so rtol 1e-14 leaves room without hiding a float32 shortcut.
  Tensor x = golden("unary_f64_x");
  const char* ops[] = {"exp",   "expm1", "log",     "log1p",   "sin",  "tanh",
                       "atanh", "erf",   "erf_inv", "sigmoid", "sqrt", "asinh"};
  int checked = 0;
  for (const auto& c : kFloatFns) {
    std::string n = c.name;
    if (std::find(std::begin(ops), std::end(ops), n) == std::end(ops)) continue;
    Tensor y = c.fn(x);
    EXPECT_EQ(y.dtype(), DType::f64) << n;
    EXPECT_TRUE(all_close(y, golden("unary_f64_" + n), 1e-14, 1e-300)) << n;
    ++checked;
  }
  EXPECT_EQ(checked, 12);
}

TEST(Unary, Complex64MatchesNumPy) {
  // Oracle: NumPy complex128 on the exact complex64 inputs, rounded to complex64; inputs
  // stay off the branch cuts. Compared per component: libstdc++/glibc's complex float
  // functions are accurate to a few ULP of |f(z)|, so a component much smaller than the
  // magnitude gets an absolute allowance (values here are below ~50 in magnitude).
  Tensor x = golden("unary_c64_x");
  for (const auto& c : kFloatFns) {
    std::string n = c.name;
    if (n == "erf" || n == "erf_inv") continue;
    Tensor y = c.fn(x);
    EXPECT_EQ(y.dtype(), DType::c64) << n;
    EXPECT_TRUE(all_close(y, golden("unary_c64_" + n), 1e-5, 2e-6)) << n;
  }
  for (const auto& c : kExactFns) {
    std::string n = c.name;
    if (n == "floor" || n == "ceil" || n == "round") continue;  // errors, see below
    Tensor y = c.fn(x);
    Tensor want = golden("unary_c64_" + n);
    EXPECT_EQ(y.dtype(), want.dtype()) << n;
    // abs (hypot) and sign (x / |x|) round; the others are exact.
    EXPECT_TRUE(all_close(y, want, 2e-7, 0)) << n;
  }
}

TEST(Unary, HalfTypesRoundTheF32ResultOnce) {
  // Oracle: astype(op(astype(x16, f32)), dtype): halves compute in f32 and round once
  // on store, so the results agree bit for bit.
  Tensor x = golden("unary_f32_x");
  for (DType dt : {DType::f16, DType::bf16}) {
    Tensor xh = astype(x, dt);
    Tensor xf = astype(xh, DType::f32);
    for (std::span<const Case> table :
         {std::span<const Case>(kFloatFns), std::span<const Case>(kExactFns)}) {
      for (const auto& c : table) {
        Tensor y = c.fn(xh);
        Tensor want = c.fn(xf);
        if (want.dtype() == DType::f32) want = astype(want, dt);
        EXPECT_TRUE(all_equal(y, want)) << c.name << " " << name(dt);
      }
    }
  }
}

TEST(Unary, ResultDtypes) {
  // Oracle: the dtype rules of ops.h / docs/OPS.md.
  Tensor b = tensor<bool>({true, false});
  Tensor u8 = tensor<std::uint8_t>({0, 4});
  Tensor s64 = tensor<std::int64_t>({-1, 4});
  Tensor c = tensor<c64>({c64(3, 4), c64(0, -1)});
  EXPECT_EQ(exp(b).dtype(), DType::f32);
  EXPECT_EQ(sqrt(u8).dtype(), DType::f32);
  EXPECT_EQ(sin(s64).dtype(), DType::f32);
  EXPECT_EQ(abs(c).dtype(), DType::f32);
  EXPECT_EQ(real(c).dtype(), DType::f32);
  EXPECT_EQ(imag(c).dtype(), DType::f32);
  EXPECT_EQ(abs(s64).dtype(), DType::s64);
  EXPECT_EQ(floor(u8).dtype(), DType::u8);
  EXPECT_EQ(logical_not(c).dtype(), DType::bool_);
  EXPECT_EQ(is_nan(s64).dtype(), DType::bool_);
  // Identities return the input itself (no kernel, no copy).
  EXPECT_EQ(floor(s64).buffer(), s64.buffer());
  EXPECT_EQ(abs(u8).buffer(), u8.buffer());
  EXPECT_EQ(real(s64).buffer(), s64.buffer());
  EXPECT_EQ(conjugate(s64).buffer(), s64.buffer());
  EXPECT_EQ(sign(b).buffer(), b.buffer());
  // Hand-computed values: sqrt(4) = 2; |3+4i| = 5; imag of a real tensor is 0s.
  EXPECT_EQ(sqrt(u8).to_vector<float>(), (std::vector<float>{0, 2}));
  EXPECT_EQ(abs(c).to_vector<float>(), (std::vector<float>{5, 1}));
  EXPECT_EQ(imag(s64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(exp(b).to_vector<float>(), (std::vector<float>{std::exp(1.0f), 1.0f}));
}

TEST(Unary, SmallIntegerTypesWrap) {
  // Hand-computed two's complement results.
  EXPECT_EQ(abs(tensor<std::int8_t>({-128, -5, 7})).to_vector<int>(),
            (std::vector<int>{-128, 5, 7}));
  EXPECT_EQ(negate(tensor<std::uint8_t>({0, 1, 255})).to_vector<int>(),
            (std::vector<int>{0, 255, 1}));
  constexpr auto kMin64 = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(negate(tensor<std::int64_t>({kMin64, 3})).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{kMin64, -3}));
  EXPECT_EQ(abs(tensor<std::int64_t>({kMin64})).to_vector<std::int64_t>()[0], kMin64);
  EXPECT_EQ(sign(tensor<std::uint16_t>({0, 9})).to_vector<int>(), (std::vector<int>{0, 1}));
  EXPECT_EQ(sign(tensor<std::int16_t>({-300, 0, 2})).to_vector<int>(),
            (std::vector<int>{-1, 0, 1}));
  EXPECT_EQ(bitwise_not(tensor<std::uint8_t>({0, 0x0f})).to_vector<int>(),
            (std::vector<int>{255, 0xf0}));
  EXPECT_EQ(bitwise_not(tensor<std::int8_t>({0, -1})).to_vector<int>(), (std::vector<int>{-1, 0}));
  // bitwise_not on bool is logical not (not ~1 = 0xfe, which is no bool).
  EXPECT_TRUE(all_equal(bitwise_not(tensor<bool>({true, false})), tensor<bool>({false, true})));
}

TEST(Unary, ComplexSpecialValues) {
  // Hand-computed: is_nan/is_infinity look at either part; sign(0) = 0; conj flips imag.
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  Tensor c = tensor<c64>({c64(kNan, 0), c64(0, kInf), c64(1, 2), c64(0, 0)});
  EXPECT_TRUE(all_equal(is_nan(c), tensor<bool>({true, false, false, false})));
  EXPECT_TRUE(all_equal(is_infinity(c), tensor<bool>({false, true, false, false})));
  EXPECT_TRUE(all_equal(logical_not(c), tensor<bool>({false, false, false, true})));
  EXPECT_EQ(sign(c).to_vector<c64>()[3], c64(0, 0));
  EXPECT_EQ(conjugate(c).to_vector<c64>()[2], c64(1, -2));
  EXPECT_EQ(negate(c).to_vector<c64>()[2], c64(-1, -2));
}

TEST(Unary, ExpF32WithinOneUlpEverywhere) {
  // Oracle: glibc's double exp rounded to float (the double result is within 1 ULP of
  // double, so its rounding is the correctly rounded float but for rare near-ties).
  // Sweeps every 997th float of [-104, 89], the whole range where exp(x) is neither 0
  // nor inf, subnormal results included; the bound is 1 ULP.
  std::vector<float> xs;
  const std::int64_t top = std::bit_cast<std::uint32_t>(89.0f);
  const std::int64_t bottom = std::bit_cast<std::uint32_t>(-104.0f);
  for (std::int64_t b = top; b >= 0; b -= 997)
    xs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(b)));
  for (std::int64_t b = 0x80000000LL; b <= bottom; b += 997)
    xs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(b)));
  ASSERT_GT(xs.size(), 2'000'000u);
  const auto ys = exp(tensor<float>(xs)).to_vector<float>();
  std::int64_t worst = 0;
  float worst_x = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const float want = static_cast<float>(std::exp(static_cast<double>(xs[i])));
    const std::int64_t ulps =
        std::abs(static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(ys[i])) -
                 static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(want)));
    if (ulps > worst) worst = ulps, worst_x = xs[i];
  }
  EXPECT_LE(worst, 1) << "at x = " << worst_x;
  // Special values (IEEE): exp(0) = 1 exactly, overflow to inf, underflow to 0.
  const float inf = std::numeric_limits<float>::infinity();
  auto s = exp(tensor<float>({0.0f, -0.0f, inf, -inf, 88.8f, -110.0f, NAN})).to_vector<float>();
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[2], inf);
  EXPECT_EQ(s[3], 0.0f);
  EXPECT_EQ(s[4], inf);
  EXPECT_EQ(s[5], 0.0f);
  EXPECT_TRUE(std::isnan(s[6]));
}

TEST(Unary, SigmoidF32WithinTwoUlps) {
  // Oracle: 1 / (1 + exp(-x)) in double, rounded to float. Bound: exp's 1 ULP plus the
  // rounding of one division and one product.
  std::vector<float> xs;
  for (std::int64_t b = std::bit_cast<std::uint32_t>(100.0f); b >= 0; b -= 4999)
    xs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(b)));
  for (std::int64_t b = 0x80000000LL; b <= std::bit_cast<std::uint32_t>(-100.0f); b += 4999)
    xs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(b)));
  const auto ys = sigmoid(tensor<float>(xs)).to_vector<float>();
  std::int64_t worst = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    const float want = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
    worst =
        std::max(worst, std::abs(static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(ys[i])) -
                                 static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(want))));
  }
  EXPECT_LE(worst, 2);
  const float inf = std::numeric_limits<float>::infinity();
  auto s = sigmoid(tensor<float>({inf, -inf, 0.0f, NAN})).to_vector<float>();
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_EQ(s[2], 0.5f);
  EXPECT_TRUE(std::isnan(s[3]));
}

TEST(Unary, ErfInvInvertsErf) {
  // Identity oracle: erf(erf_inv(x)) = x on a dense grid of (-1, 1). f64: erf's slope
  // is at most 2/sqrt(pi), so an error of e in y moves erf by < 1.13 e: rtol 1e-15.
  // f32: the round trip goes through an f32 y whose rounding (6e-8 relative) moves
  // erf(y) by at most y erf'(y) 6e-8 <= 6e-8 x; with erf's own rounding, rtol 3e-7.
  std::vector<double> xs;
  for (int i = -999; i <= 999; ++i) xs.push_back(i / 1000.0);
  Tensor x = tensor<double>(xs);
  EXPECT_TRUE(all_close(erf(erf_inv(x)), x, 1e-15, 1e-300));
  Tensor xf = astype(x, DType::f32);
  EXPECT_TRUE(all_close(erf(erf_inv(xf)), xf, 3e-7, 1e-30));
  // The ends and outside of the domain (hand-computed).
  Tensor e = erf_inv(tensor<float>({1, -1, 1.5f, -0.0f}));
  auto v = e.to_vector<float>();
  EXPECT_EQ(v[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_TRUE(v[3] == 0.0f && std::signbit(v[3]));
}

TEST(Unary, StridedInputsMatchContiguousCopies) {
  // Identity oracle: an op on a view equals the op on contiguous(view).
  Tensor x = reshape(golden("unary_f32_x"), {5, 11});
  std::vector<Tensor> views = {
      transpose(x),
      slice(x, {4, 10}, {-6, -12}, {-1, -2}),  // reversed rows and every other column
      broadcast_to(slice(x, {2}, {3}), {4, 1, 11}),
      as_strided(x, {3, 4}, {0, 5}, 3),
  };
  for (const auto& v : views) {
    for (std::span<const Case> table :
         {std::span<const Case>(kFloatFns), std::span<const Case>(kExactFns)}) {
      for (const auto& c : table) {
        EXPECT_TRUE(all_equal(c.fn(v), c.fn(contiguous(v))))
            << c.name << " " << to_string(v.shape());
      }
    }
  }
  Tensor cx = transpose(reshape(golden("unary_c64_x"), {2, 13}));
  EXPECT_TRUE(all_equal(abs(cx), abs(contiguous(cx))));  // output dtype differs from input
  EXPECT_TRUE(all_equal(exp(cx), exp(contiguous(cx))));
}

TEST(Unary, ZeroDimAndEmpty) {
  // Hand-computed: exp(0) = 1 keeps the 0-d shape; an empty tensor stays empty.
  Tensor s = exp(scalar_tensor(0.0));
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.item<float>(), 1.0f);
  EXPECT_EQ(negate(scalar_tensor(3, DType::s32)).item<int>(), -3);
  for (const auto& c : kFloatFns) {
    Tensor e = c.fn(zeros({0, 3}));
    EXPECT_EQ(e.shape(), (Shape{0, 3})) << c.name;
  }
  EXPECT_EQ(is_nan(zeros({2, 0}, DType::s32)).shape(), (Shape{2, 0}));
}

TEST(Unary, LargeTensorsSplitAcrossThreads) {
  // Oracle: std::sqrt and the sign rule per element; 300000 elements run the parallel
  // path of the loop skeleton (chunks of 32768).
  const std::int64_t n = 300000;
  Tensor x = arange(0.0, static_cast<double>(n), 1.0, DType::f32);
  auto y = sqrt(x).to_vector<float>();
  ASSERT_EQ(static_cast<std::int64_t>(y.size()), n);
  for (std::int64_t i = 0; i < n; i += 997) ASSERT_EQ(y[i], std::sqrt(static_cast<float>(i))) << i;
  EXPECT_EQ(y[n - 1], std::sqrt(static_cast<float>(n - 1)));
  auto s =
      sign(transpose(reshape(arange(-150000, 150000, 1, DType::s32), {600, 500}))).to_vector<int>();
  // transposed: element (i, j) is x[j * 500 + i] - 150000
  for (std::int64_t k = 0; k < n; k += 1001) {
    std::int64_t i = k / 600, j = k % 600;
    std::int64_t v = j * 500 + i - 150000;
    ASSERT_EQ(s[k], (v > 0) - (v < 0)) << k;
  }
}

TEST(Unary, RejectedDtypes) {
  Tensor c = tensor<c64>({c64(1, 1)});
  EXPECT_EMILY_ERROR(erf(c), DTypeError, "erf");
  EXPECT_EMILY_ERROR(erf_inv(c), DTypeError, "erf_inv");
  EXPECT_EMILY_ERROR(floor(c), DTypeError, "floor");
  EXPECT_EMILY_ERROR(ceil(c), DTypeError, "ceil");
  EXPECT_EMILY_ERROR(round(c), DTypeError, "round");
  EXPECT_EMILY_ERROR(bitwise_not(c), DTypeError, "bitwise_not");
  EXPECT_EMILY_ERROR(bitwise_not(tensor<float>({1})), DTypeError, "bitwise_not");
  EXPECT_EMILY_ERROR(bitwise_not(tensor<bf16>({bf16(1.0f)})), DTypeError, "bitwise_not");
  EXPECT_EMILY_ERROR(negate(tensor<bool>({true})), DTypeError, "negate");
  EXPECT_EMILY_ERROR(-tensor<bool>({true}), DTypeError, "negate");
}

TEST(Unary, UndefinedInputRaises) {
  Tensor u;
  for (std::span<const Case> table :
       {std::span<const Case>(kFloatFns), std::span<const Case>(kExactFns)}) {
    for (const auto& c : table) EXPECT_EMILY_ERROR(c.fn(u), ValueError, c.name);
  }
  EXPECT_EMILY_ERROR(bitwise_not(u), ValueError, "bitwise_not");
}

}  // namespace
}  // namespace emily
