// The CUDA creation, pad, slice_update, gather/scatter and window kernels against the CPU
// backend. Oracle: the same op on the same inputs on the CPU. Tolerance: exact (bitwise
// for integers and bool; floats equal, any NaN matching any NaN and -0 matching +0)
// everywhere but one place, because these kernels either move elements or compute what
// the CPU computes in the same order with the same roundings (arange's double arithmetic,
// window sums and products in the CPU's accumulators and tap order, SelectAndScatter's
// sums in window order). The exception is scatter_add of floats, whose atomics add
// duplicate indices in no fixed order: with quarter-integer values every partial sum is
// exact in every float dtype, so those compare exactly too; random f32/f64 values are
// compared within a bound on the reordering error (stated at the test).
// Every test also checks that no `fallback` event fired: every dtype here is native.
// Every test skips, saying why, on a machine without a CUDA device.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "emily/telemetry.h"
#include "support/gpu.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

class CudaShape : public testing::GpuTest {};

const DType kAllDTypes[] = {DType::bool_, DType::u8,  DType::u16, DType::u32, DType::u64,
                            DType::s8,    DType::s16, DType::s32, DType::s64, DType::f16,
                            DType::bf16,  DType::f32, DType::f64, DType::c64};
const DType kIndexDTypes[] = {DType::u8, DType::u16, DType::u32, DType::u64,
                              DType::s8, DType::s16, DType::s32, DType::s64};

// Random values in a range every dtype holds; c64 gets random real and imaginary parts.
Tensor sample(std::uint64_t seed, const Shape& shape, DType dtype) {
  if (dtype == DType::c64) {
    Tensor parts = sample(seed, {numel(shape) * 2}, DType::f32);
    return reshape(view(parts, DType::c64), shape);
  }
  Tensor x = random::uniform(random::key(seed), shape, DType::f32, -60.0, 60.0);
  if (dtype == DType::bool_) return greater(x, scalar_like(x, 0.0));
  if (is_unsigned(dtype)) x = abs(x);
  return astype(x, dtype);
}

// Quarter-integers in [-2, 2) for inexact dtypes (sums of a few stay exact in bf16), the
// usual sample otherwise.
Tensor small(std::uint64_t seed, const Shape& shape, DType dtype) {
  if (!is_inexact(dtype)) return sample(seed, shape, dtype);
  Tensor q = floor(random::uniform(random::key(seed), shape, DType::f32, -8.0, 8.0)) * 0.25;
  return astype(q, dtype);
}

// Some elements of a float sample replaced by NaN.
Tensor with_nans(std::uint64_t seed, const Shape& shape, DType dtype) {
  Tensor x = sample(seed, shape, dtype);
  if (!is_floating(dtype)) return x;
  Tensor u = random::uniform(random::key(seed + 1000), shape, DType::f32, 0.0, 1.0);
  return where(less(u, scalar_like(u, 0.08)), full({}, NAN, dtype), x);
}

::testing::AssertionResult exact(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || !is_inexact(want.dtype())) return all_equal(got, want);
  return all_close(got, want, 0.0, 0.0);
}

Tensor on(const Tensor& t, Device d) {
  return to_device(t, d);
}

// ---- creation ------------------------------------------------------------------------

TEST_F(CudaShape, CreationMatchesTheCpu) {
  for (DType d : kAllDTypes) {
    const std::string where = std::string(name(d));
    Tensor got_range, got_eye[4], got_full[5];
    const std::int64_t diagonals[] = {-2, 0, 3, 9};
    const Shape shapes[] = {{}, {0}, {37}, {3, 5, 7}, {2, 100003}};
    {
      StreamGuard guard(default_stream(gpu));  // no inputs: they run on the current stream
      if (d != DType::bool_) got_range = arange(-3.5, 1000.25, 0.75, d);
      for (int k = 0; k < 4; ++k) got_eye[k] = eye(5, 7, diagonals[k], d);
    }
    Tensor value = sample(7, {}, d);
    for (int k = 0; k < 5; ++k) got_full[k] = full(shapes[k], on(value, gpu));
    if (d != DType::bool_) {
      EXPECT_EQ(got_range.device(), gpu);
      EXPECT_TRUE(exact(to_host(got_range), arange(-3.5, 1000.25, 0.75, d))) << where;
    }
    for (int k = 0; k < 4; ++k)
      EXPECT_TRUE(exact(to_host(got_eye[k]), eye(5, 7, diagonals[k], d)))
          << where << " k=" << diagonals[k];
    for (int k = 0; k < 5; ++k)
      EXPECT_TRUE(exact(to_host(got_full[k]), full(shapes[k], value)))
          << where << " " << to_string(shapes[k]);
  }
  // Steps that round differently in f32 than in f64: the double arithmetic is the CPU's.
  StreamGuard guard(default_stream(gpu));
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::s32, DType::u8})
    EXPECT_TRUE(exact(to_host(arange(0.1, 3000.0, 0.1, d)),
                      [&] {
                        StreamGuard cpu(default_stream(Device::cpu()));
                        return arange(0.1, 3000.0, 0.1, d);
                      }()))
        << name(d);
}

