// The logits processors of sampling.h. Every stage works on whole {B, V} tensors with
// catalogue ops and no host reads, so the chain traces into the decode step's compiled
// plan and runs on the logits' device.
#include "emily/sampling.h"

#include <cmath>
#include <limits>

#include "emily/error.h"
#include "emily/ops.h"
#include "emily/random.h"

namespace emily {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

void check_logits(const char* op, const Tensor& logits) {
  if (!logits.defined()) EMILY_THROW(ValueError, op, "logits are undefined");
  if (logits.ndim() != 2) {
    EMILY_THROW(ShapeError, op, "logits must be {batch, vocab}, got shape ",
                to_string(logits.shape()));
  }
  if (!is_inexact(logits.dtype())) {
    EMILY_THROW(DTypeError, op, "logits must be floating, got ", name(logits.dtype()));
  }
}

// `logits` with the entries where `drop` holds set to -inf.
Tensor drop_where(const Tensor& drop, const Tensor& logits) {
  return where(drop, scalar_like(logits, kNegInf), logits);
}

}  // namespace

void SamplingOptions::validate() const {
  const char* op = "sampling";
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    EMILY_THROW(ValueError, op, "temperature must be a finite number >= 0, got ", temperature);
  if (top_k < 0) EMILY_THROW(ValueError, op, "top_k must be >= 0, got ", top_k);
  if (!(top_p > 0.0 && top_p <= 1.0))
    EMILY_THROW(ValueError, op, "top_p must be in (0, 1], got ", top_p);
  if (!(min_p >= 0.0 && min_p <= 1.0))
    EMILY_THROW(ValueError, op, "min_p must be in [0, 1], got ", min_p);
  if (!(repetition_penalty > 0.0) || !std::isfinite(repetition_penalty))
    EMILY_THROW(ValueError, op, "repetition_penalty must be a finite number > 0, got ",
                repetition_penalty);
}

Tensor apply_repetition_penalty(const Tensor& logits, const Tensor& seen, double penalty) {
  check_logits("repetition_penalty", logits);
  if (!seen.defined() || seen.shape() != logits.shape()) {
    EMILY_THROW(ShapeError, "repetition_penalty", "seen must have the logits' shape ",
                to_string(logits.shape()));
  }
  // Multiplying a negative logit and dividing a positive one both lower it, which is
  // transformers' rule (a plain division would raise negative logits).
  Tensor penalised =
      where(less(logits, scalar_like(logits, 0.0)), logits * penalty, logits / penalty);
  return where(seen, penalised, logits);
}

Tensor apply_temperature(const Tensor& logits, double temperature) {
  check_logits("temperature", logits);
  if (!(temperature > 0.0))
    EMILY_THROW(ValueError, "temperature", "temperature must be > 0, got ", temperature);
  return logits / temperature;
}

Tensor apply_top_k(const Tensor& logits, std::int64_t k) {
  check_logits("top_k", logits);
  if (k <= 0) EMILY_THROW(ValueError, "top_k", "k must be > 0, got ", k);
  const std::int64_t vocab = logits.shape(1);
  if (k >= vocab) return logits;
  // The k-th largest value is the threshold; comparing against it (rather than
  // scattering the k survivors back) keeps ties with it, as transformers does.
  Tensor values = top_k(logits, k, -1).first;
  Tensor kth = slice(values, {0, k - 1}, {logits.shape(0), k});
  return drop_where(less(logits, kth), logits);
}

Tensor apply_top_p(const Tensor& logits, double p) {
  check_logits("top_p", logits);
  if (!(p > 0.0 && p <= 1.0)) EMILY_THROW(ValueError, "top_p", "p must be in (0, 1], got ", p);
  if (p >= 1.0) return logits;
  // In descending order the kept tokens are a prefix: those whose preceding mass (an
  // exclusive running sum) is still below p. This equals transformers' test on the
  // ascending inclusive sum (mass <= 1 - p is dropped) and needs no scatter back: the
  // smallest kept logit becomes a threshold.
  Tensor sorted = sort(logits, -1, /*descending=*/true);
  Tensor before = cumulative_sum(softmax(sorted, -1), -1, /*reverse=*/false, /*inclusive=*/false);
  Tensor kept = sum(astype(less(before, scalar_like(before, p)), DType::s32), -1, true);
  // The top token always stays (p > 0 and the mass before it is 0, but rounding of an
  // all -inf row must not give an index of -1).
  Tensor last = maximum(kept - scalar_like(kept, 1.0), scalar_like(kept, 0.0));
  Tensor threshold = take_along_axis(sorted, last, -1);
  return drop_where(less(logits, threshold), logits);
}

Tensor apply_min_p(const Tensor& logits, double min_p) {
  check_logits("min_p", logits);
  if (!(min_p >= 0.0 && min_p <= 1.0))
    EMILY_THROW(ValueError, "min_p", "min_p must be in [0, 1], got ", min_p);
  if (min_p == 0.0) return logits;
  Tensor probs = softmax(logits, -1);
  Tensor floor = max(probs, -1, /*keepdims=*/true) * min_p;
  return drop_where(less(probs, floor), logits);
}

Tensor process_logits(const Tensor& logits, const Tensor& seen, const SamplingOptions& options) {
  options.validate();
  Tensor x = logits;
  if (options.repetition_penalty != 1.0)
    x = apply_repetition_penalty(x, seen, options.repetition_penalty);
  if (options.greedy()) return x;
  if (options.temperature != 1.0) x = apply_temperature(x, options.temperature);
  if (options.top_k > 0) x = apply_top_k(x, options.top_k);
  if (options.top_p < 1.0) x = apply_top_p(x, options.top_p);
  if (options.min_p > 0.0) x = apply_min_p(x, options.min_p);
  return x;
}

Tensor sample_tokens(const Tensor& processed_logits, const Tensor& key,
                     const SamplingOptions& options) {
  check_logits("sample_tokens", processed_logits);
  Tensor picked = options.greedy() ? argmax(processed_logits, -1)
                                   : random::categorical(key, processed_logits, -1);
  return astype(picked, DType::s32);
}

}  // namespace emily
