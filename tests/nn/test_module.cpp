// The module system: names (transformers' state-dict names, listed here as transformers
// prints them for these configurations), counting, casting, and strict loading from
// safetensors files written by the test.
#include <gtest/gtest.h>

#include <algorithm>

#include "emily/emily.h"
#include "emily/models/llama.h"
#include "emily/nn/layers.h"
#include "emily/nn/module.h"
#include "models/tiny_llama.h"
#include "nn/quantize.h"
#include "support/testing.h"

namespace emily::testing {
namespace {

DecoderConfig tiny(const std::string& model_type, const std::string& extra = "") {
  return std::get<DecoderConfig>(
      parse_model_config(json::parse(tiny_config_json(model_type, extra)), "config.json"));
}

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& s : m.slots()) names.push_back(s.name);
  return names;
}

// A module with one child, to test naming without a model.
struct Block : nn::Module {
  Block() : proj(8, 4, true), norm(4, 1e-5) {
    register_parameter("scale", scale, {4});
    register_module("proj", proj);
    register_module("layers.0", norm);
  }
  nn::Parameter scale;
  nn::Linear proj;
  nn::RMSNorm norm;
};

TEST(Module, NamesAreDottedPaths) {
  Block b;
  EXPECT_EQ(names_of(b),
            (std::vector<std::string>{"scale", "proj.weight", "proj.bias", "layers.0.weight"}));
  EXPECT_EQ(b.slots("top")[1].name, "top.proj.weight");
  EXPECT_EQ(b.slots()[1].shape, (Shape{4, 8}));
  EXPECT_TRUE(b.slots()[1].quantizable);
  EXPECT_FALSE(b.slots()[2].quantizable);
}

