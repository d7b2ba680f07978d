// Fuse mode on the GPU: elementwise chains run as one kernel generated from the plan's
// fused program and compiled with NVRTC (backend/cuda/fused.cpp, kernel_cache.cpp).
//
// Oracle: eager on the GPU, i.e. the standalone CUDA kernels, one per primitive.
// Tolerance: 4 ULP for f32 (the fuse tolerance of docs/COMPILER.md), 1e-15 relative for
// f64 (about 4.5 ULP), 2 units of f16/bf16 precision (bitwise expected: see matches());
// bool and integer results bitwise. Every test skips, saying why, on a machine
// without a CUDA device.
#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "emily/compile.h"
#include "emily/config.h"
#include "emily/telemetry.h"
#include "support/testing.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/kernel_cache.h"  // the cache's directory and process-fresh hooks
#endif

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::within_ulps;

class CudaFuse : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
  Device gpu = Device::cuda(0);
};

Tensor sample(std::uint64_t seed, const Shape& shape, DType dtype, Device d) {
  return to_device(astype(random::uniform(random::key(seed), shape, DType::f32, -2.0, 2.0), dtype),
                   d);
}

// Counts events whose name starts with `prefix` while it lives, by their "cache" value.
struct Events {
  explicit Events(std::string prefix)
      : id(telemetry::attach(std::move(prefix), [this](const telemetry::Event& e) {
          ++n;
          const std::string* cache = e.find("cache");
          if (cache && *cache == "miss") ++misses;
          if (cache && *cache == "disk") ++disk_hits;
          if (const std::string* d = e.find("disk")) disk = *d;
          if (const std::string* r = e.find("reason")) reason = *r;
        })) {}
  ~Events() { telemetry::detach(id); }
  int n = 0, misses = 0, disk_hits = 0;
  std::string disk;    // the last miss's reading of the disk entry
  std::string reason;  // the last event's reason (an unrecorded plan says why)
  telemetry::HandlerId id;
};

// Compile events are the start events of the "kernel_compile" span.
constexpr const char* kCompile = "emily.kernel_compile.start";

// More than eight elementwise steps over a dense operand, a row broadcast over it, a
// transposed one, and scalars.
std::vector<Tensor> chain(const std::vector<Tensor>& in) {
  const Tensor& a = in[0];
  Tensor row = broadcast_to(in[1], a.shape());
  Tensor t = transpose(in[2]);
  Tensor h = a * row + t;
  h = tanh(h) * 0.5 - sigmoid(t);
  h = maximum(h, a - 1.0);
  h = minimum(h, exp(-abs(t)) / (sqrt(abs(a)) + 1.0));
  h = h + log(1.0 + a * a) * cos(t) - sin(row) + floor(a) - ceil(t);
  h = h / rsqrt(abs(row) + 0.25);
  return {h, -h};
}

std::vector<Tensor> chain_inputs(std::int64_t rows, std::int64_t cols, DType dtype, Device d,
                                 std::uint64_t seed) {
  return {sample(seed, {rows, cols}, dtype, d), sample(seed + 1, {cols}, dtype, d),
          sample(seed + 2, {cols, rows}, dtype, d)};
}

// Comparisons choosing between values, NaNs from log and sqrt of negatives (maximum and
// minimum propagate them), and a bool result.
std::vector<Tensor> choose(const std::vector<Tensor>& in) {
  const Tensor &a = in[0], &b = in[1];
  Tensor zero = a * 0.0;
  Tensor pick = where(less(a, b), exp(a), a * b);
  pick = where(greater_equal(pick, b * 0.5), pick, b - pick);
  pick = where(less_equal(a, zero), pick, maximum(pick, a));
  pick = where(greater(b, a), pick + 1.0, pick);
  Tensor nan_side = maximum(log(a), b) + minimum(b, sqrt(a));
  Tensor mask = not_equal(where(equal(a, b), zero, a), zero);
  return {pick, nan_side, mask};
}

// Conversions between f32, f64 and bool inside one chain.
std::vector<Tensor> casts(const std::vector<Tensor>& in) {
  const Tensor& a = in[0];  // f32
  Tensor wide = astype(a, DType::f64) * 3.0 + 1.0;
  Tensor back = astype(exp(wide) / 7.0, DType::f32);  // one rounding to f32
  Tensor flag = astype(greater(a, a * 0.0), DType::f32);
  Tensor nonzero = astype(floor(a), DType::bool_);
  return {back * flag, astype(nonzero, DType::f64) + wide, nonzero};
}

// Conversions through f16 and bf16.
std::vector<Tensor> casts_half(const std::vector<Tensor>& in) {
  const Tensor& a = in[0];  // f32
  Tensor h = astype(exp(a), DType::f16) * astype(a, DType::f16);
  Tensor b = astype(h, DType::bf16) + astype(a * 3.0, DType::bf16);
  Tensor back = astype(b, DType::f32) + astype(h, DType::f32);
  return {back, h, astype(less(h, astype(a, DType::f16)), DType::bf16)};
}

