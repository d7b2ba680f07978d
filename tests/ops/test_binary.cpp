// Binary elementwise ops. Oracles: NumPy goldens from scripts/fixtures/elementwise.py
// (pow/atan2 evaluated in float64 and rounded once; integer ops whose documented
// semantics differ from NumPy computed with Python integers), hand-computed values, and
// identities (a strided view gives the same values as its contiguous copy; f16/bf16 equal
// the f32 result rounded once).
#include <cmath>
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

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
struct Case {
  const char* name;
  BinaryFn fn;
};
#define EMILY_CASE(op)                \
  Case {                              \
#op, static_cast < BinaryFn>(&op) \
  }

// Ops defined on floats, then the integer-only ones.
const Case kFloatOps[] = {
    EMILY_CASE(add),           EMILY_CASE(subtract),   EMILY_CASE(multiply),
    EMILY_CASE(divide),        EMILY_CASE(pow),        EMILY_CASE(atan2),
    EMILY_CASE(remainder),     EMILY_CASE(maximum),    EMILY_CASE(minimum),
    EMILY_CASE(equal),         EMILY_CASE(not_equal),  EMILY_CASE(greater),
    EMILY_CASE(greater_equal), EMILY_CASE(less),       EMILY_CASE(less_equal),
    EMILY_CASE(logical_and),   EMILY_CASE(logical_or), EMILY_CASE(logical_xor),
};
const Case kIntOnlyOps[] = {
    EMILY_CASE(quotient),    EMILY_CASE(bitwise_and), EMILY_CASE(bitwise_or),
    EMILY_CASE(bitwise_xor), EMILY_CASE(left_shift),  EMILY_CASE(right_shift),
};

bool rounds(const std::string& op) {
  return op == "pow" || op == "atan2";
}

TEST(Binary, Float32MatchesNumPy) {
  // +, -, *, /, remainder, maximum, minimum are IEEE-exact in f32 (NumPy computes them
  // in f32 too): compared exactly, NaN matching NaN. pow and atan2: the golden is the
  // float64 value rounded; glibc's powf/atan2f are within ~1 ULP (<= 1.2e-7 relative),
  // rtol 2e-6; atol 1e-37 for subnormal results. Comparisons/logical: bool, exact.
  Tensor a = golden("binary_f32_a"), b = golden("binary_f32_b");
  for (const auto& c : kFloatOps) {
    std::string n = c.name;
    Tensor y = c.fn(a, b);
    Tensor want = golden("binary_f32_" + n);
    EXPECT_EQ(y.dtype(), want.dtype()) << n;
    if (want.dtype() == DType::bool_)
      EXPECT_TRUE(all_equal(y, want)) << n;
    else if (rounds(n))
      EXPECT_TRUE(all_close(y, want, 2e-6, 1e-37)) << n;
    else
      EXPECT_TRUE(all_close(y, want, 0, 0)) << n;
  }
}

TEST(Binary, Int32MatchesGoldens) {
  // Exact: wrapping +,-,*, floored remainder with x % 0 = 0, truncating quotient with
  // x / 0 = 0 and INT_MIN / -1 = INT_MIN, pow by squaring (negative exponents: 0 except
  // base +-1), shifts with out-of-range counts. divide computes in f32 (exact IEEE);
  // atan2 in f32 as above (rtol 2e-6).
  Tensor a = golden("binary_s32_a"), b = golden("binary_s32_b");
  for (std::span<const Case> table :
       {std::span<const Case>(kFloatOps), std::span<const Case>(kIntOnlyOps)}) {
    for (const auto& c : table) {
      std::string n = c.name;
      Tensor y = c.fn(a, b);
      Tensor want = golden("binary_s32_" + n);
      EXPECT_EQ(y.dtype(), want.dtype()) << n;
      if (n == "atan2")
        EXPECT_TRUE(all_close(y, want, 2e-6, 1e-37)) << n;
      else if (n == "divide")
        EXPECT_TRUE(all_close(y, want, 0, 0)) << n;
      else
        EXPECT_TRUE(all_equal(y, want)) << n;
    }
  }
}