// ---- pad and slice_update ------------------------------------------------------------

TEST_F(CudaShape, PadMatchesTheCpu) {
  struct Case {
    Shape shape;
    std::vector<PadWidth> widths;
    bool transpose;
  };
  const Case cases[] = {
      {{5, 7}, {{2, 1, 0}, {0, 3, 2}}, false},                // edges and interior
      {{5, 7}, {{-1, 2, 1}, {-3, -2, 0}}, false},             // negative edges crop
      {{7, 5}, {{1, 1, 1}, {2, 0, 0}}, true},                 // strided input
      {{4, 6, 5}, {{0, 0, 0}, {1, 2, 0}, {0, 0, 0}}, false},  // plain axes merge
      {{3, 4, 2, 2}, {{0, 0, 0}, {0, 0, 0}, {1, -1, 3}, {0, 0, 0}}, false},
      {{0, 3}, {{2, 1, 0}, {1, 0, 0}}, false},       // empty input, padded output
      {{}, {}, false},                               // 0-d
      {{5}, {{-5, 0, 0}}, false},                    // cropped to nothing
      {{300, 700}, {{3, 5, 0}, {-2, 7, 1}}, false},  // more than one grid's worth
  };
  int seed = 1;
  for (DType d : kAllDTypes) {
    for (const Case& c : cases) {
      Tensor x = sample(seed++, c.shape, d);
      if (c.transpose) x = transpose(x);
      Tensor value = sample(seed++, {}, d);
      Tensor want = pad(x, c.widths, value);
      Tensor got = pad(on(x, gpu), c.widths, on(value, gpu));
      EXPECT_TRUE(exact(to_host(got), want)) << name(d) << " " << to_string(c.shape);
    }
    // A pad value given as a number goes to x's device.
    Tensor x = sample(seed++, {3, 4}, d);
    EXPECT_TRUE(exact(to_host(pad(on(x, gpu), {{1, 2, 1}, {0, 1, 0}}, 1.0)),
                      pad(x, {{1, 2, 1}, {0, 1, 0}}, 1.0)))
        << name(d);
  }
}

TEST_F(CudaShape, SliceUpdateMatchesTheCpu) {
  struct Case {
    Shape shape, start, stop, step, update;
    bool transpose;
  };
  const Case cases[] = {
      {{6, 9}, {1, 2}, {6, 9}, {2, 3}, {3, 3}, false},
      {{6, 9}, {0, 1}, {6, 9}, {1, 4}, {1, 2}, false},  // broadcast update
      {{9, 6}, {2, 0}, {5, 6}, {1, 1}, {3, 6}, true},   // strided x
      {{4, 5, 6}, {1, 0, 3}, {3, 5, 6}, {}, {2, 5, 3}, false},
      {{6, 9}, {3, 3}, {3, 9}, {}, {0, 6}, false},  // empty region
      {{}, {}, {}, {}, {}, false},                  // 0-d
      {{512, 1024}, {100, 0}, {356, 1024}, {}, {256, 1024}, false},
  };
  int seed = 100;
  for (DType d : kAllDTypes) {
    for (const Case& c : cases) {
      Tensor x = sample(seed++, c.shape, d);
      if (c.transpose) x = transpose(x);
      Tensor u = sample(seed++, c.update, d);
      Tensor want = slice_update(x, u, c.start, c.stop, c.step);
      Tensor got = slice_update(on(x, gpu), on(u, gpu), c.start, c.stop, c.step);
      EXPECT_TRUE(exact(to_host(got), want)) << name(d) << " " << to_string(c.shape);
    }
  }
}

