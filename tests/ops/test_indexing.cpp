// take and take_along_axis. Goldens: scripts/fixtures/shape.py (np.take,
// np.take_along_axis). Gathers only move values, so comparisons are exact.
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;
using testing::floats;
using testing::iota;

Tensor fx(const std::string& name) {
  return testing::op_fixture("shape", name);
}

constexpr DType kIndexTypes[] = {DType::u8, DType::u16, DType::u32, DType::u64,
                                 DType::s8, DType::s16, DType::s32, DType::s64};

// ---- take ---------------------------------------------------------------------------------

TEST(Take, MatchesNumPy) {
  // Oracle: np.take(x, idx, axis) with negative indices; np.take(x, idx) flattened.
  Tensor x = fx("take_x"), idx = fx("take_idx");
  EXPECT_TRUE(all_equal(take(x, idx, 1), fx("take_axis1")));
  EXPECT_TRUE(all_equal(take(x, idx, -1), fx("take_axis_neg1")));
  EXPECT_TRUE(all_equal(take(x, fx("take_flat_idx")), fx("take_flat")));
}

#ifndef EMILY_DEBUG_BOUNDS_CHECK
TEST(Take, OutOfRangeIndicesClamp) {
  // Oracle: np.take on indices clamped to [-n, n-1] then wrapped (shape.py: clamp).
  EXPECT_TRUE(all_equal(take(fx("take_x"), fx("take_wild_idx"), 2), fx("take_wild_axis2")));
  // Hand-computed: a u64 index past INT64_MAX still clamps to n - 1.
  Tensor big = tensor<std::uint64_t>({std::numeric_limits<std::uint64_t>::max(), 1});
  EXPECT_EQ(floats(take(iota({4}), big)), (std::vector<float>{3, 1}));
  Tensor low = tensor<std::int64_t>({std::numeric_limits<std::int64_t>::min()});
  EXPECT_EQ(floats(take(iota({4}), low)), (std::vector<float>{0}));
}
#else
TEST(Take, OutOfRangeIndicesRaiseInBoundsCheckBuilds) {
  EXPECT_EMILY_ERROR(take(iota({5}), tensor<std::int32_t>({1, 7}), 0), ValueError, "take");
  EXPECT_EMILY_ERROR(take(iota({5}), tensor<std::int32_t>({-6}), 0), ValueError, "take");
  EXPECT_EMILY_ERROR(take_along_axis(iota({5}), tensor<std::uint8_t>({5}), 0), ValueError,
                     "take_along_axis");
  try {
    take(iota({5}), tensor<std::int32_t>({7}), 0);
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "[take] index 7 is out of range for axis of size 5");
  }
}
#endif

TEST(Take, EveryValueAndIndexDtype) {
  // Oracle: the hand-picked positions [3, 0, -1 -> 3] of [0, 1, 2, 3].
  for (DType dt : kAllDTypes) {
    Tensor y = take(astype(tensor<float>({0, 1, 2, 3}), dt), tensor<std::int64_t>({3, 0, -1}), 0);
    EXPECT_TRUE(all_equal(y, astype(tensor<float>({3, 0, 3}), dt))) << name(dt);
  }
  for (DType it : kIndexTypes) {
    Tensor y = take(iota({2, 4}), astype(tensor<float>({2, 0}), it), 1);
    EXPECT_EQ(floats(y), (std::vector<float>{2, 0, 6, 4})) << name(it);
  }
}

TEST(Take, NonContiguousOperands) {
  // Hand-computed. x is a transposed view, the indices a reversed slice and a
  // broadcast view.
  Tensor x = transpose(iota({3, 4}));  // (4, 3): row r = [r, 4+r, 8+r]
  Tensor idx = slice(tensor<std::int32_t>({0, 1, 2, 3}), {2}, {-5}, {-2});  // [2, 0]
  EXPECT_EQ(floats(take(x, idx, 0)), (std::vector<float>{2, 6, 10, 0, 4, 8}));
  EXPECT_EQ(floats(take(x, idx, 1)), (std::vector<float>{8, 0, 9, 1, 10, 2, 11, 3}));
  Tensor bidx = broadcast_to(tensor<std::int32_t>({2}), {2, 2});
  Tensor y = take(x, bidx, 1);
  EXPECT_EQ(y.shape(), (Shape{4, 2, 2}));
  EXPECT_EQ(floats(slice(y, {1}, {2})), (std::vector<float>{9, 9, 9, 9}));
}

TEST(Take, ShapesOfScalarAndEmptyIndices) {
  // Output shape x.shape[:axis] + indices.shape + x.shape[axis+1:] (NumPy).
  Tensor x = iota({3, 4, 5});
  Tensor s = take(x, scalar_tensor(2, DType::s32), 1);
  EXPECT_EQ(s.shape(), (Shape{3, 5}));
  EXPECT_EQ(floats(s)[0], 10.0f);  // x[0, 2, 0]
  EXPECT_EQ(take(x, zeros({0, 2}, DType::s32), 2).shape(), (Shape{3, 4, 0, 2}));
  EXPECT_EQ(take(zeros({2, 0}), zeros({0}, DType::s64), 1).shape(), (Shape{2, 0}));
  EXPECT_EQ(take(scalar_tensor(7), tensor<std::int32_t>({0, 0})).to_vector<float>(),
            (std::vector<float>{7, 7}));
}

