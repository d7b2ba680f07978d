// Hugging Face config.json read into typed configs, one struct per model family, with
// transformers' own defaults for the keys a file leaves out (the values its config
// classes resolve; tests/io/test_model_config.cpp compares against them).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emily/dtype.h"
#include "emily/error.h"
#include "emily/json.h"

namespace emily {

// Rotary position embedding parameters: transformers' `rope_parameters`, or the older
// top-level `rope_theta` with `rope_scaling` that most Hub files still carry.
struct RopeConfig {
  std::string type = "default";  // default, linear, dynamic, llama3, yarn, longrope
  double theta = 10000.0;
  double factor = 1.0;
  double partial_rotary_factor = 1.0;
  // llama3 and yarn: the context length the model was pretrained with.
  std::int64_t original_max_position_embeddings = 0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  // yarn (absent: the model computes transformers' defaults)
  std::optional<double> attention_factor, beta_fast, beta_slow;
};

// Llama-style decoders: llama (also SmolLM and SmolLM2), mistral, qwen2, qwen3, smollm3.
struct DecoderConfig {
  std::string model_type;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;  // default: num_attention_heads
  std::int64_t head_dim = 0;             // default: hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  std::int64_t max_position_embeddings = 0;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  std::optional<std::int64_t> bos_token_id, pad_token_id;
  std::vector<std::int64_t> eos_token_ids;  // the file may give one id or a list
  std::string dtype_name;                   // "bfloat16" from dtype or torch_dtype; may be empty
  std::optional<DType> dtype;               // when dtype_name is one Emily has
  std::string hidden_act = "silu";
  bool attention_bias = false;  // bias on q, k, v and o (Llama's meaning)
  bool qkv_bias = false;        // bias on q, k and v: attention_bias, or always for qwen2
  bool mlp_bias = false;
  // Sliding-window attention as transformers resolves it (qwen2/qwen3 drop the window
  // unless use_sliding_window); layer_types says which layers use it.
  std::optional<std::int64_t> sliding_window;
  bool use_sliding_window = false;
  std::int64_t max_window_layers = 0;
  // Per layer: "full_attention" or "sliding_attention". From the file, else as
  // transformers derives it (mistral: every layer slides when there is a window).
  std::vector<std::string> layer_types;
  std::vector<std::int64_t> no_rope_layers;  // smollm3: per layer, 1 when it applies RoPE
};

// BERT-style encoders: bert, and distilbert with its fields under BERT's names (dim as
// hidden_size, n_layers, n_heads, hidden_dim as intermediate_size, activation).
struct BertConfig {
  std::string model_type;
  std::int64_t vocab_size = 30522;
  std::int64_t hidden_size = 768;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;  // 0 for distilbert, which has no token types
  double layer_norm_eps = 1e-12;     // distilbert's is fixed in its model code: 1e-12
  std::optional<std::int64_t> pad_token_id;
  bool sinusoidal_pos_embds = false;  // distilbert only
  bool tie_word_embeddings = true;
};

struct VitConfig {
  std::string model_type;
  std::int64_t hidden_size = 768;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double layer_norm_eps = 1e-12;
  std::array<std::int64_t, 2> image_size{224, 224};  // height, width (one number: square)
  std::array<std::int64_t, 2> patch_size{16, 16};
  std::int64_t num_channels = 3;
  bool qkv_bias = true;
};

struct WhisperConfig {
  std::string model_type;
  std::int64_t vocab_size = 51865;
  std::int64_t num_mel_bins = 80;
  std::int64_t d_model = 384;
  std::int64_t encoder_layers = 4;
  std::int64_t encoder_attention_heads = 6;
  std::int64_t encoder_ffn_dim = 1536;
  std::int64_t decoder_layers = 4;
  std::int64_t decoder_attention_heads = 6;
  std::int64_t decoder_ffn_dim = 1536;
  std::string activation_function = "gelu";
  std::int64_t max_source_positions = 1500;
  std::int64_t max_target_positions = 448;
  bool scale_embedding = false;
  bool tie_word_embeddings = true;
  std::optional<std::int64_t> pad_token_id, bos_token_id, decoder_start_token_id;
  std::vector<std::int64_t> eos_token_ids;
  std::vector<std::int64_t> suppress_tokens, begin_suppress_tokens;
};

using ModelConfig = std::variant<DecoderConfig, BertConfig, VitConfig, WhisperConfig>;

// Reads config.json (a path to the file or to the model's folder), dispatching on
// model_type. FormatError naming the file and the key for wrong types or impossible
// values; Unsupported naming a model_type Emily has no config for.
ModelConfig load_model_config(const std::string& path);
ModelConfig parse_model_config(const json::Value& config, const std::string& source);

// The model_type names each family accepts.
std::vector<std::string_view> supported_model_types();
std::string_view model_type(const ModelConfig& config);

// The config as one family; FormatError naming the model_type when it is another.
template <class Config>
const Config& config_as(const ModelConfig& config) {
  if (auto* c = std::get_if<Config>(&config)) return *c;
  EMILY_THROW(FormatError, "config.json", "model_type \"", model_type(config),
              "\" is not the family this model needs");
}

// Every resolved field as JSON (keys as in config.json; the rope parameters under
// "rope_parameters"), for printing and for comparing with transformers.
json::Value to_json(const ModelConfig& config);

}  // namespace emily
