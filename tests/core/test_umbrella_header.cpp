// emily/emily.h is the one include a program needs: this file includes nothing else of
// Emily's, so it stops compiling when a public header drops out of the umbrella. Each
// check touches one symbol of a header the umbrella gained in session 15 (nn, models,
// generate, sampling, model_tokenizer, default_model); the expected values
// come from the definitions documented in those headers, named at each check.
#include <gtest/gtest.h>

#include "emily/emily.h"

namespace emily {
namespace {

TEST(UmbrellaHeader, NnModulesAndTheirParameterCount) {
  // nn/layers.h, nn/module.h. Oracle: Linear(in, out, bias=false) holds W {out, in},
  // and parameter_count counts loaded weights only.
  nn::Linear linear(4, 3, /*bias=*/false);
  EXPECT_EQ(nn::parameter_count(linear), 0);
  linear.weight = zeros({3, 4}, DType::f32);
  EXPECT_EQ(nn::parameter_count(linear), 12);
}

TEST(UmbrellaHeader, ModelsNamesAndLoadOptions) {
  // models/llama.h. Oracle: the GGUF -> transformers table of docs/MODELS.md.
  EXPECT_EQ(models::hf_name_from_gguf("blk.3.ffn_down.weight"),
            std::optional<std::string>("model.layers.3.mlp.down_proj.weight"));
  // models/causal_lm.h: quantized weights stay quantized unless asked (its comment).
  EXPECT_FALSE(models::LoadOptions{}.dequantize);
}

TEST(UmbrellaHeader, GenerateAndSampling) {
  // generate.h and sampling.h: temperature 0 is greedy (SamplingOptions' comment).
  GenerateOptions options;
  options.sampling.temperature = 0;
  EXPECT_TRUE(options.sampling.greedy());
  EXPECT_EQ(to_string(FinishReason::stop_string), "stop_string");
}

TEST(UmbrellaHeader, ModelTokenizerAndDefaultModel) {
  // model_tokenizer.h: a path without a tokenizer is an Error, not a crash.
  EXPECT_THROW(load_model_tokenizer("/nonexistent/emily-model"), Error);
  // default_model.h: always a path, whether or not the file is there.
  EXPECT_FALSE(default_model_path().empty());
}

TEST(UmbrellaHeader, DecomposeGuardNestsAndRefusesFamiliesWithoutDecompositions) {
  // decompose.h: a guard forces its family only, and restores what it found.
  EXPECT_FALSE(decomposition_forced(Family::fast));
  {
    fast::DecomposeGuard outer;
    EXPECT_TRUE(decomposition_forced(Family::fast));
    EXPECT_FALSE(decomposition_forced(Family::quant));
    {
      DecomposeGuard inner(Family::fast);
      quant::DecomposeGuard other;
      EXPECT_TRUE(decomposition_forced(Family::quant));
    }
    EXPECT_TRUE(decomposition_forced(Family::fast));
    EXPECT_FALSE(decomposition_forced(Family::quant));
  }
  EXPECT_FALSE(decomposition_forced(Family::fast));
  EXPECT_THROW(DecomposeGuard(Family::unary), ValueError);
}

}  // namespace
}  // namespace emily
