// emily::random. Oracles: the Random123 known-answer vectors for Threefry-2x32-20;
// jax.random goldens from scripts/fixtures/random_jax.py (JAX 0.10, threefry2x32,
// jax_threefry_partitionable=True), bit-exact for bits/split/uniform/bernoulli/
// categorical, close for normal (erf_inv implementations differ by a few ulp); and
// statistical bounds (5 sigma) with fixed keys.
#include <array>
#include <cmath>
#include <set>

#include "support/testing.h"

namespace emily::cpu {
// The block function, defined in src/backend/cpu/random.cpp (not a public API).
std::array<std::uint32_t, 2> threefry2x32(std::array<std::uint32_t, 2> key,
                                          std::array<std::uint32_t, 2> counter);
}  // namespace emily::cpu

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor fx(const std::string& name) {
  return testing::op_fixture("random", name);
}
Tensor fx_bf16(const std::string& name) {
  return testing::op_fixture_bf16("random", name);
}

const char* kKeys[] = {"k0", "k1", "k2"};

TEST(Random, ThreefryKnownAnswers) {
  // Random123 1.09, examples/kat_vectors, lines "threefry2x32 20 ...": counter, key,
  // expected output.
  using A = std::array<std::uint32_t, 2>;
  EXPECT_EQ(cpu::threefry2x32(A{0, 0}, A{0, 0}), (A{0x6b200159u, 0x99ba4efeu}));
  EXPECT_EQ(cpu::threefry2x32(A{0xffffffffu, 0xffffffffu}, A{0xffffffffu, 0xffffffffu}),
            (A{0x1cb996fcu, 0xbb002be7u}));
  EXPECT_EQ(cpu::threefry2x32(A{0x13198a2eu, 0x03707344u}, A{0x243f6a88u, 0x85a308d3u}),
            (A{0xc4923a9cu, 0x483df7a0u}));
  // Through the public API: split's key j is the block output for counter (0, j).
  EXPECT_EQ(random::split(random::key(0), 1).to_vector<std::uint32_t>(),
            (std::vector<std::uint32_t>{0x6b200159u, 0x99ba4efeu}));
}

TEST(Random, KeyFromSeedMatchesJax) {
  EXPECT_TRUE(all_equal(random::key(7), fx("seed_7")));
  EXPECT_TRUE(all_equal(random::key((1ull << 40) + 5), fx("seed_1099511627781")));
  Tensor k = random::key(42);
  EXPECT_EQ(k.dtype(), DType::u32);
  EXPECT_EQ(k.shape(), (Shape{2}));
}

TEST(Random, BitsAndSplitMatchJaxBitForBit) {
  for (const char* name : kKeys) {
    std::string n(name);
    Tensor k = fx(n);
    EXPECT_TRUE(all_equal(random::bits(k, {4}), fx(n + "_bits_4"))) << n;
    EXPECT_TRUE(all_equal(random::bits(k, {3, 5}), fx(n + "_bits_3x5"))) << n;
    EXPECT_TRUE(all_equal(random::split(k, 3), fx(n + "_split_3"))) << n;
  }
  EXPECT_TRUE(all_equal(random::bits(fx("k1"), {1000}), fx("k1_bits_1000")));
  EXPECT_TRUE(all_equal(random::split(fx("k1")), slice(fx("k1_split_3"), {0, 0}, {2, 2})));
}

TEST(Random, UniformMatchesJaxBitForBit) {
  for (const char* name : kKeys) {
    std::string n(name);
    EXPECT_TRUE(all_equal(random::uniform(fx(n), {3, 5}), fx(n + "_uniform_3x5"))) << n;
  }
  Tensor k = fx("k1");
  // Other bounds: XLA fuses u * (high - low) + low into one FMA, Emily rounds the
  // multiply and the add separately, so values may differ by an ulp of u * 5 (<= 4.8e-7)
  // and of the result.
  EXPECT_TRUE(
      all_close(random::uniform(k, {6}, DType::f32, -2, 3), fx("k1_uniform_m2_3"), 2.4e-7, 3e-7));
  EXPECT_TRUE(all_equal(random::uniform(k, {16}, DType::bf16), fx_bf16("k1_uniform_bf16")));
  EXPECT_TRUE(all_equal(random::uniform(k, {16}, DType::f16), fx("k1_uniform_f16")));
  EXPECT_TRUE(all_equal(random::uniform(k, {8}, DType::f64), fx("k1_uniform_f64")));
}

