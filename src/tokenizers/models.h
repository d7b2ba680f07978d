// The three models, built from their tokenizer.json "model" objects.
#pragma once

#include <memory>
#include <string_view>

#include "tokenizers/components.h"

namespace emily::tokenizers {

std::unique_ptr<Model> make_bpe(const json::Value& v, std::string_view source);
std::unique_ptr<Model> make_wordpiece(const json::Value& v, std::string_view source);
std::unique_ptr<Model> make_unigram(const json::Value& v, std::string_view source);

// The byte-fallback token of a byte: "<0x0A>".
std::string byte_token(unsigned char b);

}  // namespace emily::tokenizers
