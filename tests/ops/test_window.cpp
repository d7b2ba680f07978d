// Windowed reductions and window_scatter_max/min. Goldens: scripts/fixtures/conv.py
// (jax.lax.reduce_window in float64 rounded to f32, int32 exact; SelectAndScatter by a
// NumPy loop cross-checked against JAX's max/min-pooling gradient). Other oracles are
// emily::sum and hand-computed values.
//
// Tolerances: window sums add at most 6 f32 terms in order, products 6 factors near 1:
// rtol 1e-6 with atol 1e-6 against the exact answer rounded. max/min and integer results
// are exact; scatters add at most a few f32 source values: rtol/atol 1e-6.
#include <cmath>
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::floats;

Tensor fx(const std::string& name) {
  return testing::fixture("conv/" + name + ".npy");
}

const WindowOptions kPooled{
    .strides = {1, 1, 2, 2}, .padding_low = {0, 0, 1, 0}, .padding_high = {0, 0, 1, 1}};

TEST(Window, ReductionsMatchJax) {
  // Oracle: jax.lax.reduce_window (float64, rounded to f32); max/min exact, sums rtol 1e-6.
  Tensor x = fx("wx");
  EXPECT_TRUE(all_equal(window_max(x, {1, 1, 3, 2}, kPooled), fx("wmax")));
  EXPECT_TRUE(all_close(window_sum(x, {1, 1, 3, 2}, kPooled), fx("wsum"), 1e-6, 1e-6));
  // Default strides are 1; window dilation 2 on axis 2.
  Tensor mn = window_min(x, {1, 1, 3, 2}, {.dilation = {1, 1, 2, 1}});
  EXPECT_EQ(mn.shape(), (Shape{2, 3, 3, 5}));
  EXPECT_TRUE(all_equal(mn, fx("wmin_dil")));
  Tensor p = window_product(fx("wpx"), {2, 3},
                            {.strides = {1, 2}, .padding_low = {1, 0}, .padding_high = {0, 1}});
  EXPECT_TRUE(all_close(p, fx("wprod"), 1e-6, 1e-6));
}

TEST(Window, IntegersKeepTheirDtype) {
  // Oracle: jax.lax.reduce_window on int32; exact.
  WindowOptions o{.strides = {2, 1}, .padding_low = {1, 0}, .padding_high = {0, 2}};
  Tensor s = window_sum(fx("wxi"), {2, 4}, o);
  EXPECT_EQ(s.dtype(), DType::s32);
  EXPECT_TRUE(all_equal(s, fx("wsum_i32")));
  EXPECT_TRUE(all_equal(window_max(fx("wxi"), {2, 4}, o), fx("wmax_i32")));
  // Sums wrap in the input dtype (hand-computed: 100 + 100 = 200 = -56 in s8).
  Tensor w = window_sum(tensor(std::vector<std::int8_t>{100, 100}), {2});
  EXPECT_EQ(w.item<int>(), -56);
}

TEST(Window, WholeAxisSumEqualsSum) {
  // Oracle: emily::sum over the same axis; rtol/atol 1e-6 (5 terms; sum is pairwise,
  // the window sequential).
  Tensor x = fx("wpx");  // (3, 5)
  EXPECT_TRUE(all_close(window_sum(x, {1, 5}), sum(x, 1, true), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(window_sum(x, {3, 1}), sum(x, 0, true), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(window_sum(x, {3, 5}), sum(x, true), 1e-6, 1e-6));
}

TEST(Window, PaddingHoldsTheIdentity) {
  // Hand-computed: windows of 2 over [1, 2] with two pads on each side; the first and
  // last windows lie wholly in the padding and give the identity.
  Tensor x = tensor(std::vector<float>{1, 2});
  WindowOptions o{.padding_low = {2}, .padding_high = {2}};
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(floats(window_sum(x, {2}, o)), (std::vector<float>{0, 1, 3, 2, 0}));
  EXPECT_EQ(floats(window_product(x, {2}, o)), (std::vector<float>{1, 1, 2, 2, 1}));
  EXPECT_EQ(floats(window_max(x, {2}, o)), (std::vector<float>{-inf, 1, 2, 2, -inf}));
  EXPECT_EQ(floats(window_min(x, {2}, o)), (std::vector<float>{inf, 1, 1, 2, inf}));
  // Integers pad with their lowest / highest value.
  Tensor xi = tensor(std::vector<std::int32_t>{-5, 7});
  auto mx = window_max(xi, {2}, o).to_vector<std::int32_t>();
  EXPECT_EQ(mx.front(), std::numeric_limits<std::int32_t>::min());
  auto mn = window_min(xi, {2}, o).to_vector<std::int32_t>();
  EXPECT_EQ(mn.back(), std::numeric_limits<std::int32_t>::max());
  // A window that does not fit gives an empty axis.
  EXPECT_EQ(window_max(x, {3}).shape(), (Shape{0}));
  // Negative padding crops (hand-computed: [2, 3] then windows of 1).
  EXPECT_EQ(floats(window_sum(tensor(std::vector<float>{1, 2, 3, 4}), {1},
                              {.padding_low = {-1}, .padding_high = {-1}})),
            (std::vector<float>{2, 3}));
}

TEST(Window, NanPropagatesInMaxAndMin) {
  // Hand-computed, as emily::max: any NaN in a window makes its max and min NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = tensor(std::vector<float>{1, nan, 3, 0, 5});
  auto mx = floats(window_max(x, {2}));
  auto mn = floats(window_min(x, {2}));
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]) && std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mx[2], 3.0f);
  EXPECT_EQ(mx[3], 5.0f);
  EXPECT_EQ(mn[2], 0.0f);
}

