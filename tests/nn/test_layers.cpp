// Each layer against the same computation written out with catalogue ops here (the
// oracle). Tolerances: 1e-5 relative for f32 where the layer reaches the result through
// another op order (a fused kernel, a reshaped GEMM); exact where the ops are the same.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "emily/emily.h"
#include "emily/nn/layers.h"
#include "models/tiny_llama.h"
#include "nn/quantize.h"
#include "support/testing.h"

namespace emily::testing {
namespace {

constexpr double kRtol = 1e-5, kAtol = 1e-6;

TEST(Layers, LinearIsMatmulPlusBias) {
  nn::Linear linear(16, 8, true);
  const Tensor w = random_tensor({8, 16}, 1), b = random_tensor({8}, 2);
  linear.weight = w;
  linear.bias = b;
  const Tensor x = random_tensor({2, 3, 16}, 3);
  EXPECT_TRUE(all_close(linear(x), matmul(x, transpose(w)) + b, kRtol, kAtol));
  EXPECT_EMILY_ERROR(linear(random_tensor({2, 15}, 4)), ShapeError, "linear");
}

TEST(Layers, QuantizedLinearIsMatmulOfDequantized) {
  nn::Linear linear(64, 8, false);
  const QuantizedTensor q = quantize_for_test(random_tensor({8, 64}, 1), 4, 32);
  linear.weight = q;
  const Tensor x = random_tensor({2, 3, 64}, 3);
  EXPECT_TRUE(all_close(linear(x), matmul(x, transpose(dequantize(q))), kRtol, kAtol));
}

TEST(Layers, EmbeddingTakesRows) {
  nn::Embedding embed(10, 6);
  const Tensor w = random_tensor({10, 6}, 1);
  embed.weight = w;
  const Tensor ids = tensor<std::int32_t>({3, 0, 9, 3}, {2, 2});
  EXPECT_TRUE(all_equal(embed(ids), take(w, ids, 0)));
  const Tensor x = random_tensor({2, 6}, 2);
  EXPECT_TRUE(all_close(embed.as_linear(x), matmul(x, transpose(w)), kRtol, kAtol));
  EXPECT_EMILY_ERROR(embed(random_tensor({2}, 1)), DTypeError, "embedding");
}

// Dequantizing only the gathered rows equals gathering rows of the dequantized table:
// the same elementwise arithmetic per row, so exactly.
TEST(Layers, QuantizedEmbeddingDequantizesOnlyItsRows) {
  for (int bits : {4, 8}) {
    nn::Embedding embed(10, 64);
    const QuantizedTensor q = quantize_for_test(random_tensor({10, 64}, 1), bits, 32);
    embed.weight = q;
    const Tensor ids = tensor<std::int32_t>({7, 2, 2, 9, 0, 1}, {2, 3});
    EXPECT_TRUE(all_equal(embed(ids), take(dequantize(q), ids, 0))) << bits;
  }
}

TEST(Layers, NormsMatchTheirFormulas) {
  const Tensor x = random_tensor({2, 3, 16}, 1, 2.0), w = random_tensor({16}, 2) + 1.0,
               b = random_tensor({16}, 3);
  nn::RMSNorm rms(16, 1e-5);
  rms.weight = w;
  EXPECT_TRUE(all_close(rms(x), x * rsqrt(mean(x * x, -1, true) + 1e-5) * w, kRtol, kAtol));

  nn::LayerNorm ln(16, 1e-5);
  ln.weight = w;
  ln.bias = b;
  const Tensor c = x - mean(x, -1, true);
  const Tensor normed = c * rsqrt(mean(c * c, -1, true) + 1e-5) * w;
  EXPECT_TRUE(all_close(ln(x), normed + b, kRtol, kAtol));
  nn::LayerNorm no_bias(16, 1e-5, false);
  no_bias.weight = w;
  EXPECT_TRUE(all_close(no_bias(x), normed, kRtol, kAtol));
}

TEST(Layers, MlpIsGatedSilu) {
  nn::MLP mlp(16, 24);
  const Tensor g = random_tensor({24, 16}, 1), u = random_tensor({24, 16}, 2),
               d = random_tensor({16, 24}, 3);
  mlp.gate_proj.weight = g;
  mlp.up_proj.weight = u;
  mlp.down_proj.weight = d;
  const Tensor x = random_tensor({2, 3, 16}, 4);
  const Tensor expected =
      matmul(silu(matmul(x, transpose(g))) * matmul(x, transpose(u)), transpose(d));
  EXPECT_TRUE(all_close(mlp(x), expected, kRtol, kAtol));
}

// Oracle: each part's own product (Linear, tested above); tolerance kRtol/kAtol, as the
// stacked product is one GEMM of more columns (another blocking of the same sums).
TEST(Layers, StackedLinearsMatchEachPartAndFallBackWhenOneIsReplaced) {
  nn::Linear a(16, 8, true), b(16, 4, true), c(16, 12, true);
  int seed = 1;
  for (nn::Linear* l : {&a, &b, &c}) {
    l->weight = random_tensor({l->out_features, 16}, seed++);
    l->bias = random_tensor({l->out_features}, seed++);
  }
  const Tensor x = random_tensor({2, 3, 16}, 40);
  const std::vector<Tensor> want = {a(x), b(x), c(x)};
  const Tensor b_weight = b.weight.dense();
  nn::StackedLinears stacked;
  ASSERT_TRUE(stacked.stack({&a, &b, &c}));
  // The parts now view the stacked buffer and hold the same values.
  EXPECT_TRUE(all_equal(b.weight.dense(), b_weight));
  std::vector<Tensor> got = stacked(x, {&a, &b, &c});
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(all_close(got[i], want[i], kRtol, kAtol)) << i;
  // Past 8 rows (a prefill) each part runs its own product, through its view.
  const Tensor many = random_tensor({4, 5, 16}, 41);
  const std::vector<Tensor> got_many = stacked(many, {&a, &b, &c});
  EXPECT_TRUE(all_close(got_many[2], matmul(many, transpose(c.weight.dense())) + c.bias.dense(),
                        kRtol, kAtol));
  // A weight replaced after stacking is used: every part runs on its own then.
  const Tensor fresh = random_tensor({4, 16}, 50);
  b.weight = fresh;
  got = stacked(x, {&a, &b, &c});
  EXPECT_TRUE(all_close(got[1], matmul(x, transpose(fresh)) + b.bias.dense(), kRtol, kAtol));
  EXPECT_TRUE(all_close(got[0], want[0], kRtol, kAtol));
  EXPECT_EMILY_ERROR(stacked(random_tensor({2, 15}, 51), {&a, &b, &c}), ShapeError, "linear");
  EXPECT_EMILY_ERROR(stacked(tensor<float>({1.0f}, {}), {&a, &b, &c}), ShapeError, "linear");
}

TEST(Layers, StackedQuantizedLinearsMatchEachPart) {
  nn::Linear a(64, 8, false), b(64, 16, false);
  a.weight = quantize_for_test(random_tensor({8, 64}, 1), 4, 32);
  b.weight = quantize_for_test(random_tensor({16, 64}, 2), 4, 32);
  const Tensor x = random_tensor({3, 64}, 3);
  const Tensor want_a = a(x), want_b = b(x);
  nn::StackedLinears stacked;
  ASSERT_TRUE(stacked.stack({&a, &b}));
  const std::vector<Tensor> got = stacked(x, {&a, &b});
  EXPECT_TRUE(all_close(got[0], want_a, kRtol, kAtol));
  EXPECT_TRUE(all_close(got[1], want_b, kRtol, kAtol));
  EXPECT_TRUE(all_close(a(x), want_a, kRtol, kAtol));  // the part alone, through its view
}

TEST(Layers, StackedLinearsRefuseMismatchedParts) {
  nn::Linear a(16, 8, false), wider(32, 8, false), biased(16, 8, true);
  a.weight = random_tensor({8, 16}, 1);
  wider.weight = random_tensor({8, 32}, 2);
  biased.weight = random_tensor({8, 16}, 3);
  biased.bias = random_tensor({8}, 4);
  nn::StackedLinears stacked;
  EXPECT_FALSE(stacked.stack({&a, &wider}));
  EXPECT_FALSE(stacked.stack({&a, &biased}));
  EXPECT_FALSE(stacked.stack({&a}));
  nn::Linear unloaded(16, 8, false);
  EXPECT_FALSE(stacked.stack({&a, &unloaded}));
  EXPECT_FALSE(stacked.stacked());
  // Refused parts are left as they were, and the call runs each on its own.
  const Tensor x = random_tensor({2, 16}, 5);
  EXPECT_TRUE(all_close(stacked(x, {&a, &biased})[1], biased(x), 0, 0));
}

// transformers' rotate_half form: x * cos + rotate_half(x) * sin, with the angle of pair
// i at position p being p * freq[i].
Tensor rope_reference(const Tensor& x, const Tensor& positions, const std::vector<float>& freqs) {
  const std::int64_t b = x.shape(0), t = x.shape(1), n = x.shape(2), d = x.shape(3), half = d / 2;
  const Tensor f = tensor<float>(freqs, {half});
  const Tensor angle = reshape(astype(positions, DType::f32), {b, t, 1, 1}) * f;
  const Tensor cs = concatenate({cos(angle), cos(angle)}, -1);
  const Tensor sn = concatenate({sin(angle), sin(angle)}, -1);
  const Tensor x1 = slice(x, {0, 0, 0, 0}, {b, t, n, half});
  const Tensor x2 = slice(x, {0, 0, 0, half}, {b, t, n, d});
  return x * cs + concatenate({negate(x2), x1}, -1) * sn;
}

std::vector<float> default_freqs(double theta, int dims, double scale = 1.0) {
  std::vector<float> f;
  for (int i = 0; i < dims / 2; ++i)
    f.push_back(static_cast<float>(scale * std::pow(theta, -2.0 * i / dims)));
  return f;
}

TEST(Layers, RopeRotatesSplitHalfPairs) {
  const Tensor x = random_tensor({2, 3, 4, 16}, 1);
  const Tensor positions = tensor<std::int32_t>({0, 1, 2, 7, 8, 30}, {2, 3});
  RopeConfig config;
  config.theta = 500.0;
  nn::RoPE rope(config, 16);
  // Angles up to 30 rad in f32: 1e-5 relative plus a little absolute for cos/sin of them.
  EXPECT_TRUE(all_close(rope(x, positions), rope_reference(x, positions, default_freqs(500, 16)),
                        kRtol, 1e-5));
  config.type = "linear";
  config.factor = 4.0;
  nn::RoPE linear(config, 16);
  EXPECT_TRUE(all_close(linear(x, positions),
                        rope_reference(x, positions, default_freqs(500, 16, 0.25)), kRtol, 1e-5));
  config.type = "dynamic";
  EXPECT_EMILY_ERROR(nn::RoPE(config, 16), Unsupported, "rope");
}

// llama3 scaling by its definition: pairs whose wavelength is shorter than
// original_max_position_embeddings / high_freq_factor keep their frequency, those longer
// than original / low_freq_factor turn `factor` times slower; and given divisors
// divide the frequencies (GGUF's rope_freqs).
TEST(Layers, RopeLlama3KeepsHighAndSlowsLowFrequencies) {
  RopeConfig config;
  config.type = "llama3";
  config.theta = 10000.0;
  config.factor = 8.0;
  config.original_max_position_embeddings = 64;
  const int dims = 16;
  nn::RoPE rope(config, dims);
  const std::vector<float> plain = default_freqs(config.theta, dims);
  std::vector<float> expected = plain;
  std::vector<int> kept, slowed;
  for (int i = 0; i < dims / 2; ++i) {
    const double wavelen = 2 * std::numbers::pi / plain[i];
    if (wavelen < 64 / 4.0) kept.push_back(i);
    if (wavelen > 64 / 1.0) {
      slowed.push_back(i);
      expected[i] = plain[i] / 8.0f;
    }
  }
  ASSERT_FALSE(kept.empty());
  ASSERT_FALSE(slowed.empty());
  // Only pairs outside the blended band are compared.
  const Tensor x = random_tensor({1, 2, 1, dims}, 1);
  const Tensor positions = tensor<std::int32_t>({3, 11}, {1, 2});
  const Tensor got = rope(x, positions), want = rope_reference(x, positions, expected);
  for (const auto& set : {kept, slowed}) {
    for (int i : set) {
      for (std::int64_t j : {static_cast<std::int64_t>(i), static_cast<std::int64_t>(i + dims / 2)})
        EXPECT_TRUE(all_close(slice(got, {0, 0, 0, j}, {1, 2, 1, j + 1}),
                              slice(want, {0, 0, 0, j}, {1, 2, 1, j + 1}), kRtol, 1e-6))
            << "pair " << i;
    }
  }
  std::vector<float> divisors(dims / 2, 2.0f);
  RopeConfig plain_config;
  nn::RoPE divided(plain_config, dims, divisors);
  EXPECT_TRUE(all_close(divided(x, positions),
                        rope_reference(x, positions, default_freqs(10000.0, dims, 0.5)), kRtol,
                        1e-6));
}

// Attention over caches against softmax(q k^T / sqrt(D) + mask) v written out, with
// K/V heads repeated for the grouped query heads.
TEST(Layers, AttentionWritesCachesAndAttends) {
  nn::AttentionOptions o;
  o.hidden_size = 16;
  o.num_heads = 4;
  o.num_kv_heads = 2;
  o.head_dim = 8;
  o.qk_norm = true;
  RopeConfig rc;
  o.rope.emplace(rc, 8);
  nn::Attention attn(o);
  attn.q_proj.weight = random_tensor({32, 16}, 1);
  attn.k_proj.weight = random_tensor({16, 16}, 2);
  attn.v_proj.weight = random_tensor({16, 16}, 3);
  attn.o_proj.weight = random_tensor({16, 32}, 4);
  attn.q_norm->weight = random_tensor({8}, 5) + 1.0;
  attn.k_norm->weight = random_tensor({8}, 6) + 1.0;

  const std::int64_t b = 2, t = 3, t_max = 6, offset = 2;
  const Tensor x = random_tensor({b, t, 16}, 7);
  const Tensor positions = tensor<std::int32_t>({2, 3, 4, 0, 1, 2}, {b, t});
  const Tensor k_cache = random_tensor({b, 2, t_max, 8}, 8);
  const Tensor v_cache = random_tensor({b, 2, t_max, 8}, 9);
  // Row 1's first two slots are padding.
  const Tensor key_mask = tensor<bool>({1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0}, {b, t_max});
  const Tensor slots = tensor<std::int32_t>({2, 3, 4}, {t, 1});
  std::vector<bool> causal;
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = 0; j < t_max; ++j) causal.push_back(j <= offset + i);
  const Tensor mask = logical_and(reshape(key_mask, {b, 1, 1, t_max}),
                                  reshape(tensor<bool>(causal, {t, t_max}), {1, 1, t, t_max}));
  auto out = attn(x, positions, mask, slots, k_cache, v_cache);