// ---- gather and scatter ----------------------------------------------------------------

// Starts with negative, out-of-range and clamped values, converted to `dtype` as the CPU
// sees them (negative values in unsigned dtypes wrap to large ones, which clamp).
Tensor starts(const std::vector<std::int64_t>& v, const Shape& shape, DType dtype) {
  return astype(tensor<std::int64_t>(v, shape), dtype);
}

struct IndexCase {
  Shape x;
  std::vector<int> axes;
  std::vector<std::int64_t> idx;
  Shape idx_shape, window;  // window: gather's slice sizes, scatter's update window
};

const IndexCase kIndexCases[] = {
    // Embedding rows (moved in wide units), with duplicates and clamped starts.
    {{10, 32}, {0}, {3, 7, 3, -1, 9, 99, 0, 3}, {8, 1}, {1, 32}},
    {{10, 6}, {0}, {3, 7, 3, -1, 9, -99, 0, 3}, {8, 1}, {1, 6}},
    // Windows that overlap partly on an indexed axis.
    {{12}, {0}, {0, 2, 3, 8, 9, -3, 2}, {7, 1}, {4}},
    {{7, 8}, {0, 1}, {0, 0, 1, 1, 5, 6, 4, 7, -1, -1, 1, 1}, {6, 2}, {3, 2}},
    // A window spanning an indexed axis, indexed axes in reverse order.
    {{5, 6, 4}, {2, 0}, {1, 0, 3, 4, 1, 2, -4, 0}, {4, 2}, {5, 2, 1}},
    // No indexed axes: every window at the origin.
    {{4, 3}, {}, {}, {3, 0}, {2, 3}},
    // A batch of two axes.
    {{9, 5}, {1}, {0, 4, 2, 2, -1, 3}, {2, 3, 1}, {9, 1}},
    // No index rows.
    {{4, 3}, {0}, {}, {0, 1}, {1, 3}},
};

TEST_F(CudaShape, GatherMatchesTheCpu) {
  int seed = 200;
  for (DType d : kAllDTypes) {
    for (const IndexCase& c : kIndexCases) {
      for (DType id : kIndexDTypes) {
        Tensor x = sample(seed++, c.x, d);
        Tensor idx = starts(c.idx, c.idx_shape, id);
        Tensor want = gather(x, idx, c.axes, c.window);
        Tensor got = gather(on(x, gpu), on(idx, gpu), c.axes, c.window);
        EXPECT_TRUE(exact(to_host(got), want))
            << name(d) << " x" << to_string(c.x) << " idx " << name(id);
      }
    }
    // A strided x (the op layer makes it contiguous) and a 0-d x.
    Tensor x = transpose(sample(seed++, {6, 10}, d));
    Tensor idx = starts({2, 5, 9, 0}, {4, 1}, DType::s32);
    EXPECT_TRUE(
        exact(to_host(gather(on(x, gpu), on(idx, gpu), {0}, {1, 6})), gather(x, idx, {0}, {1, 6})))
        << name(d);
    Tensor s = sample(seed++, {}, d);
    Tensor none = zeros({3, 0}, DType::s64);
    EXPECT_TRUE(exact(to_host(gather(on(s, gpu), on(none, gpu), {}, {})), gather(s, none, {}, {})))
        << name(d);
  }
}

using ScatterFn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const std::vector<int>&);

// The update shape for a case: the index batch, then the window.
Shape update_shape(const IndexCase& c) {
  Shape s(c.idx_shape.begin(), c.idx_shape.end() - 1);
  s.insert(s.end(), c.window.begin(), c.window.end());
  return s;
}

