// The CUDA ordering kernels (argmax argmin, the four scans, sort argsort top_k) against
// the CPU backend. Oracle: the same op on the same inputs on the CPU.
// Tolerances: argmax/argmin, sort, argsort, top_k, cumulative_max/min and every integer
// scan select or wrap exactly, so they must match bit for bit (a NaN matches any NaN:
// CUDA and the CPU write different NaN payloads). Float sums and products of long lines
// add in a tree on the GPU and in sequence on the CPU, so they are held to bounds per
// dtype, stated where they are checked.
// Layouts: dense, transposed, strided slices, broadcast (stride 0), empty, 0-d; line
// lengths that reach every kernel path (short lines, block-sized lines, lines long enough
// to be split across blocks). Every test skips, saying why, without a CUDA device.
#include <cmath>
#include <optional>
#include <set>

#include "emily/compile.h"
#include "emily/telemetry.h"
#include "support/gpu.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;

class CudaOrdering : public testing::GpuTest {};

const DType kRealDTypes[] = {DType::bool_, DType::u8,  DType::u16, DType::u32, DType::u64,
                             DType::s8,    DType::s16, DType::s32, DType::s64, DType::f16,
                             DType::bf16,  DType::f32, DType::f64};

// Values in a range every dtype holds. `ties`: whole numbers (many equal values), and
// for floats NaN, -0.0, +0.0 and +-inf sprinkled in, the values whose order is a rule.
Tensor sample(std::uint64_t seed, const Shape& shape, DType dtype, bool ties) {
  Tensor x = random::uniform(random::key(seed), shape, DType::f32, -60.0, 60.0);
  if (dtype == DType::bool_) return greater(x, scalar_like(x, 0.0));
  if (is_unsigned(dtype)) x = abs(x);
  if (ties) x = floor(x);
  if (ties && is_floating(dtype)) {
    Tensor u = random::uniform(random::key(seed + 7777), shape, DType::f32, 0.0, 1.0);
    auto put = [&](double below, double value) {
      x = where(less(u, scalar_like(u, below)), scalar_like(x, value), x);
    };
    // Applied from the largest threshold down, so each band keeps its own value.
    put(0.12, INFINITY);
    put(0.10, -INFINITY);
    put(0.08, 0.0);
    put(0.06, -0.0);
    put(0.03, NAN);
  }
  return astype(x, dtype);
}

enum class Layout { dense, transposed, sliced, broadcast };

// A tensor of `shape` read through `layout`: transposed builds the reversed shape and
// transposes it; sliced takes every other element from one past the start; broadcast
// repeats one row along axis 0.
Tensor laid_out(std::uint64_t seed, const Shape& shape, DType dtype, bool ties, Layout layout) {
  switch (layout) {
    case Layout::transposed: {
      Shape r(shape.rbegin(), shape.rend());
      return transpose(sample(seed, r, dtype, ties));
    }
    case Layout::sliced: {
      Shape big, start, stop, step;
      for (std::int64_t n : shape) {
        big.push_back(2 * n + 1);
        start.push_back(1);
        stop.push_back(2 * n + 1);
        step.push_back(2);
      }
      return slice(sample(seed, big, dtype, ties), start, stop, step);
    }
    case Layout::broadcast: {
      Shape one = shape;
      one[0] = 1;
      return broadcast_to(sample(seed, one, dtype, ties), shape);
    }
    default:
      return sample(seed, shape, dtype, ties);
  }
}

// Bit for bit, except that any NaN matches any NaN.
::testing::AssertionResult same(const Tensor& got_on_gpu, const Tensor& want) {
  Tensor got = to_host(got_on_gpu);
  if (!is_floating(want.dtype()) || got.dtype() != want.dtype() || got.shape() != want.shape())
    return all_equal(got, want);
  Tensor got_nan = is_nan(got), want_nan = is_nan(want);
  auto nans = all_equal(got_nan, want_nan);
  if (!nans) return nans << " (NaN positions)";
  const DType bits = want.itemsize() == 2   ? DType::u16
                     : want.itemsize() == 4 ? DType::u32
                                            : DType::u64;
  Tensor g = view(got, bits), w = view(want, bits);
  Tensor zero = scalar_like(w, 0.0);
  return all_equal(where(got_nan, zero, g), where(want_nan, zero, w));
}

