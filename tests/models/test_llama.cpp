// The decoder's step contract on tiny random checkpoints written here: the KV cache
// invariant (a whole sequence equals the same sequence in chunks), left padding (a padded
// row equals the row run alone), compiled equals eager, and the errors. Every numeric
// oracle is the model itself run another way; tolerances are for f32 sums taken in
// another order (different chunk shapes change the GEMM and attention blocking).
#include <gtest/gtest.h>

#include "emily/emily.h"
#include "models/tiny_llama.h"
#include "support/testing.h"

namespace emily::testing {
namespace {

constexpr double kRtol = 1e-4, kAtol = 1e-5;

std::vector<std::int32_t> sequence(std::int64_t n, std::int32_t seed) {
  std::vector<std::int32_t> ids;
  for (std::int64_t i = 0; i < n; ++i) ids.push_back((seed + 17 * i * i + 5 * i) % 64);
  return ids;
}

std::vector<std::int32_t> iota_positions(std::int64_t n, std::int64_t from = 0) {
  std::vector<std::int32_t> p;
  for (std::int64_t i = 0; i < n; ++i) p.push_back(static_cast<std::int32_t>(from + i));
  return p;
}

std::vector<bool> first_slots(std::int64_t n, std::int64_t t_max) {
  std::vector<bool> m(static_cast<std::size_t>(t_max), false);
  for (std::int64_t i = 0; i < n; ++i) m[i] = true;
  return m;
}

// Row t of logits {B, T, V} as {B, 1, V}.
Tensor at(const Tensor& logits, std::int64_t t) {
  return slice(logits, {0, t, 0}, {logits.shape(0), t + 1, logits.shape(2)});
}

struct Variant {
  const char* name;
  std::string config;
};

class KvCache : public ::testing::TestWithParam<Variant> {};

// The whole sequence in one step equals a prefill of 4 then one token per step.
TEST_P(KvCache, WholeSequenceEqualsChunks) {
  TempFolder folder;
  write_tiny_checkpoint(folder, GetParam().config);
  auto model = models::load_causal_lm(folder.path());
  constexpr std::int64_t n = 10, t_max = 16, prefill = 4;
  const auto ids = sequence(n, 3);

  auto whole = model->step(step_inputs(ids, iota_positions(n), first_slots(n, t_max), 1, 0,
                                       model->make_caches(1, t_max)));
  ASSERT_EQ(whole.logits.shape(), (Shape{1, n, 64}));
  ASSERT_EQ(whole.logits.dtype(), DType::f32);

  std::vector<std::int32_t> head(ids.begin(), ids.begin() + prefill);
  auto r = model->step(step_inputs(head, iota_positions(prefill), first_slots(prefill, t_max), 1, 0,
                                   model->make_caches(1, t_max)));
  for (std::int64_t t = 0; t < prefill; ++t)
    EXPECT_TRUE(all_close(at(r.logits, t), at(whole.logits, t), kRtol, kAtol)) << "token " << t;
  for (std::int64_t t = prefill; t < n; ++t) {
    r = model->step(step_inputs({ids[t]}, {static_cast<std::int32_t>(t)}, first_slots(t + 1, t_max),
                                1, t, r.caches));
    EXPECT_TRUE(all_close(r.logits, at(whole.logits, t), kRtol, kAtol)) << "token " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Families, KvCache,
    ::testing::Values(
        Variant{"llama", tiny_config_json("llama")},
        Variant{"llama_tied", tiny_config_json("llama", "\"tie_word_embeddings\": true")},
        Variant{"llama_bias", tiny_config_json("llama",
                                               "\"attention_bias\": true, "
                                               "\"mlp_bias\": true")},
        Variant{"llama3_rope", tiny_config_json("llama",
                                                "\"rope_scaling\": {\"rope_type\": \"llama3\", "
                                                "\"factor\": 8.0, \"low_freq_factor\": 1.0, "
                                                "\"high_freq_factor\": 4.0, "
                                                "\"original_max_position_embeddings\": 32}")},
        Variant{"linear_rope", tiny_config_json("llama",
                                                "\"rope_scaling\": {\"type\": \"linear\", "
                                                "\"factor\": 2.0}")},
        Variant{"mistral_window", tiny_config_json("mistral", "\"sliding_window\": 3")},
        Variant{"qwen2", tiny_config_json("qwen2")},
        Variant{"qwen3", tiny_config_json("qwen3", "\"tie_word_embeddings\": true")},
        Variant{"smollm3", tiny_config_json("smollm3", "\"no_rope_layers\": [1, 0]")}),
    [](const auto& info) { return std::string(info.param.name); });

// A left-padded row equals the row run alone, in the prefill and in decoding after it.
TEST(Llama, LeftPaddedRowEqualsRowAlone) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("qwen3"));
  auto model = models::load_causal_lm(folder.path());
  constexpr std::int64_t t_max = 12, n = 7, pad = 3;
  const auto short_ids = sequence(n - pad, 11), long_ids = sequence(n, 5);

