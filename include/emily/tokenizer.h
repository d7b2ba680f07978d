// Text to token ids and back, as Hugging Face tokenizers do it, from a tokenizer.json.
//
//   Tokenizer tok = Tokenizer::from_file("model/tokenizer.json");
//   Encoding e = tok.encode("Hello world");   // ids, tokens, byte offsets, masks
//   std::string text = tok.decode(e.ids, /*skip_special_tokens=*/true);
//
// The pipeline is Hugging Face's: added tokens are cut out first, then the rest is
// normalized, pre-tokenized, split by the model (BPE, WordPiece or Unigram) and
// post-processed (special tokens such as [CLS] ... [SEP]); decoding runs the decoders.
// Ids equal those of the Python `tokenizers` package on the same file. A Tokenizer is
// immutable once built and safe to use from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace emily {

// One encoded text: parallel arrays with one entry per token.
struct Encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::string> tokens;
  // Byte ranges [start, end) of the input text each token came from; (0, 0) for the
  // special tokens the post-processor adds and for padding.
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  std::vector<std::int32_t> type_ids;             // 0 for the first sequence, 1 for a pair's second
  std::vector<std::uint8_t> special_tokens_mask;  // 1 where the post-processor added the token
  std::vector<std::uint8_t> attention_mask;       // 0 on padding
  std::size_t size() const { return ids.size(); }
};

enum class Direction : std::uint8_t { left, right };

// Sequences longer than max_length (special tokens included) lose tokens on one side.
struct Truncation {
  std::size_t max_length = 512;
  Direction direction = Direction::right;  // right: keep the beginning
};

// Encodings shorter than the target are filled with pad_id.
struct Padding {
  std::optional<std::size_t> length;  // none: the longest encoding of the batch
  std::size_t multiple_of = 0;        // round the target up to a multiple (0: no rounding)
  Direction direction = Direction::right;
  std::int32_t pad_id = 0;
  std::int32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

namespace tokenizers {
class Pipeline;
}
namespace json {
class Value;
}

class Tokenizer {
 public:
  // Reads a Hugging Face tokenizer.json. A malformed file raises FormatError naming it; a
  // component type Emily does not implement raises Unsupported naming the type.
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_json(std::string_view text,
                             std::string_view source_name = "tokenizer.json");
  // The same from an already parsed (or built) tokenizer.json value.
  static Tokenizer from_spec(const json::Value& spec,
                             std::string_view source_name = "tokenizer.json");

  // `text` must be valid UTF-8 (ValueError otherwise). add_special_tokens runs the
  // post-processor's template ([CLS] text [SEP], <s> text, ...).
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  // A pair of sequences (question and context, ...); the second gets type id 1. (A name
  // of its own: encode("a", "b") would otherwise bind "b" to the bool.)
  Encoding encode_pair(std::string_view text, std::string_view pair,
                       bool add_special_tokens = true) const;
  // Each text encoded as by encode(); then padded together when padding is set.
  std::vector<Encoding> encode_batch(std::span<const std::string> texts,
                                     bool add_special_tokens = true) const;

  // Ids back to text through the decoders. Unknown ids raise ValueError.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const;

  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(std::int32_t id) const;
  // Whether `id` is an added token marked special (<|endoftext|>, [CLS], ...).
  bool is_special(std::int32_t id) const;
  // The model's vocabulary, plus the added tokens that are not in it.
  std::size_t vocab_size(bool with_added_tokens = true) const;

  // Truncation and padding start as the file sets them and apply to every encode.
  const std::optional<Truncation>& truncation() const { return truncation_; }
  void set_truncation(std::optional<Truncation> t) { truncation_ = std::move(t); }
  const std::optional<Padding>& padding() const { return padding_; }
  void set_padding(std::optional<Padding> p) { padding_ = std::move(p); }

 private:
  Encoding encode_impl(std::string_view text, const std::string_view* pair,
                       bool add_special_tokens) const;

  std::shared_ptr<const tokenizers::Pipeline> pipeline_;
  std::optional<Truncation> truncation_;
  std::optional<Padding> padding_;
};

}  // namespace emily
