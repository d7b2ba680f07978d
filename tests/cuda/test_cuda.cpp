// The CUDA backend against the CPU backend. Oracle: the same op on the same inputs on
// the CPU. Tolerances per op and dtype: exact where both sides round one IEEE operation
// (arithmetic, sqrt, comparisons, casts, copies; NaN matching NaN); for transcendental functions
// CUDA's libdevice and the CPU's libm may differ by a few ULP, so f32 gets rtol 4e-6,
// f64 rtol 1e-14, f16/bf16 one unit of their own precision (rtol 1e-3 / 8e-3).
// Every test skips, saying why, on a machine without a CUDA device.
#include <set>

#include "emily/compile.h"
#include "emily/telemetry.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
  Device gpu = Device::cuda(0);
};

const DType kRealDTypes[] = {DType::bool_, DType::u8,  DType::u16, DType::u32, DType::u64,
                             DType::s8,    DType::s16, DType::s32, DType::s64, DType::f16,
                             DType::bf16,  DType::f32, DType::f64};

// Random values in a range every dtype holds (so casts compare meaningfully).
Tensor sample(std::uint64_t seed, const Shape& shape, DType dtype) {
  Tensor x = random::uniform(random::key(seed), shape, DType::f32, -60.0, 60.0);
  if (dtype == DType::bool_) return greater(x, scalar_like(x, 0.0));
  if (is_unsigned(dtype)) x = abs(x);
  return astype(x, dtype);
}

// exact: equal values, except that any NaN matches any NaN (the CPU's default NaN has
// its sign bit set, CUDA's has not; NaN payloads carry no meaning here).
::testing::AssertionResult matches(const Tensor& got, const Tensor& want, bool exact) {
  if (!is_inexact(want.dtype()) || got.dtype() != want.dtype()) return all_equal(got, want);
  if (exact) return all_close(got, want, 0.0, 0.0);
  switch (want.dtype()) {
    case DType::f16:
      return all_close(got, want, 1e-3, 1e-5);
    case DType::bf16:
      return all_close(got, want, 8e-3, 1e-5);
    case DType::f64:
      return all_close(got, want, 1e-14, 1e-300);
    default:
      return all_close(got, want, 4e-6, 1e-30);
  }
}

TEST_F(Cuda, TransfersRoundTripEveryDtype) {
  for (DType d : kRealDTypes) {
    Tensor x = sample(1, {3, 5}, d);
    Tensor g = to_device(x, gpu);
    EXPECT_EQ(g.device(), gpu);
    EXPECT_TRUE(all_equal(to_host(g), x)) << name(d);
    // A strided view moves as its values.
    EXPECT_TRUE(all_equal(to_host(to_device(transpose(x), gpu)), contiguous(transpose(x))))
        << name(d);
  }
  Tensor c = astype(testing::iota({4}), DType::c64);
  EXPECT_TRUE(all_equal(to_host(to_device(c, gpu)), c));
}

using Unary = Tensor (*)(const Tensor&);
using Binary = Tensor (*)(const Tensor&, const Tensor&);

TEST_F(Cuda, ElementwiseMatchesTheCpu) {
  // Layouts: dense, transposed, broadcast row, empty and 0-d.
  struct Case {
    Shape a, b;
    bool transpose_a;
  };
  const Case cases[] = {{{33, 40}, {33, 40}, false},
                        {{40, 33}, {33, 40}, true},
                        {{33, 40}, {40}, false},
                        {{0, 3}, {0, 3}, false},
                        {{}, {}, false}};
  std::set<std::string> fallbacks;
  auto id = telemetry::attach("emily.fallback.start", [&](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) fallbacks.insert(*op);
  });
  const std::pair<const char*, Binary> binaries[] = {
      {"add", add},           {"subtract", subtract},
      {"multiply", multiply}, {"divide", divide},
      {"maximum", maximum},   {"minimum", minimum},
      {"equal", equal},       {"not_equal", not_equal},
      {"less", less},         {"less_equal", less_equal},
      {"greater", greater},   {"greater_equal", greater_equal}};
  const std::pair<const char*, Unary> exact_unaries[] = {
      {"negate", negate}, {"abs", abs}, {"sqrt", sqrt}, {"floor", floor}, {"ceil", ceil}};
  const std::pair<const char*, Unary> unaries[] = {
      {"exp", exp},   {"log", log},         {"sin", sin},    {"cos", cos},
      {"tanh", tanh}, {"sigmoid", sigmoid}, {"rsqrt", rsqrt}};
  int seed = 10;
  for (DType d : kRealDTypes) {
    for (const Case& c : cases) {
      Tensor a = sample(seed++, c.a, d), b = sample(seed++, c.b, d);
      if (c.transpose_a) a = transpose(a);
      Tensor ga = to_device(a, gpu), gb = to_device(b, gpu);
      const std::string where = std::string(name(d)) + " " + to_string(c.a);
      for (auto [op, f] : binaries) {
        if (d == DType::bool_ && std::string(op) == "subtract") continue;  // not defined
        Tensor want = f(a, b);
        EXPECT_TRUE(matches(to_host(f(ga, gb)), want, true)) << op << " " << where;
      }
      if (d == DType::bool_) continue;
      for (auto [op, f] : exact_unaries) {
        if (!is_inexact(d) && std::string(op) != "negate" && std::string(op) != "abs") continue;
        EXPECT_TRUE(matches(to_host(f(ga)), f(a), true)) << op << " " << where;
      }
      if (!is_inexact(d)) continue;
      Tensor pa = abs(a) + 0.5, gpa = to_device(pa, gpu);  // in every function's domain
      for (auto [op, f] : unaries)
        EXPECT_TRUE(matches(to_host(f(gpa)), f(pa), false)) << op << " " << where;
    }
  }
  telemetry::detach(id);
  EXPECT_TRUE(fallbacks.empty()) << "fell back: " << *fallbacks.begin();
}

