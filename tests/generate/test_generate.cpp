// The decode loop over the toy model (toy_model.h). Oracles: a cache-free greedy loop
// that reruns the whole sequence each token (so padding, positions, masks, offsets and
// cache writes are all checked against a computation that has none of them), each row
// run alone for the batch, eager mode for the compiled step, and an unconstrained run
// for the stop conditions. Token comparisons are exact.
#include <gtest/gtest.h>

#include <numeric>

#include "emily/emily.h"
#include "emily/generate.h"
#include "support/testing.h"
#include "toy_model.h"

namespace emily {
namespace {

using testing::ToyLM;
using Prompts = std::vector<std::vector<std::int32_t>>;

GenerateOptions greedy(std::int64_t max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0;
  return o;
}

// The oracle: each token is the argmax of the last logits of the whole sequence so far,
// run as one chunk at offset 0 into fresh caches.
std::vector<std::int32_t> cache_free_greedy(const ToyLM& model, std::vector<std::int32_t> ids,
                                            int n) {
  std::vector<std::int32_t> out;
  for (int i = 0; i < n; ++i) {
    const auto t = static_cast<std::int64_t>(ids.size());
    models::StepInputs in;
    in.tokens = tensor<std::int32_t>(ids, {1, t});
    std::vector<std::int32_t> pos(ids.size());
    std::iota(pos.begin(), pos.end(), 0);
    in.positions = tensor<std::int32_t>(pos, {1, t});
    in.write_offset = scalar_tensor(0, DType::s32);
    in.key_mask = ones({1, t}, DType::bool_);
    in.caches = model.make_caches(1, t);
    Tensor logits = model.step(in, true).logits;
    auto next = argmax(reshape(logits, {-1})).item<std::int32_t>();
    out.push_back(next);
    ids.push_back(next);
  }
  return out;
}

TEST(Generate, GreedyEqualsACacheFreeLoop) {
  ToyLM model;
  Generator gen(model);
  std::vector<std::int32_t> prompt = {3, 17, 5, 9};
  auto result = gen.generate({prompt}, greedy(12));
  ASSERT_EQ(result.rows.size(), 1u);
  EXPECT_EQ(result.rows[0].tokens, cache_free_greedy(model, prompt, 12));
  EXPECT_EQ(result.rows[0].finish, FinishReason::max_tokens);
}

TEST(Generate, BatchRowsOfDifferentLengthsDecodeAsAlone) {
  ToyLM model;
  Generator gen(model);
  Prompts prompts = {{1, 2, 3}, {40, 7, 7, 12, 30, 2, 11}, {9}, {5, 6, 7, 8, 9}};
  auto batch = gen.generate(prompts, greedy(10));
  ASSERT_EQ(batch.rows.size(), prompts.size());
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    auto alone = gen.generate({prompts[r]}, greedy(10));
    EXPECT_EQ(batch.rows[r].tokens, alone.rows[0].tokens) << "row " << r;
    EXPECT_EQ(batch.rows[r].tokens, cache_free_greedy(model, prompts[r], 10)) << "row " << r;
  }
  EXPECT_EQ(batch.stats.prompt_tokens, 16);
  EXPECT_EQ(batch.stats.generated_tokens, 40);
  EXPECT_EQ(batch.stats.decode_tokens, 36);  // each row's first token comes from the prefill
}

TEST(Generate, ChunkedPrefillEqualsOneStep) {
  ToyLM model;
  Generator gen(model);
  Prompts prompts = {{1, 2, 3, 4, 5, 6, 7}, {8, 9}};
  auto whole = gen.generate(prompts, greedy(6));
  GenerateOptions chunked = greedy(6);
  chunked.prefill_chunk = 3;
  auto parts = gen.generate(prompts, chunked);
  for (std::size_t r = 0; r < prompts.size(); ++r)
    EXPECT_EQ(parts.rows[r].tokens, whole.rows[r].tokens) << "row " << r;
}

TEST(Generate, CompiledStepTracesOnceAndEqualsEager) {
  ToyLM model;
  Prompts prompts = {{4, 8, 15}, {16, 23, 42, 1, 2}};
  for (bool sample : {false, true}) {
    GenerateOptions o = greedy(20);
    if (sample) {
      o.sampling.temperature = 0.9;
      o.sampling.top_k = 20;
      o.sampling.top_p = 0.95;
      o.sampling.repetition_penalty = 1.2;
      o.sampling.seed = 5;
    }
    Generator eager(model, {.tokenizer = std::nullopt, .mode = CompileMode::eager});
    Generator native(model, {.tokenizer = std::nullopt, .mode = CompileMode::native});
    Generator fused(model, {.tokenizer = std::nullopt, .mode = CompileMode::fuse});
    auto want = eager.generate(prompts, o);
    model.steps_ = 0;
    auto got = native.generate(prompts, o);
#ifndef EMILY_DEBUG_BOUNDS_CHECK
    // One prefill step plus one trace; the other 18 tokens are replays. (A bounds-checked
    // build reads gather indices on the host, so its steps run eagerly: docs/OPS.md.)
    EXPECT_EQ(model.steps_, 2) << "sample=" << sample;
    EXPECT_EQ(native.step_traces(), 1u);
#endif
    auto fused_got = fused.generate(prompts, o);
    EXPECT_EQ(fused.step_traces(), 1u);
    for (std::size_t r = 0; r < prompts.size(); ++r) {
      EXPECT_EQ(got.rows[r].tokens, want.rows[r].tokens) << "row " << r << " sample=" << sample;
      EXPECT_EQ(fused_got.rows[r].tokens, want.rows[r].tokens) << "row " << r;
    }
    // A second generation of the same shape replays the same trace.
    native.generate(prompts, o);
    EXPECT_EQ(native.step_traces(), 1u);
  }
}

TEST(Generate, SeededSamplingIsReproducible) {
  ToyLM model;
  Generator gen(model);
  GenerateOptions o;
  o.max_tokens = 24;
  o.sampling.temperature = 1.0;
  o.sampling.seed = 1234;
  Prompts prompts = {{1, 2, 3}};
  auto a = gen.generate(prompts, o);
  auto b = gen.generate(prompts, o);
  EXPECT_EQ(a.rows[0].tokens, b.rows[0].tokens);
  o.sampling.seed = 4321;
  auto c = gen.generate(prompts, o);
  EXPECT_NE(a.rows[0].tokens, c.rows[0].tokens);  // 24 draws over 48 tokens: never all equal
}

TEST(Generate, EosEndsItsRowOnly) {
  ToyLM model;
  Generator gen(model);
  Prompts prompts = {{1, 2, 3}, {7, 8}};
  auto free_run = gen.generate(prompts, greedy(10));
  // Row 0's fourth token becomes an eos id (if it occurs earlier in the row, that
  // occurrence stops it: the oracle is the first occurrence).
  const std::int32_t eos = free_run.rows[0].tokens[3];
  GenerateOptions o = greedy(10);
  o.eos_ids = {eos, 47};
  auto result = gen.generate(prompts, o);
  auto first_stop = [&](const std::vector<std::int32_t>& tokens) {
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == eos || tokens[i] == 47) return i + 1;
    return tokens.size();
  };
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    const auto& full = free_run.rows[r].tokens;
    std::size_t n = first_stop(full);
    EXPECT_EQ(result.rows[r].tokens, std::vector<std::int32_t>(full.begin(), full.begin() + n));
    const bool stopped = full[n - 1] == eos || full[n - 1] == 47;
    EXPECT_EQ(result.rows[r].finish, stopped ? FinishReason::eos : FinishReason::max_tokens);
  }
  EXPECT_EQ(result.rows[0].finish, FinishReason::eos);
}

