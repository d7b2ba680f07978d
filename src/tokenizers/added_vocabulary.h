// Added tokens (<|endoftext|>, [CLS], <mask>, ...): strings matched in the text before
// the model sees it, each becoming its own id. Hugging Face's rules: leftmost-longest
// matches; single_word tokens only between non-word characters; lstrip/rstrip swallow the
// white space beside them; normalized tokens are matched after normalization, the others
// in the raw text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizers/components.h"

namespace emily::tokenizers {

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  // The content after the normalizer, for normalized tokens: what HF decodes them to.
  std::string normalized_content;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) prepares the patterns of normalized tokens.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Cuts the added tokens out of `splits` (the raw pieces when `normalized` is false, the
  // normalized ones otherwise); matched pieces come back tokenized.
  void extract(PreTokenized& splits, bool normalized) const;

  const AddedToken* find(std::int32_t id) const;
  const AddedToken* find(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Patterns for one pass, bucketed by first byte, longest first within a bucket.
  struct Patterns {
    std::vector<std::pair<std::string, std::size_t>> all;  // (pattern, index into tokens_)
    std::array<std::vector<std::size_t>, 256> by_first_byte;
    bool empty() const { return all.empty(); }
  };
  void build(Patterns& p, bool normalized, const Normalizer* normalizer);
  std::vector<Split> split_one(const NormalizedString& s, const Patterns& p) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::int32_t, std::size_t> by_id_;
  std::unordered_map<std::string, std::size_t> by_content_;
  Patterns raw_, normalized_;
};

}  // namespace emily::tokenizers
