// tokenizer.json loading and the whole encode/decode pipeline. The input is a tokenizer
// file, optionally followed by a NUL byte and text to encode (a built-in sample
// otherwise). Any file either loads or raises an emily::Error; a loaded tokenizer encodes
// any text or raises one (invalid UTF-8 is ValueError), and its ids decode.
// seeds: tests/fixtures/tokenizers/*/tokenizer.json
// dict: fuzz/json.dict
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "emily/error.h"
#include "emily/tokenizer.h"

namespace {

constexpr std::string_view kSample =
    "Hello  world! It's 2026: caf\xC3\xA9, \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80\n\tdef f(x): "
    "return x**2 <|endoftext|> [CLS] <mask>";

void exercise(const emily::Tokenizer& tok, std::string_view text) {
  emily::Encoding e = tok.encode(text);
  std::size_t n = e.size();
  if (e.tokens.size() != n || e.offsets.size() != n || e.type_ids.size() != n ||
      e.special_tokens_mask.size() != n || e.attention_mask.size() != n)
    __builtin_trap();
  for (const auto& [start, end] : e.offsets)
    if (start > end || end > text.size()) __builtin_trap();
  (void)tok.decode(e.ids, false);
  (void)tok.decode(e.ids, true);
  (void)tok.encode_pair(text, text.substr(0, text.size() / 2), true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t nul = input.find('\0');
  std::string_view file = input.substr(0, nul);
  std::string_view text = nul == std::string_view::npos ? kSample : input.substr(nul + 1);
  try {
    emily::Tokenizer tok = emily::Tokenizer::from_json(file, "fuzz.json");
    exercise(tok, text);
    // Truncation and padding on a batch.
    tok.set_truncation(emily::Truncation{3, emily::Direction::left});
    tok.set_padding(emily::Padding{std::nullopt, 4, emily::Direction::left, 0, 0, "<pad>"});
    std::string texts[] = {std::string(text), std::string(text.substr(0, text.size() / 3))};
    (void)tok.encode_batch(texts);
  } catch (const emily::Error&) {
  }
  return 0;
}
