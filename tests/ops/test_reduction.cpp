// Reductions: sum product max min all any argmax argmin mean.
// Oracles: NumPy goldens from scripts/fixtures/reduction.py (ops/reduction/*), exact
// integer-valued data whose sums are checked against int64 arithmetic, and hand-computed
// values. f32 sums: NumPy and Emily both sum pairwise along a contiguous axis but may
// group differently across axes; for at most 60 N(0,1) terms the difference is a few
// ulp of the partial sums (|partial| < 20, ulp 2e-6), hence rtol 1e-6 / atol 4e-6.
#include <cmath>
#include <limits>
#include <numeric>

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
// 0-d goldens come back with shape (1,) (see the fixture script).
Tensor fx0(const std::string& name) {
  return reshape(fx(name), {});
}

constexpr double kRtol = 1e-6, kAtol = 4e-6;

TEST(Reduction, SumMatchesNumPyOverAxes) {
  Tensor x = fx("x");
  EXPECT_TRUE(all_close(sum(x), fx0("sum_all"), kRtol, kAtol));
  EXPECT_TRUE(all_close(sum(x, 0), fx("sum_0"), kRtol, kAtol));
  EXPECT_TRUE(all_close(sum(x, 1), fx("sum_1"), kRtol, kAtol));
  EXPECT_TRUE(all_close(sum(x, 2), fx("sum_2"), kRtol, kAtol));
  EXPECT_TRUE(all_close(sum(x, {0, 2}), fx("sum_02"), kRtol, kAtol));
  EXPECT_TRUE(all_close(sum(x, {2, 1}), fx("sum_21"), kRtol, kAtol));
  // Negative axes and any order name the same reduction.
  EXPECT_TRUE(all_close(sum(x, {-2, -1}), fx("sum_21"), kRtol, kAtol));
  EXPECT_TRUE(all_close(sum(x, -3), fx("sum_0"), kRtol, kAtol));
  EXPECT_EQ(sum(x).ndim(), 0);
  EXPECT_EQ(sum(x).dtype(), DType::f32);
}