// Integer chains: wrapping products and sums, truncating division and the divisor-signed
// remainder (divisors 0 and -1 among them), bitwise ops, comparisons and conversions.
std::vector<Tensor> integer_chain(const std::vector<Tensor>& in) {
  const Tensor &a = in[0], &b = in[1], &c = in[2];
  Tensor s = a * b + a - b;
  Tensor m = maximum(s, -a);
  Tensor q = quotient(m, c) + remainder(a, c);
  Tensor bits = bitwise_xor(bitwise_and(a, b), bitwise_or(s, q));
  Tensor pick = where(less(a, b), abs(q), minimum(bits, m));
  Tensor wide = astype(pick, DType::s64) * astype(c, DType::s64);
  return {pick, wide, greater_equal(s, m), astype(pick, DType::f32) + astype(c, DType::f64)};
}

// Operands over the dtype's whole range (64-bit ones from spread 32-bit values), and
// divisors in {-1, 0, 1, 2} (unsigned: {MAX, 0, 1, 2}).
std::vector<Tensor> integer_inputs(DType dtype, Device d, std::uint64_t seed) {
  const Shape shape{257, 129};
  auto raw = [&](std::uint64_t k) {
    Tensor x = random::bits(random::key(seed + k), shape);
    if (size_of(dtype) == 8) x = astype(astype(x, DType::s32), DType::s64) * 2654435761.0;
    return astype(x, dtype);
  };
  Tensor c =
      astype(bitwise_and(random::bits(random::key(seed + 2), shape), full({}, 3, DType::u32)),
             dtype) -
      1;
  return {to_device(raw(0), d), to_device(raw(1), d), to_device(c, d)};
}

::testing::AssertionResult matches(const Tensor& got, const Tensor& want) {
  Tensor g = to_host(got), w = to_host(want);
  if (kind(w.dtype()) == DTypeKind::signed_int || kind(w.dtype()) == DTypeKind::unsigned_int)
    return all_equal(g, w);
  if (w.dtype() == DType::f64) return all_close(g, w, 1e-15, 0.0);
  // Every step rounds to f16/bf16 as eager stores it, so results are expected bitwise;
  // 2 units of the format's precision (2^-10, 2^-7) absorb a rounding flipped by a one-ULP
  // difference of an f32 intermediate.
  if (w.dtype() == DType::f16)
    return all_close(astype(g, DType::f32), astype(w, DType::f32), 2e-3, 2e-3);
  if (w.dtype() == DType::bf16)
    return all_close(astype(g, DType::f32), astype(w, DType::f32), 1.6e-2, 1.6e-2);
  return within_ulps(g, w, 4);  // f32: 4 ULP; bool: bitwise
}

// Runs `fn` compiled in fuse mode `calls` times and checks every result against eager on
// the GPU. The first call traces (its results are eager's), the second replays the plan
// node by node (compiling the fused kernels), the third records it as a CUDA graph and
// later ones launch the recording.
void check_fused(const TensorFunction& fn, const std::vector<Tensor>& in, const std::string& what,
                 int calls = 3) {
  SCOPED_TRACE(what);
  std::vector<Tensor> want = fn(in);
  Events fallbacks("emily.fallback.start");  // counted from here: the compiled calls only
  auto f = compile(fn, testing::fuse(what));
  for (int call = 0; call < calls; ++call) {
    std::vector<Tensor> got = f(in);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k)
      EXPECT_TRUE(matches(got[k], want[k])) << "call " << call << " result " << k;
  }
  EXPECT_NE(f.dump(in).find("fused("), std::string::npos) << f.dump(in);
  EXPECT_EQ(fallbacks.n, 0) << "a node of the plan ran on the CPU";
}