TEST(Random, NormalMatchesJax) {
  // The uniform inputs agree to an ulp (XLA fuses the scaling into an FMA) and XLA's
  // f32 erf_inv polynomial differs from ours by a few ulp: observed <= 2.3e-7 relative,
  // bound rtol 1e-6, atol 2e-7.
  for (const char* name : kKeys) {
    std::string n(name);
    EXPECT_TRUE(all_close(random::normal(fx(n), {3, 5}), fx(n + "_normal_3x5"), 1e-6, 2e-7)) << n;
  }
  Tensor k = fx("k1");
  // bf16: one bf16 ulp (2^-8 relative) for a different rounding of the f32 value.
  EXPECT_TRUE(
      all_close(random::normal(k, {16}, DType::bf16), fx_bf16("k1_normal_bf16"), 8e-3, 1e-3));
  EXPECT_TRUE(all_close(random::normal(k, {8}, DType::f64), fx("k1_normal_f64"), 1e-12, 1e-13));
  // mean and stddev shift and scale the same draw.
  EXPECT_TRUE(all_close(random::normal(k, {3, 5}, DType::f32, 3.0, 2.0),
                        random::normal(k, {3, 5}) * 2.0 + 3.0, 1e-6, 1e-6));
}

TEST(Random, BernoulliAndCategoricalMatchJax) {
  Tensor k = fx("k1");
  EXPECT_TRUE(all_equal(random::bernoulli(k, 0.3, {20}), fx("k1_bernoulli_03")));
  EXPECT_TRUE(all_equal(random::bernoulli(k, fx("p_4x1"), {4, 5}), fx("k1_bernoulli_p")));
  Tensor logits = fx("logits_4x6");
  EXPECT_TRUE(all_equal(random::categorical(k, logits), fx("k1_categorical_last")));
  EXPECT_TRUE(all_equal(random::categorical(k, logits, 0), fx("k1_categorical_0")));
}

TEST(Random, DeterministicPrefixConsistentAndKeyed) {
  Tensor k = random::key(1234);
  EXPECT_TRUE(all_equal(random::uniform(k, {50}), random::uniform(k, {50})));
  // The stream is a function of the flat index: shapes share prefixes.
  Tensor long_bits = random::bits(k, {20});
  EXPECT_TRUE(all_equal(random::bits(k, {10}), slice(long_bits, {0}, {10})));
  EXPECT_TRUE(all_equal(random::bits(k, {4, 5}), reshape(long_bits, {4, 5})));
  EXPECT_TRUE(all_equal(reshape(random::bits(k, {}), {1}), slice(long_bits, {0}, {1})));
  EXPECT_TRUE(all_equal(random::uniform(k, {7}),
                        reshape(slice(random::uniform(k, {2, 7}), {0}, {1}), {7})));
  // Different keys, and the keys split gives, differ from each other and the parent.
  EXPECT_FALSE(all_equal(random::bits(random::key(1235), {20}), long_bits));
  Tensor keys = random::split(k, 4);
  std::set<std::vector<std::uint32_t>> seen = {k.to_vector<std::uint32_t>()};
  for (std::int64_t i = 0; i < 4; ++i) {
    Tensor ki = reshape(slice(keys, {i}, {i + 1}), {2});
    EXPECT_TRUE(seen.insert(ki.to_vector<std::uint32_t>()).second) << "key " << i;
    EXPECT_FALSE(all_equal(random::bits(ki, {20}), long_bits));
  }
  // A non-contiguous key (a column of a (2, 4) table of keys) reads the same key.
  Tensor column = squeeze(slice(contiguous(transpose(keys)), {0, 2}, {2, 3}), {1});
  EXPECT_FALSE(column.is_contiguous());
  EXPECT_TRUE(all_equal(random::bits(column, {8}),
                        random::bits(contiguous(reshape(slice(keys, {2}, {3}), {2})), {8})));
}

TEST(Random, EmptyAndZeroDimensionalShapes) {
  Tensor k = random::key(3);
  EXPECT_EQ(random::bits(k, {0}).shape(), (Shape{0}));
  EXPECT_EQ(random::uniform(k, {2, 0}).shape(), (Shape{2, 0}));
  EXPECT_EQ(random::normal(k, {0}, DType::bf16).shape(), (Shape{0}));
  EXPECT_EQ(random::split(k, 0).shape(), (Shape{0, 2}));
  EXPECT_EQ(random::uniform(k, {}).ndim(), 0);
  EXPECT_EQ(random::bernoulli(k, 0.5, {}).dtype(), DType::bool_);
  EXPECT_EQ(random::categorical(k, zeros({3})).ndim(), 0);
}

// Sample statistics over n draws, in double.
struct Moments {
  double mean = 0, var = 0, lo = INFINITY, hi = -INFINITY;
};
Moments moments(const Tensor& t) {
  auto v = t.to_vector<double>();
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.lo = std::min(m.lo, x);
    m.hi = std::max(m.hi, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size() - 1);
  return m;
}