TEST_F(Cuda, CastsBetweenEveryRealDtypeAreExact) {
  for (DType from : kRealDTypes) {
    Tensor x = sample(100 + static_cast<int>(from), {7, 9}, from);
    Tensor g = to_device(x, gpu);
    for (DType to : kRealDTypes)
      EXPECT_TRUE(all_equal(to_host(astype(g, to)), astype(x, to)))
          << name(from) << " -> " << name(to);
  }
  // Out-of-range and NaN floats saturate and map to 0, as on the CPU.
  Tensor edge = tensor<float>({1e10f, -1e10f, std::nanf(""), 3.7f, -3.7f});
  for (DType to : {DType::s8, DType::u8, DType::s32, DType::u64})
    EXPECT_TRUE(all_equal(to_host(astype(to_device(edge, gpu), to)), astype(edge, to))) << name(to);
}

TEST_F(Cuda, WhereAndCopyMatchTheCpu) {
  Tensor c = sample(7, {6, 8}, DType::bool_);
  Tensor a = sample(8, {8, 6}, DType::f32), b = sample(9, {8}, DType::f32);
  Tensor want = where(c, transpose(a), b);
  Tensor got = where(to_device(c, gpu), transpose(to_device(a, gpu)), to_device(b, gpu));
  EXPECT_TRUE(all_equal(to_host(got), want));
  EXPECT_TRUE(
      all_equal(to_host(contiguous(transpose(to_device(a, gpu)))), contiguous(transpose(a))));
}

TEST_F(Cuda, LayoutsNoKernelTakesFallBackToTheCpu) {
  // Every primitive has a CUDA kernel; a view whose axes cannot merge to kMaxDims (nine
  // axes reversed) is the documented case a kernel hands to the CPU. Oracle: the CPU
  // result; the fallback is visible in telemetry.
  int events = 0;
  auto id = telemetry::attach("emily.fallback.start", [&](const telemetry::Event&) { ++events; });
  Tensor x = sample(3, Shape(9, 2), DType::f32);
  const std::vector<int> perm = {8, 7, 6, 5, 4, 3, 2, 1, 0};
  Tensor got = to_host(negate(transpose(to_device(x, gpu), perm)));
  telemetry::detach(id);
  EXPECT_TRUE(all_equal(got, negate(transpose(x, perm))));
  EXPECT_GE(events, 1);
}

TEST_F(Cuda, MemoryStatsAndLimits) {
  const std::size_t before = memory_info(gpu).active;
  {
    Tensor t = Tensor::empty({1 << 20}, DType::f32, gpu);
    EXPECT_EQ(memory_info(gpu).active, before + (4u << 20));
    EXPECT_GE(memory_info(gpu).peak, before + (4u << 20));
  }
  EXPECT_EQ(memory_info(gpu).active, before);
  const std::size_t previous = set_memory_limit(before + (1u << 20), gpu);
  EXPECT_EMILY_ERROR(Tensor::empty({1 << 20}, DType::f32, gpu), OutOfMemory, "allocator");
  set_memory_limit(previous, gpu);
  Tensor again = Tensor::empty({1 << 20}, DType::f32, gpu);  // the process goes on
  EXPECT_EQ(again.nbytes(), 4u << 20);
  clear_cache(gpu);
  EXPECT_EQ(memory_info(gpu).active, before + (4u << 20));
}

