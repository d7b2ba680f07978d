#include "emily/model_config.h"

#include <algorithm>
#include <filesystem>

namespace emily {

namespace {

// A config.json object with the file's name at hand, so every error names the file and
// the key. A key that is absent takes the caller's default; null is absent too, except
// where transformers gives null a meaning of its own (optional_integer, token_ids).
class Fields {
 public:
  Fields(const json::Value& object, const std::string& source, std::string prefix = "")
      : object_(object), source_(source), prefix_(std::move(prefix)) {
    if (!object.is_object()) fail("", "expected an object, found " + kind_of(object));
  }

  const json::Value* find(std::string_view key) const {
    const json::Value* v = object_.find(key);
    return v && !v->is_null() ? v : nullptr;
  }
  bool has(std::string_view key) const { return object_.find(key) != nullptr; }

  std::int64_t integer(std::string_view key, std::int64_t fallback) const {
    const json::Value* v = find(key);
    if (!v) return fallback;
    if (!v->is_integer()) fail(key, "expected an integer, found " + kind_of(*v));
    return v->as_int();
  }
  std::int64_t positive(std::string_view key, std::int64_t fallback) const {
    std::int64_t i = integer(key, fallback);
    if (i <= 0) fail(key, "must be positive, found " + std::to_string(i));
    return i;
  }
  // Absent: the default; null: no value.
  std::optional<std::int64_t> optional_integer(std::string_view key,
                                               std::optional<std::int64_t> fallback) const {
    if (!has(key)) return fallback;
    if (!find(key)) return std::nullopt;
    return integer(key, 0);
  }
  double number(std::string_view key, double fallback) const {
    const json::Value* v = find(key);
    if (!v) return fallback;
    if (!v->is_number()) fail(key, "expected a number, found " + kind_of(*v));
    return v->as_double();
  }
  std::optional<double> optional_number(std::string_view key) const {
    if (!find(key)) return std::nullopt;
    return number(key, 0);
  }
  bool boolean(std::string_view key, bool fallback) const {
    const json::Value* v = find(key);
    if (!v) return fallback;
    if (!v->is_bool()) fail(key, "expected true or false, found " + kind_of(*v));
    return v->as_bool();
  }
  std::string string(std::string_view key, std::string fallback) const {
    const json::Value* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) fail(key, "expected a string, found " + kind_of(*v));
    return v->as_string();
  }
  // One integer or a list of them (eos_token_id); absent: the default; null: none.
  std::vector<std::int64_t> integers(std::string_view key,
                                     std::vector<std::int64_t> fallback) const {
    if (!has(key)) return fallback;
    const json::Value* v = find(key);
    if (!v) return {};
    if (v->is_integer()) return {v->as_int()};
    if (!v->is_array())
      fail(key, "expected an integer or a list of integers, found " + kind_of(*v));
    std::vector<std::int64_t> out;
    for (const json::Value& e : v->as_array()) {
      if (!e.is_integer()) fail(key, "expected a list of integers, found " + kind_of(e) + " in it");
      out.push_back(e.as_int());
    }
    return out;
  }
  std::vector<std::string> strings(std::string_view key) const {
    const json::Value* v = find(key);
    if (!v) return {};
    if (!v->is_array()) fail(key, "expected a list of strings, found " + kind_of(*v));
    std::vector<std::string> out;
    for (const json::Value& e : v->as_array()) {
      if (!e.is_string()) fail(key, "expected a list of strings, found " + kind_of(e) + " in it");
      out.push_back(e.as_string());
    }
    return out;
  }
  // One positive integer (a square) or two: image_size and patch_size.
  std::array<std::int64_t, 2> pair(std::string_view key,
                                   std::array<std::int64_t, 2> fallback) const {
    const json::Value* v = find(key);
    if (!v) return fallback;
    if (v->is_integer()) {
      std::int64_t i = positive(key, 0);
      return {i, i};
    }
    auto list = integers(key, {});
    if (list.size() != 2 || list[0] <= 0 || list[1] <= 0) {
      fail(key, "expected a positive integer or two of them");
    }
    return {list[0], list[1]};
  }