TEST(Binary, Float64MatchesNumPy) {
  // add, multiply, divide, remainder exact; pow and atan2 within a few ULP of the
  // correctly rounded value (glibc's double pow/atan2 are < 1 ULP): rtol 2e-15.
  Tensor a = golden("binary_f64_a"), b = golden("binary_f64_b");
  for (const auto& c : kFloatOps) {
    std::string n = c.name;
    if (n != "add" && n != "multiply" && n != "divide" && n != "pow" && n != "atan2" &&
        n != "remainder")
      continue;
    Tensor y = c.fn(a, b);
    EXPECT_EQ(y.dtype(), DType::f64) << n;
    EXPECT_TRUE(all_close(y, golden("binary_f64_" + n), rounds(n) ? 2e-15 : 0, 0)) << n;
  }
}

TEST(Binary, Complex64MatchesNumPy) {
  // Golden: complex128 arithmetic rounded to complex64. complex64 arithmetic rounds
  // each product and sum in f32, so a component can be off by a few ULP of the
  // operands' magnitude (values here are below ~20): rtol 1e-6, atol 2e-6 for +-*, and
  // 1e-5 relative for divide and pow (exp(b log a) amplifies log's error by |b log a|).
  Tensor a = golden("binary_c64_a"), b = golden("binary_c64_b");
  for (const auto& c : kFloatOps) {
    std::string n = c.name;
    if (n == "equal" || n == "not_equal") {
      EXPECT_TRUE(all_equal(c.fn(a, b), golden("binary_c64_" + n))) << n;
      continue;
    }
    if (n != "add" && n != "subtract" && n != "multiply" && n != "divide" && n != "pow") continue;
    Tensor y = c.fn(a, b);
    EXPECT_EQ(y.dtype(), DType::c64) << n;
    double rtol = (n == "divide" || n == "pow") ? 1e-5 : 1e-6;
    EXPECT_TRUE(all_close(y, golden("binary_c64_" + n), rtol, 2e-6)) << n;
  }
}

TEST(Binary, HalfTypesRoundTheF32ResultOnce) {
  // Oracle: astype(op(astype(a16, f32), astype(b16, f32)), dtype), bit for bit.
  Tensor a = golden("binary_f32_a"), b = golden("binary_f32_b");
  for (DType dt : {DType::f16, DType::bf16}) {
    Tensor ah = astype(a, dt), bh = astype(b, dt);
    Tensor af = astype(ah, DType::f32), bf = astype(bh, DType::f32);
    for (const auto& c : kFloatOps) {
      Tensor y = c.fn(ah, bh);
      Tensor want = c.fn(af, bf);
      if (want.dtype() == DType::f32) want = astype(want, dt);
      EXPECT_TRUE(all_equal(y, want)) << c.name << " " << name(dt);
    }
  }
}