TEST(Reduction, KeepDims) {
  Tensor x = fx("x");
  Tensor k = sum(x, 1, true);
  EXPECT_EQ(k.shape(), (Shape{3, 1, 5}));
  EXPECT_TRUE(all_close(reshape(k, {3, 5}), fx("sum_1"), kRtol, kAtol));
  EXPECT_EQ(sum(x, true).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(max(x, {0, 2}, true).shape(), (Shape{1, 4, 1}));
  EXPECT_EQ(argmax(x, 2, true).shape(), (Shape{3, 4, 1}));
  EXPECT_EQ(argmax(x, true).shape(), (Shape{1, 1, 1}));
}

TEST(Reduction, EmptyAxesListReducesNothing) {
  // NumPy: axis=() returns x converted to the result dtype.
  Tensor x = fx("x");
  EXPECT_TRUE(all_equal(sum(x, std::vector<int>{}), x));
  EXPECT_TRUE(all_equal(max(x, std::vector<int>{}, true), x));
  Tensor s8 = fx("s8");
  EXPECT_TRUE(all_equal(sum(s8, std::vector<int>{}), astype(s8, DType::s64)));
  EXPECT_TRUE(all_equal(any(s8, std::vector<int>{}), astype(s8, DType::bool_)));
  EXPECT_TRUE(all_close(mean(s8, std::vector<int>{}), astype(s8, DType::f32), 0, 0));
}

TEST(Reduction, ProductMatchesNumPy) {
  // Products of at most 15 terms: a few ulp each (rtol 1e-6).
  Tensor x = fx("x");
  EXPECT_TRUE(all_close(product(x, 1), fx("product_1"), 1e-6, 0));
  EXPECT_TRUE(all_close(product(x, {0, 2}), fx("product_02"), 1e-6, 0));
}

TEST(Reduction, MaxMinPropagateNaNAndInfinities) {
  // Oracle: NumPy goldens (exact: max/min pick an element).
  Tensor xn = fx("xnan");
  EXPECT_TRUE(all_close(max(xn, 0), fx("max_0"), 0, 0));
  EXPECT_TRUE(all_close(min(xn, 0), fx("min_0"), 0, 0));
  EXPECT_TRUE(all_close(max(xn, 2), fx("max_2"), 0, 0));
  EXPECT_TRUE(all_close(min(xn, 2), fx("min_2"), 0, 0));
  EXPECT_TRUE(all_close(max(xn, {1, 2}), fx("max_12"), 0, 0));
  EXPECT_TRUE(all_close(min(xn, {-1, -2}), fx("min_12"), 0, 0));
  EXPECT_TRUE(std::isnan(max(xn).item<float>()));
  // NaN first, last, alone.
  EXPECT_TRUE(std::isnan(max(tensor<float>({NAN, 1, 2})).item<float>()));
  EXPECT_TRUE(std::isnan(min(tensor<double>({1, 2, NAN})).item<double>()));
  EXPECT_EQ(max(tensor<float>({-INFINITY, -INFINITY})).item<float>(), -INFINITY);
  // Contiguous runs of 16 or more go through a vectorized loop; planted values.
  std::vector<double> d(100);
  for (int i = 0; i < 100; ++i) d[i] = (i * 37) % 101 - 50.0;
  d[63] = 75;
  d[20] = -80;
  EXPECT_EQ(max(tensor(d)).item<double>(), 75.0);
  EXPECT_EQ(min(tensor(d)).item<double>(), -80.0);
  d[99] = NAN;  // in the scalar tail
  EXPECT_TRUE(std::isnan(max(tensor(d)).item<double>()));
  d[99] = 0;
  d[5] = NAN;  // in the vector body
  EXPECT_TRUE(std::isnan(min(tensor(d)).item<double>()));
}

TEST(Reduction, ArgMaxArgMinNaNAndTies) {
  // Oracle: NumPy goldens; first occurrence wins and NaN counts as the extreme.
  Tensor xn = fx("xnan");
  EXPECT_TRUE(all_equal(argmax(xn, 2), fx("argmax_xnan_2")));
  EXPECT_TRUE(all_equal(argmin(xn, 1), fx("argmin_xnan_1")));
  Tensor t = fx("ties");
  EXPECT_TRUE(all_equal(argmax(t, 0), fx("argmax_ties_0")));
  EXPECT_TRUE(all_equal(argmax(t, 1), fx("argmax_ties_1")));
  EXPECT_TRUE(all_equal(argmin(t, 0), fx("argmin_ties_0")));
  EXPECT_TRUE(all_equal(argmin(t, -1), fx("argmin_ties_1")));
  EXPECT_TRUE(all_equal(argmax(t), fx0("argmax_ties_flat")));
  // Hand-computed: the first NaN wins over later NaNs and over larger values.
  Tensor v = tensor<float>({1, NAN, 3, NAN});
  EXPECT_EQ(argmax(v).item<std::int64_t>(), 1);
  EXPECT_EQ(argmin(v).item<std::int64_t>(), 1);
  EXPECT_EQ(argmax(tensor<bool>({false, true, true})).item<std::int64_t>(), 1);
  EXPECT_EQ(argmin(tensor<std::uint8_t>({3, 0, 0})).item<std::int64_t>(), 1);
  EXPECT_EQ(argmax(scalar_tensor(4.0)).item<std::int64_t>(), 0);  // 0-d: index 0
  // Contiguous rows of 64 or more take another path (a vectorized max, then the first
  // position holding it); hand-planted ties and NaNs.
  std::vector<float> r(400, 1.0f);
  r[150] = r[170] = 5;
  r[200 + 10] = 9;
  r[200 + 30] = r[200 + 100] = NAN;
  r[200 + 199] = -3;
  Tensor rows = tensor(r, {2, 200});
  EXPECT_EQ(argmax(rows, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{150, 30}));
  EXPECT_EQ(argmin(rows, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 30}));
  std::vector<std::int32_t> ri(100, 7);
  ri[64] = ri[99] = -2;
  ri[70] = 8;
  EXPECT_EQ(argmin(tensor(ri)).item<std::int64_t>(), 64);
  EXPECT_EQ(argmax(tensor(ri)).item<std::int64_t>(), 70);
}