  [[noreturn]] void fail(std::string_view key, const std::string& what) const {
    std::string where = prefix_;
    if (!key.empty()) where += (where.empty() ? "" : ".") + std::string(key);
    if (where.empty()) EMILY_THROW(FormatError, source_.c_str(), what);
    EMILY_THROW(FormatError, source_.c_str(), "\"", where, "\": ", what);
  }

  const std::string& source() const { return source_; }

 private:
  static std::string kind_of(const json::Value& v) { return std::string(json::name(v.kind())); }

  const json::Value& object_;
  const std::string& source_;
  std::string prefix_;
};

// ---- decoders -----------------------------------------------------------------------------

// How a family places sliding-window layers when the file has no layer_types.
enum class Sliding {
  none,     // llama: never
  gated,    // qwen2, qwen3: only with use_sliding_window, from max_window_layers on
  all,      // mistral: every layer, whenever there is a window
  no_rope,  // smollm3: with use_sliding_window, the layers without RoPE
};

// transformers' defaults per model_type (the keyword defaults of each configuration
// class's __init__ and what its __post_init__ derives).
struct DecoderDefaults {
  std::string_view model_type;
  std::int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers;
  std::int64_t num_attention_heads;
  std::optional<std::int64_t> num_key_value_heads;  // nullopt: num_attention_heads
  std::optional<std::int64_t> head_dim;             // nullopt: hidden / heads
  std::int64_t max_position_embeddings;
  double rope_theta;
  bool tie_word_embeddings;
  std::optional<std::int64_t> bos, eos, pad;
  std::optional<std::int64_t> sliding_window;
  Sliding sliding;
  bool qkv_bias;  // qwen2's attention always has q/k/v bias
};

constexpr std::optional<std::int64_t> kNone = std::nullopt;

const DecoderDefaults kDecoders[] = {
    {"llama", 32000, 4096, 11008, 32, 32, kNone, kNone, 2048, 10000.0, false, 1, 2, kNone, kNone,
     Sliding::none, false},
    {"mistral", 32000, 4096, 14336, 32, 32, 8, kNone, 131072, 10000.0, false, 1, 2, kNone, 4096,
     Sliding::all, false},
    {"qwen2", 151936, 4096, 22016, 32, 32, 32, kNone, 32768, 10000.0, false, kNone, kNone, kNone,
     4096, Sliding::gated, true},
    {"qwen3", 151936, 4096, 22016, 32, 32, 32, 128, 32768, 10000.0, false, kNone, kNone, kNone,
     4096, Sliding::gated, false},
    {"smollm3", 128256, 2048, 11008, 36, 16, 4, kNone, 32768, 2000000.0, true, 128000, 128001,
     128004, kNone, Sliding::no_rope, false},
};

std::optional<DType> dtype_from_torch_name(std::string_view name) {
  static const std::pair<std::string_view, DType> names[] = {
      {"float32", DType::f32}, {"float", DType::f32},     {"float16", DType::f16},
      {"half", DType::f16},    {"bfloat16", DType::bf16}, {"float64", DType::f64},
      {"double", DType::f64}};
  for (const auto& [n, d] : names) {
    if (n == name) return d;
  }
  return std::nullopt;
}

// transformers' rope resolution: rope_scaling (older files) or rope_parameters, with
// rope_theta inside or beside it, the type under rope_type or the older "type".
RopeConfig read_rope(const Fields& f, double default_theta, std::int64_t max_position) {
  RopeConfig rope;
  const json::Value* params = f.find("rope_scaling");
  std::string key = "rope_scaling";
  if (!params || (params->is_object() && params->size() == 0)) {
    params = f.find("rope_parameters");
    key = "rope_parameters";
  }
  json::Value empty = json::Object{};
  if (!params) params = &empty;
  Fields p(*params, f.source(), key);
  rope.theta = p.number("rope_theta", f.number("rope_theta", default_theta));
  rope.type = p.string("rope_type", p.string("type", "default"));
  rope.factor = p.number("factor", 1.0);
  rope.partial_rotary_factor =
      p.number("partial_rotary_factor", f.number("partial_rotary_factor", 1.0));
  if (rope.theta <= 0) p.fail("rope_theta", "must be positive");
  if (rope.factor <= 0) p.fail("factor", "must be positive");
  static constexpr std::string_view known[] = {"default", "linear", "dynamic",
                                               "llama3",  "yarn",   "longrope"};
  if (std::find(std::begin(known), std::end(known), rope.type) == std::end(known)) {
    EMILY_THROW(Unsupported, f.source().c_str(), "\"", key, ".rope_type\": \"", rope.type,
                "\" is not a RoPE type Emily knows (default, linear, dynamic, llama3, yarn, "
                "longrope)");
  }
  if (rope.type == "llama3" || rope.type == "yarn" || rope.type == "longrope") {
    rope.original_max_position_embeddings =
        p.positive("original_max_position_embeddings",
                   f.integer("original_max_position_embeddings", max_position));
  }
  if (rope.type == "llama3") {
    for (const char* needed : {"factor", "low_freq_factor", "high_freq_factor"}) {
      if (!p.find(needed)) p.fail(needed, "missing (llama3 RoPE needs it)");
    }
    rope.low_freq_factor = p.number("low_freq_factor", 1.0);
    rope.high_freq_factor = p.number("high_freq_factor", 4.0);
    if (rope.high_freq_factor <= rope.low_freq_factor) {
      p.fail("high_freq_factor", "must be larger than low_freq_factor");
    }
  }
  if (rope.type == "yarn") {
    rope.attention_factor = p.optional_number("attention_factor");
    rope.beta_fast = p.optional_number("beta_fast");
    rope.beta_slow = p.optional_number("beta_slow");
  }
  return rope;
}

DecoderConfig read_decoder(const Fields& f, const DecoderDefaults& d) {
  DecoderConfig c;
  c.model_type = d.model_type;
  c.vocab_size = f.positive("vocab_size", d.vocab_size);
  c.hidden_size = f.positive("hidden_size", d.hidden_size);
  c.intermediate_size = f.positive("intermediate_size", d.intermediate_size);
  c.num_hidden_layers = f.positive("num_hidden_layers", d.num_hidden_layers);
  c.num_attention_heads = f.positive("num_attention_heads", d.num_attention_heads);
  // An explicit null means "as many as attention heads" even where the default differs.
  c.num_key_value_heads = f.has("num_key_value_heads")
                              ? f.positive("num_key_value_heads", c.num_attention_heads)
                              : d.num_key_value_heads.value_or(c.num_attention_heads);
  if (c.num_key_value_heads <= 0) f.fail("num_key_value_heads", "must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    f.fail("num_key_value_heads", std::to_string(c.num_key_value_heads) +
                                      " does not divide num_attention_heads " +
                                      std::to_string(c.num_attention_heads));
  }
  std::int64_t derived_head_dim = c.hidden_size / c.num_attention_heads;
  c.head_dim = f.has("head_dim") ? f.positive("head_dim", derived_head_dim)
                                 : d.head_dim.value_or(derived_head_dim);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  if (!(c.rms_norm_eps > 0)) f.fail("rms_norm_eps", "must be positive");
  c.max_position_embeddings = f.positive("max_position_embeddings", d.max_position_embeddings);
  c.rope = read_rope(f, d.rope_theta, c.max_position_embeddings);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", d.tie_word_embeddings);
  c.bos_token_id = f.optional_integer("bos_token_id", d.bos);
  c.pad_token_id = f.optional_integer("pad_token_id", d.pad);
  c.eos_token_ids =
      f.integers("eos_token_id", d.eos ? std::vector{*d.eos} : std::vector<std::int64_t>{});
  // transformers 5 writes "dtype"; older files "torch_dtype".
  c.dtype_name = f.string("dtype", f.string("torch_dtype", ""));
  c.dtype = dtype_from_torch_name(c.dtype_name);
  c.hidden_act = f.string("hidden_act", "silu");
  c.attention_bias = f.boolean("attention_bias", false);
  c.qkv_bias = c.attention_bias || d.qkv_bias;
  c.mlp_bias = f.boolean("mlp_bias", false);

