#include "emily/model_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "emily/error.h"
#include "emily/gguf.h"
#include "emily/gguf_tokenizer.h"
#include "emily/json.h"
#include "emily/tokenizer_config.h"

namespace emily {

namespace {

namespace fs = std::filesystem;

bool is_gguf(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

void add_id(std::vector<std::int32_t>& ids, std::int64_t id) {
  auto v = static_cast<std::int32_t>(id);
  if (std::find(ids.begin(), ids.end(), v) == ids.end()) ids.push_back(v);
}

// "eos_token_id": 2, [2, 3] or null, in config.json and generation_config.json.
void add_eos_from(const fs::path& file, std::vector<std::int32_t>& ids) {
  if (!fs::exists(file)) return;
  json::Value doc = json::parse_file(file.string());
  const json::Value* eos = doc.find("eos_token_id");
  if (!eos || eos->is_null()) return;
  if (eos->is_array()) {
    for (const json::Value& v : eos->as_array()) add_id(ids, v.as_int());
  } else {
    add_id(ids, eos->as_int());
  }
}

// A template Emily cannot render leaves the model usable for plain prompts; the reason
// is kept for format_chat to report.
void set_template(ModelTokenizer& t, std::string_view source, std::string& problem) {
  try {
    t.chat_template.emplace(source);
  } catch (const Unsupported& e) {
    problem = e.what();
  } catch (const FormatError& e) {
    problem = e.what();
  }
}

ModelTokenizer from_gguf(const std::string& path, std::string& problem) {
  GgufFile file = GgufFile::open(path);
  GgufVocabulary vocab = vocabulary(file);
  ModelTokenizer t;
  t.tokenizer = tokenizer_from_gguf(vocab, path);
  t.source = path;
  for (const auto& id : {vocab.eos_id, vocab.eot_id})
    if (id) add_id(t.eos_ids, *id);
  if (vocab.bos_id) t.template_variables["bos_token"] = vocab.tokens[*vocab.bos_id];
  if (vocab.eos_id) t.template_variables["eos_token"] = vocab.tokens[*vocab.eos_id];
  if (vocab.chat_template) set_template(t, *vocab.chat_template, problem);
  return t;
}

ModelTokenizer from_folder(const fs::path& dir, std::string& problem) {
  const fs::path tokenizer_json = dir / "tokenizer.json";
  if (!fs::exists(tokenizer_json))
    EMILY_THROW(ValueError, "model_tokenizer", dir.string(),
                " holds no tokenizer.json (nor is it a .gguf file)");
  ModelTokenizer t;
  t.tokenizer = Tokenizer::from_file(tokenizer_json.string());
  t.source = dir.string();
  add_eos_from(dir / "generation_config.json", t.eos_ids);
  add_eos_from(dir / "config.json", t.eos_ids);
  const fs::path config_json = dir / "tokenizer_config.json";
  if (fs::exists(config_json)) {
    TokenizerConfig config = TokenizerConfig::from_file(config_json.string());
    const std::pair<const char*, const std::optional<std::string>*> tokens[] = {
        {"bos_token", &config.bos_token},  {"eos_token", &config.eos_token},
        {"unk_token", &config.unk_token},  {"pad_token", &config.pad_token},
        {"sep_token", &config.sep_token},  {"cls_token", &config.cls_token},
        {"mask_token", &config.mask_token}};
    for (const auto& [name, value] : tokens)
      if (*value) t.template_variables[name] = **value;
    if (config.eos_token)
      if (auto id = t.tokenizer.token_to_id(*config.eos_token)) add_id(t.eos_ids, *id);
    if (config.chat_template) set_template(t, *config.chat_template, problem);
  }
  return t;
}

}  // namespace

std::string ModelTokenizer::format_chat(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) const {
  if (!chat_template)
    EMILY_THROW(Unsupported, "chat", source, " has no chat template",
                chat_template_problem.empty() ? "" : " Emily can render: ", chat_template_problem);
  return chat_template->render(messages, add_generation_prompt, template_variables);
}

std::vector<std::int32_t> ModelTokenizer::encode(std::string_view text) const {
  return tokenizer.encode(text, /*add_special_tokens=*/true).ids;
}

std::vector<std::int32_t> ModelTokenizer::encode_chat(std::span<const ChatMessage> messages,
                                                      bool add_generation_prompt) const {
  std::string prompt = format_chat(messages, add_generation_prompt);
  return tokenizer.encode(prompt, /*add_special_tokens=*/false).ids;
}

ModelTokenizer load_model_tokenizer(const std::string& path) {
  if (!fs::exists(path)) EMILY_THROW(ValueError, "model_tokenizer", path, " does not exist");
  std::string problem;
  ModelTokenizer t;
  if (fs::is_regular_file(path) && is_gguf(path)) {
    t = from_gguf(path, problem);
  } else {
    fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
    t = from_folder(dir, problem);
  }
  t.chat_template_problem = std::move(problem);
  return t;
}

}  // namespace emily
