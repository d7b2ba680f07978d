// PCRE2 with UTF and Unicode properties (\p{L}, \s as Unicode white space), JIT-compiled:
// the engine for the Split pre-tokenizer and Replace normalizers/decoders, whose patterns
// (GPT-2, Llama-3, Qwen2) were written for Oniguruma and read the same in PCRE2.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/normalized.h"

namespace emily::tokenizers {

class Regex {
 public:
  // `where` names the file or component for the error message of a bad pattern.
  Regex(std::string_view pattern, std::string_view where);
  // Escapes `literal` so that it matches itself.
  static std::string escape(std::string_view literal);
  // All non-empty, non-overlapping matches, left to right.
  std::vector<Offsets> find_all(std::string_view text) const;

 private:
  struct Compiled;
  std::shared_ptr<Compiled> compiled_;
};

}  // namespace emily::tokenizers