TEST(Binary, Broadcasting) {
  // Hand-computed: (3,1) + (1,4) -> (3,4) of 10 i + j; a row bias, a column bias, 0-d
  // scalars on either side, and an empty axis.
  Tensor col = tensor<float>({0, 10, 20}, {3, 1});
  Tensor row = tensor<float>({0, 1, 2, 3}, {1, 4});
  Tensor s = add(col, row);
  EXPECT_EQ(s.shape(), (Shape{3, 4}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}));
  Tensor m = reshape(arange(0, 6, 1, DType::s32), {2, 3});
  EXPECT_EQ(multiply(m, tensor<std::int32_t>({1, 10, 100})).to_vector<int>(),
            (std::vector<int>{0, 10, 200, 3, 40, 500}));
  EXPECT_EQ(subtract(m, tensor<std::int32_t>({1, 2}, {2, 1})).to_vector<int>(),
            (std::vector<int>{-1, 0, 1, 1, 2, 3}));
  EXPECT_EQ(subtract(scalar_tensor(10, DType::s32), m).to_vector<int>(),
            (std::vector<int>{10, 9, 8, 7, 6, 5}));
  EXPECT_EQ(divide(m, scalar_tensor(2, DType::s32)).to_vector<float>(),
            (std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5}));
  Tensor z = add(scalar_tensor(1.0), scalar_tensor(2.0));
  EXPECT_EQ(z.ndim(), 0);
  EXPECT_EQ(z.item<float>(), 3.0f);
  EXPECT_EQ(add(zeros({0, 3}), ones({3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(less(zeros({2, 0}), zeros({1, 1})).shape(), (Shape{2, 0}));
  EXPECT_EMILY_ERROR(add(zeros({2, 3}), zeros({2})), ShapeError, "add");
  EXPECT_EMILY_ERROR(less(zeros({4}), zeros({3})), ShapeError, "less");
  EXPECT_EMILY_ERROR(logical_and(zeros({4}), zeros({3})), ShapeError, "logical_and");
}

TEST(Binary, StridedInputsMatchContiguousCopies) {
  // Identity oracle: an op on views equals the op on contiguous copies; covers
  // transposed, reversed, stride-0 and sliced operands in every pairing the loop
  // specializes (dense, repeated value, inner stride 0, general).
  Tensor a = reshape(slice(golden("binary_f32_a"), {0}, {60}), {6, 10});
  Tensor b = reshape(slice(golden("binary_f32_b"), {0}, {60}), {6, 10});
  Tensor at = transpose(reshape(a, {10, 6}));  // (6, 10) with strides (1, 6)
  Tensor rev = slice(b, {5, 9}, {-7, -11}, {-1, -1});
  Tensor rowb = broadcast_to(slice(b, {2}, {3}), {6, 10});
  Tensor colb = broadcast_to(slice(b, {0, 3}, {6, 4}), {6, 10});
  Tensor one = broadcast_to(slice(b, {1, 1}, {2, 2}), {6, 10});
  Tensor every_other = slice(reshape(golden("binary_f32_a"), {8, 8}), {0, 0}, {6, 8}, {1, 2});
  std::vector<std::pair<Tensor, Tensor>> pairs = {
      {at, b},
      {a, rev},
      {rowb, a},
      {a, colb},
      {one, at},
      {at, one},
      {colb, rowb},
      {rev, at},
      {every_other, slice(b, {0, 0}, {6, 4})},
      {broadcast_to(slice(b, {0, 0}, {6, 4}), {2, 6, 4}), slice(a, {0, 0}, {6, 4})},
  };
  for (const auto& [x, y] : pairs) {
    for (const auto& c : kFloatOps) {
      EXPECT_TRUE(all_equal(c.fn(x, y), c.fn(contiguous(x), contiguous(y))))
          << c.name << " " << to_string(x.shape()) << " " << to_string(y.shape());
    }
  }
  Tensor ia = reshape(golden("binary_s32_a"), {7, 7});
  Tensor ib = reshape(golden("binary_s32_b"), {7, 7});
  for (const auto& c : kIntOnlyOps) {
    Tensor x = transpose(ia), y = slice(ib, {6}, {-8}, {-1});
    EXPECT_TRUE(all_equal(c.fn(x, y), c.fn(contiguous(x), contiguous(y)))) << c.name;
  }
}

TEST(Binary, LargeTensorsUseEveryPath) {
  // Hand formula per element over 200000 elements (parallel above 65536): dense + dense,
  // dense + repeated 0-d value, and a transposed (general strided) operand.
  const std::int64_t n = 200000;
  Tensor x = arange(0.0, static_cast<double>(n), 1.0, DType::f32);
  Tensor y = arange(0.0, static_cast<double>(2 * n), 2.0, DType::f32);
  auto sum = add(x, y).to_vector<float>();
  auto scaled = multiply(scalar_tensor(0.5), x).to_vector<float>();
  auto diff = subtract(x, scalar_tensor(1.0)).to_vector<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(sum[i], 3.0f * static_cast<float>(i)) << i;
    ASSERT_EQ(scaled[i], 0.5f * static_cast<float>(i)) << i;
    ASSERT_EQ(diff[i], static_cast<float>(i) - 1.0f) << i;
  }
  Tensor m = reshape(arange(0, 400 * 500, 1, DType::s64), {400, 500});
  auto t = add(transpose(m), reshape(arange(0, 500 * 400, 1, DType::s64), {500, 400}))
               .to_vector<std::int64_t>();
  for (std::int64_t k = 0; k < 500 * 400; k += 7) {
    std::int64_t i = k / 400, j = k % 400;  // (i, j) of the (500, 400) result
    ASSERT_EQ(t[k], (j * 500 + i) + k) << k;
  }
}

TEST(Binary, PromotionAndResultDtypes) {
  // Oracle: the promotion table of docs/DTYPES.md and the rules of ops.h.
  Tensor s32 = tensor<std::int32_t>({1, -2});
  Tensor h = tensor<f16>({f16(0.5f), f16(0.25f)});
  Tensor u8 = tensor<std::uint8_t>({200, 3});
  Tensor s8 = tensor<std::int8_t>({100, -3});
  EXPECT_EQ(add(s32, h).dtype(), DType::f16);
  EXPECT_EQ(add(s32, h).to_vector<float>(), (std::vector<float>{1.5f, -1.75f}));
  EXPECT_EQ(add(u8, s8).dtype(), DType::s16);
  EXPECT_EQ(add(u8, s8).to_vector<int>(), (std::vector<int>{300, 0}));  // no wrap in s16
  EXPECT_EQ(divide(s32, s32).dtype(), DType::f32);
  EXPECT_EQ(atan2(u8, u8).dtype(), DType::f32);
  EXPECT_EQ(pow(s32, s32).dtype(), DType::s32);
  EXPECT_EQ(less(s32, h).dtype(), DType::bool_);
  EXPECT_EQ(logical_or(h, s32).dtype(), DType::bool_);
  EXPECT_EQ(add(tensor<c64>({c64(1, 1)}), s32).dtype(), DType::c64);
  // Comparisons compute in the promoted dtype: 16777217 becomes 16777216.0f in f32.
  EXPECT_TRUE(equal(tensor<std::int32_t>({16777217}), tensor<float>({16777216.0f})).item<bool>());
  // bool arithmetic: + is or, * is and; max/min are or/and.
  Tensor t = tensor<bool>({true, true, false, false}), f = tensor<bool>({true, false, true, false});
  EXPECT_TRUE(all_equal(add(t, f), tensor<bool>({true, true, true, false})));
  EXPECT_TRUE(all_equal(multiply(t, f), tensor<bool>({true, false, false, false})));
  EXPECT_TRUE(all_equal(maximum(t, f), tensor<bool>({true, true, true, false})));
  EXPECT_TRUE(all_equal(minimum(t, f), tensor<bool>({true, false, false, false})));
  EXPECT_TRUE(all_equal(bitwise_xor(t, f), tensor<bool>({false, true, true, false})));
  EXPECT_TRUE(all_equal(equal(t, f), tensor<bool>({true, false, false, true})));
  EXPECT_EQ(add(t, tensor<std::int32_t>({1, 1, 1, 1})).to_vector<int>(),
            (std::vector<int>{2, 2, 1, 1}));
}

TEST(Binary, IntegerWrapInEveryWidth) {
  // Hand-computed modular results (the u16 case overflows int if computed naively).
  EXPECT_EQ(add(tensor<std::uint8_t>({200}), tensor<std::uint8_t>({100})).to_vector<int>()[0], 44);
  EXPECT_EQ(subtract(tensor<std::uint8_t>({1}), tensor<std::uint8_t>({2})).to_vector<int>()[0],
            255);
  EXPECT_EQ(multiply(tensor<std::int8_t>({-128}), tensor<std::int8_t>({-1})).to_vector<int>()[0],
            -128);
  EXPECT_EQ(multiply(tensor<std::int8_t>({16}), tensor<std::int8_t>({9})).to_vector<int>()[0],
            -112);
  EXPECT_EQ(
      multiply(tensor<std::uint16_t>({65535}), tensor<std::uint16_t>({65535})).to_vector<int>()[0],
      1);
  EXPECT_EQ(
      multiply(tensor<std::int16_t>({-32768}), tensor<std::int16_t>({-32768})).to_vector<int>()[0],
      0);
  constexpr auto kMax64 = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin64 = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(add(tensor<std::int64_t>({kMax64}), tensor<std::int64_t>({1})).item<std::int64_t>(),
            kMin64);
  EXPECT_EQ(multiply(tensor<std::uint64_t>({1ull << 63}), tensor<std::uint64_t>({2}))
                .item<std::uint64_t>(),
            0u);
  EXPECT_EQ(pow(tensor<std::uint8_t>({2, 3, 0, 7}), tensor<std::uint8_t>({8, 5, 0, 255}))
                .to_vector<int>(),
            (std::vector<int>{0, 243, 1, 183}));  // 7^255 = 7^-1 = 183 (mod 256)
  EXPECT_EQ(pow(tensor<std::int64_t>({2, -2, -1}), tensor<std::int64_t>({63, 63, kMax64}))
                .to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{kMin64, kMin64, -1}));
}

TEST(Binary, IntegerDivisionEdges) {
  // Hand-computed: truncating quotient, floored remainder, zero divisors, MIN / -1.
  Tensor a8 = tensor<std::int8_t>({-128, -128, 7, -7, 5});
  Tensor b8 = tensor<std::int8_t>({-1, 0, -2, 2, 0});
  EXPECT_EQ(quotient(a8, b8).to_vector<int>(), (std::vector<int>{-128, 0, -3, -3, 0}));
  EXPECT_EQ(remainder(a8, b8).to_vector<int>(), (std::vector<int>{0, 0, -1, 1, 0}));
  constexpr auto kMin64 = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(
      quotient(tensor<std::int64_t>({kMin64}), tensor<std::int64_t>({-1})).item<std::int64_t>(),
      kMin64);
  EXPECT_EQ(
      remainder(tensor<std::int64_t>({kMin64}), tensor<std::int64_t>({-1})).item<std::int64_t>(),
      0);
  EXPECT_EQ(
      remainder(tensor<std::uint32_t>({7, 7}), tensor<std::uint32_t>({0, 4})).to_vector<int>(),
      (std::vector<int>{0, 3}));
  EXPECT_EQ(quotient(tensor<std::uint8_t>({255, 9}), tensor<std::uint8_t>({0, 4})).to_vector<int>(),
            (std::vector<int>{0, 2}));
  // divide: integers become f32, so x / 0 follows IEEE.
  auto d =
      divide(tensor<std::int32_t>({1, -1, 0}), tensor<std::int32_t>({0, 0, 0})).to_vector<float>();
  EXPECT_EQ(d[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(d[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(d[2]));
}

TEST(Binary, ShiftsInEveryWidth) {
  // Hand-computed: counts in [0, bits) shift; others give 0 (left, and right of a
  // non-negative value) or -1 (right of a negative value).
  EXPECT_EQ(left_shift(tensor<std::uint8_t>({1, 1, 255}), tensor<std::uint8_t>({7, 8, 1}))
                .to_vector<int>(),
            (std::vector<int>{128, 0, 254}));
  EXPECT_EQ(
      right_shift(tensor<std::int8_t>({-128, -128, 64, -1}), tensor<std::int8_t>({7, 8, 9, -1}))
          .to_vector<int>(),
      (std::vector<int>{-1, -1, 0, -1}));
  EXPECT_EQ(left_shift(tensor<std::int16_t>({1, 3, 1}), tensor<std::int16_t>({15, -1, 16}))
                .to_vector<int>(),
            (std::vector<int>{-32768, 0, 0}));
  EXPECT_EQ(left_shift(tensor<std::uint64_t>({1, 1}), tensor<std::uint64_t>({63, 64}))
                .to_vector<std::uint64_t>(),
            (std::vector<std::uint64_t>{1ull << 63, 0}));
  EXPECT_EQ(right_shift(tensor<std::int64_t>({-16, -16, 16}), tensor<std::int64_t>({2, 64, 64}))
                .to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{-4, -1, 0}));
  EXPECT_EQ(right_shift(tensor<std::uint32_t>({0x80000000u, 5}), tensor<std::uint32_t>({31, 32}))
                .to_vector<std::uint32_t>(),
            (std::vector<std::uint32_t>{1, 0}));
}

TEST(Binary, NanAndSignedZeroRules) {
  // Hand-computed: maximum/minimum propagate NaN from either side; on ties the second
  // operand wins (NumPy's maximum(-0., 0.) is 0.); NaN compares unequal to itself.
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = tensor<float>({kNan, 1.0f, -0.0f, 0.0f});
  Tensor b = tensor<float>({1.0f, kNan, 0.0f, -0.0f});
  auto mx = maximum(a, b).to_vector<float>();
  auto mn = minimum(a, b).to_vector<float>();
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]) && std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_FALSE(std::signbit(mx[2]));
  EXPECT_TRUE(std::signbit(mx[3]));
  EXPECT_FALSE(std::signbit(mn[2]));
  EXPECT_TRUE(all_equal(equal(a, a), tensor<bool>({false, true, true, true})));
  EXPECT_TRUE(all_equal(not_equal(a, a), tensor<bool>({true, false, false, false})));
  // Logical ops use each input's own truth (before promotion): 1e-300 is nonzero even
  // though c64 would flush it to 0; NaN is true.
  EXPECT_TRUE(logical_and(tensor<c64>({c64(1, 0)}), tensor<double>({1e-300})).item<bool>());
  EXPECT_TRUE(logical_or(tensor<float>({kNan}), tensor<float>({0})).item<bool>());
}

TEST(Binary, RejectedDtypes) {
  Tensor bl = tensor<bool>({true});
  Tensor f = tensor<float>({1});
  Tensor c = tensor<c64>({c64(1, 1)});
  Tensor i = tensor<std::int32_t>({1});
  EXPECT_EMILY_ERROR(subtract(bl, bl), DTypeError, "subtract");
  EXPECT_EMILY_ERROR(pow(bl, bl), DTypeError, "pow");
  EXPECT_EMILY_ERROR(atan2(c, f), DTypeError, "atan2");
  EXPECT_EMILY_ERROR(remainder(c, f), DTypeError, "remainder");
  EXPECT_EMILY_ERROR(remainder(bl, bl), DTypeError, "remainder");
  EXPECT_EMILY_ERROR(quotient(f, i), DTypeError, "quotient");
  EXPECT_EMILY_ERROR(quotient(bl, bl), DTypeError, "quotient");
  EXPECT_EMILY_ERROR(maximum(c, f), DTypeError, "maximum");
  EXPECT_EMILY_ERROR(minimum(c, c), DTypeError, "minimum");
  EXPECT_EMILY_ERROR(bitwise_and(f, i), DTypeError, "bitwise_and");
  EXPECT_EMILY_ERROR(bitwise_or(c, i), DTypeError, "bitwise_or");
  EXPECT_EMILY_ERROR(bitwise_xor(tensor<f16>({f16(1.0f)}), i), DTypeError, "bitwise_xor");
  EXPECT_EMILY_ERROR(left_shift(f, i), DTypeError, "left_shift");
  EXPECT_EMILY_ERROR(left_shift(bl, bl), DTypeError, "left_shift");
  EXPECT_EMILY_ERROR(right_shift(i, f), DTypeError, "right_shift");
  EXPECT_EMILY_ERROR(greater(c, f), DTypeError, "greater");
  EXPECT_EMILY_ERROR(greater_equal(c, f), DTypeError, "greater_equal");
  EXPECT_EMILY_ERROR(less(c, f), DTypeError, "less");
  EXPECT_EMILY_ERROR(less_equal(c, f), DTypeError, "less_equal");
}

TEST(Binary, UndefinedInputRaises) {
  Tensor u, f = tensor<float>({1});
  for (std::span<const Case> table :
       {std::span<const Case>(kFloatOps), std::span<const Case>(kIntOnlyOps)}) {
    for (const auto& c : table) {
      EXPECT_EMILY_ERROR(c.fn(u, f), ValueError, c.name);
      EXPECT_EMILY_ERROR(c.fn(f, u), ValueError, c.name);
    }
  }
}

}  // namespace
}  // namespace emily
