// Unicode for the tokenizers: UTF-8 stepping and the character classes the Hugging Face
// tokenizers use. Those follow Rust's `char` methods (is_whitespace is the White_Space
// property, is_numeric is N*, ...), so ids match theirs; the categories come from utf8proc.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace emily::tokenizers::unicode {

// Length of the UTF-8 sequence that `lead` starts (1 for a stray continuation byte, so a
// loop over bytes always advances).
inline int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// The code point starting at text[i] (text is valid UTF-8: callers validate input once).
char32_t decode_at(std::string_view text, std::size_t i, int* length);
void append_utf8(std::string& out, char32_t c);
// Where the first invalid byte is, or npos when `text` is valid UTF-8.
std::size_t first_invalid_utf8(std::string_view text);
// Decodes `bytes` as UTF-8, each invalid sequence becoming U+FFFD (Rust's
// String::from_utf8_lossy, which the byte-level decoders use).
std::string from_utf8_lossy(std::string_view bytes);

bool is_whitespace(char32_t c);       // White_Space
bool is_alphabetic(char32_t c);       // letters, letter numbers, combining marks
bool is_numeric(char32_t c);          // Nd, Nl, No
bool is_alphanumeric(char32_t c);     // is_alphabetic || is_numeric
bool is_punctuation(char32_t c);      // P*
bool is_other(char32_t c);            // C* (controls, format, unassigned, ...)
bool is_mark_nonspacing(char32_t c);  // Mn
bool is_mark(char32_t c);             // Mn, Mc, Me
bool is_word(char32_t c);             // the regex class \w: alphabetic, marks, digits, Pc
bool is_cjk_ideograph(char32_t c);    // the CJK blocks BERT pads with spaces

// Simple (one code point) case mapping.
char32_t to_lower(char32_t c);

enum class Form { nfc, nfd, nfkc, nfkd };
// The whole string in `form`.
std::string normalize(std::string_view text, Form form);
// Whether a normalization segment may start before `c` (c is a starter that nothing before
// it composes with); segments normalize independently, which keeps offsets local.
bool starts_segment(char32_t previous, char32_t c);

}  // namespace emily::tokenizers::unicode
