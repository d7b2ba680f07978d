// Tiny random Llama-family checkpoints written by the tests themselves (config.json +
// model.safetensors in a temporary folder), and a step driver for them.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "emily/emily.h"
#include "emily/models/causal_lm.h"
#include "emily/models/llama.h"
#include "emily/nn/module.h"

namespace emily::testing {

class TempFolder {
 public:
  TempFolder() {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("emily_" + std::string(info ? info->name() : "test") + "_" +
             std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Normal values (std::mt19937, so the same on every machine) times `scale`.
inline Tensor random_tensor(const Shape& shape, unsigned seed, double scale = 0.2) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(numel(shape)));
  for (float& x : v) x = static_cast<float>(normal(gen) * scale);
  return tensor<float>(v, shape);
}

// A small decoder: 2 layers, GQA (4 query heads over 2 key/value heads), head_dim 8.
// `extra` is spliced into the JSON object (e.g. "\"tie_word_embeddings\": true").
inline std::string tiny_config_json(const std::string& model_type, const std::string& extra = "") {
  std::string json = "{\"model_type\": \"" + model_type +
                     "\", \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, "
                     "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                     "\"num_key_value_heads\": 2, \"head_dim\": 8, \"rms_norm_eps\": 1e-5, "
                     "\"max_position_embeddings\": 128, \"rope_theta\": 10000.0, "
                     "\"torch_dtype\": \"float32\"";
  if (!extra.empty()) json += ", " + extra;
  return json + "}";
}

// Writes config.json and random weights named as the model names them (norm weights
// near 1, as trained models have them). Returns the folder's path.
inline void write_tiny_checkpoint(const TempFolder& folder, const std::string& config_json,
                                  unsigned seed = 7) {
  {
    std::ofstream out(folder.file("config.json"));
    out << config_json;
  }
  const ModelConfig config = parse_model_config(json::parse(config_json), "config.json");
  models::LlamaModel shape_only(std::get<DecoderConfig>(config));
  std::map<std::string, Tensor> weights;
  for (const nn::ParameterSlot& s : shape_only.slots()) {
    Tensor w = random_tensor(s.shape, seed++);
    if (s.name.find("norm") != std::string::npos) w = w + 1.0;
    weights[s.name] = w;
  }
  save_safetensors(folder.file("model.safetensors"), weights);
}

// Step inputs for rows of `tokens` ({B, T}, row-major) written from slot `offset`, with
// the given positions and the key mask over all T_max slots.
inline models::StepInputs step_inputs(const std::vector<std::int32_t>& tokens,
                                      const std::vector<std::int32_t>& positions,
                                      const std::vector<bool>& key_mask, std::int64_t batch,
                                      std::int64_t offset, std::vector<Tensor> caches) {
  const auto length = static_cast<std::int64_t>(tokens.size()) / batch;
  const auto t_max = static_cast<std::int64_t>(key_mask.size()) / batch;
  return {tensor<std::int32_t>(tokens, {batch, length}),
          tensor<std::int32_t>(positions, {batch, length}),
          scalar_tensor(static_cast<double>(offset), DType::s32),
          tensor<bool>(key_mask, {batch, t_max}), std::move(caches)};
}

}  // namespace emily::testing
