// WordPiece: greedy longest-prefix matching; pieces after the first carry "##". A word
// with any part missing from the vocab is one unknown token.
#include <unordered_map>

#include "tokenizers/fields.h"
#include "tokenizers/models.h"

namespace emily::tokenizers {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class WordPiece : public Model {
 public:
  WordPiece(const json::Value& v, std::string_view source) {
    const json::Value& vocab = fields::require(v, "vocab", source);
    if (!vocab.is_object())
      EMILY_THROW(FormatError, std::string(source).c_str(), "WordPiece vocab must be an object");
    for (const json::Member& m : vocab.as_object()) {
      std::int32_t id = fields::id(m.value, "vocab id of '" + m.key + "'", source);
      vocab_[m.key] = id;
      if (!vocab_r_.emplace(id, m.key).second)
        EMILY_THROW(FormatError, std::string(source).c_str(), "WordPiece vocab id ", id,
                    " is given to two tokens");
    }
    unk_token_ = fields::string_or(v, "unk_token", "[UNK]", source);
    prefix_ = fields::string_or(v, "continuing_subword_prefix", "##", source);
    max_chars_ = static_cast<std::size_t>(
        std::max<std::int64_t>(0, fields::integer_or(v, "max_input_chars_per_word", 100, source)));
  }

  void tokenize(std::string_view word, std::vector<Token>& out) const override {
    std::size_t chars = 0;
    for (unsigned char c : word) chars += (c & 0xC0) != 0x80;
    if (chars > max_chars_) return unknown(word, out);
    std::size_t first = out.size();
    std::string candidate;
    for (std::size_t start = 0; start < word.size();) {
      std::size_t end = word.size();
      bool found = false;
      while (end > start) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(word.substr(start, end - start));
        if (auto it = vocab_.find(candidate); it != vocab_.end()) {
          out.push_back({it->second, candidate, {start, end}});
          found = true;
          break;
        }
        // Step back one character.
        do --end;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!found) {
        out.resize(first);
        return unknown(word, out);
      }
      start = end;
    }
  }

  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> id_to_token(std::int32_t id) const override {
    auto it = vocab_r_.find(id);
    if (it == vocab_r_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t vocab_size() const override { return vocab_.size(); }

 private:
  void unknown(std::string_view word, std::vector<Token>& out) const {
    auto it = vocab_.find(unk_token_);
    if (it == vocab_.end())
      EMILY_THROW(ValueError, "tokenizer", "WordPiece unk_token '", unk_token_,
                  "' is not in the vocab");
    out.push_back({it->second, unk_token_, {0, word.size()}});
  }

  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> vocab_;
  std::unordered_map<std::int32_t, std::string> vocab_r_;
  std::string unk_token_, prefix_;
  std::size_t max_chars_ = 100;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const json::Value& v, std::string_view source) {
  return std::make_unique<WordPiece>(v, source);
}

}  // namespace emily::tokenizers
