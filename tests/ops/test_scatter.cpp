// gather, scatter, scatter_add, scatter_max, scatter_min.
// Oracles: goldens from scripts/fixtures/ordering.py (Python applying index rows one by
// one, np.add.at / np.maximum.at / np.minimum.at), hand-computed cases, and the round
// trip scatter_add -> gather. gather and plain scatter move values (exact); scatter_add is
// compared exactly too, because the golden adds float32 values in the same index order.
#include <limits>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::floats;
using testing::iota;

Tensor fx(const std::string& name) {
  return testing::op_fixture("ordering", name);
}

TEST(Gather, WindowsMatchXlaSemantics) {
  // Oracle: ordering.py gather_scatter(): x[start0:start0+1, :, start2:start2+2] per row.
  Tensor out = gather(fx("x"), fx("gather_idx"), {0, 2}, {1, 5, 2});
  EXPECT_TRUE(all_equal(out, fx("gather_out")));
  // Negative axes and s64/u8 indices name the same windows.
  EXPECT_TRUE(all_equal(gather(fx("x"), astype(fx("gather_idx"), DType::s64), {-3, -1}, {1, 5, 2}),
                        fx("gather_out")));
}

TEST(Gather, EmbeddingLookupEqualsTake) {
  // Oracle: take(table, ids, 0), the foundation's gather along one axis.
  Tensor table = iota({10, 4});
  Tensor ids = tensor<std::int32_t>({3, 0, 9, 3}, {2, 2});
  Tensor rows = gather(table, reshape(ids, {2, 2, 1}), {0}, {1, 4});
  EXPECT_TRUE(all_equal(reshape(rows, {2, 2, 4}), take(table, ids, 0)));
}

TEST(Gather, NonContiguousInputAndEmptyBatch) {
  // Oracle: the same gather on a contiguous copy.
  Tensor x = transpose(iota({6, 5}));
  Tensor idx = tensor<std::int64_t>({1, 2, 4, 0}, {2, 2});
  EXPECT_TRUE(
      all_equal(gather(x, idx, {0, 1}, {1, 3}), gather(contiguous(x), idx, {0, 1}, {1, 3})));
  Tensor none = gather(x, zeros({0, 2}, DType::s32), {0, 1}, {2, 2});
  EXPECT_EQ(none.shape(), (Shape{0, 2, 2}));
}

#ifndef EMILY_DEBUG_BOUNDS_CHECK
TEST(Gather, StartsClampSoTheWindowFits) {
  // Hand-computed: axis of size 5, window 2: start 4 -> 3, 99 -> 3, -99 -> 0, -1 -> 3.
  Tensor x = iota({5});
  Tensor idx = tensor<std::int32_t>({4, 99, -99, -1}, {4, 1});
  EXPECT_EQ(floats(gather(x, idx, {0}, {2})), (std::vector<float>{3, 4, 3, 4, 0, 1, 3, 4}));
  // u64 past INT64_MAX clamps too.
  Tensor big = tensor<std::uint64_t>({std::numeric_limits<std::uint64_t>::max()}, {1, 1});
  EXPECT_EQ(floats(gather(x, big, {0}, {1})), (std::vector<float>{4}));
  // scatter clamps its windows the same way.
  Tensor s = scatter(zeros({5}), tensor<std::int32_t>({7}, {1, 1}), ones({1, 2}), {0});
  EXPECT_EQ(floats(s), (std::vector<float>{0, 0, 0, 1, 1}));
}
#else
TEST(Gather, OutOfRangeStartsRaiseInBoundsCheckBuilds) {
  Tensor x = iota({5});
  EXPECT_EMILY_ERROR(gather(x, tensor<std::int32_t>({4}, {1, 1}), {0}, {2}), ValueError, "gather");
  EXPECT_EMILY_ERROR(gather(x, tensor<std::int32_t>({-6}, {1, 1}), {0}, {1}), ValueError, "gather");
  EXPECT_EMILY_ERROR(scatter_add(x, tensor<std::int32_t>({5}, {1, 1}), ones({1}), {0}), ValueError,
                     "scatter_add");
  // In range (a negative index that wraps, a window that just fits) passes.
  EXPECT_EQ(floats(gather(x, tensor<std::int32_t>({-2}, {1, 1}), {0}, {2})),
            (std::vector<float>{3, 4}));
}
#endif

