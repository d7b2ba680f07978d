// Choosing the next token from a model's logits, with the processors of Hugging Face
// transformers and in its order:
//
//   repetition penalty -> temperature -> top-k -> top-p -> min-p -> sample
//
// Each stage is a free function on a {B, V} f32 logits tensor that returns the logits
// with the tokens it rules out set to -inf, so the stages compose and the decode loop can
// run them inside its compiled step. Sampling draws from softmax(logits) with a
// counter-based key (random.h): the same key gives the same token on every device.
#pragma once

#include <cstdint>

#include "emily/tensor.h"

namespace emily {

struct SamplingOptions {
  // 0 picks the most likely token (greedy); otherwise logits are divided by it.
  double temperature = 1.0;
  std::int64_t top_k = 0;           // keep the k most likely tokens; 0: off
  double top_p = 1.0;               // keep the smallest set with mass >= top_p; 1: off
  double min_p = 0.0;               // drop tokens below min_p * (top token's prob); 0: off
  double repetition_penalty = 1.0;  // > 1 discourages tokens already seen; 1: off
  std::uint64_t seed = 0;

  bool greedy() const { return temperature == 0.0; }
  // ValueError naming the field for values transformers refuses (negative temperature,
  // top_p outside (0, 1], min_p outside [0, 1], a penalty <= 0, a negative top_k).
  void validate() const;
  bool operator==(const SamplingOptions&) const = default;
};

// HF's RepetitionPenaltyLogitsProcessor: where `seen` {B, V} (bool) holds, a negative
// logit is multiplied by `penalty` and a positive one divided by it.
Tensor apply_repetition_penalty(const Tensor& logits, const Tensor& seen, double penalty);
Tensor apply_temperature(const Tensor& logits, double temperature);
// Every token whose logit is below the k-th largest is dropped (ties with it stay).
Tensor apply_top_k(const Tensor& logits, std::int64_t k);
// Keeps the most likely tokens until their probability mass reaches p: a token stays
// when the mass of the tokens ranked above it is below p, so the top token always stays.
Tensor apply_top_p(const Tensor& logits, double p);
// Drops tokens whose probability is below min_p times the most likely token's.
Tensor apply_min_p(const Tensor& logits, double min_p);

// The whole chain above, each stage only where the options turn it on (temperature and
// the filters are skipped when greedy, as transformers does without do_sample). `seen`
// may be undefined when the penalty is off.
Tensor process_logits(const Tensor& logits, const Tensor& seen, const SamplingOptions& options);

// The next token of each row, {B} s32: argmax when greedy, else a draw from
// softmax(logits) with `key` (random.h; unused when greedy).
Tensor sample_tokens(const Tensor& processed_logits, const Tensor& key,
                     const SamplingOptions& options);

}  // namespace emily
