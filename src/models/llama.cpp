#include "emily/models/llama.h"

#include <algorithm>
#include <tuple>

#include "emily/ops.h"
#include "emily/stream.h"

namespace emily::models {

namespace {

constexpr const char* kStep = "llama.step";

bool applies_rope(const DecoderConfig& c, std::size_t layer) {
  return c.no_rope_layers.empty() || c.no_rope_layers[layer] != 0;
}

bool slides(const DecoderConfig& c, std::size_t layer) {
  return c.sliding_window && layer < c.layer_types.size() &&
         c.layer_types[layer] == "sliding_attention";
}

nn::AttentionOptions attention_options(const DecoderConfig& c, std::optional<nn::RoPE> rope) {
  nn::AttentionOptions o;
  o.hidden_size = c.hidden_size;
  o.num_heads = c.num_attention_heads;
  o.num_kv_heads = c.num_key_value_heads;
  o.head_dim = c.head_dim;
  o.qkv_bias = c.qkv_bias;
  o.output_bias = c.attention_bias;
  o.qk_norm = c.model_type == "qwen3";
  o.norm_eps = c.rms_norm_eps;
  o.rope = std::move(rope);
  return o;
}

void check_config(const DecoderConfig& c) {
  static constexpr std::string_view known[] = {"llama", "mistral", "qwen2", "qwen3", "smollm3"};
  if (std::find(std::begin(known), std::end(known), c.model_type) == std::end(known))
    EMILY_THROW(Unsupported, "llama", "model_type \"", c.model_type,
                "\" is not a Llama-family decoder (llama, mistral, qwen2, qwen3, smollm3)");
  if (c.hidden_act != "silu")
    EMILY_THROW(Unsupported, "llama", "hidden_act \"", c.hidden_act, "\" (only silu is supported)");
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.head_dim <= 0 ||
      c.intermediate_size <= 0)
    EMILY_THROW(ValueError, "llama", "the configuration has a non-positive size");
  if (!c.no_rope_layers.empty() &&
      static_cast<std::int64_t>(c.no_rope_layers.size()) != c.num_hidden_layers)
    EMILY_THROW(ValueError, "llama", "no_rope_layers has ", c.no_rope_layers.size(),
                " entries for ", c.num_hidden_layers, " layers");
}

}  // namespace

DecoderLayer::DecoderLayer(const DecoderConfig& c, std::optional<nn::RoPE> rope)
    : input_layernorm(c.hidden_size, c.rms_norm_eps),
      self_attn(attention_options(c, std::move(rope))),
      post_attention_layernorm(c.hidden_size, c.rms_norm_eps),
      mlp(c.hidden_size, c.intermediate_size, c.mlp_bias) {
  register_module("input_layernorm", input_layernorm);
  register_module("self_attn", self_attn);
  register_module("post_attention_layernorm", post_attention_layernorm);
  register_module("mlp", mlp);
}

DecoderBody::DecoderBody(const DecoderConfig& c, const std::vector<float>& rope_divisors)
    : embed_tokens(c.vocab_size, c.hidden_size), norm(c.hidden_size, c.rms_norm_eps) {
  register_module("embed_tokens", embed_tokens);
  const nn::RoPE rope = rope_divisors.empty() ? nn::RoPE(c.rope, c.head_dim)
                                              : nn::RoPE(c.rope, c.head_dim, rope_divisors);
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const auto layer = static_cast<std::size_t>(i);
    layers.push_back(std::make_unique<DecoderLayer>(
        c, applies_rope(c, layer) ? std::optional(rope) : std::nullopt));
    register_module("layers." + std::to_string(i), *layers.back());
  }
  register_module("norm", norm);
}