TEST(Take, LargeGatherRunsInParallel) {
  // Hand-computed: row r of x holds 64r + j, so y[i, j] = 64 * idx[i] + j.
  Tensor x = iota({1000, 64});
  std::vector<std::int32_t> idx(2500);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int32_t>((i * 7) % 1000);
  Tensor y = take(x, tensor(idx), 0);
  ASSERT_EQ(y.shape(), (Shape{2500, 64}));
  auto v = floats(y);
  bool ok = true;
  for (std::size_t i = 0; i < idx.size() && ok; ++i)
    for (std::size_t j = 0; j < 64 && ok; ++j) ok = v[i * 64 + j] == 64.0f * idx[i] + j;
  EXPECT_TRUE(ok);
}

TEST(Take, Errors) {
  Tensor x = iota({3, 4});
  EXPECT_EMILY_ERROR(take(x, tensor<float>({0}), 0), DTypeError, "take");
  EXPECT_EMILY_ERROR(take(x, tensor<bool>({true}), 0), DTypeError, "take");
  EXPECT_EMILY_ERROR(take(x, tensor<std::int32_t>({0}), 2), ShapeError, "take");
  EXPECT_EMILY_ERROR(take(scalar_tensor(1), tensor<std::int32_t>({0}), 0), ShapeError, "take");
  EXPECT_EMILY_ERROR(take(zeros({0, 2}), tensor<std::int32_t>({0}), 0), ValueError, "take");
  EXPECT_EMILY_ERROR(take(Tensor(), tensor<std::int32_t>({0})), ValueError, "take");
  EXPECT_EMILY_ERROR(take(x, Tensor(), 0), ValueError, "take");
}

// ---- take_along_axis ----------------------------------------------------------------------

TEST(TakeAlongAxis, MatchesNumPy) {
  // Oracle: np.take_along_axis, including NumPy's broadcasting of the other axes.
  Tensor x = fx("tal_x");
  EXPECT_TRUE(all_equal(take_along_axis(x, fx("tal_idx"), 1), fx("tal_axis1")));
  EXPECT_TRUE(all_equal(take_along_axis(x, fx("tal_idx"), -1), fx("tal_axis1")));
  EXPECT_TRUE(all_equal(take_along_axis(x, fx("tal_bidx"), 1), fx("tal_broadcast")));
  EXPECT_TRUE(all_equal(take_along_axis(x, fx("tal_cidx"), 0), fx("tal_axis0")));
}

TEST(TakeAlongAxis, BroadcastsXAndClamps) {
  // Hand-computed. x of shape (1, 4) broadcasts against indices of shape (2, 2).
  Tensor x = tensor<float>({10, 11, 12, 13}, {1, 4});
  Tensor idx = tensor<std::int8_t>({0, -1, 2, 1}, {2, 2});
  EXPECT_EQ(floats(take_along_axis(x, idx, 1)), (std::vector<float>{10, 13, 12, 11}));
#ifndef EMILY_DEBUG_BOUNDS_CHECK
  // Clamped: 9 -> 3, -9 -> -4 -> 0.
  Tensor wild = tensor<std::int64_t>({9, -9}, {1, 2});
  EXPECT_EQ(floats(take_along_axis(x, wild, 1)), (std::vector<float>{13, 10}));
#endif
  // Non-contiguous x (transposed) and every value dtype.
  Tensor t = transpose(iota({3, 2}));  // [[0,2,4],[1,3,5]]
  Tensor i2 = tensor<std::uint16_t>({2, 0}, {2, 1});
  EXPECT_EQ(floats(take_along_axis(t, i2, 1)), (std::vector<float>{4, 1}));
  for (DType dt : kAllDTypes) {
    Tensor y = take_along_axis(astype(t, dt), i2, 1);
    EXPECT_TRUE(all_equal(y, astype(tensor<float>({4, 1}, {2, 1}), dt))) << name(dt);
  }
  // Empty indices along the axis.
  EXPECT_EQ(take_along_axis(t, zeros({2, 0}, DType::s32), 1).shape(), (Shape{2, 0}));
}

TEST(TakeAlongAxis, Errors) {
  Tensor x = iota({3, 4});
  const char* op = "take_along_axis";
  EXPECT_EMILY_ERROR(take_along_axis(x, tensor<std::int32_t>({0}), 1), ShapeError, op);
  EXPECT_EMILY_ERROR(take_along_axis(x, zeros({2, 1}, DType::s32), 1), ShapeError, op);
  EXPECT_EMILY_ERROR(take_along_axis(x, zeros({3, 1}, DType::f32), 1), DTypeError, op);
  EXPECT_EMILY_ERROR(take_along_axis(x, zeros({3, 1}, DType::s32), 2), ShapeError, op);
  EXPECT_EMILY_ERROR(take_along_axis(zeros({3, 0}), zeros({3, 1}, DType::s32), 1), ValueError, op);
  EXPECT_EMILY_ERROR(take_along_axis(scalar_tensor(1), scalar_tensor(0, DType::s32), 0), ShapeError,
                     op);
  EXPECT_EMILY_ERROR(take_along_axis(Tensor(), zeros({1}, DType::s32), 0), ValueError, op);
}

}  // namespace
}  // namespace emily
