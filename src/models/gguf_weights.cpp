// GGUF files as Llama-family checkpoints: the configuration from the metadata, tensor
// names mapped onto transformers', and llama.cpp's q/k row reordering undone.
#include <map>

#include "emily/models/llama.h"
#include "emily/ops.h"

namespace emily::models {

namespace {

// GGUF's block-level names and transformers' names under model.layers.N.
constexpr std::pair<std::string_view, std::string_view> kLayerNames[] = {
    {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

constexpr std::pair<std::string_view, std::string_view> kTopNames[] = {
    {"token_embd", "model.embed_tokens"},
    {"output_norm", "model.norm"},
    {"output", "lm_head"},
};

}  // namespace

std::optional<std::string> hf_name_from_gguf(const std::string& gguf_name) {
  const auto dot = gguf_name.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string stem = gguf_name.substr(0, dot), suffix = gguf_name.substr(dot);
  if (suffix != ".weight" && suffix != ".bias") return std::nullopt;
  for (const auto& [g, h] : kTopNames)
    if (stem == g) return std::string(h) + suffix;
  if (stem.rfind("blk.", 0) != 0) return std::nullopt;
  const auto second = stem.find('.', 4);
  if (second == std::string::npos || second == 4) return std::nullopt;
  const std::string layer = stem.substr(4, second - 4);
  if (layer.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const std::string part = stem.substr(second + 1);
  for (const auto& [g, h] : kLayerNames)
    if (part == g) return "model.layers." + layer + "." + std::string(h) + suffix;
  return std::nullopt;
}

Tensor undo_gguf_rope_permutation(const Tensor& rows, std::int64_t heads) {
  constexpr const char* op = "gguf.unpermute";
  if (rows.ndim() < 1 || heads <= 0 || rows.shape(0) % (2 * heads) != 0)
    EMILY_THROW(ShapeError, op, "rows ", to_string(rows.shape()), " do not split into ", heads,
                " heads of an even size");
  // Rows viewed as {heads, head_dim/2, 2, ...}: llama.cpp's order; swapping the middle
  // axes gives transformers' {heads, 2, head_dim/2, ...}.
  Shape split = rows.shape();
  split.erase(split.begin());
  split.insert(split.begin(), {heads, rows.shape(0) / heads / 2, 2});
  return contiguous(reshape(swapaxes(reshape(rows, split), 1, 2), rows.shape()));
}

QuantizedTensor undo_gguf_rope_permutation(const QuantizedTensor& rows, std::int64_t heads) {
  QuantizedTensor out = rows;
  out.packed = undo_gguf_rope_permutation(rows.packed, heads);
  out.scales = undo_gguf_rope_permutation(rows.scales, heads);
  out.biases = undo_gguf_rope_permutation(rows.biases, heads);
  return out;
}

DecoderConfig decoder_config_from_gguf(const GgufFile& file) {
  const std::string arch = file.get_string("general.architecture");
  if (arch != "llama" && arch != "qwen2" && arch != "qwen3")
    EMILY_THROW(Unsupported, file.path().c_str(), "GGUF architecture \"", arch,
                "\" is not supported (llama, qwen2, qwen3 are)");
  auto key = [&](const char* k) { return arch + "." + k; };
  auto int_or = [&](const std::string& k, std::int64_t fallback) {
    return file.contains(k) ? file.get_int(k) : fallback;
  };
  auto float_or = [&](const std::string& k, double fallback) {
    return file.contains(k) ? file.get_float(k) : fallback;
  };

  DecoderConfig c;
  c.model_type = arch;
  c.num_hidden_layers = file.get_int(key("block_count"));
  c.hidden_size = file.get_int(key("embedding_length"));
  c.intermediate_size = file.get_int(key("feed_forward_length"));
  c.num_attention_heads = file.get_int(key("attention.head_count"));
  c.num_key_value_heads = int_or(key("attention.head_count_kv"), c.num_attention_heads);
  if (c.num_attention_heads <= 0 || c.hidden_size <= 0 || c.num_key_value_heads <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)
    EMILY_THROW(FormatError, file.path().c_str(), "impossible sizes: ", c.num_hidden_layers,
                " blocks, ", c.num_attention_heads, " heads, ", c.num_key_value_heads,
                " key/value heads, embedding length ", c.hidden_size);
  c.head_dim = int_or(key("attention.key_length"), c.hidden_size / c.num_attention_heads);
  c.rms_norm_eps = float_or(key("attention.layer_norm_rms_epsilon"), 1e-6);
  c.max_position_embeddings = int_or(key("context_length"), 2048);
  c.rope.theta = float_or(key("rope.freq_base"), 10000.0);
  const std::int64_t rope_dims = int_or(key("rope.dimension_count"), c.head_dim);
  c.rope.partial_rotary_factor = static_cast<double>(rope_dims) / static_cast<double>(c.head_dim);
  const std::string scaling =
      file.contains(key("rope.scaling.type")) ? file.get_string(key("rope.scaling.type")) : "none";
  if (scaling == "linear") {
    c.rope.type = "linear";
    c.rope.factor = float_or(key("rope.scaling.factor"), 1.0);
  } else if (scaling != "none") {
    // Passed on, so the model names it when it refuses it.
    c.rope.type = scaling;
  }

  std::int64_t vocab = int_or(key("vocab_size"), 0);
  if (vocab == 0 && file.contains("tokenizer.ggml.tokens"))
    vocab = static_cast<std::int64_t>(file.value("tokenizer.ggml.tokens").size());
  if (vocab == 0 && file.has_tensor("token_embd.weight"))
    vocab = file.tensor_info("token_embd.weight").shape.at(0);
  c.vocab_size = vocab;
  c.tie_word_embeddings = !file.has_tensor("output.weight");
  c.qkv_bias = file.has_tensor("blk.0.attn_q.bias");
  c.attention_bias = file.has_tensor("blk.0.attn_output.bias");
  if (file.contains("tokenizer.ggml.bos_token_id"))
    c.bos_token_id = file.get_int("tokenizer.ggml.bos_token_id");
  if (file.contains("tokenizer.ggml.padding_token_id"))
    c.pad_token_id = file.get_int("tokenizer.ggml.padding_token_id");
  if (file.contains("tokenizer.ggml.eos_token_id"))
    c.eos_token_ids.push_back(file.get_int("tokenizer.ggml.eos_token_id"));
  c.dtype = DType::f32;
  c.dtype_name = "float32";
  c.layer_types.assign(static_cast<std::size_t>(c.num_hidden_layers), "full_attention");
  return c;
}

namespace {

class GgufWeights final : public nn::WeightSource {
 public:
  GgufWeights(GgufFile file, const DecoderConfig& config)
      : file_(std::move(file)), path_(file_.path()), config_(config) {
    for (const GgufTensorInfo& t : file_.tensors()) {
      std::string name = hf_name_from_gguf(t.name).value_or(t.name);
      gguf_names_[name] = t.name;
      names_.push_back(std::move(name));
    }
  }

  const std::string& file() const override { return path_; }
  std::vector<std::string> names() const override { return names_; }

  std::optional<nn::Parameter> read(const std::string& name) const override {
    const auto it = gguf_names_.find(name);
    if (it == gguf_names_.end()) return std::nullopt;
    const std::string& g = it->second;
    const std::int64_t heads = permuted_heads(name);
    if (GgufFile::is_quantized(file_.tensor_info(g).type)) {
      QuantizedTensor q = file_.quantized_tensor(g);
      return heads ? undo_gguf_rope_permutation(q, heads) : q;
    }
    Tensor t = file_.tensor(g);
    return heads ? undo_gguf_rope_permutation(t, heads) : t;
  }

 private:
  // Llama's q_proj and k_proj rows were reordered by the converter (qwen2 and qwen3
  // use split-half RoPE in llama.cpp too, so theirs were not); 0: not reordered.
  std::int64_t permuted_heads(const std::string& name) const {
    if (config_.model_type != "llama") return 0;
    auto has = [&](std::string_view part) { return name.find(part) != std::string::npos; };
    if (has(".self_attn.q_proj.")) return config_.num_attention_heads;
    if (has(".self_attn.k_proj.")) return config_.num_key_value_heads;
    return 0;
  }

  GgufFile file_;
  std::string path_;
  DecoderConfig config_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> gguf_names_;
};

}  // namespace

std::unique_ptr<nn::WeightSource> gguf_weights(const GgufFile& file, const DecoderConfig& config) {
  return std::make_unique<GgufWeights>(file, config);
}

}  // namespace emily::models