  c.use_sliding_window = f.boolean("use_sliding_window", false);
  c.max_window_layers = f.integer("max_window_layers", d.sliding == Sliding::gated ? 28 : 0);
  c.sliding_window = f.optional_integer("sliding_window", d.sliding_window);
  if (c.sliding_window && *c.sliding_window <= 0) f.fail("sliding_window", "must be positive");
  if (d.sliding == Sliding::gated && !c.use_sliding_window) c.sliding_window.reset();

  if (d.sliding == Sliding::no_rope) {
    std::int64_t interval = f.positive("no_rope_layer_interval", 4);
    c.no_rope_layers = f.integers("no_rope_layers", {});
    if (!f.find("no_rope_layers")) {
      for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
        c.no_rope_layers.push_back((i + 1) % interval != 0 ? 1 : 0);
      }
    }
    if (static_cast<std::int64_t>(c.no_rope_layers.size()) != c.num_hidden_layers) {
      f.fail("no_rope_layers", "has " + std::to_string(c.no_rope_layers.size()) + " entries for " +
                                   std::to_string(c.num_hidden_layers) + " layers");
    }
  }
  c.layer_types = f.strings("layer_types");
  if (c.layer_types.empty()) {
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
      bool slides = false;
      switch (d.sliding) {
        case Sliding::none:
          break;
        case Sliding::gated:
          slides = c.sliding_window && i >= c.max_window_layers;
          break;
        case Sliding::all:
          slides = c.sliding_window.has_value();
          break;
        case Sliding::no_rope:
          slides = c.use_sliding_window && c.sliding_window && !c.no_rope_layers[i];
          break;
      }
      c.layer_types.push_back(slides ? "sliding_attention" : "full_attention");
    }
  }
  if (static_cast<std::int64_t>(c.layer_types.size()) != c.num_hidden_layers) {
    f.fail("layer_types", "has " + std::to_string(c.layer_types.size()) + " entries for " +
                              std::to_string(c.num_hidden_layers) + " layers");
  }
  for (const std::string& t : c.layer_types) {
    if (t != "full_attention" && t != "sliding_attention") {
      f.fail("layer_types", "unknown layer type \"" + t + "\"");
    }
    if (t == "sliding_attention" && !c.sliding_window) {
      f.fail("layer_types", "a sliding_attention layer without a sliding_window");
    }
  }
  return c;
}