constexpr std::int64_t kN = 100000;

TEST(Random, UniformStatistics) {
  // The values are a grid k h, k < 1/h, with h = 2^-(mantissa bits used): 23 (f32),
  // 52 (f64), 10 (f16), 7 (bf16). Mean (1 - h)/2 (sd of the mean sqrt(1/12/n) =
  // 9.1e-4), variance (1 - h^2)/12 (sd of the sample variance sqrt((1/80 - 1/144)/n) =
  // 2.4e-4). Bounds: 5 sigma.
  const std::pair<DType, double> grids[] = {
      {DType::f32, 0x1p-23}, {DType::f64, 0x1p-52}, {DType::f16, 0x1p-10}, {DType::bf16, 0x1p-7}};
  for (auto [dt, h] : grids) {
    Moments m = moments(random::uniform(random::key(11), {kN}, dt));
    EXPECT_NEAR(m.mean, (1 - h) / 2, 5 * 9.2e-4) << name(dt);
    EXPECT_NEAR(m.var, (1 - h * h) / 12, 5 * 2.4e-4) << name(dt);
    EXPECT_GE(m.lo, 0.0) << name(dt);
    EXPECT_LT(m.hi, 1.0) << name(dt);
  }
  // U[-3, 5): mean 1, variance 64/12; values stay in range.
  Moments m = moments(random::uniform(random::key(12), {kN}, DType::f32, -3, 5));
  EXPECT_NEAR(m.mean, 1.0, 5 * 8 * 9.2e-4);
  EXPECT_NEAR(m.var, 64.0 / 12, 5 * 64 * 2.4e-4);
  EXPECT_GE(m.lo, -3.0);
  EXPECT_LT(m.hi, 5.0);
}

TEST(Random, NormalStatistics) {
  // N(0,1): sd of the mean 1/sqrt(n) = 3.2e-3, of the sample sd 1/sqrt(2n) = 2.2e-3.
  for (DType dt : {DType::f32, DType::f64, DType::bf16}) {
    Moments m = moments(random::normal(random::key(21), {kN}, dt));
    EXPECT_NEAR(m.mean, 0.0, 5 * 3.2e-3) << name(dt);
    EXPECT_NEAR(std::sqrt(m.var), 1.0, 5 * 2.3e-3) << name(dt);
    EXPECT_TRUE(std::isfinite(m.lo) && std::isfinite(m.hi)) << name(dt);
  }
  Moments m = moments(random::normal(random::key(22), {kN}, DType::f32, -1.5, 0.5));
  EXPECT_NEAR(m.mean, -1.5, 5 * 0.5 * 3.2e-3);
  EXPECT_NEAR(std::sqrt(m.var), 0.5, 5 * 0.5 * 2.3e-3);
}

TEST(Random, BernoulliStatistics) {
  // Frequency of true: sd sqrt(p(1-p)/n).
  for (double p : {0.3, 0.9}) {
    double f = moments(astype(random::bernoulli(random::key(31), p, {kN}), DType::f64)).mean;
    EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / kN)) << p;
  }
  // p broadcast per row; p = 0 never and p = 1 always fire.
  Tensor p = tensor<float>({0.0f, 0.25f, 1.0f}, {3, 1});
  auto v = random::bernoulli(random::key(32), p, {3, kN / 3}).to_vector<bool>();
  std::int64_t c[3] = {0, 0, 0};
  for (std::size_t i = 0; i < v.size(); ++i) c[i / (kN / 3)] += v[i];
  EXPECT_EQ(c[0], 0);
  EXPECT_EQ(c[2], kN / 3);
  EXPECT_NEAR(c[1] / double(kN / 3), 0.25, 5 * std::sqrt(0.25 * 0.75 / (kN / 3)));
  // Integer p computes in f32 (1 is always).
  EXPECT_TRUE(
      all(random::bernoulli(random::key(33), tensor<std::int32_t>({1}), {10})).item<bool>());
}