TEST(Scatter, DuplicatesFollowIndexOrder) {
  // Oracle: ordering.py: rows applied in order (last write wins; f32 sums in index order;
  // np.maximum.at / np.minimum.at).
  Tensor t = fx("table"), rows = fx("rows"), u = fx("updates");
  EXPECT_TRUE(all_equal(scatter(t, rows, u, {0}), fx("scatter_out")));
  EXPECT_TRUE(all_equal(scatter_add(t, rows, u, {0}), fx("scatter_add_out")));
  EXPECT_TRUE(all_equal(scatter_max(t, rows, u, {0}), fx("scatter_max_out")));
  EXPECT_TRUE(all_equal(scatter_min(t, rows, u, {0}), fx("scatter_min_out")));
  // The full-rank window form (updates (6, 1, 3)) is the same scatter.
  EXPECT_TRUE(all_equal(scatter_add(t, rows, reshape(u, {6, 1, 3}), {0}), fx("scatter_add_out")));
}

TEST(Scatter, ElementsWindowsAndDtypes) {
  // Hand-computed: point updates on both axes of a 3x3 s32 matrix, f32 updates cast.
  Tensor x = zeros({3, 3}, DType::s32);
  Tensor idx = tensor<std::int64_t>({0, 0, 2, 1, 0, 0}, {3, 2});
  Tensor out = scatter_add(x, idx, tensor<float>({1.9f, 5, 2}), {0, 1});
  EXPECT_EQ(out.dtype(), DType::s32);
  EXPECT_EQ(floats(out), (std::vector<float>{3, 0, 0, 0, 0, 0, 0, 5, 0}));
  // A 2x2 window written at (1, 1) of a 3x3 matrix.
  Tensor w =
      scatter(zeros({3, 3}), tensor<std::int32_t>({1, 1}, {1, 2}), iota({1, 2, 2}) + 1.0, {0, 1});
  EXPECT_EQ(floats(w), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 3, 4}));
  // NaN propagates through scatter_max like maximum.
  Tensor nan = scalar_tensor(std::numeric_limits<double>::quiet_NaN());
  Tensor m = scatter_max(zeros({2}), tensor<std::int32_t>({1}, {1, 1}), reshape(nan, {1}), {0});
  EXPECT_TRUE(std::isnan(floats(m)[1]));
  // x itself is untouched.
  EXPECT_EQ(floats(x), std::vector<float>(9, 0));
}

TEST(Scatter, AddThenGatherRoundTrips) {
  // Property: scatter_add of distinct rows into zeros, gathered back at the same rows,
  // returns the updates (exact: each sum has one term).
  Tensor u = testing::iota({4, 3}) * 0.25;
  Tensor rows = tensor<std::int32_t>({5, 0, 2, 7}, {4, 1});
  Tensor table = scatter_add(zeros({8, 3}), rows, u, {0});
  EXPECT_TRUE(all_equal(reshape(gather(table, rows, {0}, {1, 3}), {4, 3}), u));
  // Sum is preserved (exact in f32 here: quarters).
  EXPECT_TRUE(all_close(sum(table), sum(u), 0, 0));
}

TEST(Scatter, ErrorsNameTheOp) {
  Tensor x = zeros({4, 3});
  Tensor idx = tensor<std::int32_t>({1, 2}, {2, 1});
  EXPECT_EMILY_ERROR(gather(x, astype(idx, DType::f32), {0}, {1, 3}), DTypeError, "gather");
  EXPECT_EMILY_ERROR(gather(x, idx, {0, 1}, {1, 3}), ShapeError, "gather");  // last dim 1 != 2
  EXPECT_EMILY_ERROR(gather(x, idx, {0}, {1}), ShapeError, "gather");        // rank of sizes
  EXPECT_EMILY_ERROR(gather(x, idx, {0}, {5, 3}), ShapeError, "gather");     // size > dim
  EXPECT_EMILY_ERROR(gather(x, idx, {2}, {1, 3}), ShapeError, "gather");     // axis range
  EXPECT_EMILY_ERROR(gather(x, reshape(idx, {2}), {0}, {1, 3}), ShapeError, "gather");
  EXPECT_EMILY_ERROR(gather(zeros({0, 3}), idx, {0}, {0, 3}), ValueError, "gather");
  EXPECT_EMILY_ERROR(scatter(x, idx, ones({3, 3}), {0}), ShapeError, "scatter");  // batch 3 != 2
  EXPECT_EMILY_ERROR(scatter(x, idx, ones({2, 4}), {0}), ShapeError, "scatter");  // window > x
  EXPECT_EMILY_ERROR(scatter_add(x, idx, ones({2}), {0}), ShapeError, "scatter_add");
  EXPECT_EMILY_ERROR(scatter_add(x, tensor<bool>({true, false}, {2, 1}), ones({2, 3}), {0}),
                     DTypeError, "scatter_add");
  EXPECT_EMILY_ERROR(scatter_max(astype(x, DType::c64), idx, ones({2, 3}), {0}), DTypeError,
                     "scatter_max");
  EXPECT_EMILY_ERROR(scatter_min(x, idx, ones({2, 3}), {0, 0}), ShapeError, "scatter_min");
}

}  // namespace
}  // namespace emily
