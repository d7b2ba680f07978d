// cumulative_sum, cumulative_product, cumulative_max, cumulative_min.
// Oracles: goldens from scripts/fixtures/ordering.py (np.cumsum, np.cumprod,
// np.maximum/minimum.accumulate; reverse via np.flip; exclusive by shifting), plus
// hand-computed cases. Sums and products run sequentially in float32 in both NumPy and
// Emily, so they agree to a few ulp (values below 30 and products of uniform(0.5, 1.5)
// terms): rtol 1e-6. max/min are exact.
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::floats;

Tensor fx(const std::string& name) {
  return testing::op_fixture("ordering", name);
}

TEST(Scan, MatchesNumPyOnEveryAxis) {
  Tensor x = fx("scan_x");
  for (int axis = 0; axis < 3; ++axis) {
    const std::string a = std::to_string(axis);
    EXPECT_TRUE(all_close(cumulative_sum(x, axis), fx("cumulative_sum_" + a), 1e-6, 0)) << axis;
    EXPECT_TRUE(all_close(cumulative_product(x, axis), fx("cumulative_product_" + a), 1e-6, 0));
    EXPECT_TRUE(all_equal(cumulative_max(x, axis), fx("cumulative_max_" + a)));
    EXPECT_TRUE(all_equal(cumulative_min(x, axis), fx("cumulative_min_" + a)));
  }
  EXPECT_TRUE(all_close(cumulative_sum(x, -1), fx("cumulative_sum_2"), 1e-6, 0));
}

TEST(Scan, ReverseAndExclusive) {
  Tensor x = fx("scan_x");
  EXPECT_TRUE(all_close(cumulative_sum(x, 1, true), fx("cumulative_sum_1_reverse"), 1e-6, 0));
  EXPECT_TRUE(
      all_close(cumulative_product(x, 1, true), fx("cumulative_product_1_reverse"), 1e-6, 0));
  EXPECT_TRUE(all_equal(cumulative_max(x, 1, true), fx("cumulative_max_1_reverse")));
  EXPECT_TRUE(all_equal(cumulative_min(x, 1, true), fx("cumulative_min_1_reverse")));
  EXPECT_TRUE(
      all_close(cumulative_sum(x, 2, false, false), fx("cumulative_sum_2_exclusive"), 1e-6, 0));
  // Hand-computed: exclusive reverse scans start from the identity at the end.
  Tensor v = tensor<float>({1, 5, 2});
  EXPECT_EQ(floats(cumulative_product(v, 0, true, false)), (std::vector<float>{10, 2, 1}));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(floats(cumulative_max(v, 0, false, false)), (std::vector<float>{-inf, 1, 5}));
  EXPECT_EQ(floats(cumulative_min(v, 0, true, false)), (std::vector<float>{2, 2, inf}));
}

TEST(Scan, DtypesFollowTheReductions) {
  // Oracle: np.cumsum(int32, dtype=int64).
  Tensor xi = fx("scan_xi");
  Tensor s = cumulative_sum(xi, 1);
  EXPECT_EQ(s.dtype(), DType::s64);
  EXPECT_TRUE(all_equal(s, fx("cumulative_sum_int")));
  EXPECT_EQ(cumulative_max(xi, 1).dtype(), DType::s32);
  EXPECT_EQ(cumulative_sum(tensor<bool>({true, true, false})).dtype(), DType::s64);
  EXPECT_EQ(cumulative_sum(tensor<std::uint8_t>({200, 100})).dtype(), DType::u64);
  EXPECT_EQ(floats(cumulative_sum(tensor<std::uint8_t>({200, 100}))),
            (std::vector<float>{200, 300}));
  // Hand-computed: exclusive integer max starts at the lowest value.
  Tensor m = cumulative_max(tensor<std::int8_t>({3, -2}), 0, false, false);
  EXPECT_EQ(floats(m), (std::vector<float>{-128, 3}));
  // bf16 accumulates in f32: 256 + 1 + 1 rounds once per output (bf16 has 8 bits), so the
  // running sum reaches 258 instead of sticking at 256.
  Tensor b = astype(tensor<float>({256, 1, 1}), DType::bf16);
  EXPECT_EQ(floats(cumulative_sum(b)), (std::vector<float>{256, 256, 258}));
}

TEST(Scan, NaNPropagatesThroughMaxAndMin) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor v = tensor<float>({1, nan, 3});
  auto m = floats(cumulative_max(v));
  EXPECT_EQ(m[0], 1);
  EXPECT_TRUE(std::isnan(m[1]) && std::isnan(m[2]));
  EXPECT_TRUE(std::isnan(floats(cumulative_min(v))[2]));
}

TEST(Scan, LargeInnerAxesAndViews) {
  // Property: a scan over axis 0 of a transposed view equals the scan over axis 1 of the
  // original, transposed (exact: integer-valued f32 below 2^24).
  Tensor x = testing::iota({300, 257});
  EXPECT_TRUE(all_equal(cumulative_sum(transpose(x), 0), transpose(cumulative_sum(x, 1))));
  Tensor last = slice(cumulative_sum(x, 0), {299, 0}, {300, 257});
  EXPECT_TRUE(all_equal(reshape(last, {257}), sum(x, 0)));
}

TEST(Scan, ErrorsNameTheOp) {
  EXPECT_EMILY_ERROR(cumulative_sum(zeros({2, 3}), 2), ShapeError, "cumulative_sum");
  EXPECT_EMILY_ERROR(cumulative_product(scalar_tensor(1.0), 0), ShapeError, "cumulative_product");
  EXPECT_EMILY_ERROR(cumulative_max(zeros({2}, DType::c64)), DTypeError, "cumulative_max");
  EXPECT_EMILY_ERROR(cumulative_min(Tensor{}), ValueError, "cumulative_min");
  // Empty axes scan to empty results.
  EXPECT_EQ(cumulative_sum(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
}

}  // namespace
}  // namespace emily