// ---- encoders, vision, speech ----------------------------------------------------------------

BertConfig read_bert(const Fields& f) {
  BertConfig c;
  c.model_type = "bert";
  c.vocab_size = f.positive("vocab_size", c.vocab_size);
  c.hidden_size = f.positive("hidden_size", c.hidden_size);
  c.num_hidden_layers = f.positive("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.positive("num_attention_heads", c.num_attention_heads);
  c.intermediate_size = f.positive("intermediate_size", c.intermediate_size);
  c.hidden_act = f.string("hidden_act", c.hidden_act);
  c.max_position_embeddings = f.positive("max_position_embeddings", c.max_position_embeddings);
  c.type_vocab_size = f.integer("type_vocab_size", c.type_vocab_size);
  c.layer_norm_eps = f.number("layer_norm_eps", c.layer_norm_eps);
  c.pad_token_id = f.optional_integer("pad_token_id", 0);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", true);
  if (c.hidden_size % c.num_attention_heads != 0) {
    f.fail("num_attention_heads", "does not divide hidden_size");
  }
  return c;
}

BertConfig read_distilbert(const Fields& f) {
  BertConfig c;
  c.model_type = "distilbert";
  c.vocab_size = f.positive("vocab_size", c.vocab_size);
  c.hidden_size = f.positive("dim", 768);
  c.num_hidden_layers = f.positive("n_layers", 6);
  c.num_attention_heads = f.positive("n_heads", 12);
  c.intermediate_size = f.positive("hidden_dim", 3072);
  c.hidden_act = f.string("activation", "gelu");
  c.max_position_embeddings = f.positive("max_position_embeddings", 512);
  c.type_vocab_size = 0;
  c.layer_norm_eps = 1e-12;
  c.pad_token_id = f.optional_integer("pad_token_id", 0);
  c.sinusoidal_pos_embds = f.boolean("sinusoidal_pos_embds", false);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", true);
  if (c.hidden_size % c.num_attention_heads != 0) f.fail("n_heads", "does not divide dim");
  return c;
}

VitConfig read_vit(const Fields& f) {
  VitConfig c;
  c.model_type = "vit";
  c.hidden_size = f.positive("hidden_size", c.hidden_size);
  c.num_hidden_layers = f.positive("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.positive("num_attention_heads", c.num_attention_heads);
  c.intermediate_size = f.positive("intermediate_size", c.intermediate_size);
  c.hidden_act = f.string("hidden_act", c.hidden_act);
  c.layer_norm_eps = f.number("layer_norm_eps", c.layer_norm_eps);
  c.image_size = f.pair("image_size", c.image_size);
  c.patch_size = f.pair("patch_size", c.patch_size);
  c.num_channels = f.positive("num_channels", c.num_channels);
  c.qkv_bias = f.boolean("qkv_bias", c.qkv_bias);
  if (c.hidden_size % c.num_attention_heads != 0) {
    f.fail("num_attention_heads", "does not divide hidden_size");
  }
  return c;
}

WhisperConfig read_whisper(const Fields& f) {
  WhisperConfig c;
  c.model_type = "whisper";
  c.vocab_size = f.positive("vocab_size", c.vocab_size);
  c.num_mel_bins = f.positive("num_mel_bins", c.num_mel_bins);
  c.d_model = f.positive("d_model", c.d_model);
  c.encoder_layers = f.positive("encoder_layers", c.encoder_layers);
  c.encoder_attention_heads = f.positive("encoder_attention_heads", c.encoder_attention_heads);
  c.encoder_ffn_dim = f.positive("encoder_ffn_dim", c.encoder_ffn_dim);
  c.decoder_layers = f.positive("decoder_layers", c.decoder_layers);
  c.decoder_attention_heads = f.positive("decoder_attention_heads", c.decoder_attention_heads);
  c.decoder_ffn_dim = f.positive("decoder_ffn_dim", c.decoder_ffn_dim);
  c.activation_function = f.string("activation_function", c.activation_function);
  c.max_source_positions = f.positive("max_source_positions", c.max_source_positions);
  c.max_target_positions = f.positive("max_target_positions", c.max_target_positions);
  c.scale_embedding = f.boolean("scale_embedding", c.scale_embedding);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", c.tie_word_embeddings);
  c.pad_token_id = f.optional_integer("pad_token_id", 50256);
  c.bos_token_id = f.optional_integer("bos_token_id", 50256);
  c.eos_token_ids = f.integers("eos_token_id", {50256});
  c.decoder_start_token_id = f.optional_integer("decoder_start_token_id", 50257);
  c.suppress_tokens = f.integers("suppress_tokens", {});
  c.begin_suppress_tokens = f.integers("begin_suppress_tokens", {220, 50256});
  for (auto [heads, key] : {std::pair{c.encoder_attention_heads, "encoder_attention_heads"},
                            std::pair{c.decoder_attention_heads, "decoder_attention_heads"}}) {
    if (c.d_model % heads != 0) f.fail(key, "does not divide d_model");
  }
  return c;
}

// ---- to_json ----------------------------------------------------------------------------------

json::Value optional_json(const std::optional<std::int64_t>& v) {
  return v ? json::Value(*v) : json::Value();
}

template <class T>
json::Array list_json(const std::vector<T>& v) {
  return json::Array(v.begin(), v.end());
}

json::Value rope_json(const RopeConfig& r) {
  json::Value o = json::Object{{"rope_type", r.type},
                               {"rope_theta", r.theta},
                               {"factor", r.factor},
                               {"partial_rotary_factor", r.partial_rotary_factor}};
  if (r.original_max_position_embeddings) {
    o.set("original_max_position_embeddings", r.original_max_position_embeddings);
  }
  if (r.type == "llama3") {
    o.set("low_freq_factor", r.low_freq_factor);
    o.set("high_freq_factor", r.high_freq_factor);
  }
  for (auto [key, value] :
       {std::pair{"attention_factor", &r.attention_factor}, std::pair{"beta_fast", &r.beta_fast},
        std::pair{"beta_slow", &r.beta_slow}}) {
    if (*value) o.set(key, **value);
  }
  return o;
}

json::Value to_json_of(const DecoderConfig& c) {
  return json::Object{
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"rms_norm_eps", c.rms_norm_eps},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rope_parameters", rope_json(c.rope)},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"bos_token_id", optional_json(c.bos_token_id)},
      {"eos_token_id", list_json(c.eos_token_ids)},
      {"pad_token_id", optional_json(c.pad_token_id)},
      {"dtype", c.dtype_name.empty() ? json::Value() : json::Value(c.dtype_name)},
      {"hidden_act", c.hidden_act},
      {"attention_bias", c.attention_bias},
      {"qkv_bias", c.qkv_bias},
      {"mlp_bias", c.mlp_bias},
      {"sliding_window", optional_json(c.sliding_window)},
      {"use_sliding_window", c.use_sliding_window},
      {"max_window_layers", c.max_window_layers},
      {"layer_types", list_json(c.layer_types)},
      {"no_rope_layers", list_json(c.no_rope_layers)},
  };
}

json::Value to_json_of(const BertConfig& c) {
  return json::Object{
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"intermediate_size", c.intermediate_size},
      {"hidden_act", c.hidden_act},
      {"max_position_embeddings", c.max_position_embeddings},
      {"type_vocab_size", c.type_vocab_size},
      {"layer_norm_eps", c.layer_norm_eps},
      {"pad_token_id", optional_json(c.pad_token_id)},
      {"sinusoidal_pos_embds", c.sinusoidal_pos_embds},
      {"tie_word_embeddings", c.tie_word_embeddings},
  };
}

