// The logits processors against oracles computed here, in double, from their
// definitions (transformers' semantics): top-k keeps exactly the k largest, top-p the
// smallest set of most likely tokens whose mass reaches p, min-p the tokens with
// probability >= min_p * max, the repetition penalty HF's multiply/divide rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "emily/emily.h"
#include "emily/sampling.h"
#include "support/testing.h"

namespace emily {
namespace {

// Rows of distinct random logits (a seeded std::mt19937, so the test is fixed).
std::vector<float> random_logits(std::int64_t rows, std::int64_t vocab, unsigned seed,
                                 double scale = 3.0) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<float> v(static_cast<std::size_t>(rows * vocab));
  for (float& x : v) x = static_cast<float>(normal(gen));
  return v;
}

std::vector<double> softmax_row(const float* x, std::int64_t n) {
  double m = -INFINITY;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, double(x[i]));
  std::vector<double> p(n);
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += p[i] = std::exp(double(x[i]) - m);
  for (double& v : p) v /= s;
  return p;
}

// Indices ordered by descending value.
std::vector<std::int64_t> ranking(const float* x, std::int64_t n) {
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return x[a] > x[b]; });
  return order;
}

constexpr std::int64_t kRows = 4, kVocab = 40;

TEST(Sampling, GreedyIsArgmax) {
  // Oracle: the host's first index of the row maximum.
  auto v = random_logits(kRows, kVocab, 1);
  Tensor logits = tensor<float>(v, {kRows, kVocab});
  SamplingOptions o;
  o.temperature = 0;
  auto picked = sample_tokens(process_logits(logits, {}, o), {}, o).to_vector<std::int32_t>();
  for (std::int64_t r = 0; r < kRows; ++r) {
    auto row = v.begin() + r * kVocab;
    EXPECT_EQ(picked[r], std::max_element(row, row + kVocab) - row);
  }
}