TEST(Random, CategoricalFrequenciesFollowSoftmax) {
  // logits log(p) for p = (0.1, 0.2, 0.3, 0.4), n rows; chi-square with 3 degrees of
  // freedom stays below 30 except with probability < 1e-6.
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> lp;
  for (double q : p) lp.push_back(static_cast<float>(std::log(q)) + 7.0f);  // shift-invariant
  for (DType dt : {DType::f32, DType::bf16}) {
    Tensor logits = astype(broadcast_to(tensor(lp), {kN, 4}), dt);
    Tensor s = random::categorical(random::key(41), logits);
    EXPECT_EQ(s.dtype(), DType::s64);
    EXPECT_EQ(s.shape(), (Shape{kN}));
    std::vector<double> counts(4, 0);
    for (auto i : s.to_vector<std::int64_t>()) counts.at(static_cast<std::size_t>(i)) += 1;
    double chi2 = 0;
    for (int j = 0; j < 4; ++j) chi2 += std::pow(counts[j] - kN * p[j], 2) / (kN * p[j]);
    EXPECT_LT(chi2, 30.0) << name(dt);
  }
  // Along axis 0, and -inf logits are never drawn.
  Tensor masked = transpose(broadcast_to(tensor<float>({0, -INFINITY, 1}), {1000, 3}));
  auto s = random::categorical(random::key(42), masked, 0).to_vector<std::int64_t>();
  for (auto i : s) EXPECT_NE(i, 1);
}

TEST(Random, Errors) {
  Tensor k = random::key(5);
  Tensor bad_dtype = tensor<std::int32_t>({0, 1});
  Tensor bad_shape = tensor<std::uint32_t>({0, 1, 2});
  EXPECT_EMILY_ERROR(random::split(bad_dtype), DTypeError, "random_split");
  EXPECT_EMILY_ERROR(random::split(bad_shape), ShapeError, "random_split");
  EXPECT_EMILY_ERROR(random::split(k, -1), ValueError, "random_split");
  EXPECT_EMILY_ERROR(random::bits(bad_dtype, {2}), DTypeError, "random_bits");
  EXPECT_EMILY_ERROR(random::bits(k, {2, -1}), ShapeError, "random_bits");
  EXPECT_EMILY_ERROR(random::bits(Tensor(), {2}), ValueError, "random_bits");
  EXPECT_EMILY_ERROR(random::uniform(bad_shape, {2}), ShapeError, "random_uniform");
  EXPECT_EMILY_ERROR(random::uniform(k, {-2}), ShapeError, "random_uniform");
  EXPECT_EMILY_ERROR(random::uniform(k, {2}, DType::s32), DTypeError, "random_uniform");
  EXPECT_EMILY_ERROR(random::uniform(k, {2}, DType::c64), DTypeError, "random_uniform");
  EXPECT_EMILY_ERROR(random::uniform(k, {2}, DType::f32, 2, 1), ValueError, "random_uniform");
  EXPECT_EMILY_ERROR(random::uniform(k, {2}, DType::f32, 0, INFINITY), ValueError,
                     "random_uniform");
  EXPECT_EMILY_ERROR(random::normal(bad_dtype, {2}), DTypeError, "random_normal");
  EXPECT_EMILY_ERROR(random::normal(k, {-1}), ShapeError, "random_normal");
  EXPECT_EMILY_ERROR(random::normal(k, {2}, DType::u8), DTypeError, "random_normal");
  EXPECT_EMILY_ERROR(random::normal(k, {2}, DType::f32, 0, -1), ValueError, "random_normal");
  EXPECT_EMILY_ERROR(random::normal(k, {2}, DType::f32, NAN, 1), ValueError, "random_normal");
  EXPECT_EMILY_ERROR(random::bernoulli(bad_shape, 0.5, {2}), ShapeError, "random_bernoulli");
  EXPECT_EMILY_ERROR(random::bernoulli(k, 0.5, {-2}), ShapeError, "random_bernoulli");
  EXPECT_EMILY_ERROR(random::bernoulli(k, tensor<float>({0.1f, 0.2f}), {3}), ShapeError,
                     "random_bernoulli");
  EXPECT_EMILY_ERROR(random::bernoulli(k, tensor<float>({0.1f}), {}), ShapeError,
                     "random_bernoulli");
  EXPECT_EMILY_ERROR(random::bernoulli(k, scalar_tensor(c64(0.5f, 0)), {2}), DTypeError,
                     "random_bernoulli");
  EXPECT_EMILY_ERROR(random::bernoulli(k, Tensor(), {2}), ValueError, "random_bernoulli");
  EXPECT_EMILY_ERROR(random::categorical(bad_dtype, zeros({3})), DTypeError, "random_categorical");
  EXPECT_EMILY_ERROR(random::categorical(k, zeros({3}), 1), ShapeError, "random_categorical");
  EXPECT_EMILY_ERROR(random::categorical(k, zeros({2, 0})), ShapeError, "random_categorical");
  EXPECT_EMILY_ERROR(random::categorical(k, scalar_tensor(1.0)), ShapeError, "random_categorical");
  EXPECT_EMILY_ERROR(random::categorical(k, zeros({3}, DType::c64)), DTypeError,
                     "random_categorical");
  EXPECT_EMILY_ERROR(random::categorical(k, Tensor()), ValueError, "random_categorical");
}

}  // namespace
}  // namespace emily