  // Row 0: 3 pad slots (token 0, position 0, masked) then short_ids; row 1: long_ids.
  std::vector<std::int32_t> tokens(pad, 0), positions(pad, 0);
  tokens.insert(tokens.end(), short_ids.begin(), short_ids.end());
  auto p0 = iota_positions(n - pad);
  positions.insert(positions.end(), p0.begin(), p0.end());
  tokens.insert(tokens.end(), long_ids.begin(), long_ids.end());
  auto p1 = iota_positions(n);
  positions.insert(positions.end(), p1.begin(), p1.end());
  std::vector<bool> mask(2 * t_max, false);
  for (std::int64_t j = pad; j < n; ++j) mask[j] = true;
  for (std::int64_t j = 0; j < n; ++j) mask[t_max + j] = true;
  auto both = model->step(step_inputs(tokens, positions, mask, 2, 0, model->make_caches(2, t_max)));

  auto alone0 =
      model->step(step_inputs(short_ids, iota_positions(n - pad), first_slots(n - pad, t_max), 1, 0,
                              model->make_caches(1, t_max)));
  auto alone1 = model->step(step_inputs(long_ids, iota_positions(n), first_slots(n, t_max), 1, 0,
                                        model->make_caches(1, t_max)));
  auto row = [](const Tensor& x, std::int64_t b) {
    return slice(x, {b, 0, 0}, {b + 1, x.shape(1), x.shape(2)});
  };
  const std::int64_t v = both.logits.shape(2);
  EXPECT_TRUE(all_close(slice(both.logits, {0, pad, 0}, {1, n, v}), alone0.logits, kRtol, kAtol));
  EXPECT_TRUE(all_close(row(both.logits, 1), alone1.logits, kRtol, kAtol));

  // One decoding step: row 0's next token sits at slot 7 (position 4), row 1's at slot 7
  // (position 7); alone, row 0's sits at slot 4.
  mask[n] = mask[t_max + n] = true;
  auto next = model->step(
      step_inputs({9, 21}, {static_cast<std::int32_t>(n - pad), static_cast<std::int32_t>(n)}, mask,
                  2, n, both.caches));
  auto next0 = model->step(step_inputs({9}, {static_cast<std::int32_t>(n - pad)},
                                       first_slots(n - pad + 1, t_max), 1, n - pad, alone0.caches));
  auto next1 = model->step(step_inputs({21}, {static_cast<std::int32_t>(n)},
                                       first_slots(n + 1, t_max), 1, n, alone1.caches));
  EXPECT_TRUE(all_close(row(next.logits, 0), next0.logits, kRtol, kAtol));
  EXPECT_TRUE(all_close(row(next.logits, 1), next1.logits, kRtol, kAtol));
}

TEST(Llama, LastOnlyIsTheLastRow) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("llama"));
  auto model = models::load_causal_lm(folder.path());
  const auto ids = sequence(5, 1);
  auto in = step_inputs(ids, iota_positions(5), first_slots(5, 8), 1, 0, model->make_caches(1, 8));
  auto all_rows = model->step(in);
  auto last = model->step(in, true);
  ASSERT_EQ(last.logits.shape(), (Shape{1, 1, 64}));
  // Oracle: the full step's last row; the same ops on a slice of it.
  EXPECT_TRUE(all_close(last.logits, at(all_rows.logits, 4), kRtol, kAtol));
}

