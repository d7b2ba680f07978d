// Llama-style decoders, one class for the family: llama (SmolLM, SmolLM2), mistral,
// qwen2 (q/k/v bias), qwen3 (RMSNorm of each query and key head before RoPE), smollm3
// (layers without RoPE), driven by DecoderConfig. Parameter names are transformers'
// (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, model.norm.weight,
// lm_head.weight), so a Hugging Face checkpoint loads by name; GGUF names map onto them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emily/gguf.h"
#include "emily/models/causal_lm.h"
#include "emily/nn/layers.h"
#include "emily/nn/module.h"

namespace emily::models {

class DecoderLayer : public nn::Module {
 public:
  DecoderLayer(const DecoderConfig& config, std::optional<nn::RoPE> rope);

  nn::RMSNorm input_layernorm;
  nn::Attention self_attn;
  nn::RMSNorm post_attention_layernorm;
  nn::MLP mlp;
};

// The transformer body (transformers' LlamaModel, named "model" in checkpoints).
class DecoderBody : public nn::Module {
 public:
  // rope_divisors: GGUF's per-pair frequency divisors (rope_freqs), when the file has them.
  DecoderBody(const DecoderConfig& config, const std::vector<float>& rope_divisors);

  nn::Embedding embed_tokens;
  std::vector<std::unique_ptr<DecoderLayer>> layers;
  nn::RMSNorm norm;
};

class LlamaModel final : public CausalLM, public nn::Module {
 public:
  // A model with no parameters loaded yet (fill them with nn::load_parameters). Unsupported
  // for configurations the step cannot run (another hidden_act, an unknown RoPE type).
  explicit LlamaModel(DecoderConfig config, const std::vector<float>& rope_divisors = {});

  const DecoderConfig& config() const override { return config_; }
  Device device() const override { return device_; }
  DType dtype() const override { return dtype_; }
  std::vector<Tensor> make_caches(std::int64_t batch, std::int64_t max_length) const override;
  StepResult step(const StepInputs& inputs, bool last_only = false) const override;

  // Casts the floating parameters and sets the activation dtype; moves the parameters.
  // On a CUDA device both then stack each layer's q/k/v and gate/up projections into one
  // product each (nn::StackedLinears): about 3 launches fewer per layer and token.
  void set_dtype(DType dtype);
  void set_device(Device device);
  // Whether set_dtype and set_device stack the projections (default true; set it before
  // them, as load_causal_lm does).
  void set_stack_projections(bool on) { stack_ = on; }

  DecoderBody model;
  std::unique_ptr<nn::Linear> lm_head;  // absent with tied word embeddings

 private:
  std::int64_t check_inputs(const StepInputs& inputs) const;
  void stack_projections();

  DecoderConfig config_;
  Device device_ = Device::cpu();
  DType dtype_ = DType::f32;
  bool stack_ = true;
};

// ---- GGUF -------------------------------------------------------------------------------

// A DecoderConfig from a GGUF file's metadata (<arch>.block_count, embedding_length,
// attention.head_count, ...; architectures llama, qwen2, qwen3). Unsupported for other
// architectures; FormatError naming the file and key when one is missing.
DecoderConfig decoder_config_from_gguf(const GgufFile& file);

// The transformers name of a GGUF tensor (blk.3.attn_q.weight ->
// model.layers.3.self_attn.q_proj.weight); nullopt for names with no counterpart.
std::optional<std::string> hf_name_from_gguf(const std::string& gguf_name);

// llama.cpp's converter reorders the rows of Llama q_proj and k_proj so that its
// interleaved RoPE matches transformers' split-half one: within each head, rows
// (2 halves, head_dim/2) become (head_dim/2, 2). This restores transformers' order on a
// {heads * head_dim, ...} weight or bias, dense or quantized (a row holds whole groups,
// so packed codes, scales and biases move by rows alike).
Tensor undo_gguf_rope_permutation(const Tensor& rows, std::int64_t heads);
QuantizedTensor undo_gguf_rope_permutation(const QuantizedTensor& rows, std::int64_t heads);

// The tensors of a GGUF file under transformers' names, Llama's q/k rows restored;
// quantized tensors stay quantized.
std::unique_ptr<nn::WeightSource> gguf_weights(const GgufFile& file, const DecoderConfig& config);

}  // namespace emily::models
