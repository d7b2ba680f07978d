// load_causal_lm: a Hugging Face folder (config.json + safetensors) or a GGUF file into a
// LlamaModel, loaded by name, cast and moved as LoadOptions ask.
#include <filesystem>
#include <fstream>

#include "emily/json.h"
#include "emily/models/causal_lm.h"
#include "emily/models/llama.h"

namespace emily::models {

namespace {

namespace fs = std::filesystem;

bool is_gguf_file(const std::string& path) {
  if (!fs::is_regular_file(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string_view(magic, 4) == "GGUF";
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Tensors a checkpoint may carry that the model does not need.
bool ignorable(const DecoderConfig& config, const std::string& name) {
  return ends_with(name, "rotary_emb.inv_freq") ||
         (config.tie_word_embeddings && name == "lm_head.weight") || name == "rope_freqs.weight";
}

// Stages of progress: reading weights is most of the time; cast and move the rest.
void report(const LoadOptions& o, std::string_view stage, double fraction) {
  if (o.progress) o.progress(stage, fraction);
}

std::unique_ptr<CausalLM> finish(std::unique_ptr<LlamaModel> model, const nn::WeightSource& source,
                                 DType default_dtype, const LoadOptions& options) {
  nn::LoadParametersOptions lp;
  const DecoderConfig& config = model->config();
  lp.ignore = [&config](const std::string& name) { return ignorable(config, name); };
  lp.progress = [&options](double f) { report(options, "weights", f); };
  nn::load_parameters(*model, source, lp);
  model->set_stack_projections(options.stack_projections);
  if (options.dequantize) {
    for (const nn::ParameterSlot& s : model->slots())
      if (s.value->defined() && s.value->is_quantized())
        *s.value = dequantize(s.value->quantized());
  }
  model->set_dtype(options.dtype.value_or(default_dtype));
  report(options, "device", 0.0);
  model->set_device(options.device);
  report(options, "device", 1.0);
  return model;
}

std::optional<nn::QuantizationSpec> quantization_of(const std::string& config_path) {
  const json::Value config = json::parse_file(config_path);
  const json::Value* q = config.find("quantization");
  if (!q || !q->is_object()) return std::nullopt;
  nn::QuantizationSpec spec;
  if (const json::Value* bits = q->find("bits")) spec.bits = static_cast<int>(bits->as_int());
  if (const json::Value* group = q->find("group_size"))
    spec.group_size = static_cast<int>(group->as_int());
  return spec;
}

std::unique_ptr<CausalLM> load_hf(const std::string& path, const LoadOptions& options) {
  const fs::path folder = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  const std::string config_path = (folder / "config.json").string();
  const ModelConfig any = load_model_config(config_path);
  const auto* config = std::get_if<DecoderConfig>(&any);
  if (!config)
    EMILY_THROW(Unsupported, config_path.c_str(), "model_type \"", model_type(any),
                "\" is not a decoder-only language model");
  auto model = std::make_unique<LlamaModel>(*config);
  const auto source = nn::safetensors_weights(folder.string(), quantization_of(config_path));
  return finish(std::move(model), *source, config->dtype.value_or(DType::f32), options);
}

std::unique_ptr<CausalLM> load_gguf(const std::string& path, const LoadOptions& options) {
  const GgufFile file = GgufFile::open(path);
  const DecoderConfig config = decoder_config_from_gguf(file);
  // Llama 3 files carry their scaled RoPE as per-pair frequency divisors.
  std::vector<float> divisors;
  if (file.has_tensor("rope_freqs.weight"))
    divisors = file.tensor("rope_freqs.weight").to_vector<float>();
  auto model = std::make_unique<LlamaModel>(config, divisors);
  const auto source = gguf_weights(file, config);
  return finish(std::move(model), *source, DType::f32, options);
}

}  // namespace

std::unique_ptr<CausalLM> load_causal_lm(const std::string& path, const LoadOptions& options) {
  if (!fs::exists(path)) EMILY_THROW(FormatError, path.c_str(), "no such file or folder");
  if (is_gguf_file(path)) return load_gguf(path, options);
  return load_hf(path, options);
}

}  // namespace emily::models