struct Case {
  Shape shape;
  int axis;
  Layout layout;
};

std::string describe(DType d, const Case& c) {
  const char* layouts[] = {"dense", "transposed", "sliced", "broadcast"};
  return std::string(name(d)) + " " + to_string(c.shape) + " axis " + std::to_string(c.axis) + " " +
         layouts[static_cast<int>(c.layout)];
}

// Lines from 1 to 20000 elements: the block-sort sizes (<= 32, 128, 1024, 4096), the
// radix paths (one line; several lines with the line number in the key; the sorted axis
// not last), views of every kind and empty tensors.
const Case kSortCases[] = {{{37, 300}, 1, Layout::dense},
                           {{37, 300}, 0, Layout::dense},
                           {{40, 33}, 1, Layout::transposed},
                           {{40, 33}, 0, Layout::transposed},
                           {{9, 20}, 1, Layout::sliced},
                           {{6, 7, 8}, 1, Layout::dense},
                           {{6, 7, 8}, 2, Layout::sliced},
                           {{20, 50}, 0, Layout::broadcast},
                           {{1000, 7}, 1, Layout::dense},
                           {{50, 100}, 1, Layout::dense},
                           {{2, 2000}, 1, Layout::dense},
                           {{4, 0}, 1, Layout::dense},
                           {{0, 5}, 1, Layout::dense},
                           {{3, 5000}, 1, Layout::dense},
                           {{5000, 3}, 0, Layout::dense},
                           {{1, 20000}, 1, Layout::dense},
                           {{1}, 0, Layout::dense}};

TEST_F(CudaOrdering, SortArgsortTopKMatchTheCpu) {
  int seed = 1;
  for (DType d : kRealDTypes) {
    for (const Case& c : kSortCases) {
      Tensor x = laid_out(seed++, c.shape, d, true, c.layout);
      Tensor g = to_device(x, gpu);
      const std::string where = describe(d, c);
      for (bool desc : {false, true}) {
        EXPECT_TRUE(same(sort(g, c.axis, desc), sort(x, c.axis, desc))) << "sort " << where;
        EXPECT_TRUE(same(argsort(g, c.axis, desc), argsort(x, c.axis, desc)))
            << "argsort " << where << (desc ? " descending" : "");
      }
      const std::int64_t n = c.shape[c.axis];
      for (std::int64_t k : {std::int64_t{0}, std::min<std::int64_t>(n, 1), n / 3, n}) {
        auto [gv, gi] = top_k(g, k, c.axis);
        auto [wv, wi] = top_k(x, k, c.axis);
        EXPECT_TRUE(same(gv, wv)) << "top_k values k=" << k << " " << where;
        EXPECT_TRUE(same(gi, wi)) << "top_k indices k=" << k << " " << where;
      }
    }
  }
}

TEST_F(CudaOrdering, ArgmaxArgminMatchTheCpu) {
  // Besides kSortCases: rows long enough to be split across blocks (one row, three rows,
  // a leading axis of 50000 under 40 adjacent outputs).
  std::vector<Case> cases(std::begin(kSortCases), std::end(kSortCases));
  cases.push_back({{3, 100000}, 1, Layout::dense});
  cases.push_back({{100000}, 0, Layout::dense});
  cases.push_back({{50000, 40}, 0, Layout::dense});
  cases.push_back({{40, 3000}, 1, Layout::transposed});
  int seed = 100;
  for (DType d : kRealDTypes) {
    for (const Case& c : cases) {
      if (c.shape[c.axis] == 0) continue;  // no extreme of nothing (a ShapeError)
      Tensor x = laid_out(seed++, c.shape, d, true, c.layout);
      Tensor g = to_device(x, gpu);
      const std::string where = describe(d, c);
      EXPECT_TRUE(same(argmax(g, c.axis), argmax(x, c.axis))) << "argmax " << where;
      EXPECT_TRUE(same(argmin(g, c.axis), argmin(x, c.axis))) << "argmin " << where;
      EXPECT_TRUE(same(argmax(g, c.axis, true), argmax(x, c.axis, true))) << "keepdims " << where;
    }
    // 0-d and the flattened forms.
    Tensor s = sample(seed++, {}, d, true), gs = to_device(s, gpu);
    EXPECT_TRUE(same(argmax(gs), argmax(s))) << "argmax 0-d " << name(d);
    Tensor m = laid_out(seed++, {30, 40}, d, true, Layout::transposed);
    EXPECT_TRUE(same(argmin(to_device(m, gpu)), argmin(m))) << "argmin flat " << name(d);
  }
}