TEST(Reduction, IntegersWidenAndWrap) {
  Tensor s8 = fx("s8");
  Tensor s = sum(s8, 1);
  EXPECT_EQ(s.dtype(), DType::s64);
  EXPECT_TRUE(all_equal(s, fx("sum_s8_1")));
  EXPECT_TRUE(all_equal(product(s8, 0), fx("product_s8_0")));
  EXPECT_TRUE(all_equal(max(s8, 0), fx("max_s8_0")));
  Tensor u16 = fx("u16");
  EXPECT_TRUE(all_equal(sum(u16, 0), fx("sum_u16_0")));
  EXPECT_TRUE(all_equal(min(u16, 1), fx("min_u16_1")));
  // Hand-computed: s64 sums wrap modulo 2^64 (no UB); u8 sums widen to u64.
  constexpr auto big = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(sum(tensor<std::int64_t>({big, 1})).item<std::int64_t>(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(product(tensor<std::int64_t>({big, 2})).item<std::int64_t>(), -2);
  Tensor u8 = tensor<std::uint8_t>({255, 255, 255});
  EXPECT_EQ(sum(u8).dtype(), DType::u64);
  EXPECT_EQ(sum(u8).item<std::uint64_t>(), 765u);
  EXPECT_EQ(product(tensor<std::uint32_t>({65536, 65536})).item<std::uint64_t>(), 1ull << 32);
  EXPECT_EQ(sum(tensor<std::int32_t>({-5, 2})).item<std::int64_t>(), -3);
}

TEST(Reduction, BoolReductions) {
  Tensor b = fx("bool");
  EXPECT_TRUE(all_equal(all(b, 1), fx("all_bool_1")));
  EXPECT_TRUE(all_equal(any(b, 0), fx("any_bool_0")));
  EXPECT_TRUE(all_equal(sum(b), fx0("sum_bool_all")));
  EXPECT_EQ(max(b).dtype(), DType::bool_);
  EXPECT_TRUE(max(b).item<bool>());
  EXPECT_FALSE(min(tensor<bool>({true, false})).item<bool>());
  // Hand-computed: NaN is nonzero (true); -0.0 is zero; complex is true if either part is.
  EXPECT_TRUE(all(tensor<float>({NAN, 1.0f})).item<bool>());
  EXPECT_FALSE(any(tensor<float>({-0.0f, 0.0f})).item<bool>());
  EXPECT_TRUE(any(tensor<c64>({c64(0, 0), c64(0, 1)})).item<bool>());
  EXPECT_EQ(all(tensor<std::int32_t>({1, 2, 0}, {3})).dtype(), DType::bool_);
  EXPECT_FALSE(all(tensor<std::int32_t>({1, 2, 0})).item<bool>());
}

TEST(Reduction, HalfTypesAccumulateInF32) {
  // Oracle: NumPy f32 sum of the half values, rounded once; the f32 sums may differ
  // from NumPy's grouping by a few f32 ulp, which can move the final rounding by one
  // half ulp (rtol 1e-3 for f16, 8e-3 for bf16).
  Tensor h = fx("f16");
  Tensor s = sum(h, 1);
  EXPECT_EQ(s.dtype(), DType::f16);
  EXPECT_TRUE(all_close(s, fx("sum_f16_1"), 1e-3, 1e-3));
  EXPECT_TRUE(all_close(mean(h, 1), fx("mean_f16_1"), 1e-3, 1e-4));
  Tensor b = fx_bf16("bf16");
  EXPECT_EQ(sum(b, 1).dtype(), DType::bf16);
  EXPECT_TRUE(all_close(sum(b, 1), fx_bf16("sum_bf16_1"), 8e-3, 1e-2));
  EXPECT_TRUE(all_equal(max(b, 1), fx_bf16("max_bf16_1")));
  // Hand-computed: 4096 ones in bf16 would stall at 256 with bf16 accumulation.
  EXPECT_EQ(sum(ones({4096}, DType::bf16)).item<float>(), 4096.0f);
  EXPECT_EQ(sum(ones({4096}, DType::f16)).item<float>(), 4096.0f);
}

TEST(Reduction, Complex) {
  // Oracle: NumPy goldens (c64, rtol 1e-6 for at most 4 terms).
  Tensor c = fx("c64");
  EXPECT_EQ(sum(c, 1).dtype(), DType::c64);
  EXPECT_TRUE(all_close(sum(c, 1), fx("sum_c64_1"), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(product(c, 0), fx("product_c64_0"), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(mean(c, 0), fx("mean_c64_0"), 1e-6, 1e-6));
  EXPECT_TRUE(any(c).item<bool>());
}

TEST(Reduction, Mean) {
  EXPECT_TRUE(all_close(mean(fx("x"), {0, 2}), fx("mean_02"), kRtol, 1e-6));
  Tensor m = mean(fx("s8"), 1);
  EXPECT_EQ(m.dtype(), DType::f32);
  EXPECT_TRUE(all_close(m, fx("mean_s8_1"), 1e-6, 0));
  EXPECT_EQ(mean(tensor<bool>({true, false, true, true}), 0).item<float>(), 0.75f);
  EXPECT_EQ(mean(fx("x"), -1, true).shape(), (Shape{3, 4, 1}));
  // Hand-computed: the mean of nothing is 0/0 = NaN.
  Tensor e = mean(zeros({0, 3}), 0);
  EXPECT_EQ(e.shape(), (Shape{3}));
  for (float v : e.to_vector<float>()) EXPECT_TRUE(std::isnan(v));
}

TEST(Reduction, EmptyTensors) {
  // NumPy identities: sum 0, product 1, all true, any false.
  Tensor z = zeros({0, 3});
  EXPECT_TRUE(all_equal(sum(z, 0), zeros({3})));
  EXPECT_TRUE(all_equal(product(z, 0), ones({3})));
  EXPECT_TRUE(all_equal(all(z, 0), full({3}, 1, DType::bool_)));
  EXPECT_TRUE(all_equal(any(z, 0), zeros({3}, DType::bool_)));
  EXPECT_EQ(sum(z, 1).shape(), (Shape{0}));
  EXPECT_EQ(max(z, 1).shape(), (Shape{0}));  // the empty axis is not reduced
  EXPECT_EQ(argmax(z, 1).shape(), (Shape{0}));
  EXPECT_EQ(sum(zeros({0}, DType::s32)).item<std::int64_t>(), 0);
  EXPECT_EQ(product(zeros({2, 0}, DType::u8)).item<std::uint64_t>(), 1u);
  // 0-d tensors reduce to themselves.
  Tensor s = scalar_tensor(2.5);
  EXPECT_EQ(sum(s).ndim(), 0);
  EXPECT_EQ(sum(s).item<float>(), 2.5f);
  EXPECT_EQ(min(s, true).item<float>(), 2.5f);
}

TEST(Reduction, NonContiguousInputs) {
  Tensor x = fx("x");
  Tensor xt = transpose(x, {2, 0, 1});
  EXPECT_TRUE(all_close(sum(xt, 1), fx("sum_transposed"), kRtol, kAtol));
  EXPECT_TRUE(all_close(max(xt, {0, 2}), fx("max_transposed"), 0, 0));
  Tensor xs = slice(x, {0, 0, 4}, {3, 4, -6}, {1, 2, -1});  // x[:, ::2, ::-1]
  EXPECT_TRUE(all_close(sum(xs, 2), fx("sum_sliced"), kRtol, kAtol));
  // Hand-computed: a broadcast row summed over 1000 copies is 1000 x the row (exact).
  Tensor row = tensor<float>({1, -2, 0.5f, 3, 4});
  EXPECT_TRUE(all_equal(sum(broadcast_to(row, {1000, 5}), 0),
                        tensor<float>({1000, -2000, 500, 3000, 4000})));
  EXPECT_TRUE(all_equal(sum(broadcast_to(row, {3, 5}), 1), tensor<float>({6.5f, 6.5f, 6.5f})));
  EXPECT_TRUE(all_equal(argmax(broadcast_to(row, {3, 5}), 1), tensor<std::int64_t>({4, 4, 4})));
  EXPECT_TRUE(all_equal(argmin(broadcast_to(reshape(row, {5, 1}), {5, 3}), 0),
                        tensor<std::int64_t>({1, 1, 1})));
}

// Integer-valued floats in [-8, 8]: every partial sum below 2^24 is exact in f32, so
// any summation order must reproduce the int64 sum exactly.
std::vector<float> exact_data(std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 7919) % 17 - 8);
  return v;
}

TEST(Reduction, LargeExactSumsOnEveryLoopOrder) {
  // Full reduction (split into parts), last axis (runs), first axis (row blocks), a
  // first axis with few outputs (row blocks split), and a transposed view.
  const std::int64_t n = 1 << 20;
  auto v = exact_data(n);
  Tensor x = tensor(v);
  EXPECT_EQ(sum(x).item<double>(), std::accumulate(v.begin(), v.end(), 0.0));

  auto check = [&](std::int64_t rows, std::int64_t cols) {
    Tensor m = reshape(x, {rows, cols});
    std::vector<double> by_row(rows, 0.0), by_col(cols, 0.0);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) {
        by_row[r] += v[r * cols + c];
        by_col[c] += v[r * cols + c];
      }
    EXPECT_EQ(sum(m, 1).to_vector<double>(), by_row) << rows << "x" << cols;
    EXPECT_EQ(sum(m, 0).to_vector<double>(), by_col) << rows << "x" << cols;
    EXPECT_EQ(sum(transpose(m), 0).to_vector<double>(), by_row) << rows << "x" << cols;
    EXPECT_EQ(sum(transpose(m), 1).to_vector<double>(), by_col) << rows << "x" << cols;
  };
  check(512, 2048);
  check(1 << 18, 4);
  check(4, 1 << 18);
  check(1 << 16, 16);
  // Integer sums on the split path.
  Tensor xi = astype(x, DType::s32);
  EXPECT_EQ(sum(xi).item<std::int64_t>(),
            static_cast<std::int64_t>(std::accumulate(v.begin(), v.end(), 0.0)));
}

TEST(Reduction, PairwiseSumAccuracy) {
  // 2^20 values in [0, 1): a sequential f32 sum drifts by ~1e-4 relative; pairwise
  // summation stays within O(log n) eps. Oracle: the f64 sum of the same values.
  const std::int64_t n = 1 << 20;
  std::vector<float> v(n);
  std::uint32_t s = 12345;
  double ref = 0;
  for (auto& e : v) {
    s = s * 1664525u + 1013904223u;
    e = static_cast<float>(s >> 8) * (1.0f / 16777216.0f);
    ref += e;
  }
  double got = sum(tensor(v)).item<double>();
  EXPECT_NEAR(got, ref, ref * 2e-6);
  double got_rows = sum(sum(reshape(tensor(v), {1024, 1024}), 1)).item<double>();
  EXPECT_NEAR(got_rows, ref, ref * 2e-6);
}

TEST(Reduction, LargeArgMaxAndMax) {
  // Hand-planted extremes in long scans (split scans) and in row blocks.
  const std::int64_t n = 1 << 19;
  auto v = exact_data(n);
  v[1000] = 50;
  v[300000] = 50;  // a tie later: the first wins
  v[400000] = -50;
  EXPECT_EQ(argmax(tensor(v)).item<std::int64_t>(), 1000);
  EXPECT_EQ(argmin(tensor(v)).item<std::int64_t>(), 400000);
  EXPECT_EQ(max(tensor(v)).item<float>(), 50.0f);
  v[350000] = NAN;
  v[360000] = NAN;
  EXPECT_EQ(argmax(tensor(v)).item<std::int64_t>(), 350000);
  EXPECT_EQ(argmin(tensor(v)).item<std::int64_t>(), 350000);
  EXPECT_TRUE(std::isnan(max(tensor(v)).item<float>()));
  EXPECT_TRUE(std::isnan(min(tensor(v)).item<float>()));

  // Row blocks: argmax over axis 0 of (1024, 512): column c has its max at row c*7%1024.
  const std::int64_t rows = 1024, cols = 512;
  std::vector<float> m(rows * cols);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) m[r * cols + c] = static_cast<float>((r + c) % 13);
  std::vector<std::int64_t> want(cols);
  for (std::int64_t c = 0; c < cols; ++c) {
    want[c] = (c * 7) % rows;
    m[want[c] * cols + c] = 100;
  }
  m[5 * cols + 3] = NAN;  // column 3: the NaN at row 5 wins
  want[3] = 5;
  Tensor t = tensor(m, {rows, cols});
  EXPECT_EQ(argmax(t, 0).to_vector<std::int64_t>(), want);
  EXPECT_EQ(argmax(transpose(t), 1).to_vector<std::int64_t>(), want);
  std::vector<float> colmax = max(t, 0).to_vector<float>();
  EXPECT_TRUE(std::isnan(colmax[3]));
  EXPECT_EQ(colmax[4], 100.0f);
}