  // The oracle.
  auto heads = [&](const Tensor& y, std::int64_t n) { return reshape(y, {b, t, n, 8}); };
  auto rms = [](const Tensor& y, const Tensor& w) {
    return y * rsqrt(mean(y * y, -1, true) + 1e-6) * w;
  };
  const std::vector<float> freqs = default_freqs(10000.0, 8);
  Tensor q = rope_reference(
      rms(heads(matmul(x, transpose(attn.q_proj.weight.dense())), 4), attn.q_norm->weight.dense()),
      positions, freqs);
  Tensor k = rope_reference(
      rms(heads(matmul(x, transpose(attn.k_proj.weight.dense())), 2), attn.k_norm->weight.dense()),
      positions, freqs);
  Tensor v = heads(matmul(x, transpose(attn.v_proj.weight.dense())), 2);
  auto write = [&](const Tensor& cache, const Tensor& y) {
    return slice_update(cache, transpose(y, {0, 2, 1, 3}), {0, 0, offset, 0},
                        {b, 2, offset + t, 8});
  };
  const Tensor k_all = write(k_cache, k), v_all = write(v_cache, v);
  EXPECT_TRUE(all_close(out.k_cache, k_all, kRtol, 1e-6));
  EXPECT_TRUE(all_close(out.v_cache, v_all, kRtol, 1e-6));
  auto repeat = [&](const Tensor& y) {  // {B, 2, T, D} -> {B, 4, T, D}, head h reads h / 2
    return reshape(broadcast_to(expand_dims(y, {2}), {b, 2, 2, t_max, 8}), {b, 4, t_max, 8});
  };
  const Tensor scores =
      matmul(transpose(q, {0, 2, 1, 3}), transpose(repeat(k_all), {0, 1, 3, 2})) / std::sqrt(8.0);
  const Tensor weights = softmax(where(mask, scores, full({}, -INFINITY, DType::f32)), -1);
  const Tensor attended =
      reshape(transpose(matmul(weights, repeat(v_all)), {0, 2, 1, 3}), {b, t, 32});
  EXPECT_TRUE(
      all_close(out.out, matmul(attended, transpose(attn.o_proj.weight.dense())), 1e-4, 1e-5));
}

}  // namespace
}  // namespace emily::testing
