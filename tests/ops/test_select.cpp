// clip, isclose, allclose, scalar_like and the arithmetic operators. Oracles: NumPy
// goldens from scripts/fixtures/elementwise.py (np.isclose, np.clip) and hand-computed
// values.
#include <cmath>
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor golden(const std::string& name) {
  return testing::op_fixture("elementwise", name);
}

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(ScalarLike, TakesTheTensorsDtype) {
  // Oracle: the rule of ops.h (a fraction, inf or NaN with an integer/bool tensor gives
  // f32; a whole number with a bool tensor gives s32; otherwise the tensor's dtype, and a
  // whole number outside an integer dtype's range is refused, as in NumPy 2).
  Tensor s32 = tensor<std::int32_t>({1});
  Tensor b = tensor<bf16>({bf16(1.0f)});
  Tensor bl = tensor<bool>({true});
  EXPECT_EQ(scalar_like(b, 0.5).dtype(), DType::bf16);
  EXPECT_EQ(scalar_like(s32, 2.0).dtype(), DType::s32);
  EXPECT_EQ(scalar_like(s32, 2.0).item<int>(), 2);
  EXPECT_EQ(scalar_like(s32, 2.5).dtype(), DType::f32);
  EXPECT_EQ(scalar_like(s32, 2.5).item<float>(), 2.5f);
  EXPECT_EQ(scalar_like(s32, INFINITY).dtype(), DType::f32);
  EXPECT_EQ(scalar_like(s32, NAN).dtype(), DType::f32);
  EXPECT_EQ(scalar_like(bl, 1.0).dtype(), DType::s32);
  EXPECT_EQ((bl + 1.0).item<std::int32_t>(), 2);    // NumPy: True + 1 == 2
  EXPECT_FLOAT_EQ((bl / 2.0).item<float>(), 0.5f);  // NumPy: True / 2 == 0.5
  EXPECT_EMILY_ERROR(scalar_like(s32, 1e10), ValueError, "scalar_like");
  EXPECT_EMILY_ERROR(scalar_like(tensor<std::uint8_t>({1}), -1.0), ValueError, "scalar_like");
  EXPECT_EMILY_ERROR(scalar_like(tensor<std::int64_t>({1}), 0x1p63), ValueError, "scalar_like");
  EXPECT_EQ(scalar_like(tensor<std::uint8_t>({1}), 255.0).item<std::uint8_t>(), 255);
  EXPECT_EQ(scalar_like(bl, 0.5).dtype(), DType::f32);
  EXPECT_EQ(scalar_like(tensor<c64>({c64(1, 1)}), -3.5).item<c64>(), c64(-3.5f, 0));
  EXPECT_EQ(scalar_like(s32, 1.0).ndim(), 0);
  EXPECT_EMILY_ERROR(scalar_like(Tensor(), 1.0), ValueError, "scalar_like");
}

TEST(Operators, ScalarsKeepTheTensorsDtype) {
  // Hand-computed values; dtypes from the scalar_like rule.
  Tensor h = tensor<bf16>({bf16(1.0f), bf16(-2.0f)});
  Tensor y = h * 0.5;
  EXPECT_EQ(y.dtype(), DType::bf16);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0.5f, -1.0f}));
  Tensor i = tensor<std::int32_t>({3, -4});
  EXPECT_EQ((i + 1.0).dtype(), DType::s32);
  EXPECT_EQ((i + 1.0).to_vector<int>(), (std::vector<int>{4, -3}));
  EXPECT_EQ((i * 0.5).dtype(), DType::f32);
  EXPECT_EQ((i * 0.5).to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ((10.0 - i).to_vector<int>(), (std::vector<int>{7, 14}));
  EXPECT_EQ((i - 1.0).to_vector<int>(), (std::vector<int>{2, -5}));
  EXPECT_EQ((2.0 * i).to_vector<int>(), (std::vector<int>{6, -8}));
  EXPECT_EQ((i / 2.0).to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));  // divide: f32
  EXPECT_EQ((12.0 / i).to_vector<float>(), (std::vector<float>{4.0f, -3.0f}));
  EXPECT_EQ((1.0 + i).to_vector<int>(), (std::vector<int>{4, -3}));
  Tensor f = tensor<float>({1, 2});
  Tensor g = tensor<float>({4, 8});
  EXPECT_EQ((f + g).to_vector<float>(), (std::vector<float>{5, 10}));
  EXPECT_EQ((f - g).to_vector<float>(), (std::vector<float>{-3, -6}));
  EXPECT_EQ((f * g).to_vector<float>(), (std::vector<float>{4, 16}));
  EXPECT_EQ((f / g).to_vector<float>(), (std::vector<float>{0.25f, 0.25f}));
  EXPECT_EQ((-f).to_vector<float>(), (std::vector<float>{-1, -2}));
  EXPECT_EMILY_ERROR(f + zeros({3}), ShapeError, "add");
}