TEST_F(CudaShape, ScattersMatchTheCpu) {
  // Duplicates: scatter keeps the last row's value (as the CPU, by claims); max and min
  // are order-independent; sums of quarter-integers and of integers (wrapping) are exact
  // in any order.
  const std::pair<const char*, ScatterFn> fns[] = {{"scatter", scatter},
                                                   {"scatter_add", scatter_add},
                                                   {"scatter_max", scatter_max},
                                                   {"scatter_min", scatter_min}};
  int seed = 300;
  for (DType d : kAllDTypes) {
    for (const IndexCase& c : kIndexCases) {
      for (DType id : {DType::s32, DType::u64, DType::s8}) {
        Tensor x = small(seed++, c.x, d);
        Tensor u = small(seed++, update_shape(c), d);
        if (is_floating(d) && c.x.size() == 2) {  // NaNs for max/min in some cases
          x = where(greater(sample(seed++, c.x, DType::f32), full({}, 45.0, DType::f32)),
                    full({}, NAN, d), x);
        }
        Tensor idx = starts(c.idx, c.idx_shape, id);
        Tensor gx = on(x, gpu), gi = on(idx, gpu), gu = on(u, gpu);
        for (auto [op, f] : fns) {
          if (d == DType::c64 &&
              (std::string(op) == "scatter_max" || std::string(op) == "scatter_min"))
            continue;
          EXPECT_TRUE(exact(to_host(f(gx, gi, gu, c.axes)), f(x, idx, u, c.axes)))
              << op << " " << name(d) << " x" << to_string(c.x) << " idx " << name(id);
        }
      }
    }
  }
}

TEST_F(CudaShape, ScatterAddOfRandomFloatsIsWithinTheReorderingBound) {
  // 64 rows into 5 (about 13 duplicates each) of values in [-60, 60]. Summing k terms in
  // another order changes the result by at most about 2 k u sum|terms| (u = 2^-24 for
  // f32, 2^-53 for f64): with k <= 65 and sum|terms| <= 3900, atol 3e-2 (f32) and 6e-11
  // (f64) bound it; a lost or doubled update (|value| up to 60) would not pass.
  for (DType d : {DType::f32, DType::f64}) {
    Tensor x = sample(1, {5, 40}, d);
    Tensor u = sample(2, {64, 40}, d);
    Tensor idx =
        astype(floor(random::uniform(random::key(3), {64, 1}, DType::f32, 0.0, 5.0)), DType::s32);
    Tensor want = scatter_add(x, idx, u, {0});
    Tensor got = to_host(scatter_add(on(x, gpu), on(idx, gpu), on(u, gpu), {0}));
    EXPECT_TRUE(all_close(got, want, 0.0, d == DType::f32 ? 3e-2 : 6e-11)) << name(d);
  }
}

TEST_F(CudaShape, ScatterKeepsTheLastOfManyDuplicates) {
  // Oracle: the CPU (rows in order). 20000 rows into 3 cells, so the claims race hard;
  // each update is its row number, so the winner is visible.
  const std::int64_t rows = 20000;
  Tensor u = reshape(arange(0.0, static_cast<double>(rows), 1.0, DType::f32), {rows, 1});
  Tensor idx =
      astype(floor(random::uniform(random::key(9), {rows, 1}, DType::f32, 0.0, 3.0)), DType::s64);
  Tensor x = zeros({3, 1});
  Tensor want = scatter(x, idx, u, {0});
  EXPECT_TRUE(all_equal(to_host(scatter(on(x, gpu), on(idx, gpu), on(u, gpu), {0})), want));
  // Per-element claims (windows of 2 overlapping partly on the indexed axis).
  Tensor u2 =
      broadcast_to(reshape(arange(0.0, static_cast<double>(rows), 1.0), {rows, 1}), {rows, 2});
  Tensor x2 = zeros({4});
  Tensor want2 = scatter(x2, idx, contiguous(u2), {0});
  EXPECT_TRUE(all_equal(to_host(scatter(on(x2, gpu), on(idx, gpu), on(u2, gpu), {0})), want2));
}

// ---- windows -----------------------------------------------------------------------------

struct WindowCase {
  Shape x, window;
  WindowOptions options;
  bool transpose;
};