LlamaModel::LlamaModel(DecoderConfig c, const std::vector<float>& rope_divisors)
    // The body is built from a checked configuration (the comma runs the check first).
    : model((check_config(c), c), rope_divisors), config_(std::move(c)) {
  register_module("model", model);
  if (!config_.tie_word_embeddings) {
    lm_head = std::make_unique<nn::Linear>(config_.hidden_size, config_.vocab_size, false);
    register_module("lm_head", *lm_head);
  }
}

void LlamaModel::set_dtype(DType dtype) {
  nn::cast(*this, dtype);
  dtype_ = dtype;
  stack_projections();
}

void LlamaModel::set_device(Device device) {
  nn::to_device(*this, device);
  device_ = device;
  stack_projections();
}

// Only on CUDA, where a launch saved is worth the copy: on the CPU a product's fixed
// cost is small, and stacking would copy weights a file mapping serves without one.
void LlamaModel::stack_projections() {
  if (!stack_ || device_.type != Device::Type::cuda) return;
  StreamGuard guard(default_stream(device_));
  for (const auto& layer : model.layers) {
    layer->self_attn.stack_projections();
    layer->mlp.stack_projections();
  }
}

std::vector<Tensor> LlamaModel::make_caches(std::int64_t batch, std::int64_t max_length) const {
  if (batch <= 0 || max_length <= 0)
    EMILY_THROW(ValueError, "llama.make_caches", "batch and max_length must be positive, got ",
                batch, " and ", max_length);
  StreamGuard guard(default_stream(device_));
  const Shape shape{batch, config_.num_key_value_heads, max_length, config_.head_dim};
  std::vector<Tensor> caches;
  for (std::int64_t i = 0; i < 2 * config_.num_hidden_layers; ++i)
    caches.push_back(zeros(shape, dtype_, device_));
  return caches;
}

// Checks the inputs against the model and each other, reading only shapes, dtypes and
// devices (step must trace without host reads); returns the caches' length T_max.
std::int64_t LlamaModel::check_inputs(const StepInputs& in) const {
  for (const Tensor* t : {&in.tokens, &in.positions, &in.write_offset, &in.key_mask})
    if (!t->defined()) EMILY_THROW(ValueError, kStep, "an input tensor is undefined");
  if (in.tokens.ndim() != 2 || !is_integral(in.tokens.dtype()))
    EMILY_THROW(ShapeError, kStep, "tokens must be {B, T} integers, got ",
                to_string(in.tokens.shape()), " ", name(in.tokens.dtype()));
  const std::int64_t b = in.tokens.shape(0), t = in.tokens.shape(1);
  if (b == 0 || t == 0) EMILY_THROW(ShapeError, kStep, "tokens must not be empty");
  if (in.positions.shape() != in.tokens.shape() || !is_integral(in.positions.dtype()))
    EMILY_THROW(ShapeError, kStep, "positions must be integers shaped as tokens ",
                to_string(in.tokens.shape()), ", got ", to_string(in.positions.shape()));
  if (in.write_offset.ndim() != 0 || !is_integral(in.write_offset.dtype()))
    EMILY_THROW(ShapeError, kStep, "write_offset must be a 0-d integer");
  const std::size_t n_caches = 2 * static_cast<std::size_t>(config_.num_hidden_layers);
  if (in.caches.size() != n_caches)
    EMILY_THROW(ValueError, kStep, "expected ", n_caches,
                " caches (keys and values per layer), got ", in.caches.size());
  const Tensor& first = in.caches[0];
  const std::int64_t t_max = first.defined() && first.ndim() == 4 ? first.shape(2) : 0;
  const Shape cache_shape{b, config_.num_key_value_heads, t_max, config_.head_dim};
  for (const Tensor& c : in.caches) {
    if (!c.defined() || c.shape() != cache_shape || c.dtype() != dtype_)
      EMILY_THROW(ShapeError, kStep, "every cache must be ", to_string(cache_shape), " ",
                  name(dtype_), ", got ", c.defined() ? to_string(c.shape()) : "undefined");
    if (c.device() != device_)
      EMILY_THROW(DeviceError, kStep, "caches are on ", to_string(c.device()), ", the model on ",
                  to_string(device_), " (make them with make_caches)");
  }
  if (t > t_max)
    EMILY_THROW(ShapeError, kStep, "a chunk of ", t, " tokens does not fit caches of ", t_max);
  if (in.key_mask.shape() != Shape{b, t_max} || in.key_mask.dtype() != DType::bool_)
    EMILY_THROW(ShapeError, kStep, "key_mask must be {", b, ", ", t_max, "} bool, got ",
                to_string(in.key_mask.shape()), " ", name(in.key_mask.dtype()));
  return t_max;
}

