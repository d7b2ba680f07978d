// The stages of one tokenizer, as read from tokenizer.json. Immutable after loading.
#pragma once

#include <memory>
#include <optional>

#include "emily/tokenizer.h"
#include "tokenizers/added_vocabulary.h"
#include "tokenizers/components.h"

namespace emily::tokenizers {

class Pipeline {
 public:
  std::unique_ptr<Normalizer> normalizer;       // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // may be null
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;  // may be null
  std::unique_ptr<Decoder> decoder;               // may be null
  AddedVocabulary added;
  // The file's own settings, which a Tokenizer starts with.
  std::optional<Truncation> truncation;
  std::optional<Padding> padding;

  // One sequence through added tokens, normalizer, pre-tokenizer and model; no special
  // tokens yet. Offsets are bytes of `text`.
  Encoding encode_sequence(std::string_view text, std::int32_t type_id) const;
};

}  // namespace emily::tokenizers
