// random_bits on CUDA against the CPU. Oracle: the CPU kernel on the same key, whose
// stream is pinned to jax.random's by tests/ops. Tolerance: none, the bits must be equal
// (u32 and u64 words, every key and shape); samplers built from exact ops (uniform,
// split) are bitwise equal too, and normal, which ends in erf_inv, agrees within the
// elementwise tolerances: f32 rtol 4e-6, f64 1e-14, and f16/bf16 two units of their
// precision (2e-3 / 1.6e-2: erf_inv's rounding may differ by one unit, and the scaling by
// sqrt(2) rounds once more).
// No primitive may fall back to the CPU.
#include <set>

#include "emily/telemetry.h"
#include "support/gpu.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

class CudaRandom : public testing::GpuTest {};

const std::uint64_t kSeeds[] = {0, 1, 42, 0xdeadbeefcafef00dull, (1ull << 40) + 7};

TEST_F(CudaRandom, BitsEqualTheCpuForEveryKeyAndShape) {
  const Shape shapes[] = {{}, {0}, {1}, {7}, {1000}, {33, 65}, {3, 5, 7}, {2, 0, 4}};
  for (std::uint64_t seed : kSeeds) {
    Tensor key = random::key(seed), gkey = to_device(key, gpu);
    for (const Shape& s : shapes) {
      Tensor got = random::bits(gkey, s);
      EXPECT_EQ(got.device(), gpu);
      EXPECT_TRUE(all_equal(to_host(got), random::bits(key, s)))
          << "seed " << seed << " shape " << to_string(s);
    }
  }
}

TEST_F(CudaRandom, LongStreamsCrossTheGridStride) {
  // More elements than one pass of the grid (65536 blocks of 256 threads) covers.
  const std::int64_t n = (std::int64_t{1} << 24) + 1000;
  Tensor key = random::key(7);
  EXPECT_TRUE(all_equal(to_host(random::bits(to_device(key, gpu), {n})), random::bits(key, {n})));
}

TEST_F(CudaRandom, SplitKeysAndU64WordsEqualTheCpu) {
  // split draws u64 words; keys taken from it on the GPU are views with an offset.
  for (std::uint64_t seed : kSeeds) {
    Tensor key = random::key(seed), gkey = to_device(key, gpu);
    Tensor keys = random::split(key, 5), gkeys = random::split(gkey, 5);
    EXPECT_TRUE(all_equal(to_host(gkeys), keys)) << "seed " << seed;
    for (std::int64_t k = 0; k < 5; ++k) {
      Tensor row = reshape(slice(keys, {k, 0}, {k + 1, 2}), {2});
      Tensor grow = reshape(slice(gkeys, {k, 0}, {k + 1, 2}), {2});
      EXPECT_TRUE(all_equal(to_host(random::bits(grow, {9, 4})), random::bits(row, {9, 4})))
          << "seed " << seed << " subkey " << k;
    }
  }
}

TEST_F(CudaRandom, SamplersMatchTheCpu) {
  for (std::uint64_t seed : kSeeds) {
    Tensor key = random::key(seed), gkey = to_device(key, gpu);
    for (DType d : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
      // Uniform is bits, shifts, an or and a subtraction: exact.
      EXPECT_TRUE(all_equal(to_host(random::uniform(gkey, {17, 31}, d, -2.0, 3.0)),
                            random::uniform(key, {17, 31}, d, -2.0, 3.0)))
          << "uniform seed " << seed << " " << name(d);
      const double rtol = d == DType::f32   ? 4e-6
                          : d == DType::f64 ? 1e-14
                          : d == DType::f16 ? 2e-3
                                            : 1.6e-2;
      EXPECT_TRUE(all_close(to_host(random::normal(gkey, {17, 31}, d)),
                            random::normal(key, {17, 31}, d), rtol, 1e-6))
          << "normal seed " << seed << " " << name(d);
    }
  }
}

}  // namespace
}  // namespace emily