// transformers' Qwen3ForCausalLM state dict for layer 0 (with tied embeddings there is
// no lm_head.weight).
TEST(Module, DecoderNamesAreTransformers) {
  models::LlamaModel qwen3(tiny("qwen3", "\"tie_word_embeddings\": true"));
  const auto names = names_of(qwen3);
  const std::vector<std::string> layer0 = {
      "model.layers.0.input_layernorm.weight",  "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
      "model.layers.0.self_attn.o_proj.weight", "model.layers.0.self_attn.q_norm.weight",
      "model.layers.0.self_attn.k_norm.weight", "model.layers.0.post_attention_layernorm.weight",
      "model.layers.0.mlp.gate_proj.weight",    "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight"};
  for (const auto& n : layer0)
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_NE(std::find(names.begin(), names.end(), "model.embed_tokens.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "model.norm.weight"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "lm_head.weight"), names.end());
  EXPECT_EQ(names.size(), 2 * layer0.size() + 2);

  models::LlamaModel qwen2(tiny("qwen2"));
  const auto names2 = names_of(qwen2);
  for (const char* n :
       {"model.layers.1.self_attn.q_proj.bias", "model.layers.1.self_attn.k_proj.bias",
        "model.layers.1.self_attn.v_proj.bias", "lm_head.weight"})
    EXPECT_NE(std::find(names2.begin(), names2.end(), n), names2.end()) << n;
  EXPECT_EQ(std::find(names2.begin(), names2.end(), "model.layers.1.self_attn.o_proj.bias"),
            names2.end());
}

// Oracle: the parameter count written out from the configuration's sizes.
TEST(Module, CountsLoadedParameters) {
  TempFolder folder;
  write_tiny_checkpoint(folder, tiny_config_json("llama"));
  models::LlamaModel model(tiny("llama"));
  EXPECT_EQ(nn::parameter_count(model), 0);  // nothing loaded yet
  nn::load_parameters(model, *nn::safetensors_weights(folder.path()));
  const std::int64_t h = 32, i = 48, v = 64, q = 4 * 8, kv = 2 * 8;
  const std::int64_t layer = h + h * q + 2 * h * kv + q * h + h + 3 * h * i;
  EXPECT_EQ(nn::parameter_count(model), v * h + 2 * layer + h + v * h);
  const auto listing = nn::list_parameters(model);
  EXPECT_EQ(listing.size(), model.slots().size());
  EXPECT_EQ(listing[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(listing[0].shape, (Shape{64, 32}));
  EXPECT_EQ(listing[0].dtype, DType::f32);
}

TEST(Module, QuantizedParametersListThreeTensors) {
  nn::Linear linear(64, 4, false);
  linear.weight = quantize_for_test(random_tensor({4, 64}, 1), 4, 32);
  const auto listing = nn::list_parameters(linear);
  ASSERT_EQ(listing.size(), 3u);
  EXPECT_EQ(listing[0].name, "weight");
  EXPECT_EQ(listing[0].shape, (Shape{4, 8}));
  EXPECT_EQ(listing[0].dtype, DType::u32);
  EXPECT_EQ(listing[1].name, "scales");
  EXPECT_EQ(listing[1].shape, (Shape{4, 2}));
  EXPECT_EQ(listing[2].name, "biases");
  EXPECT_EQ(nn::parameter_count(linear), 4 * 64);
  EXPECT_EQ(linear.weight.shape(), (Shape{4, 64}));
}

TEST(Module, CastTouchesDenseFloatingOnly) {
  Block b;
  b.scale = random_tensor({4}, 1);
  b.proj.weight = quantize_for_test(random_tensor({4, 32}, 2), 4, 32);
  b.proj.bias = random_tensor({4}, 3);
  b.norm.weight = random_tensor({4}, 4);
  nn::cast(b, DType::bf16);
  EXPECT_EQ(b.scale.dtype(), DType::bf16);
  EXPECT_EQ(b.norm.weight.dtype(), DType::bf16);
  EXPECT_EQ(b.proj.bias.dtype(), DType::bf16);
  EXPECT_TRUE(b.proj.weight.is_quantized());
  EXPECT_EQ(b.proj.weight.dtype(), DType::f32);  // scales kept
  // Oracle: astype of the original values.
  EXPECT_TRUE(all_equal(b.scale.dense(), astype(random_tensor({4}, 1), DType::bf16)));
  EXPECT_EMILY_ERROR(nn::cast(b, DType::s32), DTypeError, "nn");
  nn::to_device(b, Device::cpu());
  EXPECT_EQ(b.proj.weight.device(), Device::cpu());
}

std::map<std::string, Tensor> block_weights() {
  return {{"scale", random_tensor({4}, 1)},
          {"proj.weight", random_tensor({4, 8}, 2)},
          {"proj.bias", random_tensor({4}, 3)},
          {"layers.0.weight", random_tensor({4}, 4)}};
}

// The error names the file and the tensor.
void expect_format_error(Block& b, const std::string& path, const std::string& tensor,
                         const nn::LoadParametersOptions& options = {}) {
  try {
    nn::load_parameters(b, *nn::safetensors_weights(path), options);
    ADD_FAILURE() << "expected FormatError for " << tensor;
  } catch (const FormatError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("[" + path + "]", 0), 0u) << m;
    EXPECT_NE(m.find(tensor), std::string::npos) << m;
  }
}

TEST(Module, LoadsByName) {
  TempFolder folder;
  const auto w = block_weights();
  save_safetensors(folder.file("w.safetensors"), w);
  Block b;
  double last = 0;
  nn::LoadParametersOptions options;
  options.progress = [&](double f) { last = f; };
  EXPECT_TRUE(
      nn::load_parameters(b, *nn::safetensors_weights(folder.file("w.safetensors")), options)
          .empty());
  EXPECT_DOUBLE_EQ(last, 1.0);
  EXPECT_TRUE(all_equal(b.proj.weight.dense(), w.at("proj.weight")));
  EXPECT_TRUE(all_equal(b.norm.weight.dense(), w.at("layers.0.weight")));
}

TEST(Module, StrictLoadingNamesFileAndTensor) {
  TempFolder folder;
  {
    auto w = block_weights();
    w.erase("proj.bias");
    save_safetensors(folder.file("missing.safetensors"), w);
    Block b;
    expect_format_error(b, folder.file("missing.safetensors"), "proj.bias");
  }
  {
    auto w = block_weights();
    w["proj.weight"] = random_tensor({8, 4}, 2);
    save_safetensors(folder.file("shape.safetensors"), w);
    Block b;
    expect_format_error(b, folder.file("shape.safetensors"), "proj.weight");
  }
  {
    auto w = block_weights();
    w["extra.weight"] = random_tensor({2}, 9);
    save_safetensors(folder.file("extra.safetensors"), w);
    Block b;
    expect_format_error(b, folder.file("extra.safetensors"), "extra.weight");
    nn::LoadParametersOptions allow;
    allow.allow_unexpected = true;
    EXPECT_EQ(
        nn::load_parameters(b, *nn::safetensors_weights(folder.file("extra.safetensors")), allow),
        std::vector<std::string>{"extra.weight"});
    nn::LoadParametersOptions ignore;
    ignore.ignore = [](const std::string& n) { return n == "extra.weight"; };
    EXPECT_TRUE(
        nn::load_parameters(b, *nn::safetensors_weights(folder.file("extra.safetensors")), ignore)
            .empty());
  }
}

TEST(Module, LoadsQuantizedWeightsInMlxLayout) {
  TempFolder folder;
  const QuantizedTensor q = quantize_for_test(random_tensor({4, 64}, 5), 4, 32);
  save_safetensors(folder.file("q.safetensors"),
                   {{"weight", q.packed}, {"scales", q.scales}, {"biases", q.biases}});
  nn::Linear linear(64, 4, false);
  // Without bits and group size the codes cannot be read.
  try {
    nn::load_parameters(linear, *nn::safetensors_weights(folder.file("q.safetensors")));
    ADD_FAILURE() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("weight"), std::string::npos);
  }
  nn::load_parameters(
      linear, *nn::safetensors_weights(folder.file("q.safetensors"), nn::QuantizationSpec{4, 32}));
  ASSERT_TRUE(linear.weight.is_quantized());
  EXPECT_TRUE(all_equal(linear.weight.quantized().packed, q.packed));
  // A quantized tensor where a dense one belongs, and a wrong group size.
  nn::RMSNorm norm(64, 1e-5);
  try {
    nn::load_parameters(
        norm, *nn::safetensors_weights(folder.file("q.safetensors"), nn::QuantizationSpec{4, 32}));
    ADD_FAILURE() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("must be dense"), std::string::npos) << e.what();
  }
  nn::Linear wrong(64, 4, false);
  try {
    nn::load_parameters(
        wrong, *nn::safetensors_weights(folder.file("q.safetensors"), nn::QuantizationSpec{4, 64}));
    ADD_FAILURE() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("weight"), std::string::npos) << e.what();
  }
}

TEST(Module, ParameterKindsAreChecked) {
  nn::Parameter p;
  EXPECT_FALSE(p.defined());
  EXPECT_EMILY_ERROR(p.dense(), ValueError, "nn");
  p = random_tensor({2}, 1);
  EXPECT_EMILY_ERROR(p.quantized(), ValueError, "nn");
}

}  // namespace
}  // namespace emily::testing
