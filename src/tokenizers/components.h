// The stages of the tokenizer pipeline, each an interface with one implementation per
// Hugging Face component type, built from its tokenizer.json object by a factory that
// dispatches on "type". Implementations live in normalizers.cpp, pre_tokenizers.cpp,
// models (bpe.cpp, wordpiece.cpp, unigram.cpp), post_processors.cpp and decoders.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emily/tokenizer.h"
#include "tokenizers/normalized.h"

namespace emily::json {
class Value;
}

namespace emily::tokenizers {

// A token the model produced; offsets are bytes of the string the model was given.
struct Token {
  std::int32_t id = 0;
  std::string value;
  Offsets offsets;
};

// A piece of the input on its way through the pipeline. Added tokens arrive already
// tokenized; the other pieces are split by the pre-tokenizer, then by the model.
struct Split {
  NormalizedString normalized;
  std::vector<Token> tokens;
  bool tokenized = false;
};
using PreTokenized = std::vector<Split>;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenized& splits) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of one pre-tokenized word.
  virtual void tokenize(std::string_view word, std::vector<Token>& out) const = 0;
  virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(std::int32_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many tokens process() adds (truncation leaves room for them).
  virtual std::size_t added_tokens(bool pair) const = 0;
  // Rewrites the encodings of a sequence (one) or pair (two); templates that add special
  // tokens join them into one. The pipeline concatenates whatever is left.
  virtual void process(std::vector<Encoding>& encodings, bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; the decoded text is their concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Factories: `source` names the file in error messages. A missing "type" or a malformed
// field is a FormatError, an unknown type Unsupported.
std::unique_ptr<Normalizer> make_normalizer(const json::Value& v, std::string_view source);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json::Value& v, std::string_view source);
std::unique_ptr<Model> make_model(const json::Value& v, std::string_view source);
std::unique_ptr<PostProcessor> make_post_processor(const json::Value& v, std::string_view source);
std::unique_ptr<Decoder> make_decoder(const json::Value& v, std::string_view source);

// Splits every piece not yet tokenized: f(index, piece) returns its sub-pieces.
template <class F>
void split_each(PreTokenized& splits, F&& f) {
  PreTokenized out;
  out.reserve(splits.size());
  for (std::size_t i = 0; i < splits.size(); ++i) {
    Split& s = splits[i];
    if (s.tokenized) {
      out.push_back(std::move(s));
      continue;
    }
    for (NormalizedString& piece : f(i, std::move(s.normalized))) {
      if (!piece.empty()) out.push_back(Split{std::move(piece), {}, false});
    }
  }
  splits = std::move(out);
}

// The byte-level alphabet of GPT-2: every byte maps to a printable character (bytes that
// are printable map to themselves), so any byte string becomes a string of "characters".
const std::string& byte_to_char(unsigned char b);  // UTF-8 of the character
// The byte a character stands for, or -1 when it is not in the alphabet.
int char_to_byte(char32_t c);

}  // namespace emily::tokenizers