TEST(Generate, MaxTokensShrinksToTheContext) {
  ToyLM model;
  model.mutable_config().max_position_embeddings = 8;
  Generator gen(model);
  auto result = gen.generate({{1, 2, 3}}, greedy(100));
  EXPECT_EQ(result.rows[0].tokens.size(), 5u);
  EXPECT_EMILY_ERROR(gen.generate({{1, 2, 3, 4, 5, 6, 7, 8}}, greedy(4)), ValueError, "generate");
}

TEST(Generate, RejectsBadRequests) {
  ToyLM model;
  Generator gen(model);
  EXPECT_EMILY_ERROR(gen.generate({}, greedy(4)), ValueError, "generate");
  EXPECT_EMILY_ERROR(gen.generate({{1}, {}}, greedy(4)), ValueError, "generate");
  EXPECT_EMILY_ERROR(gen.generate({{1, 48}}, greedy(4)), ValueError, "generate");
  EXPECT_EMILY_ERROR(gen.generate({{1, -1}}, greedy(4)), ValueError, "generate");
  EXPECT_EMILY_ERROR(gen.generate({{1}}, greedy(0)), ValueError, "generate");
  GenerateOptions stop = greedy(4);
  stop.stop_strings = {"x"};
  EXPECT_EMILY_ERROR(gen.generate({{1}}, stop), ValueError, "generate");
  GenerateOptions bad = greedy(4);
  bad.sampling.top_p = 0;
  EXPECT_EMILY_ERROR(gen.generate({{1}}, bad), ValueError, "sampling");
}

}  // namespace
}  // namespace emily