TEST(Reduction, Errors) {
  Tensor x = fx("x");
  EXPECT_EMILY_ERROR(sum(x, {0, 0}), ShapeError, "sum");
  EXPECT_EMILY_ERROR(sum(x, {0, -3}), ShapeError, "sum");
  EXPECT_EMILY_ERROR(product(x, 3), ShapeError, "product");
  EXPECT_EMILY_ERROR(max(x, -4), ShapeError, "max");
  EXPECT_EMILY_ERROR(min(x, {1, 1}), ShapeError, "min");
  EXPECT_EMILY_ERROR(all(x, 5), ShapeError, "all");
  EXPECT_EMILY_ERROR(any(x, {7}), ShapeError, "any");
  EXPECT_EMILY_ERROR(mean(x, {2, -1}), ShapeError, "mean");
  EXPECT_EMILY_ERROR(mean(x, 3), ShapeError, "mean");
  EXPECT_EMILY_ERROR(argmax(x, 3), ShapeError, "argmax");
  EXPECT_EMILY_ERROR(argmin(scalar_tensor(1.0), 0), ShapeError, "argmin");
  // Zero-size reductions without an identity.
  EXPECT_EMILY_ERROR(max(zeros({0, 3}), 0), ShapeError, "max");
  EXPECT_EMILY_ERROR(min(zeros({0})), ShapeError, "min");
  EXPECT_EMILY_ERROR(max(zeros({0, 0}), 1), ShapeError, "max");  // as NumPy
  EXPECT_EMILY_ERROR(argmax(zeros({2, 0}), 1), ShapeError, "argmax");
  EXPECT_EMILY_ERROR(argmin(zeros({0})), ShapeError, "argmin");
  // Complex numbers have no order.
  Tensor c = fx("c64");
  EXPECT_EMILY_ERROR(max(c), DTypeError, "max");
  EXPECT_EMILY_ERROR(min(c, 0), DTypeError, "min");
  EXPECT_EMILY_ERROR(argmax(c), DTypeError, "argmax");
  EXPECT_EMILY_ERROR(argmin(c, 1), DTypeError, "argmin");
  // Undefined input.
  EXPECT_EMILY_ERROR(sum(Tensor()), ValueError, "sum");
  EXPECT_EMILY_ERROR(mean(Tensor(), 0), ValueError, "mean");
  EXPECT_EMILY_ERROR(argmax(Tensor()), ValueError, "argmax");
}

}  // namespace
}  // namespace emily
