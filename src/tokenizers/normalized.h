// A string being normalized and split, that remembers for every byte which bytes of the
// original input it came from. Offsets of the final tokens are read through this map, so
// they always point into the text the user passed, whatever the normalizers rewrote.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/unicode.h"

namespace emily::tokenizers {

struct Offsets {
  std::size_t start = 0;
  std::size_t end = 0;
  friend bool operator==(const Offsets&, const Offsets&) = default;
};

class NormalizedString {
 public:
  NormalizedString() = default;
  // `piece` is the original text at byte `original_start` of the input.
  NormalizedString(std::string_view piece, std::size_t original_start);

  const std::string& str() const { return text_; }
  bool empty() const { return text_.empty(); }
  std::size_t size() const { return text_.size(); }
  // The original bytes that normalized bytes [begin, end) came from.
  Offsets original(std::size_t begin, std::size_t end) const;
  // Normalized bytes [begin, end) (at character boundaries) as a string of their own.
  NormalizedString slice(std::size_t begin, std::size_t end) const;

  // Rewrites every character: f(c, out) appends c's replacement to `out` (nothing removes
  // it). Each new character keeps the alignment of the one it replaces.
  template <class F>
  void map_chars(F&& f);
  // Inserted text is aligned with the character it is glued to, as Hugging Face does.
  void prepend(std::string_view s);
  void append(std::string_view s);
  void normalize(unicode::Form form);
  // Replaces the byte ranges (sorted, disjoint) by `content`; the replacement takes the
  // alignment of the whole range it replaces.
  void replace(const std::vector<Offsets>& ranges, std::string_view content);
  // Removes leading and/or trailing whitespace.
  void strip(bool left, bool right);

 private:
  std::string text_;
  std::vector<Offsets> align_;  // one entry per byte of text_
};

template <class F>
void NormalizedString::map_chars(F&& f) {
  std::string text;
  std::vector<Offsets> align;
  text.reserve(text_.size());
  align.reserve(text_.size());
  std::u32string out;
  for (std::size_t i = 0; i < text_.size();) {
    int n = 0;
    char32_t c = unicode::decode_at(text_, i, &n);
    Offsets a{align_[i].start, align_[i + n - 1].end};
    out.clear();
    f(c, out);
    for (char32_t r : out) {
      std::size_t before = text.size();
      unicode::append_utf8(text, r);
      align.insert(align.end(), text.size() - before, a);
    }
    i += n;
  }
  text_ = std::move(text);
  align_ = std::move(align);
}

}  // namespace emily::tokenizers