json::Value to_json_of(const VitConfig& c) {
  return json::Object{
      {"model_type", c.model_type},
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"intermediate_size", c.intermediate_size},
      {"hidden_act", c.hidden_act},
      {"layer_norm_eps", c.layer_norm_eps},
      {"image_size", json::Array{c.image_size[0], c.image_size[1]}},
      {"patch_size", json::Array{c.patch_size[0], c.patch_size[1]}},
      {"num_channels", c.num_channels},
      {"qkv_bias", c.qkv_bias},
  };
}

json::Value to_json_of(const WhisperConfig& c) {
  return json::Object{
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"num_mel_bins", c.num_mel_bins},
      {"d_model", c.d_model},
      {"encoder_layers", c.encoder_layers},
      {"encoder_attention_heads", c.encoder_attention_heads},
      {"encoder_ffn_dim", c.encoder_ffn_dim},
      {"decoder_layers", c.decoder_layers},
      {"decoder_attention_heads", c.decoder_attention_heads},
      {"decoder_ffn_dim", c.decoder_ffn_dim},
      {"activation_function", c.activation_function},
      {"max_source_positions", c.max_source_positions},
      {"max_target_positions", c.max_target_positions},
      {"scale_embedding", c.scale_embedding},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"pad_token_id", optional_json(c.pad_token_id)},
      {"bos_token_id", optional_json(c.bos_token_id)},
      {"eos_token_id", list_json(c.eos_token_ids)},
      {"decoder_start_token_id", optional_json(c.decoder_start_token_id)},
      {"suppress_tokens", list_json(c.suppress_tokens)},
      {"begin_suppress_tokens", list_json(c.begin_suppress_tokens)},
  };
}

}  // namespace