TEST(Window, HalfPrecisionAccumulatesInF32) {
  // Oracle: the f32 window sum of the same values rounded once to the half type; the
  // kernel adds in f32 in the same order, so the results are identical.
  for (DType dt : {DType::f16, DType::bf16}) {
    Tensor x = astype(fx("wx"), dt);
    Tensor y = window_sum(x, {1, 1, 3, 2}, kPooled);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_equal(y, astype(window_sum(astype(x, DType::f32), {1, 1, 3, 2}, kPooled), dt)))
        << name(dt);
    EXPECT_TRUE(all_equal(window_max(x, {1, 1, 3, 2}, kPooled),
                          astype(window_max(astype(x, DType::f32), {1, 1, 3, 2}, kPooled), dt)));
  }
}

TEST(Window, StridedInputs) {
  // Oracle: the same reduction of a contiguous copy; exact.
  Tensor x = transpose(fx("wx"), {3, 1, 2, 0});  // (6, 3, 7, 2)
  ASSERT_FALSE(x.is_contiguous());
  WindowOptions o{.strides = {2, 1, 3, 1}, .padding_low = {1, 0, 0, 0}};
  EXPECT_TRUE(
      all_equal(window_max(x, {2, 2, 3, 1}, o), window_max(contiguous(x), {2, 2, 3, 1}, o)));
  EXPECT_TRUE(
      all_equal(window_sum(x, {2, 2, 3, 1}, o), window_sum(contiguous(x), {2, 2, 3, 1}, o)));
}

TEST(Window, Bool) {
  // Hand-computed: max is "any", min is "all".
  Tensor b = tensor(std::vector<bool>{false, true, true, false, false});
  EXPECT_EQ(window_max(b, {2}).to_vector<int>(), (std::vector<int>{1, 1, 1, 0}));
  EXPECT_EQ(window_min(b, {2}).to_vector<int>(), (std::vector<int>{0, 1, 0, 0}));
}

// ---- window_scatter_max / window_scatter_min --------------------------------------------------

TEST(WindowScatter, MatchesSelectAndScatter) {
  // Oracle: NumPy SelectAndScatter loop (agrees with JAX's pooling gradient on this
  // tie-free data); init 0.5, overlapping windows; rtol/atol 1e-6.
  WindowOptions o{.strides = {1, 2, 2}, .padding_low = {0, 1, 1}, .padding_high = {0, 1, 0}};
  Tensor x = fx("sx"), src = fx("ssrc"), init = scalar_tensor(0.5);
  Tensor ymax = window_scatter_max(x, src, init, {1, 3, 3}, o);
  EXPECT_EQ(ymax.shape(), x.shape());
  EXPECT_TRUE(all_close(ymax, fx("sscatter_max"), 1e-6, 1e-6));
  EXPECT_TRUE(
      all_close(window_scatter_min(x, src, init, {1, 3, 3}, o), fx("sscatter_min"), 1e-6, 1e-6));
  // The source matches window_max's output shape.
  EXPECT_EQ(window_max(x, {1, 3, 3}, o).shape(), src.shape());
}

TEST(WindowScatter, TiesGoToTheFirstPosition) {
  // Oracle: NumPy loop selecting the first max/min in row-major window order; exact
  // (small integers). x is s32, source f32, init f32: the result is f32.
  Tensor x = fx("tx"), src = fx("tsrc"), init = scalar_tensor(0.0);
  Tensor y = window_scatter_max(x, src, init, {2, 2});
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_TRUE(all_equal(y, fx("tscatter_max")));
  EXPECT_TRUE(all_equal(window_scatter_min(x, src, init, {2, 2}), fx("tscatter_min")));
  // Hand-computed: all equal, windows of 2 at stride 1 over 3 elements: each window's
  // value goes to its first element.
  Tensor e = window_scatter_max(zeros({3}), tensor(std::vector<float>{10, 20}), init, {2});
  EXPECT_EQ(floats(e), (std::vector<float>{10, 20, 0}));
}