// Needs no device: can_fuse on CUDA follows the generator's table.
TEST(CudaFuseTable, CanFuseAnswersForTheGeneratedSteps) {
#ifdef EMILY_HAS_CUDA
  const auto cuda = Device::Type::cuda;
  for (DType t : {DType::f32, DType::f64}) {
    for (Primitive p : {Primitive::add, Primitive::divide, Primitive::maximum, Primitive::exp,
                        Primitive::rsqrt, Primitive::sigmoid, Primitive::ceil})
      EXPECT_TRUE(can_fuse(cuda, p, t, t)) << name(p) << " " << name(t);
    EXPECT_TRUE(can_fuse(cuda, Primitive::less, t, DType::bool_));
    EXPECT_TRUE(can_fuse(cuda, Primitive::where, t, t));
    EXPECT_FALSE(can_fuse(cuda, Primitive::add, t, DType::bool_));
    EXPECT_FALSE(can_fuse(cuda, Primitive::less, t, t));
  }
  EXPECT_TRUE(can_fuse(cuda, Primitive::astype, DType::f32, DType::f64));
  EXPECT_TRUE(can_fuse(cuda, Primitive::astype, DType::bool_, DType::f32));
  EXPECT_FALSE(can_fuse(cuda, Primitive::astype, DType::f32, DType::s32));  // saturating
  for (DType t : {DType::s8, DType::u8, DType::s16, DType::u16, DType::s32, DType::u32, DType::s64,
                  DType::u64}) {
    for (Primitive p : {Primitive::add, Primitive::multiply, Primitive::negate, Primitive::abs,
                        Primitive::quotient, Primitive::remainder, Primitive::bitwise_xor,
                        Primitive::maximum, Primitive::where})
      EXPECT_TRUE(can_fuse(cuda, p, t, t)) << name(p) << " " << name(t);
    EXPECT_TRUE(can_fuse(cuda, Primitive::less_equal, t, DType::bool_)) << name(t);
    EXPECT_TRUE(can_fuse(cuda, Primitive::astype, t, DType::s64)) << name(t);
    EXPECT_TRUE(can_fuse(cuda, Primitive::astype, DType::bool_, t)) << name(t);
    EXPECT_TRUE(can_fuse(cuda, Primitive::astype, t, DType::f64)) << name(t);
    EXPECT_FALSE(can_fuse(cuda, Primitive::astype, t, DType::bf16)) << name(t);  // via double
    EXPECT_FALSE(can_fuse(cuda, Primitive::left_shift, t, t)) << name(t);
    EXPECT_FALSE(can_fuse(cuda, Primitive::add, t, DType::bool_)) << name(t);
  }
  EXPECT_FALSE(can_fuse(cuda, Primitive::add, DType::c64, DType::c64));
  EXPECT_TRUE(can_fuse(cuda, Primitive::add, DType::f16, DType::f16));
  EXPECT_TRUE(can_fuse(cuda, Primitive::less, DType::bf16, DType::bool_));
  EXPECT_TRUE(can_fuse(cuda, Primitive::astype, DType::f32, DType::bf16));
  EXPECT_FALSE(can_fuse(cuda, Primitive::astype, DType::f64, DType::f16));  // not via float
  EXPECT_FALSE(can_fuse(cuda, Primitive::add, DType::f16, DType::f32));
  EXPECT_FALSE(can_fuse(cuda, Primitive::sum, DType::f32, DType::f32));
#else
  GTEST_SKIP() << "built without CUDA";
#endif
}

// Needs no device: the disk cache's default place.
TEST(CudaFuseTable, KernelCacheDefaultsUnderHome) {
  const char* set = std::getenv("EMILY_KERNEL_CACHE");
  const char* home = std::getenv("HOME");
  if (set || !home || !*home) GTEST_SKIP() << "EMILY_KERNEL_CACHE set or HOME unset";
  EXPECT_EQ(config::settings().kernel_cache, std::string(home) + "/.cache/emily/kernels");
}

TEST_F(CudaFuse, ChainsMatchEagerAtEverySize) {
  std::uint64_t seed = 100;
  for (DType dtype : {DType::f32, DType::f64}) {
    // 15, 37 000 and 300 000 elements.
    for (auto [rows, cols] :
         {std::pair<std::int64_t, std::int64_t>{3, 5}, {185, 200}, {500, 600}}) {
      check_fused(chain, chain_inputs(rows, cols, dtype, gpu, seed += 3),
                  std::string("chain ") + std::string(name(dtype)) + " " + std::to_string(rows) +
                      "x" + std::to_string(cols));
    }
  }
}

TEST_F(CudaFuse, HalfChainsComputeInFloatAndRoundEachStep) {
  for (DType dtype : {DType::f16, DType::bf16})
    check_fused(chain, chain_inputs(185, 200, dtype, gpu, 150),
                std::string("chain ") + std::string(name(dtype)));
  check_fused(casts_half, {sample(160, {37000}, DType::f32, gpu)}, "half casts");
}

TEST_F(CudaFuse, ComparisonsWhereAndNaNs) {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (std::int64_t n : {15, 37000}) {
      std::vector<Tensor> in = {sample(200 + n, {n}, dtype, gpu), sample(300 + n, {n}, dtype, gpu)};
      check_fused(choose, in, std::string("choose ") + std::string(name(dtype)));
    }
  }
}

TEST_F(CudaFuse, IntegerChainsMatchEagerBitwise) {
  std::uint64_t seed = 800;
  for (DType dtype : {DType::s8, DType::u8, DType::s16, DType::u16, DType::s32, DType::u32,
                      DType::s64, DType::u64})
    check_fused(integer_chain, integer_inputs(dtype, gpu, seed += 3),
                std::string("integer chain ") + std::string(name(dtype)));
}