const WindowCase kWindowCases[] = {
    // Pooling: stride 2, padding on both sides; plain leading axes merge.
    {{2, 3, 9, 11}, {1, 1, 3, 3}, {{1, 1, 2, 2}, {0, 0, 1, 1}, {0, 0, 1, 0}, {}}, false},
    // Dilation and windows on the leading axes.
    {{4, 5, 7}, {2, 3, 2}, {{1, 1, 1}, {}, {}, {1, 2, 3}}, false},
    // A strided input.
    {{7, 6}, {2, 3}, {{2, 1}, {1, 0}, {0, 2}, {}}, true},
    // Windows entirely in the padding hold the identity.
    {{3}, {2}, {{1}, {4}, {4}, {}}, false},
    // Negative padding crops.
    {{10, 4}, {3, 1}, {{2, 1}, {-1, 0}, {-2, 0}, {}}, false},
    // An empty input padded to a non-empty output, and a 0-d input.
    {{0, 4}, {1, 2}, {{}, {1, 0}, {1, 0}, {}}, false},
    {{}, {}, {}, false},
    // Larger than one grid.
    {{8, 64, 130}, {1, 3, 3}, {{1, 1, 1}, {0, 1, 1}, {0, 1, 1}, {}}, false},
};

using WindowFn = Tensor (*)(const Tensor&, const Shape&, const WindowOptions&);

TEST_F(CudaShape, WindowReductionsMatchTheCpu) {
  // Sums and products are bit-identical: same accumulator, same tap order (integer
  // products wrap the same way; f16 products that overflow give inf on both sides).
  const std::pair<const char*, WindowFn> fns[] = {{"window_sum", window_sum},
                                                  {"window_product", window_product},
                                                  {"window_max", window_max},
                                                  {"window_min", window_min}};
  int seed = 400;
  for (DType d : kAllDTypes) {
    for (const WindowCase& c : kWindowCases) {
      Shape shape = c.x;
      if (c.transpose) std::reverse(shape.begin(), shape.end());
      Tensor x = with_nans(seed++, shape, d);
      if (d == DType::c64) x = sample(seed++, shape, d) * 0.02;  // products stay finite
      if (c.transpose) x = transpose(x);
      Tensor gx = on(x, gpu);
      for (auto [op, f] : fns) {
        const std::string o = op;
        if (d == DType::bool_ && (o == "window_sum" || o == "window_product")) continue;
        if (d == DType::c64 && (o == "window_max" || o == "window_min")) continue;
        EXPECT_TRUE(exact(to_host(f(gx, c.window, c.options)), f(x, c.window, c.options)))
            << op << " " << name(d) << " x" << to_string(c.x);
      }
    }
  }
}

TEST_F(CudaShape, WindowScattersMatchTheCpu) {
  // The GPU adds each element's selected sources in window order, as the CPU: exact.
  // Integer x in a narrow range makes ties (the first in window order wins).
  int seed = 500;
  for (DType d : kAllDTypes) {
    if (d == DType::c64) continue;  // x must be ordered
    for (const WindowCase& c : kWindowCases) {
      Shape shape = c.x;
      if (c.transpose) std::reverse(shape.begin(), shape.end());
      Tensor x =
          is_floating(d)
              ? with_nans(seed++, shape, d)
              : astype(floor(random::uniform(random::key(seed++), shape, DType::f32, 0.0, 3.0)), d);
      if (c.transpose) x = transpose(x);
      Tensor probe = window_max(x, c.window, c.options);  // the source's shape
      const DType source_dtypes[] = {d == DType::bool_ ? DType::f32 : d, DType::c64};
      for (DType sd : source_dtypes) {
        Shape ss = probe.shape();
        std::reverse(ss.begin(), ss.end());
        Tensor source = transpose(sample(seed++, ss, sd));  // strided
        Tensor init = sample(seed++, {}, sd);
        Tensor gx = on(x, gpu), gs = on(source, gpu), gi = on(init, gpu);
        EXPECT_TRUE(exact(to_host(window_scatter_max(gx, gs, gi, c.window, c.options)),
                          window_scatter_max(x, source, init, c.window, c.options)))
            << "max " << name(d) << " source " << name(sd) << " x" << to_string(c.x);
        EXPECT_TRUE(exact(to_host(window_scatter_min(gx, gs, gi, c.window, c.options)),
                          window_scatter_min(x, source, init, c.window, c.options)))
            << "min " << name(d) << " source " << name(sd) << " x" << to_string(c.x);
      }
    }
  }
}

}  // namespace
}  // namespace emily