TEST(Clip, MatchesNumPy) {
  // Oracle: np.minimum(np.maximum(x, lo), hi) with broadcast bounds (a NaN in x and in
  // lo propagate) and np.clip with scalar bounds; exact.
  Tensor x = golden("clip_x"), lo = golden("clip_lo"), hi = golden("clip_hi");
  EXPECT_TRUE(all_close(clip(x, lo, hi), golden("clip_tensor"), 0, 0));
  EXPECT_TRUE(all_close(clip(x, -1.5, 2.0), golden("clip_scalar"), 0, 0));
  // One bound only (hand-checked: values below -1.5 move up, the rest stay).
  Tensor only_low = clip(x, scalar_like(x, -1.5), std::nullopt);
  EXPECT_TRUE(all_close(only_low, maximum(x, scalar_tensor(-1.5)), 0, 0));
  EXPECT_EQ(clip(x, std::nullopt, std::nullopt).buffer(), x.buffer());
}

TEST(Clip, DtypesAndEdges) {
  // Hand-computed: integer tensors keep their dtype with integral bounds; a fractional
  // bound promotes to f32; the result dtype is promote(x, low, high).
  Tensor i = tensor<std::int32_t>({-5, 0, 7});
  EXPECT_EQ(clip(i, -1, 3).dtype(), DType::s32);
  EXPECT_EQ(clip(i, -1, 3).to_vector<int>(), (std::vector<int>{-1, 0, 3}));
  EXPECT_EQ(clip(i, -1.5, 3).dtype(), DType::f32);
  EXPECT_EQ(clip(i, -1.5, 3).to_vector<float>(), (std::vector<float>{-1.5f, 0, 3}));
  Tensor u = tensor<std::uint8_t>({0, 200});
  EXPECT_EQ(clip(u, tensor<std::int8_t>({1}), std::nullopt).dtype(), DType::s16);
  // low > high gives high everywhere (as NumPy).
  EXPECT_EQ(clip(tensor<float>({-3, 0, 3}), 2.0, 1.0).to_vector<float>(),
            (std::vector<float>{1, 1, 1}));
  // NaN passes through; the result broadcasts over all three shapes.
  auto v = clip(tensor<float>({kNan, kInf}), -1.0, 1.0).to_vector<float>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 1.0f);
  EXPECT_EQ(clip(zeros({3, 1}), zeros({1, 4}), ones({2, 1, 1})).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(clip(zeros({0, 2}), -1.0, 1.0).shape(), (Shape{0, 2}));
}

TEST(Clip, Errors) {
  Tensor c = tensor<c64>({c64(1, 1)});
  EXPECT_EMILY_ERROR(clip(c, -1.0, 1.0), DTypeError, "clip");
  EXPECT_EMILY_ERROR(clip(zeros({3}), zeros({2}), std::nullopt), ShapeError, "clip");
  EXPECT_EMILY_ERROR(clip(zeros({3}), std::nullopt, zeros({4})), ShapeError, "clip");
  EXPECT_EMILY_ERROR(clip(Tensor(), std::nullopt, std::nullopt), ValueError, "clip");
  EXPECT_EMILY_ERROR(clip(zeros({3}), Tensor(), std::nullopt), ValueError, "clip");
  EXPECT_EMILY_ERROR(clip(Tensor(), 0.0, 1.0), ValueError, "clip");
}

