// HF config.json into typed configs. Oracle: the values transformers' AutoConfig resolves
// from the same files (scripts/fixtures/model_configs.py writes each case's config.json
// and expected.json); integers, strings and booleans compare exactly, and numbers too (both
// sides read the same decimal text into a double). Bad files: the format rules in
// include/emily/model_config.h.
#include <filesystem>

#include "emily/model_config.h"
#include "support/testing.h"

namespace emily {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(EMILY_FIXTURES_DIR) + "/io/configs";

// Every key transformers resolved must be in Emily's config with the same value.
void expect_matches(const json::Value& actual, const json::Value& expected,
                    const std::string& where) {
  for (const json::Member& m : expected.as_object()) {
    const json::Value* a = actual.find(m.key);
    if (!a) {
      ADD_FAILURE() << where << m.key << ": missing in Emily's config";
      continue;
    }
    if (m.value.is_object()) {
      expect_matches(*a, m.value, where + m.key + ".");
    } else {
      EXPECT_EQ(*a, m.value) << where << m.key << ": emily " << json::dump(*a) << ", transformers "
                             << json::dump(m.value);
    }
  }
}

TEST(ModelConfig, MatchesWhatTransformersResolves) {
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    ModelConfig config = load_model_config(entry.path().string());  // the folder
    json::Value expected = json::parse_file((entry.path() / "expected.json").string());
    expect_matches(to_json(config), expected, name + ": ");
    ++cases;
  }
  EXPECT_EQ(cases, 23);
}

ModelConfig parse(const std::string& text) {
  return parse_model_config(json::parse(text, "config.json"), "config.json");
}

TEST(ModelConfig, TypedAccessAndDerivedFields) {
  // config_as returns a reference into the ModelConfig, which must outlive it.
  ModelConfig llama_config = load_model_config(kDir + "/llama32_hub");
  const auto& llama = config_as<DecoderConfig>(llama_config);
  EXPECT_EQ(llama.rope.type, "llama3");
  EXPECT_EQ(llama.rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(llama.dtype, DType::bf16);
  EXPECT_EQ(llama.eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
  // Qwen2's attention has q/k/v bias whatever the file says (bias=True in its q/k/v
  // projections in transformers' modeling_qwen2.py); Llama's follows attention_bias.
  EXPECT_TRUE(std::get<DecoderConfig>(load_model_config(kDir + "/qwen2_hub")).qkv_bias);
  EXPECT_FALSE(llama.qkv_bias);
  // Mistral slides on every layer when it has a window (its attention takes
  // config.sliding_window for all layers), and on none when the window is null.
  auto mistral = std::get<DecoderConfig>(load_model_config(kDir + "/mistral_minimal"));
  EXPECT_EQ(mistral.sliding_window, 4096);
  for (const auto& t : mistral.layer_types) EXPECT_EQ(t, "sliding_attention");
  auto mistral_hub = std::get<DecoderConfig>(load_model_config(kDir + "/mistral_hub"));
  for (const auto& t : mistral_hub.layer_types) EXPECT_EQ(t, "full_attention");
  // The file path works as well as the folder.
  auto bert = load_model_config(kDir + "/bert_hub/config.json");
  EXPECT_EQ(model_type(bert), "bert");
  EXPECT_EMILY_ERROR(config_as<DecoderConfig>(bert), FormatError, "config.json");
  auto vit = std::get<VitConfig>(load_model_config(kDir + "/vit_minimal"));
  EXPECT_EQ(vit.image_size, (std::array<std::int64_t, 2>{32, 48}));
  EXPECT_EQ(vit.patch_size, (std::array<std::int64_t, 2>{8, 8}));
}

// The message of the error `text` gives (empty when it parses).
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, WrongTypesAndImpossibleValuesNameTheKey) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {R"({"model_type":"llama","hidden_size":"64"})",
       "[config.json] \"hidden_size\": expected an integer, found string"},
      {R"({"model_type":"llama","hidden_size":64.0})", "\"hidden_size\": expected an integer"},
      {R"({"model_type":"llama","num_attention_heads":0})",
       "\"num_attention_heads\": must be positive"},
      {R"({"model_type":"llama","num_attention_heads":32,"num_key_value_heads":5})",
       "\"num_key_value_heads\": 5 does not divide num_attention_heads 32"},
      {R"({"model_type":"llama","rms_norm_eps":"1e-6"})", "\"rms_norm_eps\": expected a number"},
      {R"({"model_type":"llama","tie_word_embeddings":1})", "expected true or false"},
      {R"({"model_type":"llama","eos_token_id":[1,"2"]})",
       "\"eos_token_id\": expected a list of integers"},
      {R"({"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0}})",
       "\"rope_scaling.low_freq_factor\": missing (llama3 RoPE needs it)"},
      {R"({"model_type":"llama","rope_scaling":"linear"})", "\"rope_scaling\": expected an object"},
      {R"({"model_type":"llama","rope_scaling":{"rope_type":"mystery"}})",
       "\"rope_scaling.rope_type\": \"mystery\" is not a RoPE type"},
      {R"({"model_type":"llama","rope_theta":-1})",
       "\"rope_parameters.rope_theta\": must be positive"},
      {R"({"model_type":"qwen3","num_hidden_layers":2,"layer_types":["full_attention"]})",
       "\"layer_types\": has 1 entries for 2 layers"},
      {R"({"model_type":"qwen3","num_hidden_layers":1,"layer_types":["sliding_attention"]})",
       "a sliding_attention layer without a sliding_window"},
      {R"({"model_type":"smollm3","num_hidden_layers":2,"no_rope_layers":[1]})",
       "\"no_rope_layers\": has 1 entries for 2 layers"},
      {R"({"model_type":"vit","image_size":[1,2,3]})",
       "\"image_size\": expected a positive integer or two"},
      {R"({"model_type":"bert","hidden_size":10,"num_attention_heads":3})",
       "does not divide hidden_size"},
      {R"({"model_type":"whisper","d_model":10})",
       "\"encoder_attention_heads\": does not divide d_model"},
      {R"({"hidden_size":64})", "[config.json] no \"model_type\""},
      {R"({"model_type":7})", "\"model_type\": expected a string"},
      {R"([1,2])", "[config.json] expected an object, found array"},
  };
  for (const Case& c : cases) {
    std::string e = error_of(c.text);
    EXPECT_NE(e.find(c.error), std::string::npos) << c.text << "\n  gave: " << e;
  }
  EXPECT_EMILY_ERROR(parse(R"({"model_type":"llama","hidden_size":"64"})"), FormatError,
                     "config.json");
}

TEST(ModelConfig, UnknownModelTypeIsUnsupportedByName) {
  EXPECT_EMILY_ERROR(parse(R"({"model_type":"gpt2"})"), Unsupported, "config.json");
  EXPECT_NE(error_of(R"({"model_type":"gpt2"})").find("model_type \"gpt2\" has no Emily config"),
            std::string::npos);
}

TEST(ModelConfig, MissingFileNamesThePath) {
  EXPECT_EMILY_ERROR(load_model_config("/nonexistent/config.json"), FormatError,
                     "/nonexistent/config.json");
  // A folder without config.json: the error names the file looked for.
  EXPECT_EMILY_ERROR(load_model_config(kDir), FormatError, kDir + "/config.json");
}

}  // namespace
}  // namespace emily
