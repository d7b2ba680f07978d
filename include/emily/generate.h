// The decode loop: prompts in, tokens and streamed text out, over any CausalLM
// (models/causal_lm.h).
//
//   Generator gen(*model, {.tokenizer = tok});
//   GenerateOptions o;
//   o.max_tokens = 64;
//   o.eos_ids = {2};
//   auto result = gen.generate({prompt_ids}, o, [](std::size_t row, std::string_view text) {
//     std::cout << text << std::flush;
//   });
//
// A batch of prompts of different lengths is left-padded to one length; the padding is
// hidden from attention by the key mask and left out of the positions, so each row
// decodes as it would alone. The prompt runs through the model in one step (or in
// chunks), then every new token through one compiled step whose inputs are all tensors
// (the write offset included) and whose caches are donated, so it traces once and
// replays for every token with the caches updated in place. Sampling (sampling.h) runs
// inside that step on the model's device; the host reads one token per row per step,
// to stop rows and to stream their text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emily/compile.h"
#include "emily/models/causal_lm.h"
#include "emily/sampling.h"
#include "emily/tokenizer.h"

namespace emily {

struct GenerateOptions {
  std::int64_t max_tokens = 256;  // per row, the stopping token included
  SamplingOptions sampling;
  // A row ends after generating any of these (the token is kept in its ids, not in its
  // text) or when its text reaches a stop string (the text ends before it; needs a
  // tokenizer).
  std::vector<std::int32_t> eos_ids;
  std::vector<std::string> stop_strings;
  // Prompt tokens per prefill step; 0 runs the whole prompt in one step.
  std::int64_t prefill_chunk = 0;
};

enum class FinishReason { eos, stop_string, max_tokens };
std::string_view to_string(FinishReason reason);

struct GeneratedRow {
  std::vector<std::int32_t> tokens;  // generated ids, the one that stopped the row included
  std::string text;                  // decoded (special tokens skipped); empty without tokenizer
  FinishReason finish = FinishReason::max_tokens;
};

struct GenerationStats {
  std::int64_t prompt_tokens = 0;            // real tokens over all rows (padding excluded)
  std::int64_t generated_tokens = 0;         // over all rows
  std::int64_t decode_tokens = 0;            // of those, made by decode steps (not the prefill)
  double prefill_seconds = 0;                // the prompt steps and each row's first token
  double decode_seconds = 0;                 // every later token
  double prefill_tokens_per_second() const;  // prompt tokens / prefill seconds
  double decode_tokens_per_second() const;   // decode tokens / decode seconds
};

struct GenerateResult {
  std::vector<GeneratedRow> rows;  // in the order of the prompts
  GenerationStats stats;
};

// Called with each row's new text as soon as it is final: whole UTF-8 characters, never
// the beginning of a stop string.
using TextCallback = std::function<void(std::size_t row, std::string_view text)>;

struct GeneratorOptions {
  std::optional<Tokenizer> tokenizer;  // for text, streaming and stop strings
  std::optional<CompileMode> mode;     // of the decode step; unset: EMILY_COMPILE, else native
  // On a GPU, each decode step is queued before the host reads the token of the step
  // before it (begin_host_read), so the GPU does not sit idle while the host takes the
  // token, streams its text and queues the next step. The price: when a row stops early
  // (eos, a stop string) one step has run in vain. Off, every step waits for the host.
  // The CPU runs a step as it is queued, so there the steps never run ahead.
  bool queue_ahead = true;
};

class Generator {
 public:
  // The model must outlive the generator.
  explicit Generator(const models::CausalLM& model, GeneratorOptions options = {});
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;

  // ValueError for an empty batch or prompt, an id outside the vocabulary, bad sampling
  // options, stop strings without a tokenizer, or a prompt that leaves no room below the
  // model's max_position_embeddings (max_tokens shrinks to fit otherwise).
  GenerateResult generate(const std::vector<std::vector<std::int32_t>>& prompts,
                          const GenerateOptions& options, const TextCallback& on_text = {});

  // Signatures the compiled decode step has traced; one per (batch size, cache length,
  // sampling options) in use, so 1 after any number of tokens of one generation.
  std::size_t step_traces() const;
  const std::optional<Tokenizer>& tokenizer() const { return options_.tokenizer; }

  struct Step;  // the compiled decode step and what it was built for

 private:
  const models::CausalLM* model_;
  GeneratorOptions options_;
  std::unique_ptr<Step> step_;
};

}  // namespace emily