TEST_F(Cuda, AllocationsBeyondTheCardRaiseOutOfMemory) {
  EXPECT_EMILY_ERROR(Tensor::empty({std::int64_t{1} << 40}, DType::f32, gpu), OutOfMemory,
                     "allocator");
  Tensor ok = to_device(testing::iota({4}), gpu);
  EXPECT_TRUE(all_equal(to_host(ok + ok), testing::iota({4}) * 2.0));
}

TEST_F(Cuda, StreamsRunWorkInOrder) {
  Stream s = new_stream(gpu);
  Tensor x = sample(4, {256, 256}, DType::f32);
  Tensor got;
  {
    StreamGuard guard(s);
    Tensor g = to_device(x, gpu);
    for (int i = 0; i < 10; ++i) g = g * 1.5 + 1.0;
    got = g;
    synchronize(s);
  }
  Tensor want = x;
  for (int i = 0; i < 10; ++i) want = want * 1.5 + 1.0;
  EXPECT_TRUE(all_equal(to_host(got), want));
}

// ||got - want|| / ||want|| in f64.
double relative_error(const Tensor& got, const Tensor& want) {
  Tensor g = astype(to_host(got), DType::f64), w = astype(want, DType::f64);
  const double den = std::sqrt(sum(w * w).item<double>());
  const double num = std::sqrt(sum((g - w) * (g - w)).item<double>());
  return den == 0.0 ? num : num / den;
}

TEST_F(Cuda, MatmulMatchesTheCpu) {
  // Oracle: the CPU (OpenBLAS, f32 accumulation for f16/bf16). Bounds on the normwise
  // relative error: summation order differs, so f32 2e-6, f64 1e-14; f16/bf16 results
  // round to their own precision (1e-3, 8e-3).
  struct Case {
    Shape a, b;
    bool transpose_b;
  };
  const Case cases[] = {{{64, 48}, {48, 80}, false},
                        {{3, 17, 33}, {3, 33, 9}, false},
                        {{2, 1, 8, 16}, {5, 16, 4}, false},
                        {{7, 32}, {24, 32}, true},
                        {{32}, {32, 5}, false},
                        {{4, 6}, {6}, false},
                        {{1, 300}, {300, 700}, false},
                        // M = 1 (gemv.cu): matrix rows of N, rows of K (a transposed view),
                        // a short K split across many blocks, and an unaligned row length.
                        {{1, 4096}, {4096, 512}, false},
                        {{1, 1024}, {768, 1024}, true},
                        {{1, 2048}, {2048, 64}, false},
                        {{1, 40}, {37, 40}, true},
                        // Rows of N in one cluster launch: K split over 8 blocks with
                        // ragged ends (1000, odd 777), N ending in a partial column tile
                        // (2056 = 8 * 257); rows of K with N not a multiple of a block's 8
                        // outputs and K past the unrolled steps; few rows of a long K (8
                        // warps share each row) with a scalar tail.
                        {{1, 1000}, {1000, 4096}, false},
                        {{1, 777}, {777, 2056}, false},
                        {{1, 600}, {600, 4608}, false},
                        {{1, 1000}, {1030, 1000}, true},
                        {{1, 4100}, {130, 4100}, true},
                        {{5, 0}, {0, 3}, false}};
  int seed = 300;
  int fallbacks = 0;
  auto id =
      telemetry::attach("emily.fallback.start", [&](const telemetry::Event&) { ++fallbacks; });
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::f64}) {
    const double bound = d == DType::f32   ? 2e-6
                         : d == DType::f64 ? 1e-14
                         : d == DType::f16 ? 1e-3
                                           : 8e-3;
    for (const Case& c : cases) {
      Tensor a = astype(random::normal(random::key(seed++), c.a), d);
      Tensor b = astype(random::normal(random::key(seed++), c.b), d);
      if (c.transpose_b) b = transpose(b);
      Tensor want = matmul(a, b);
      Tensor got = matmul(to_device(a, gpu), to_device(b, gpu));
      EXPECT_EQ(got.shape(), want.shape());
      EXPECT_EQ(got.dtype(), want.dtype());
      EXPECT_LE(relative_error(got, want), bound)
          << name(d) << " " << to_string(c.a) << " @ " << to_string(c.b);
    }
  }
  telemetry::detach(id);
  EXPECT_EQ(fallbacks, 0);
  // Integers have no cuBLASLt path: they run on the CPU, exactly.
  Tensor i = astype(testing::iota({3, 4}), DType::s32);
  EXPECT_TRUE(all_equal(to_host(matmul(to_device(i, gpu), to_device(transpose(i), gpu))),
                        matmul(i, transpose(i))));
}