// compile() in native mode with the caches donated: the prefill and the decode step each
// trace once (the write offset is a tensor), and replays are bit-identical to eager.
TEST(Llama, CompiledStepEqualsEager) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("qwen3"));
  auto model = models::load_causal_lm(folder.path());
  const std::size_t n_caches = 4;
  auto fn = [&](const std::vector<Tensor>& in) {
    models::StepInputs s{in[0], in[1], in[2], in[3], {in.begin() + 4, in.end()}};
    auto r = model->step(s, true);
    std::vector<Tensor> out{r.logits};
    out.insert(out.end(), r.caches.begin(), r.caches.end());
    return out;
  };
  CompileOptions options = native("llama_step");
  for (std::size_t i = 0; i < n_caches; ++i) options.donate.push_back(static_cast<int>(4 + i));
  CompiledFunction compiled = compile(fn, options);

  constexpr std::int64_t t_max = 12, prefill = 4, n = 9;
  const auto ids = sequence(n, 2);
  auto flat = [](const models::StepInputs& s) {
    std::vector<Tensor> v{s.tokens, s.positions, s.write_offset, s.key_mask};
    v.insert(v.end(), s.caches.begin(), s.caches.end());
    return v;
  };
  std::vector<std::int32_t> head(ids.begin(), ids.begin() + prefill);
  auto eager = model->step(step_inputs(head, iota_positions(prefill), first_slots(prefill, t_max),
                                       1, 0, model->make_caches(1, t_max)),
                           true);
  auto replay =
      compiled(flat(step_inputs(head, iota_positions(prefill), first_slots(prefill, t_max), 1, 0,
                                model->make_caches(1, t_max))));
  EXPECT_TRUE(all_equal(replay[0], eager.logits));
  std::vector<Tensor> caches(replay.begin() + 1, replay.end());
  for (std::int64_t t = prefill; t < n; ++t) {
    auto in = step_inputs({ids[t]}, {static_cast<std::int32_t>(t)}, first_slots(t + 1, t_max), 1, t,
                          eager.caches);
    eager = model->step(in, true);
    in.caches = caches;
    replay = compiled(flat(in));
    caches.assign(replay.begin() + 1, replay.end());
    EXPECT_TRUE(all_equal(replay[0], eager.logits)) << "token " << t;
    for (std::size_t i = 0; i < n_caches; ++i)
      EXPECT_TRUE(all_equal(caches[i], eager.caches[i])) << "token " << t << " cache " << i;
  }
  EXPECT_EQ(compiled.cached_signatures(), 2u);  // the prefill's and the decode step's
}

// bf16 weights, activations and caches against the f32 model (the oracle).
TEST(Llama, Bf16FollowsF32) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("llama"));
  models::LoadOptions options;
  options.dtype = DType::bf16;
  auto half = models::load_causal_lm(folder.path(), options);
  auto full = models::load_causal_lm(folder.path());
  EXPECT_EQ(half->dtype(), DType::bf16);
  const auto ids = sequence(6, 4);
  auto caches = half->make_caches(1, 8);
  EXPECT_EQ(caches[0].dtype(), DType::bf16);
  auto a = half->step(step_inputs(ids, iota_positions(6), first_slots(6, 8), 1, 0, caches));
  auto b = full->step(
      step_inputs(ids, iota_positions(6), first_slots(6, 8), 1, 0, full->make_caches(1, 8)));
  EXPECT_EQ(a.logits.dtype(), DType::f32);
  // Every rounding is relative (2^-9), but the residual stream and each product round
  // again, so the error is measured against the largest logit: within 5% of it.
  const double largest = max(abs(b.logits)).item<double>();
  EXPECT_TRUE(all_close(a.logits, b.logits, 0.0, 0.05 * largest));
}

TEST(Llama, StepRefusesBadInputs) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("llama"));
  auto model = models::load_causal_lm(folder.path());
  const auto ids = sequence(3, 1);
  auto good =
      step_inputs(ids, iota_positions(3), first_slots(3, 8), 1, 0, model->make_caches(1, 8));
  auto bad = good;
  bad.caches.pop_back();
  EXPECT_EMILY_ERROR(model->step(bad), ValueError, "llama.step");
  bad = good;
  bad.key_mask = astype(good.key_mask, DType::s32);
  EXPECT_EMILY_ERROR(model->step(bad), ShapeError, "llama.step");
  bad = good;
  bad.positions = reshape(good.positions, {3, 1});
  EXPECT_EMILY_ERROR(model->step(bad), ShapeError, "llama.step");
  bad = good;
  bad.caches[1] = model->make_caches(1, 9)[1];
  EXPECT_EMILY_ERROR(model->step(bad), ShapeError, "llama.step");
  EXPECT_EMILY_ERROR(model->make_caches(0, 8), ValueError, "llama.make_caches");
}

TEST(Llama, LoadRefusesWhatItCannotRun) {
  TempFolder yarn;
  write_tiny_checkpoint(yarn, tiny_config_json("llama"));
  {
    std::ofstream out(yarn.file("config.json"));
    out << tiny_config_json("llama",
                            "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}");
  }
  EXPECT_EMILY_ERROR(models::load_causal_lm(yarn.path()), Unsupported, "rope");

  TempFolder bert;
  {
    std::ofstream out(bert.file("config.json"));
    out << "{\"model_type\": \"bert\"}";
  }
  EXPECT_THROW(models::load_causal_lm(bert.path()), Unsupported);
  EXPECT_THROW(models::load_causal_lm(bert.file("absent")), FormatError);
}

TEST(Llama, ProgressReachesOne) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("llama"));
  models::LoadOptions options;
  double last_weights = -1;
  options.progress = [&](std::string_view stage, double f) {
    if (stage == "weights") {
      EXPECT_GE(f, last_weights);
      last_weights = f;
    }
  };
  models::load_causal_lm(folder.path(), options);
  EXPECT_DOUBLE_EQ(last_weights, 1.0);
}

}  // namespace
}  // namespace emily::testing