StepResult LlamaModel::step(const StepInputs& in, bool last_only) const {
  const std::int64_t t_max = check_inputs(in);
  const std::int64_t b = in.tokens.shape(0), t = in.tokens.shape(1);
  const std::size_t n_caches = in.caches.size();

  std::optional<StreamGuard> guard;
  if (current_stream().device != device_) guard.emplace(default_stream(device_));

  // Inputs made on another device (a host-side decode loop) follow the model; a no-op
  // when they are already there.
  const Tensor tokens = to_device(in.tokens, device_);
  const Tensor positions = to_device(in.positions, device_);
  const Tensor key_mask = to_device(in.key_mask, device_);

  // Slot j is visible to query i when it holds a real token and j <= write_offset + i
  // (and, in a sliding layer, j > write_offset + i - window).
  const Tensor offset = astype(to_device(in.write_offset, device_), DType::s32);
  const Tensor query_slot = offset + arange(t, DType::s32, device_);  // {T}
  const Tensor key_slot = reshape(arange(t_max, DType::s32, device_), {1, t_max});
  const Tensor query_column = reshape(query_slot, {t, 1});
  const Tensor visible =
      reshape(logical_and(reshape(key_mask, {b, 1, 1, t_max}), less_equal(key_slot, query_column)),
              {b, 1, t, t_max});
  Tensor windowed;
  if (config_.sliding_window) {
    const double window = static_cast<double>(*config_.sliding_window);
    windowed = logical_and(visible, greater(key_slot, query_column - window));
  }

  // Each residual add runs fused with the norm that reads its sum (fast::add_rms_norm):
  // the attention's output with the post-attention norm, the MLP's with the next layer's
  // input norm or the final one. `normed` is the norm of `h` the next block reads.
  Tensor h = astype(model.embed_tokens(tokens), dtype_);
  Tensor normed = model.layers[0]->input_layernorm(h);
  const bool final_norm_fused = !last_only || t == 1;
  StepResult result;
  result.caches.reserve(n_caches);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const DecoderLayer& layer = *model.layers[i];
    const Tensor& mask = slides(config_, i) ? windowed : visible;
    auto a = layer.self_attn(normed, positions, mask, query_column, in.caches[2 * i],
                             in.caches[2 * i + 1]);
    std::tie(h, normed) = layer.post_attention_layernorm.add_and_norm(h, a.out);
    const Tensor m = layer.mlp(normed);
    if (i + 1 < model.layers.size())
      std::tie(h, normed) = model.layers[i + 1]->input_layernorm.add_and_norm(h, m);
    else if (final_norm_fused)
      std::tie(h, normed) = model.norm.add_and_norm(h, m);
    else
      h = h + m;
    result.caches.push_back(std::move(a.k_cache));
    result.caches.push_back(std::move(a.v_cache));
  }
  // A prompt's last row alone: sliced before the final norm rather than every row normed.
  h = final_norm_fused ? normed : model.norm(slice(h, {0, t - 1, 0}, {b, t, config_.hidden_size}));
  Tensor logits = lm_head ? (*lm_head)(h) : model.embed_tokens.as_linear(h);
  result.logits = astype(logits, DType::f32);
  return result;
}

}  // namespace emily::models