TEST_F(CudaFuse, Casts) {
  check_fused(casts, {sample(400, {300, 1000}, DType::f32, gpu)}, "casts");
}

TEST_F(CudaFuse, SecondPlanReusesTheLoadedKernel) {
  std::vector<Tensor> in = chain_inputs(37, 41, DType::f32, gpu, 500);
  auto first = compile(chain, testing::fuse("first"));
  first(in);                          // the trace
  std::vector<Tensor> a = first(in);  // the replay: its kernels compiled or loaded
  Events compiles(kCompile);
  auto second = compile(chain, testing::fuse("second"));
  second(in);
  std::vector<Tensor> b = second(in);
  EXPECT_EQ(compiles.n, 0) << "the same program was compiled or read from disk again";
  for (std::size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(all_equal(to_host(b[k]), to_host(a[k])));
}

TEST_F(CudaFuse, RecordsAsACudaGraph) {
  std::vector<Tensor> in = chain_inputs(64, 48, DType::f32, gpu, 600);
  Events recorded("emily.compile.record.start"), refused("emily.compile.unrecorded");
  check_fused(chain, in, "recorded chain", 6);
  EXPECT_EQ(recorded.n, 1) << "a plan of fused nodes should record once";
  EXPECT_EQ(refused.n, 0) << refused.reason;
}

#ifdef EMILY_HAS_CUDA
// The disk cache under a scratch directory; forget_loaded_kernels makes each step start
// as a fresh process would.
class CudaFuseDisk : public CudaFuse {
 protected:
  void SetUp() override {
    CudaFuse::SetUp();
    if (IsSkipped()) return;
    static std::atomic<int> n{0};
    dir = std::filesystem::temp_directory_path() /
          ("emily_kernels_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::remove_all(dir);
    saved = cuda::kernel_cache_dir();
    cuda::set_kernel_cache_dir(dir.string());
  }
  void TearDown() override {
    if (dir.empty()) return;
    cuda::set_kernel_cache_dir(saved);
    cuda::forget_loaded_kernels();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::vector<std::filesystem::path> entries() const {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path());
    return out;
  }
  // One fresh-process run of `choose`: its results against eager, and its compile events.
  void run_fresh() {
    cuda::forget_loaded_kernels();
    std::vector<Tensor> in = {sample(700, {999}, DType::f32, gpu),
                              sample(701, {999}, DType::f32, gpu)};
    std::vector<Tensor> want = choose(in);
    auto f = compile(choose, testing::fuse("disk"));
    f(in);                            // the trace runs eagerly
    std::vector<Tensor> got = f(in);  // the first replay compiles or loads the kernels
    for (std::size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(matches(got[k], want[k]));
  }
  std::filesystem::path dir;
  std::string saved;
};

TEST_F(CudaFuseDisk, AFreshProcessReadsTheDiskCache) {
  int kernels = 0;
  {
    Events e(kCompile);
    run_fresh();
    kernels = e.misses;
    EXPECT_GE(kernels, 1) << "nothing was compiled";
    EXPECT_EQ(e.disk, "absent");
  }
  std::vector<std::filesystem::path> files = entries();
  ASSERT_EQ(static_cast<int>(files.size()), kernels) << "one entry per kernel, no temporaries";
  for (const auto& f : files) EXPECT_EQ(f.extension(), ".bin") << f;
  Events e(kCompile);
  run_fresh();
  EXPECT_EQ(e.misses, 0) << "the disk entries were not used";
  EXPECT_EQ(e.disk_hits, kernels);
}

TEST_F(CudaFuseDisk, DamagedEntriesAreRecompiled) {
  int kernels = 0;
  {
    Events e(kCompile);
    run_fresh();
    kernels = e.misses;
  }
  ASSERT_GE(kernels, 1);
  // Garbage in place of every entry.
  for (const auto& f : entries()) std::ofstream(f, std::ios::binary | std::ios::trunc) << "garbage";
  {
    Events e(kCompile);
    run_fresh();
    EXPECT_EQ(e.misses, kernels);
    EXPECT_EQ(e.disk, "corrupt");
  }
  // A torn write: the entries cut in half.
  for (const auto& f : entries())
    std::filesystem::resize_file(f, std::filesystem::file_size(f) / 2);
  {
    Events e(kCompile);
    run_fresh();
    EXPECT_EQ(e.misses, kernels);
    EXPECT_EQ(e.disk, "corrupt");
  }
  // The recompiles rewrote the entries.
  Events e(kCompile);
  run_fresh();
  EXPECT_EQ(e.misses, 0);
  EXPECT_EQ(e.disk_hits, kernels);
}

#endif  // EMILY_HAS_CUDA

}  // namespace
}  // namespace emily