TEST_F(CudaOrdering, NaNAndTieRulesByHand) {
  // Oracle: the rules written out (NumPy's): the first NaN wins argmax and argmin, else
  // the first extreme; sorts put NaN last ascending and first descending, equal values
  // (-0.0 and 0.0 among them) keep their order.
  Tensor x = tensor<float>({2.0f, NAN, 5.0f, NAN, 5.0f, -0.0f, 0.0f, -1.0f});
  Tensor g = to_device(x, gpu);
  EXPECT_EQ(to_host(argmax(g)).item<std::int64_t>(), 1);
  EXPECT_EQ(to_host(argmin(g)).item<std::int64_t>(), 1);
  Tensor y = tensor<float>({3.0f, 7.0f, 7.0f, -2.0f, -2.0f});
  EXPECT_EQ(to_host(argmax(to_device(y, gpu))).item<std::int64_t>(), 1);
  EXPECT_EQ(to_host(argmin(to_device(y, gpu))).item<std::int64_t>(), 3);
  EXPECT_EQ(to_host(argsort(g)).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{7, 5, 6, 0, 2, 4, 1, 3}));
  EXPECT_EQ(to_host(argsort(g, -1, true)).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{1, 3, 2, 4, 0, 5, 6, 7}));
  auto [values, indices] = top_k(g, 4);
  EXPECT_EQ(to_host(indices).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 3, 2, 4}));
  EXPECT_TRUE(std::signbit(to_host(sort(g)).to_vector<float>()[1]));  // -0.0 stays first
}

// cumulative_* with every direction and inclusiveness.
using ScanFn = Tensor (*)(const Tensor&, int, bool, bool);

// Serial lines (at most 64 long, or many across a leading axis), one block per line (the
// line contiguous or strided), and lines split into chunks (one long line, a long
// leading axis under three columns).
const Case kScanCases[] = {{{37, 300}, 1, Layout::dense},     {{37, 300}, 0, Layout::dense},
                           {{40, 33}, 1, Layout::transposed}, {{9, 20}, 1, Layout::sliced},
                           {{6, 7, 8}, 1, Layout::dense},     {{20, 50}, 0, Layout::broadcast},
                           {{4, 0}, 1, Layout::dense},        {{1000, 7}, 1, Layout::dense},
                           {{64, 5000}, 0, Layout::dense},    {{3, 3000}, 1, Layout::dense},
                           {{2, 100000}, 1, Layout::dense},   {{100000, 3}, 0, Layout::dense},
                           {{4, 500, 3}, 1, Layout::dense},   {{300, 40}, 0, Layout::transposed}};

TEST_F(CudaOrdering, CumulativeMaxMinMatchTheCpuExactly) {
  int seed = 300;
  for (DType d : kRealDTypes) {
    for (const Case& c : kScanCases) {
      Tensor x = laid_out(seed++, c.shape, d, true, c.layout);
      Tensor g = to_device(x, gpu);
      for (bool reverse : {false, true}) {
        for (bool inclusive : {true, false}) {
          const std::string where =
              describe(d, c) + (reverse ? " reverse" : "") + (inclusive ? "" : " exclusive");
          EXPECT_TRUE(same(cumulative_max(g, c.axis, reverse, inclusive),
                           cumulative_max(x, c.axis, reverse, inclusive)))
              << "cumulative_max " << where;
          EXPECT_TRUE(same(cumulative_min(g, c.axis, reverse, inclusive),
                           cumulative_min(x, c.axis, reverse, inclusive)))
              << "cumulative_min " << where;
        }
      }
    }
  }
}

