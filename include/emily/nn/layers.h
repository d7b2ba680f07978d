// The layers transformer decoders are built from. Each is a Module whose parameter names
// are Hugging Face's (weight, bias), and a forward call made of catalogue and fast ops
// only, so every layer traces under compile() and runs on any device.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "emily/model_config.h"
#include "emily/nn/module.h"
#include "emily/tensor.h"

namespace emily::nn {

// y = x W^T + b with W {out, in}, dense or quantized (then quantized_matmul).
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);
  Tensor operator()(const Tensor& x) const;

  std::int64_t in_features, out_features;
  Parameter weight;
  Parameter bias;  // not registered (and never loaded) without a bias
};

// Linears that read the same input (q/k/v, gate/up), run as one product: their weights,
// and biases, stacked by output rows into one buffer, each Linear's weight then a view of
// its rows, so nothing is stored twice. On a GPU one product of N rows costs less than
// several of fewer (a launch each, and a short matrix reads below the copy rate). Built
// for inference once the weights are final (LlamaModel stacks them on CUDA after loading,
// casting and moving); a part whose weight or bias was replaced since runs on its own.
class StackedLinears {
 public:
  // Stacks `parts`: the same in_features, all dense with one dtype and device or all
  // quantized alike, biases on all or none. False, leaving them untouched, otherwise.
  bool stack(const std::vector<Linear*>& parts);
  // Each part's output for x {..., in_features}, in order: slices (views) of one
  // product's result while the parts still view the stacked weights, else each part's own.
  std::vector<Tensor> operator()(const Tensor& x, const std::vector<const Linear*>& parts) const;
  bool stacked() const { return weight_.defined(); }
  // The stacked dense weight where operator() would run one product for x and the parts
  // have no bias (an op that takes the stacked rows itself, fast::linear_swiglu, can then
  // stand for the product and what follows); undefined otherwise.
  Tensor unbiased_weight(const Tensor& x, const std::vector<const Linear*>& parts) const;

 private:
  bool current(const std::vector<const Linear*>& parts) const;
  bool one_product(const Tensor& x, const std::vector<const Linear*>& parts) const;
  Parameter weight_, bias_;
  std::vector<std::int64_t> rows_;
  std::vector<const void*> views_;  // each part's weight (packed codes) and bias data
};

// Rows of a {num, dim} table. A quantized table gathers the packed rows with their
// scales and biases and dequantizes only those, never the whole table.
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t dim);
  Tensor operator()(const Tensor& ids) const;  // ids {...} integer -> {..., dim}
  // x W^T: the table used as an output projection (tied word embeddings).
  Tensor as_linear(const Tensor& x) const;

  std::int64_t num_embeddings, dim;
  Parameter weight;
};

class RMSNorm : public Module {
 public:
  RMSNorm(std::int64_t dim, double eps);
  Tensor operator()(const Tensor& x) const;  // fast::rms_norm over the last axis
  // {x + residual, this norm of it} in one kernel (fast::add_rms_norm).
  std::pair<Tensor, Tensor> add_and_norm(const Tensor& x, const Tensor& residual) const;

  double eps;
  Parameter weight;
};

class LayerNorm : public Module {
 public:
  LayerNorm(std::int64_t dim, double eps, bool bias = true);
  Tensor operator()(const Tensor& x) const;  // fast::layer_norm over the last axis
  // {x + residual, this norm of it} in one kernel (fast::add_layer_norm).
  std::pair<Tensor, Tensor> add_and_norm(const Tensor& x, const Tensor& residual) const;

  double eps;
  Parameter weight;
  Parameter bias;
};

// The gated feed-forward of Llama-style decoders: down(silu(gate(x)) * up(x)).
class MLP : public Module {
 public:
  MLP(std::int64_t hidden, std::int64_t intermediate, bool bias = false);
  Tensor operator()(const Tensor& x) const;
  // gate_proj and up_proj as one product (StackedLinears); false where they cannot be.
  bool stack_projections();

  Linear gate_proj, up_proj, down_proj;

 private:
  StackedLinears gate_up_;
};

// Rotary position embedding of {B, T, heads, head_dim} tensors at per-token positions
// {B, T}, split-half pairs as transformers rotates them. Types default and linear run as
// fast::rope_positions; llama3 (and explicit frequencies, as GGUF's rope_freqs) turn by
// per-pair inverse frequencies computed once here. Others raise Unsupported naming the
// type.
class RoPE {
 public:
  RoPE(const RopeConfig& config, std::int64_t head_dim);
  // Inverse frequencies divided by `divisors` (llama.cpp's rope_freqs: one per pair).
  RoPE(const RopeConfig& config, std::int64_t head_dim, const std::vector<float>& divisors);
  Tensor operator()(const Tensor& x, const Tensor& positions) const;
  // The rotation of norm(x), in one kernel where the frequencies follow base and scale
  // (fast::rms_norm_rope_positions).
  Tensor operator()(const Tensor& x, const Tensor& positions, const RMSNorm& norm) const;
  // Both of an attention's: norm(q) and norm(k) rotated at the same positions, one launch
  // for the two where the backend has it.
  std::pair<Tensor, Tensor> operator()(const Tensor& q, const RMSNorm& q_norm, const Tensor& k,
                                       const RMSNorm& k_norm, const Tensor& positions) const;

  int dims;  // the rotated features (head_dim times partial_rotary_factor)

 private:
  double base_ = 10000.0, scale_ = 1.0;
  std::vector<float> inverse_frequencies_;  // empty: base and scale describe them
};

// Causal self-attention over a preallocated key/value cache (what models::CausalLM's
// step needs): q/k/v projections, optional RMSNorm of each query and key head (Qwen3),
// RoPE, the new keys and values scattered into the caches at given slots, then
// fast::sdpa_masked over the whole cache. Grouped-query heads read their shared K/V head
// directly (no repetition).
struct AttentionOptions {
  std::int64_t hidden_size = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  bool qkv_bias = false, output_bias = false;
  bool qk_norm = false;  // q_norm/k_norm over head_dim before RoPE
  double norm_eps = 1e-6;
  std::optional<RoPE> rope;  // none: the layer sees no positions (SmolLM3's NoPE layers)
};

class Attention : public Module {
 public:
  explicit Attention(AttentionOptions options);

  struct Output {
    Tensor out;  // {B, T, hidden}
    Tensor k_cache, v_cache;
  };
  // x {B, T, hidden}; positions {B, T}; mask bool, broadcasting to {B, heads, T, T_max}
  // (true: the query sees the slot); slots {T, 1} integer: the cache slot of each new
  // token; caches {B, kv_heads, T_max, head_dim}.
  Output operator()(const Tensor& x, const Tensor& positions, const Tensor& mask,
                    const Tensor& slots, const Tensor& k_cache, const Tensor& v_cache) const;

  // q_proj, k_proj and v_proj as one product (StackedLinears); false where they cannot be.
  bool stack_projections();

  AttentionOptions options;
  Linear q_proj, k_proj, v_proj, o_proj;
  std::unique_ptr<RMSNorm> q_norm, k_norm;  // with qk_norm only

 private:
  StackedLinears qkv_;
};

}  // namespace emily::nn
