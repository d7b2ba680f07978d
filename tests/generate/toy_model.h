// A tiny CausalLM for the decode loop's tests: one attention layer over token embeddings
// plus a sinusoidal position signal, built from catalogue ops with seeded random
// weights. It honours the whole step contract (caches written at a tensor write_offset,
// key_mask and causality, positions), so a loop that pads, masks, offsets or caches
// wrongly gets different logits and different tokens. It lives on the device of the
// current stream when it is made.
#pragma once

#include <cmath>

#include "emily/emily.h"
#include "emily/fast.h"
#include "emily/models/causal_lm.h"

namespace emily::testing {

class ToyLM : public models::CausalLM {
 public:
  explicit ToyLM(std::int64_t vocab = 48, std::int64_t dim = 16, std::uint64_t seed = 7)
      : dim_(dim) {
    config_.model_type = "toy";
    config_.vocab_size = vocab;
    config_.hidden_size = dim;
    config_.num_hidden_layers = 1;
    config_.num_attention_heads = 1;
    config_.num_key_value_heads = 1;
    config_.head_dim = dim;
    Tensor keys = random::split(random::key(seed), 4);
    auto key = [&](std::int64_t i) { return reshape(slice(keys, {i, 0}, {i + 1, 2}), {2}); };
    embed_ = random::normal(key(0), {vocab, dim});
    wq_ = random::normal(key(1), {dim, dim}) * (1.0 / std::sqrt(double(dim)));
    wk_ = random::normal(key(2), {dim, dim}) * (1.0 / std::sqrt(double(dim)));
    // Large output weights make the next-token distribution peaked enough that greedy
    // choices are far from ties.
    out_ = random::normal(key(3), {dim, vocab}) * 2.0;
    freqs_ = arange(0.1, 0.1 + 0.37 * double(dim), 0.37, DType::f32);
  }

  const DecoderConfig& config() const override { return config_; }
  DecoderConfig& mutable_config() { return config_; }
  Device device() const override { return device_; }
  DType dtype() const override { return DType::f32; }

  std::vector<Tensor> make_caches(std::int64_t batch, std::int64_t max_length) const override {
    return {zeros({batch, 1, max_length, dim_}), zeros({batch, 1, max_length, dim_})};
  }

  models::StepResult step(const models::StepInputs& in, bool last_only) const override {
    steps_ += 1;
    const std::int64_t b = in.tokens.shape(0), t = in.tokens.shape(1);
    const std::int64_t t_max = in.caches.at(0).shape(2);
    Tensor x = take(embed_, in.tokens, 0);  // {B, T, D}
    Tensor angle = expand_dims(astype(in.positions, DType::f32), {2}) * freqs_;
    x = x + sin(angle);
    Tensor q = matmul(x, wq_), k = matmul(x, wk_);
    // Slot j of the cache takes chunk row j - offset where that row exists.
    Tensor slots = arange(0, double(t_max), 1, DType::s32);
    Tensor rel = slots - in.write_offset;
    Tensor fresh = logical_and(greater_equal(rel, scalar_like(rel, 0)),
                               less(rel, scalar_like(rel, double(t))));
    Tensor rows = clip(rel, 0.0, double(t - 1));
    Tensor fresh4 = reshape(fresh, {1, 1, t_max, 1});
    Tensor k_cache = where(fresh4, take(expand_dims(k, {1}), rows, 2), in.caches[0]);
    Tensor v_cache = where(fresh4, take(expand_dims(x, {1}), rows, 2), in.caches[1]);
    // Query i sees slot j when key_mask[b, j] and j <= offset + i.
    Tensor query_at = reshape(arange(0, double(t), 1, DType::s32), {t, 1}) + in.write_offset;
    Tensor causal = less_equal(reshape(slots, {1, t_max}), query_at);  // {T, T_max}
    Tensor mask =
        logical_and(reshape(in.key_mask, {b, 1, 1, t_max}), reshape(causal, {1, 1, t, t_max}));
    Tensor attn = fast::sdpa_masked(expand_dims(q, {1}), k_cache, v_cache, mask,
                                    1.0 / std::sqrt(double(dim_)));
    Tensor h = x + reshape(attn, {b, t, dim_});
    if (last_only) h = slice(h, {0, t - 1, 0}, {b, t, dim_});
    return {matmul(h, out_), {k_cache, v_cache}};
  }

  // How often step ran eagerly or was traced (replays do not call it).
  mutable int steps_ = 0;

 private:
  std::int64_t dim_;
  Device device_ = current_stream().device;  // where the weights were made
  DecoderConfig config_;
  Tensor embed_, wq_, wk_, out_, freqs_;
};

}  // namespace emily::testing