TEST(Sampling, TopKKeepsExactlyTheKLargest) {
  // Oracle: the host ranking; distinct values, so exactly k survive, with their values.
  auto v = random_logits(kRows, kVocab, 2);
  Tensor logits = tensor<float>(v, {kRows, kVocab});
  for (std::int64_t k : {std::int64_t{1}, std::int64_t{5}, std::int64_t{17}, kVocab, kVocab + 3}) {
    auto out = apply_top_k(logits, k).to_vector<float>();
    for (std::int64_t r = 0; r < kRows; ++r) {
      auto order = ranking(&v[r * kVocab], kVocab);
      for (std::int64_t i = 0; i < kVocab; ++i) {
        std::int64_t id = order[i];
        float got = out[r * kVocab + id];
        if (i < k)
          EXPECT_EQ(got, v[r * kVocab + id]) << "k=" << k << " rank " << i;
        else
          EXPECT_EQ(got, -INFINITY) << "k=" << k << " rank " << i;
      }
    }
  }
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
  // Oracle: in double, the smallest n such that the n most likely tokens hold mass >= p.
  // Values of p within 1e-4 of a cumulative mass are skipped (f32 rounding could go
  // either way there), so the comparison is exact.
  auto v = random_logits(kRows, kVocab, 3, 1.5);
  Tensor logits = tensor<float>(v, {kRows, kVocab});
  int checked = 0;
  for (double p : {0.05, 0.3, 0.5, 0.77, 0.9, 0.99, 1.0}) {
    auto out = apply_top_p(logits, p).to_vector<float>();
    for (std::int64_t r = 0; r < kRows; ++r) {
      const float* x = &v[r * kVocab];
      auto probs = softmax_row(x, kVocab);
      auto order = ranking(x, kVocab);
      double mass = 0;
      std::int64_t n = 0;
      bool near = false;
      while (n < kVocab && mass < p) {
        mass += probs[order[n++]];
        near = near || std::fabs(mass - p) < 1e-4;
      }
      if (near && p < 1.0) continue;
      ++checked;
      for (std::int64_t i = 0; i < kVocab; ++i) {
        float got = out[r * kVocab + order[i]];
        if (i < n)
          EXPECT_EQ(got, x[order[i]]) << "p=" << p << " rank " << i;
        else
          EXPECT_EQ(got, -INFINITY) << "p=" << p << " rank " << i << " (keep " << n << ")";
      }
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(Sampling, MinPDropsTokensBelowAFractionOfTheTopProbability) {
  // Oracle: probabilities in double; a token stays iff p_i >= min_p * max p (entries
  // within 1e-6 relative of the threshold are not judged).
  auto v = random_logits(kRows, kVocab, 4, 1.5);
  Tensor logits = tensor<float>(v, {kRows, kVocab});
  for (double min_p : {0.0, 0.01, 0.1, 0.5, 1.0}) {
    auto out = apply_min_p(logits, min_p).to_vector<float>();
    for (std::int64_t r = 0; r < kRows; ++r) {
      auto probs = softmax_row(&v[r * kVocab], kVocab);
      double floor = min_p * *std::max_element(probs.begin(), probs.end());
      for (std::int64_t i = 0; i < kVocab; ++i) {
        if (std::fabs(probs[i] - floor) <= 1e-6 * floor) continue;
        float got = out[r * kVocab + i];
        if (probs[i] >= floor)
          EXPECT_EQ(got, v[r * kVocab + i]) << "min_p=" << min_p;
        else
          EXPECT_EQ(got, -INFINITY) << "min_p=" << min_p;
      }
    }
  }
}

TEST(Sampling, RepetitionPenaltyFollowsTransformersRule) {
  // Oracle: seen logits x < 0 become x * penalty, others x / penalty (exact in f32 for
  // these operations: one rounding each, as on the host).
  auto v = random_logits(kRows, kVocab, 5);
  std::vector<bool> seen(v.size());
  for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = (i * 7) % 5 == 0;
  Tensor out = apply_repetition_penalty(tensor<float>(v, {kRows, kVocab}),
                                        tensor<bool>(seen, {kRows, kVocab}), 1.3);
  auto got = out.to_vector<float>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    float want = !seen[i] ? v[i] : v[i] < 0 ? v[i] * 1.3f : v[i] / 1.3f;
    EXPECT_EQ(got[i], want) << i;
  }
}

TEST(Sampling, ChainRunsInTransformersOrder) {
  // Oracle: the stages applied on the host in HF's order (penalty, temperature, top-k,
  // top-p, min-p) in double; the surviving set must match and the values within 1e-5.
  auto v = random_logits(kRows, kVocab, 6, 1.0);
  std::vector<bool> seen(v.size());
  for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = i % 3 == 0;
  SamplingOptions o;
  o.repetition_penalty = 1.5;
  o.temperature = 0.7;
  o.top_k = 12;
  o.top_p = 0.8;
  o.min_p = 0.05;
  auto got =
      process_logits(tensor<float>(v, {kRows, kVocab}), tensor<bool>(seen, {kRows, kVocab}), o)
          .to_vector<float>();
  for (std::int64_t r = 0; r < kRows; ++r) {
    std::vector<double> x(kVocab);
    for (std::int64_t i = 0; i < kVocab; ++i) {
      double a = v[r * kVocab + i];
      if (seen[r * kVocab + i]) a = a < 0 ? a * o.repetition_penalty : a / o.repetition_penalty;
      x[i] = a / o.temperature;
    }
    std::vector<std::int64_t> order(kVocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return x[a] > x[b]; });
    std::vector<bool> keep(kVocab, false);
    for (std::int64_t i = 0; i < o.top_k; ++i) keep[order[i]] = true;
    // top-p over the survivors' renormalised probabilities
    double m = x[order[0]], total = 0;
    for (std::int64_t i = 0; i < o.top_k; ++i) total += std::exp(x[order[i]] - m);
    double mass = 0;
    for (std::int64_t i = 0; i < o.top_k; ++i) {
      if (mass >= o.top_p) keep[order[i]] = false;
      mass += std::exp(x[order[i]] - m) / total;
    }
    // min-p over what is left
    double left = 0;
    for (std::int64_t i = 0; i < kVocab; ++i)
      if (keep[i]) left += std::exp(x[i] - m);
    double floor = o.min_p * (1.0 / left);  // the top token's probability is exp(0) / left
    for (std::int64_t i = 0; i < kVocab; ++i)
      if (keep[i] && std::exp(x[i] - m) / left < floor) keep[i] = false;
    for (std::int64_t i = 0; i < kVocab; ++i) {
      float g = got[r * kVocab + i];
      if (keep[i])
        EXPECT_NEAR(g, x[i], 1e-5) << "row " << r << " id " << i;
      else
        EXPECT_EQ(g, -INFINITY) << "row " << r << " id " << i;
    }
  }
}

TEST(Sampling, SameKeySameTokensAndDrawsFollowTheDistribution) {
  // Oracle: softmax of the logits; 20000 rows share one logits vector, each row is an
  // independent draw, and every token's frequency must lie within 5 binomial standard
  // deviations of its probability.
  const std::int64_t rows = 20000;
  std::vector<float> base = {1.0f, 0.0f, -1.0f, 2.0f, -INFINITY};
  std::vector<float> v;
  for (std::int64_t r = 0; r < rows; ++r) v.insert(v.end(), base.begin(), base.end());
  Tensor logits = tensor<float>(v, {rows, 5});
  SamplingOptions o;
  Tensor key = random::key(11);
  auto a = sample_tokens(logits, key, o).to_vector<std::int32_t>();
  auto b = sample_tokens(logits, key, o).to_vector<std::int32_t>();
  EXPECT_EQ(a, b);
  auto c = sample_tokens(logits, random::key(12), o).to_vector<std::int32_t>();
  EXPECT_NE(a, c);
  auto probs = softmax_row(base.data(), 5);
  std::map<std::int32_t, int> count;
  for (auto t : a) count[t]++;
  for (int i = 0; i < 5; ++i) {
    double expected = probs[i] * rows;
    double sigma = std::sqrt(rows * probs[i] * (1 - probs[i]));
    EXPECT_NEAR(count[i], expected, 5 * sigma + 1e-9) << "token " << i;
  }
}

TEST(Sampling, RejectsBadOptions) {
  Tensor logits = tensor<float>({1, 2, 3}, {1, 3});
  auto bad = [&](auto set) {
    SamplingOptions o;
    set(o);
    EXPECT_EMILY_ERROR(process_logits(logits, {}, o), ValueError, "sampling");
  };
  bad([](SamplingOptions& o) { o.temperature = -1; });
  bad([](SamplingOptions& o) { o.top_k = -2; });
  bad([](SamplingOptions& o) { o.top_p = 0; });
  bad([](SamplingOptions& o) { o.top_p = 1.5; });
  bad([](SamplingOptions& o) { o.min_p = 2; });
  bad([](SamplingOptions& o) { o.repetition_penalty = 0; });
  EXPECT_EMILY_ERROR(apply_top_k(tensor<float>({1, 2, 3}, {3}), 1), ShapeError, "top_k");
  EXPECT_EMILY_ERROR(apply_repetition_penalty(logits, tensor<bool>({true}, {1, 1}), 1.2),
                     ShapeError, "repetition_penalty");
}

}  // namespace
}  // namespace emily