std::vector<std::string_view> supported_model_types() {
  std::vector<std::string_view> out;
  for (const auto& d : kDecoders) out.push_back(d.model_type);
  for (std::string_view t : {"bert", "distilbert", "vit", "whisper"}) out.push_back(t);
  return out;
}

std::string_view model_type(const ModelConfig& config) {
  return std::visit([](const auto& c) -> std::string_view { return c.model_type; }, config);
}

ModelConfig parse_model_config(const json::Value& config, const std::string& source) {
  Fields f(config, source);
  const json::Value* type = config.find("model_type");
  if (!type) f.fail("", "no \"model_type\": cannot tell which model this configures");
  std::string name = f.string("model_type", "");
  for (const auto& d : kDecoders) {
    if (d.model_type == name) return read_decoder(f, d);
  }
  if (name == "bert") return read_bert(f);
  if (name == "distilbert") return read_distilbert(f);
  if (name == "vit") return read_vit(f);
  if (name == "whisper") return read_whisper(f);
  std::string known;
  for (std::string_view t : supported_model_types())
    known += (known.empty() ? "" : ", ") + std::string(t);
  EMILY_THROW(Unsupported, source.c_str(), "model_type \"", name.substr(0, 64),
              "\" has no Emily config (known: ", known, ")");
}

ModelConfig load_model_config(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string file = fs::is_directory(path, ec) ? (fs::path(path) / "config.json").string() : path;
  return parse_model_config(json::parse_file(file), file);
}

json::Value to_json(const ModelConfig& config) {
  return std::visit([](const auto& c) { return to_json_of(c); }, config);
}

}  // namespace emily
