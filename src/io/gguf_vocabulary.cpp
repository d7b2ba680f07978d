// Tokenizer vocabularies stored in GGUF metadata (tokenizer.ggml.*), as llama.cpp's
// converters write them.
#include "emily/gguf.h"

namespace emily {

namespace {

std::optional<std::int64_t> optional_id(const GgufFile& file, const std::string& key,
                                        std::size_t vocabulary_size) {
  if (!file.contains(key)) return std::nullopt;
  std::int64_t id = file.get_int(key);
  if (id < 0 || static_cast<std::uint64_t>(id) >= vocabulary_size)
    EMILY_THROW(FormatError, file.path().c_str(), key, " = ", id, " is outside the ",
                vocabulary_size, " tokens");
  return id;
}

std::optional<bool> optional_bool(const GgufFile& file, const std::string& key) {
  if (!file.contains(key)) return std::nullopt;
  return file.get_bool(key);
}

void check_length(const GgufFile& file, const char* key, std::size_t length, std::size_t tokens) {
  if (length != tokens)
    EMILY_THROW(FormatError, file.path().c_str(), key, " has ", length, " entries for ", tokens,
                " tokens");
}

}  // namespace

GgufVocabulary vocabulary(const GgufFile& file) {
  GgufVocabulary v;
  v.model = file.get_string("tokenizer.ggml.model");
  if (file.contains("tokenizer.ggml.pre")) v.pre = file.get_string("tokenizer.ggml.pre");
  v.tokens = file.get_strings("tokenizer.ggml.tokens");
  const std::size_t n = v.tokens.size();

  if (file.contains("tokenizer.ggml.scores")) {
    std::vector<double> scores = file.get_floats("tokenizer.ggml.scores");
    check_length(file, "tokenizer.ggml.scores", scores.size(), n);
    v.scores.assign(scores.begin(), scores.end());  // the file stores f32: exact
  }
  if (file.contains("tokenizer.ggml.token_type")) {
    std::vector<std::int64_t> types = file.get_ints("tokenizer.ggml.token_type");
    check_length(file, "tokenizer.ggml.token_type", types.size(), n);
    v.token_types.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > static_cast<std::int64_t>(GgufTokenType::byte))
        EMILY_THROW(FormatError, file.path().c_str(), "tokenizer.ggml.token_type of token ", i,
                    " is ", types[i], " (0 to 6 are defined)");
      v.token_types.push_back(static_cast<GgufTokenType>(types[i]));
    }
  }
  if (file.contains("tokenizer.ggml.merges")) v.merges = file.get_strings("tokenizer.ggml.merges");

  v.bos_id = optional_id(file, "tokenizer.ggml.bos_token_id", n);
  v.eos_id = optional_id(file, "tokenizer.ggml.eos_token_id", n);
  v.eot_id = optional_id(file, "tokenizer.ggml.eot_token_id", n);
  v.unknown_id = optional_id(file, "tokenizer.ggml.unknown_token_id", n);
  v.separator_id = optional_id(file, "tokenizer.ggml.seperator_token_id", n);  // sic, as written
  v.padding_id = optional_id(file, "tokenizer.ggml.padding_token_id", n);
  v.add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token");
  v.add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token");
  v.add_space_prefix = optional_bool(file, "tokenizer.ggml.add_space_prefix");
  if (file.contains("tokenizer.chat_template"))
    v.chat_template = file.get_string("tokenizer.chat_template");
  return v;
}

}  // namespace emily
