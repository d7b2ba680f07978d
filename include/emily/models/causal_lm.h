// The interface every decoder-only language model offers the decode loop (generate.h):
// one call runs a chunk of tokens through the model, writes their keys and values into
// preallocated caches and returns logits. Every argument is a tensor, so a step traces
// once under compile() and replays for every token, with the caches donated so they are
// updated in place.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emily/device.h"
#include "emily/dtype.h"
#include "emily/model_config.h"
#include "emily/tensor.h"

namespace emily::models {

// What a step reads. B rows of T new tokens; the caches hold T_max positions per row.
struct StepInputs {
  Tensor tokens;        // {B, T} s32
  Tensor positions;     // {B, T} s32: each token's position (rope), left padding excluded
  Tensor write_offset;  // 0-d s32: the cache slot of the chunk's first token (same for all rows)
  Tensor key_mask;      // {B, T_max} bool: slots holding real tokens, this chunk's included
  // Per layer, keys then values: k0, v0, k1, v1, ...; each {B, Nkv, T_max, head_dim}.
  std::vector<Tensor> caches;
};

struct StepResult {
  Tensor logits;               // {B, T, vocab} f32, or {B, 1, vocab} with last_only
  std::vector<Tensor> caches;  // the caches with the chunk written at write_offset
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;

  virtual const DecoderConfig& config() const = 0;
  virtual Device device() const = 0;
  virtual DType dtype() const = 0;  // of the activations and the caches

  // Zeroed caches for `batch` rows of up to `max_length` tokens, on the model's device.
  virtual std::vector<Tensor> make_caches(std::int64_t batch, std::int64_t max_length) const = 0;

  // Query i of the chunk sees cache slot j when key_mask[b, j] holds and
  // j <= write_offset + i. With last_only, logits only for the chunk's last token (the
  // only one a decode loop samples from).
  virtual StepResult step(const StepInputs& inputs, bool last_only = false) const = 0;
};

// How load_causal_lm builds a model.
struct LoadOptions {
  Device device = Device::cpu();
  // Activation and weight dtype; unset: the file's (config.json's dtype, else f32;
  // GGUF: f32). Quantized weights stay quantized unless dequantize is set.
  std::optional<DType> dtype;
  bool dequantize = false;
  // On a CUDA device, each layer's q/k/v and gate/up projections run as one product each
  // (nn::StackedLinears; the weights are stacked once, nothing is stored twice). False
  // keeps one product per projection.
  bool stack_projections = true;
  // Called as loading advances (fraction 0..1 of the weights), for progress output.
  std::function<void(std::string_view stage, double fraction)> progress;
};

// A Llama-family (llama, mistral, qwen2, smollm) or Qwen3 model from a Hugging Face
// folder (config.json and safetensors) or a .gguf file. FormatError naming the file and
// tensor for missing or misshapen weights; Unsupported for other model types.
std::unique_ptr<CausalLM> load_causal_lm(const std::string& path, const LoadOptions& options = {});

}  // namespace emily::models