TEST_F(Cuda, GemvStridedWeightsMatchTheCpu) {
  // Oracle: the CPU, bounds as in MatmulMatchesTheCpu. Weights as views into wider rows
  // (a leading dimension past the row's length), made on the GPU so gemv.cu reads the
  // strides: rows of K = 1001 of 1008, not a multiple of a 16-byte load (a scalar tail);
  // rows of N = 2056 of 2064, K = 600 split over a cluster's 8 blocks.
  int seed = 900;
  for (DType d : {DType::f32, DType::f16, DType::bf16}) {
    const double bound = d == DType::f32 ? 2e-6 : d == DType::f16 ? 1e-3 : 8e-3;
    Tensor wide = astype(random::normal(random::key(seed++), {300, 1008}), d);
    Tensor x = astype(random::normal(random::key(seed++), {1, 1001}), d);
    Tensor want = matmul(x, slice(transpose(wide), {0, 0}, {1001, 300}));
    Tensor view = slice(transpose(to_device(wide, gpu)), {0, 0}, {1001, 300});
    ASSERT_EQ(view.strides()[0], 1);
    EXPECT_LE(relative_error(matmul(to_device(x, gpu), view), want), bound) << name(d);

    Tensor wide_n = astype(random::normal(random::key(seed++), {600, 2064}), d);
    Tensor xn = astype(random::normal(random::key(seed++), {1, 600}), d);
    Tensor want_n = matmul(xn, slice(wide_n, {0, 0}, {600, 2056}));
    Tensor view_n = slice(to_device(wide_n, gpu), {0, 0}, {600, 2056});
    ASSERT_EQ(view_n.strides()[0], 2064);
    EXPECT_LE(relative_error(matmul(to_device(xn, gpu), view_n), want_n), bound) << name(d);
  }
}

TEST_F(Cuda, MatmulTf32IsOptIn) {
  // Oracle: the product in f64 on the CPU. Strict f32 (the default) stays within 2e-6
  // normwise; with EMILY_MATMUL_TF32=1 (ctest runs this once more with it set) inputs
  // round to TF32's 10-bit mantissa, so the error grows past 1e-5 yet stays under 1e-2.
  Tensor a = random::normal(random::key(41), {512, 512});
  Tensor b = random::normal(random::key(42), {512, 512});
  Tensor want = matmul(astype(a, DType::f64), astype(b, DType::f64));
  Tensor got = astype(to_host(matmul(to_device(a, gpu), to_device(b, gpu))), DType::f64);
  const double err = relative_error(got, want);
  if (config::settings().matmul_tf32) {
    EXPECT_GT(err, 1e-5) << "TF32 was asked for but the product looks strict";
    EXPECT_LT(err, 1e-2);
  } else {
    EXPECT_LT(err, 2e-6);
  }
}

TEST_F(Cuda, ReductionsMatchTheCpu) {
  // Oracle: the CPU. Integer sums/products wrap identically and max/min/all/any select
  // values, so those are exact; float sums differ in order (pairwise on the CPU, a tree
  // here): relative error bounds 1e-5 (f32), 1e-13 (f64), and the result's own rounding
  // for f16/bf16 (2e-3, 1.6e-2 relative to the sum of magnitudes).
  struct Case {
    Shape shape;
    std::vector<int> axes;
    bool transpose;
  };
  const Case cases[] = {{{37, 300}, {1}, false},    {{37, 300}, {0}, false},
                        {{6, 7, 8}, {0, 2}, false}, {{6, 7, 8}, {1}, true},
                        {{500}, {0}, false},        {{4, 0}, {1}, false},
                        {{3, 5}, {0, 1}, false}};
  int fallbacks = 0;
  auto id =
      telemetry::attach("emily.fallback.start", [&](const telemetry::Event&) { ++fallbacks; });
  int seed = 700;
  for (DType d : kRealDTypes) {
    for (const Case& c : cases) {
      Tensor x = sample(seed++, c.shape, d);
      if (c.transpose) x = transpose(x);
      Tensor g = to_device(x, gpu);
      const std::string where = std::string(name(d)) + " " + to_string(c.shape);
      Tensor want = sum(x, c.axes), got = to_host(sum(g, c.axes));
      if (is_inexact(d)) {
        const double tol = d == DType::f32   ? 1e-5
                           : d == DType::f64 ? 1e-13
                           : d == DType::f16 ? 2e-3
                                             : 1.6e-2;
        Tensor scale = astype(sum(abs(astype(x, DType::f64)), c.axes), DType::f64);
        Tensor err = abs(astype(got, DType::f64) - astype(want, DType::f64));
        EXPECT_TRUE(all(less_equal(err, scale * tol + 1e-30)).item<bool>()) << "sum " << where;
      } else {
        EXPECT_TRUE(all_equal(got, want)) << "sum " << where;
        Tensor small = d == DType::bool_ ? x : remainder(x, scalar_like(x, 3.0));
        EXPECT_TRUE(
            all_equal(to_host(product(to_device(small, gpu), c.axes)), product(small, c.axes)))
            << "product " << where;
      }
      EXPECT_TRUE(all_equal(to_host(any(g, c.axes)), any(x, c.axes))) << "any " << where;
      EXPECT_TRUE(all_equal(to_host(all(g, c.axes)), all(x, c.axes))) << "all " << where;
      if (x.size() == 0) continue;
      EXPECT_TRUE(all_equal(to_host(max(g, c.axes)), max(x, c.axes))) << "max " << where;
      EXPECT_TRUE(all_equal(to_host(min(g, c.axes)), min(x, c.axes))) << "min " << where;
    }
  }
  // NaN propagates through max and min.
  Tensor n = tensor<float>({1.0f, std::nanf(""), 3.0f});
  EXPECT_TRUE(std::isnan(to_host(max(to_device(n, gpu))).item<float>()));
  EXPECT_TRUE(std::isnan(to_host(min(to_device(n, gpu))).item<float>()));
  telemetry::detach(id);
  EXPECT_EQ(fallbacks, 0);
}