TEST(IsClose, MatchesNumPy) {
  // Oracle: np.isclose on f32 (infinities equal only to themselves, NaN only with
  // equal_nan, values on both sides of the default and a loose tolerance); exact bools.
  Tensor a = golden("isclose_a"), b = golden("isclose_b");
  EXPECT_TRUE(all_equal(isclose(a, b), golden("isclose_default")));
  EXPECT_TRUE(all_equal(isclose(a, b, 1e-5, 1e-8, true), golden("isclose_equal_nan")));
  EXPECT_TRUE(all_equal(isclose(a, b, 0.3, 0.01), golden("isclose_loose")));
}

TEST(IsClose, OtherDtypesAndBroadcasting) {
  // Hand-computed. Integers compare in f64 (|a - b| <= atol + rtol |b|); f16 in f32,
  // so the default atol does not vanish; c64 by magnitude of the difference.
  Tensor i = tensor<std::int64_t>({100000, 100000, 5});
  Tensor j = tensor<std::int64_t>({100001, 100002, 5});
  EXPECT_TRUE(all_equal(isclose(i, j), tensor<bool>({true, false, true})));
  Tensor h = tensor<f16>({f16(1.0f), f16(1.0f)});
  Tensor hb = tensor<f16>({f16(1.0f), f16(1.0009765625f)});  // next f16 after 1
  EXPECT_TRUE(all_equal(isclose(h, hb), tensor<bool>({true, false})));
  EXPECT_TRUE(all_equal(isclose(h, hb, 1e-3), tensor<bool>({true, true})));
  Tensor c = tensor<c64>({c64(1, 1), c64(1, 1), c64(kInf, 0)});
  Tensor d = tensor<c64>({c64(1, 1.000001f), c64(1, 1.1f), c64(kInf, 0)});
  EXPECT_TRUE(all_equal(isclose(c, d), tensor<bool>({true, false, true})));
  Tensor m = isclose(reshape(arange(0, 6, 1, DType::f32), {2, 3}), tensor<float>({0, 1, 5}));
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_equal(m, tensor<bool>({true, true, false, false, false, true}, {2, 3})));
}

TEST(IsClose, Errors) {
  Tensor x = zeros({3});
  EXPECT_EMILY_ERROR(isclose(x, x, -1e-5), ValueError, "isclose");
  EXPECT_EMILY_ERROR(isclose(x, x, 1e-5, -1.0), ValueError, "isclose");
  EXPECT_EMILY_ERROR(isclose(x, x, NAN), ValueError, "isclose");
  EXPECT_EMILY_ERROR(isclose(x, zeros({2})), ShapeError, "isclose");
  EXPECT_EMILY_ERROR(isclose(Tensor(), x), ValueError, "isclose");
}

TEST(AllClose, IsAllOfIsClose) {
  // Oracle: all(isclose) of the cases above, hand-checked; a 0-d bool.
  Tensor a = tensor<float>({1.0f, 2.0f, kNan});
  Tensor b = tensor<float>({1.000001f, 2.0f, kNan});
  Tensor r = allclose(a, b);
  EXPECT_EQ(r.ndim(), 0);
  EXPECT_EQ(r.dtype(), DType::bool_);
  EXPECT_FALSE(r.item<bool>());  // NaN != NaN by default
  EXPECT_TRUE(allclose(a, b, 1e-5, 1e-8, true).item<bool>());
  EXPECT_FALSE(allclose(tensor<float>({1.0f, 2.0f}), tensor<float>({1.0f, 2.1f})).item<bool>());
  EXPECT_TRUE(allclose(zeros({0}), zeros({0})).item<bool>());  // vacuously true
  EXPECT_TRUE(allclose(ones({2, 3}), ones({3})).item<bool>());
  EXPECT_EMILY_ERROR(allclose(a, b, -1.0), ValueError, "allclose");
  EXPECT_EMILY_ERROR(allclose(a, zeros({2})), ShapeError, "allclose");
  EXPECT_EMILY_ERROR(allclose(Tensor(), a), ValueError, "allclose");
}

}  // namespace
}  // namespace emily
