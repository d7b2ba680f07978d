// sort, argsort, top_k.
// Oracles: goldens from scripts/fixtures/ordering.py (np.sort/np.argsort kind="stable";
// descending order and top_k from Python's stable `sorted` with NaN the largest), and the
// properties every sort must have: the result is a permutation of the input and ordered.
// Sorting moves values, so every comparison is exact.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;
using testing::floats;

Tensor fx(const std::string& name) {
  return testing::op_fixture("ordering", name);
}

TEST(Sort, StableWithNaNLastMatchesNumPy) {
  Tensor x = fx("sort_x");
  EXPECT_TRUE(all_equal(sort(x, 1), fx("sort_1")));
  EXPECT_TRUE(all_equal(argsort(x, 1), fx("argsort_1")));
  EXPECT_TRUE(all_equal(argsort(x, 0), fx("argsort_0")));
  EXPECT_TRUE(all_equal(argsort(x), fx("argsort_1")));  // default: last axis
}

TEST(Sort, DescendingPutsNaNFirstAndKeepsTiesInOrder) {
  Tensor x = fx("sort_x");
  Tensor idx = argsort(x, 1, true);
  EXPECT_TRUE(all_equal(idx, fx("argsort_1_desc")));
  EXPECT_TRUE(all_equal(sort(x, 1, true), take_along_axis(x, fx("argsort_1_desc"), 1)));
}

TEST(Sort, IsAnOrderedPermutation) {
  // Property on 20,000 random bf16 values (many ties) and s32 values, sorted on axis 0 of
  // a transposed view: every line is non-decreasing and argsort is a permutation whose
  // gather gives the sorted values.
  Tensor r = random::normal(random::key(7), {200, 100}, DType::bf16);
  for (const Tensor& x : {r, astype(r * 100.0, DType::s32)}) {
    Tensor xt = transpose(x);  // (100, 200): sort each column of 100
    Tensor s = sort(xt, 0), i = argsort(xt, 0);
    EXPECT_TRUE(all_equal(take_along_axis(xt, i, 0), s));
    std::vector<float> v = floats(transpose(s));  // rows are the sorted lines
    for (int line = 0; line < 200; ++line) {
      for (int k = 1; k < 100; ++k) ASSERT_LE(v[line * 100 + k - 1], v[line * 100 + k]);
    }
    std::vector<float> iv = floats(transpose(i));
    for (int line = 0; line < 200; ++line) {
      std::set<float> seen(iv.begin() + line * 100, iv.begin() + line * 100 + 100);
      ASSERT_EQ(seen.size(), 100u);
      ASSERT_EQ(*seen.rbegin(), 99.0f);
    }
  }
}

// Long lines take the radix path. Oracle: std::stable_sort of the indices in this test,
// comparing the values as doubles with NaN the largest and -0.0 == 0.0 (the documented
// order); the results must agree exactly, ties included.
std::vector<std::int64_t> reference_order(const std::vector<double>& v, bool desc) {
  std::vector<std::int64_t> idx(v.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::int64_t>(i);
  auto before = [&](std::int64_t a, std::int64_t b) {
    double x = v[a], y = v[b];
    if (desc) std::swap(x, y);
    return x < y || (std::isnan(y) && !std::isnan(x));
  };
  std::stable_sort(idx.begin(), idx.end(), before);
  return idx;
}

TEST(Sort, LongLinesMatchAStableComparisonSort) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<float> base = floats(random::normal(random::key(11), {3000}) * 20.0);
  for (std::size_t i = 0; i < base.size(); i += 97) base[i] = static_cast<float>(nan);
  for (std::size_t i = 5; i < base.size(); i += 131) base[i] = -0.0f;
  for (std::size_t i = 7; i < base.size(); i += 173) base[i] = 0.0f;
  base[1] = static_cast<float>(inf);
  base[2] = static_cast<float>(-inf);
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::s8, DType::s64,
                   DType::u16, DType::bool_}) {
    Tensor x = astype(tensor<float>(base), dt);
    std::vector<double> v;
    for (float f : floats(x)) v.push_back(f);
    for (bool desc : {false, true}) {
      std::vector<std::int64_t> want = reference_order(v, desc);
      Tensor got = argsort(x, 0, desc);
      std::vector<float> g = floats(got);
      bool same = true;
      for (std::size_t i = 0; i < want.size() && same; ++i)
        same = g[i] == static_cast<float>(want[i]);
      EXPECT_TRUE(same) << name(dt) << (desc ? " descending" : " ascending");
      EXPECT_TRUE(all_equal(sort(x, 0, desc), take(x, got, 0))) << name(dt);
    }
  }
}

TEST(TopK, LargestFirstTiesByIndex) {
  Tensor x = fx("sort_x");
  auto [values, indices] = top_k(x, 4);
  EXPECT_EQ(indices.dtype(), DType::s64);
  EXPECT_TRUE(all_equal(indices, fx("top_k_4_indices")));
  EXPECT_TRUE(all_equal(values, fx("top_k_4_values")));
  // Hand-computed, on axis 0 and k = 0 / n.
  Tensor m = tensor<std::int32_t>({1, 9, 7, 7, 3, 8}, {3, 2});
  auto [v0, i0] = top_k(m, 2, 0);
  EXPECT_EQ(floats(v0), (std::vector<float>{7, 9, 3, 8}));
  EXPECT_EQ(floats(i0), (std::vector<float>{1, 0, 2, 2}));
  EXPECT_EQ(top_k(m, 0, 0).first.shape(), (Shape{0, 2}));
  EXPECT_TRUE(all_equal(top_k(m, 3, 0).first, sort(m, 0, true)));
}

TEST(Sort, ErrorsNameTheOp) {
  EXPECT_EMILY_ERROR(sort(zeros({2}, DType::c64)), DTypeError, "sort");
  EXPECT_EMILY_ERROR(argsort(zeros({2, 2}), 2), ShapeError, "argsort");
  EXPECT_EMILY_ERROR(sort(scalar_tensor(1.0)), ShapeError, "sort");
  EXPECT_EMILY_ERROR(top_k(zeros({3}), 4), ValueError, "top_k");
  EXPECT_EMILY_ERROR(top_k(zeros({3}), -1), ValueError, "top_k");
  EXPECT_EMILY_ERROR(top_k(zeros({3}), 1, 1), ShapeError, "top_k");
}

}  // namespace
}  // namespace emily