TEST_F(CudaOrdering, CumulativeSumProductMatchTheCpu) {
  // Integers (and bool, summed as s64) wrap identically: exact. Floats: the GPU's tree
  // order against the CPU's sequence. Sums: |got - want| <= tol * (the same scan of |x|),
  // tol = 1e-5 (f32), 1e-13 (f64), and the result's own rounding for f16/bf16 (2e-3,
  // 1.6e-2). Products of factors in [0.99, 1.01]: relative 1e-4 (f32), 1e-12 (f64),
  // 4e-3 (f16), 3e-2 (bf16): a few units of each precision over lines of 1e5.
  int seed = 500;
  for (DType d : kRealDTypes) {
    const double sum_tol = d == DType::f32   ? 1e-5
                           : d == DType::f64 ? 1e-13
                           : d == DType::f16 ? 2e-3
                                             : 1.6e-2;
    const double product_tol = d == DType::f32   ? 1e-4
                               : d == DType::f64 ? 1e-12
                               : d == DType::f16 ? 4e-3
                                                 : 3e-2;
    for (const Case& c : kScanCases) {
      Tensor x = laid_out(seed++, c.shape, d, false, c.layout);
      // Factors near 1 keep float products finite; small integers keep the wrap
      // visible but the values readable.
      Tensor f = is_floating(d)      ? astype(astype(x, DType::f32) * (0.01 / 60.0) + 1.0, d)
                 : d == DType::bool_ ? x
                                     : remainder(x, scalar_like(x, 3.0));
      Tensor g = to_device(x, gpu), gf = to_device(f, gpu);
      for (bool reverse : {false, true}) {
        for (bool inclusive : {true, false}) {
          const std::string where =
              describe(d, c) + (reverse ? " reverse" : "") + (inclusive ? "" : " exclusive");
          Tensor got = cumulative_sum(g, c.axis, reverse, inclusive);
          Tensor want = cumulative_sum(x, c.axis, reverse, inclusive);
          Tensor got_p = cumulative_product(gf, c.axis, reverse, inclusive);
          Tensor want_p = cumulative_product(f, c.axis, reverse, inclusive);
          if (!is_floating(d)) {
            EXPECT_TRUE(same(got, want)) << "cumulative_sum " << where;
            EXPECT_TRUE(same(got_p, want_p)) << "cumulative_product " << where;
            continue;
          }
          Tensor w = astype(want, DType::f64);
          Tensor err = abs(astype(to_host(got), DType::f64) - w);
          Tensor scale =
              cumulative_sum(abs(astype(x, DType::f64)), c.axis, reverse, inclusive) * sum_tol;
          EXPECT_TRUE(all(less_equal(err, scale + 1e-30)).item<bool>())
              << "cumulative_sum " << where;
          Tensor wp = astype(want_p, DType::f64);
          Tensor err_p = abs(astype(to_host(got_p), DType::f64) - wp);
          EXPECT_TRUE(all(less_equal(err_p, abs(wp) * product_tol + 1e-30)).item<bool>())
              << "cumulative_product " << where;
        }
      }
    }
  }
}

TEST_F(CudaOrdering, ShortFloatScansFollowTheCpuSequence) {
  // Oracle: the CPU. Lines of at most 64 run one thread per line in the CPU's order, so
  // even float sums are exact there.
  for (DType d : {DType::f16, DType::bf16, DType::f32, DType::f64}) {
    Tensor x = sample(900, {500, 64}, d, false);
    Tensor g = to_device(x, gpu);
    EXPECT_TRUE(same(cumulative_sum(g, 1), cumulative_sum(x, 1))) << name(d);
    EXPECT_TRUE(same(cumulative_sum(g, 1, true, false), cumulative_sum(x, 1, true, false)))
        << name(d);
  }
}

TEST_F(CudaOrdering, CompiledReplayMatchesEager) {
  // Oracle: eager on the GPU; native replay runs the same kernels, so bitwise.
  auto fn = [](const std::vector<Tensor>& in) {
    auto [v, i] = top_k(in[0], 5, 1);
    return std::vector<Tensor>{argsort(in[0], 1), cumulative_sum(in[0], 1), argmax(in[0], 0), v, i};
  };
  auto f = compile(fn, testing::native("ordering"));
  Tensor a = to_device(sample(42, {16, 300}, DType::f32, true), gpu);
  for (int rep = 0; rep < 2; ++rep) {
    auto got = f({a});
    auto want = fn({a});
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k)
      EXPECT_TRUE(same(got[k], to_host(want[k]))) << "output " << k;
  }
}

}  // namespace
}  // namespace emily