TEST_F(Cuda, ConcatenateAndGathersMatchTheCpu) {
  // Oracle: the CPU; these only move elements, so every comparison is exact.
  int fallbacks = 0;
  auto id =
      telemetry::attach("emily.fallback.start", [&](const telemetry::Event&) { ++fallbacks; });
  int seed = 900;
  for (DType d : {DType::bool_, DType::f16, DType::f32, DType::s64}) {
    Tensor a = sample(seed++, {4, 6}, d), b = sample(seed++, {6, 3}, d);
    Tensor e = sample(seed++, {0, 6}, d);
    Tensor ga = to_device(a, gpu), gb = to_device(b, gpu), ge = to_device(e, gpu);
    EXPECT_TRUE(all_equal(to_host(concatenate({ga, transpose(gb), ge}, 0)),
                          concatenate({a, transpose(b), e}, 0)))
        << name(d);
    Tensor c = sample(seed++, {5, 4}, d);
    EXPECT_TRUE(all_equal(to_host(concatenate({ga, transpose(to_device(c, gpu))}, 1)),
                          concatenate({a, transpose(c)}, 1)))
        << name(d);
    // Embedding-style lookups, indices of several dtypes, negative and out of range
    // (clamped).
    Tensor table = sample(seed++, {10, 5}, d), g_table = to_device(table, gpu);
    for (DType it : {DType::s32, DType::s64, DType::u8}) {
      Tensor ids = astype(tensor<std::int32_t>({3, 0, 9, 12, -1, 4}, {2, 3}), it);
      if (it == DType::u8) ids = astype(tensor<std::int32_t>({3, 0, 9, 200, 1, 4}, {2, 3}), it);
      EXPECT_TRUE(all_equal(to_host(take(g_table, to_device(ids, gpu), 0)), take(table, ids, 0)))
          << name(d) << " " << name(it);
      EXPECT_TRUE(all_equal(to_host(take(g_table, to_device(ids, gpu), 1)), take(table, ids, 1)))
          << name(d) << " " << name(it);
    }
    Tensor order = argsort(astype(table, DType::f32), 1);
    EXPECT_TRUE(all_equal(to_host(take_along_axis(g_table, to_device(order, gpu), 1)),
                          take_along_axis(table, order, 1)))
        << name(d);
  }
  telemetry::detach(id);
  EXPECT_EQ(fallbacks, 0);
}

TEST_F(Cuda, CompiledFunctionsReplayOnTheGpu) {
  // Oracle: eager on the GPU (native replay runs the same kernels: bitwise).
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{maximum(in[0] * in[1] + 1.0, scalar_like(in[0], 0.0))};
  };
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(fn, o);
  Tensor a = to_device(sample(5, {64, 64}, DType::f32), gpu);
  Tensor b = to_device(sample(6, {64}, DType::f32), gpu);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(all_equal(to_host(f({a, b})[0]), to_host(fn({a, b})[0])));
}

}  // namespace
}  // namespace emily