TEST(WindowScatter, NanAndPaddingAndDtypes) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Hand-computed: NaN counts as the max and the min; the first NaN wins.
  Tensor x = tensor(std::vector<float>{1, nan, 3, nan});
  Tensor src = tensor(std::vector<float>{1, 2, 4});
  Tensor init = scalar_tensor(0.0);
  EXPECT_EQ(floats(window_scatter_max(x, src, init, {2})), (std::vector<float>{0, 3, 0, 4}));
  EXPECT_EQ(floats(window_scatter_min(x, src, init, {2})), (std::vector<float>{0, 3, 0, 4}));
  // Hand-computed: a window wholly in the padding drops its value; padding never wins
  // even against -inf.
  const float inf = std::numeric_limits<float>::infinity();
  Tensor xi = tensor(std::vector<float>{-inf, -inf});
  WindowOptions o{.padding_low = {2}, .padding_high = {1}};
  // Windows of 2 over [p, p, -inf, -inf, p]: the first lies in the padding.
  EXPECT_EQ(floats(window_scatter_max(xi, tensor(std::vector<float>{1, 2, 4, 8}), init, {2}, o)),
            (std::vector<float>{6, 8}));
  // Integer source and init stay integer; f16 source with f32 init promotes to f32.
  Tensor yi =
      window_scatter_max(tensor(std::vector<float>{1, 2}), tensor(std::vector<std::int32_t>{5}),
                         scalar_tensor(1, DType::s32), {2});
  EXPECT_EQ(yi.dtype(), DType::s32);
  EXPECT_EQ(yi.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 6}));
  Tensor yh = window_scatter_min(tensor(std::vector<float>{1, 2}),
                                 astype(tensor(std::vector<float>{5}), DType::f16), init, {2});
  EXPECT_EQ(yh.dtype(), DType::f32);
  EXPECT_EQ(floats(yh), (std::vector<float>{5, 0}));
}

// ---- errors -----------------------------------------------------------------------------------

TEST(Window, Errors) {
  Tensor x = zeros({4, 6});
  for (auto [fn, op] :
       {std::pair{&window_sum, "window_sum"}, std::pair{&window_product, "window_product"},
        std::pair{&window_max, "window_max"}, std::pair{&window_min, "window_min"}}) {
    EXPECT_EMILY_ERROR(fn(Tensor(), {1}, {}), Error, op);
    EXPECT_EMILY_ERROR(fn(x, {2}, {}), ShapeError, op);  // window rank
    EXPECT_EMILY_ERROR(fn(x, {2, 0}, {}), ValueError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.strides = {1, 0}}), ValueError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.strides = {1, -1}}), ValueError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.dilation = {0, 1}}), ValueError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.strides = {1}}), ShapeError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.padding_low = {1, 1, 1}}), ShapeError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.padding_high = {1}}), ShapeError, op);
    EXPECT_EMILY_ERROR(fn(x, {2, 2}, {.dilation = {1}}), ShapeError, op);
    EXPECT_EMILY_ERROR(fn(x, {1, 1}, {.padding_low = {-3, 0}, .padding_high = {-2, 0}}), ShapeError,
                       op);  // output size < 0
  }
  EXPECT_EMILY_ERROR(window_sum(zeros({3}, DType::bool_), {2}), DTypeError, "window_sum");
  EXPECT_EMILY_ERROR(window_product(zeros({3}, DType::bool_), {2}), DTypeError, "window_product");
  EXPECT_EMILY_ERROR(window_max(zeros({3}, DType::c64), {2}), DTypeError, "window_max");
  EXPECT_EMILY_ERROR(window_min(zeros({3}, DType::c64), {2}), DTypeError, "window_min");
}

TEST(WindowScatter, Errors) {
  Tensor x = zeros({4, 6}), src = zeros({3, 5}), init = scalar_tensor(0.0);
  for (auto [fn, op] : {std::pair{&window_scatter_max, "window_scatter_max"},
                        std::pair{&window_scatter_min, "window_scatter_min"}}) {
    EXPECT_NO_THROW(fn(x, src, init, {2, 2}, {}));
    EXPECT_EMILY_ERROR(fn(Tensor(), src, init, {2, 2}, {}), Error, op);
    EXPECT_EMILY_ERROR(fn(x, Tensor(), init, {2, 2}, {}), Error, op);
    EXPECT_EMILY_ERROR(fn(x, src, Tensor(), {2, 2}, {}), Error, op);
    EXPECT_EMILY_ERROR(fn(x, src, zeros({1}), {2, 2}, {}), ShapeError, op);      // init not 0-d
    EXPECT_EMILY_ERROR(fn(x, zeros({2, 5}), init, {2, 2}, {}), ShapeError, op);  // source shape
    EXPECT_EMILY_ERROR(fn(x, src, init, {2}, {}), ShapeError, op);               // window rank
    EXPECT_EMILY_ERROR(fn(x, src, init, {2, 2}, {.strides = {0, 1}}), ValueError, op);
    EXPECT_EMILY_ERROR(fn(x, src, init, {2, 2}, {.dilation = {1, 1, 1}}), ShapeError, op);
    EXPECT_EMILY_ERROR(fn(zeros({4, 6}, DType::c64), src, init, {2, 2}, {}), DTypeError, op);
    EXPECT_EMILY_ERROR(
        fn(x, zeros({3, 5}, DType::bool_), scalar_tensor(0, DType::bool_), {2, 2}, {}), DTypeError,
        op);
  }
}

}  // namespace
}  // namespace emily
