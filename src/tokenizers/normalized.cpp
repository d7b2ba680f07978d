#include "tokenizers/normalized.h"

#include <algorithm>

namespace emily::tokenizers {

NormalizedString::NormalizedString(std::string_view piece, std::size_t original_start)
    : text_(piece) {
  align_.resize(piece.size());
  for (std::size_t i = 0; i < piece.size();) {
    int n = unicode::sequence_length(static_cast<unsigned char>(piece[i]));
    n = static_cast<int>(std::min<std::size_t>(n, piece.size() - i));
    Offsets a{original_start + i, original_start + i + n};
    for (int k = 0; k < n; ++k) align_[i + k] = a;
    i += n;
  }
}

Offsets NormalizedString::original(std::size_t begin, std::size_t end) const {
  if (align_.empty()) return {};
  if (begin >= align_.size()) return {align_.back().end, align_.back().end};
  if (end <= begin) return {align_[begin].start, align_[begin].start};
  end = std::min(end, align_.size());
  return {align_[begin].start, std::max(align_[begin].start, align_[end - 1].end)};
}

NormalizedString NormalizedString::slice(std::size_t begin, std::size_t end) const {
  NormalizedString s;
  s.text_ = text_.substr(begin, end - begin);
  s.align_.assign(align_.begin() + begin, align_.begin() + end);
  return s;
}

void NormalizedString::prepend(std::string_view s) {
  if (text_.empty() || s.empty()) return;
  int n = unicode::sequence_length(static_cast<unsigned char>(text_[0]));
  Offsets a{align_[0].start, align_[n - 1].end};
  text_.insert(0, s);
  align_.insert(align_.begin(), s.size(), a);
}

void NormalizedString::append(std::string_view s) {
  if (text_.empty() || s.empty()) return;
  std::size_t last = text_.size() - 1;
  while (last > 0 && (static_cast<unsigned char>(text_[last]) & 0xC0) == 0x80) --last;
  Offsets a{align_[last].start, align_.back().end};
  text_ += s;
  align_.insert(align_.end(), s.size(), a);
}

void NormalizedString::normalize(unicode::Form form) {
  // Pure ASCII is already in every normalization form.
  if (std::all_of(text_.begin(), text_.end(), [](char c) { return (c & 0x80) == 0; })) return;
  std::string text;
  std::vector<Offsets> align;
  text.reserve(text_.size());
  align.reserve(text_.size());
  // Segments between starters normalize independently: an unchanged segment keeps its
  // byte alignment, a changed one maps every output byte to the whole segment.
  std::size_t begin = 0;
  char32_t previous = 0;
  auto flush = [&](std::size_t end) {
    if (end == begin) return;
    std::string_view piece(text_.data() + begin, end - begin);
    std::string out = unicode::normalize(piece, form);
    if (out == piece) {
      align.insert(align.end(), align_.begin() + begin, align_.begin() + end);
    } else {
      // As HF aligns: when the segment does not grow (composition), output characters
      // take the alignment of the input characters in order; when it grows
      // (decomposition), every output character takes the whole segment's.
      std::vector<Offsets> inputs;
      for (std::size_t i = begin; i < end;) {
        int n = unicode::sequence_length(static_cast<unsigned char>(text_[i]));
        inputs.push_back({align_[i].start, align_[i + n - 1].end});
        i += n;
      }
      std::size_t outputs = 0;
      for (std::size_t i = 0; i < out.size();
           i += unicode::sequence_length(static_cast<unsigned char>(out[i])))
        ++outputs;
      std::size_t k = 0;
      for (std::size_t i = 0; i < out.size(); ++k) {
        int n = unicode::sequence_length(static_cast<unsigned char>(out[i]));
        Offsets a = outputs <= inputs.size() ? inputs[k]
                                             : Offsets{align_[begin].start, align_[end - 1].end};
        align.insert(align.end(), n, a);
        i += n;
      }
    }
    text += out;
    begin = end;
  };
  for (std::size_t i = 0; i < text_.size();) {
    int n = 0;
    char32_t c = unicode::decode_at(text_, i, &n);
    if (i > 0 && unicode::starts_segment(previous, c)) flush(i);
    previous = c;
    i += n;
  }
  flush(text_.size());
  text_ = std::move(text);
  align_ = std::move(align);
}

void NormalizedString::replace(const std::vector<Offsets>& ranges, std::string_view content) {
  if (ranges.empty()) return;
  std::string text;
  std::vector<Offsets> align;
  std::size_t at = 0;
  for (const Offsets& r : ranges) {
    text.append(text_, at, r.start - at);
    align.insert(align.end(), align_.begin() + at, align_.begin() + r.start);
    if (r.end > r.start) {
      // HF inserts the replacement after removing the match, so it shares the alignment
      // of the match's last character.
      std::size_t last = r.end - 1;
      while (last > r.start && (static_cast<unsigned char>(text_[last]) & 0xC0) == 0x80) --last;
      Offsets a{align_[last].start, align_[r.end - 1].end};
      text += content;
      align.insert(align.end(), content.size(), a);
    }
    at = r.end;
  }
  text.append(text_, at);
  align.insert(align.end(), align_.begin() + at, align_.end());
  text_ = std::move(text);
  align_ = std::move(align);
}

void NormalizedString::strip(bool left, bool right) {
  std::size_t begin = 0, end = text_.size();
  if (left) {
    while (begin < end) {
      int n = 0;
      if (!unicode::is_whitespace(unicode::decode_at(text_, begin, &n))) break;
      begin += n;
    }
  }
  if (right) {
    while (end > begin) {
      std::size_t k = end - 1;
      while (k > begin && (static_cast<unsigned char>(text_[k]) & 0xC0) == 0x80) --k;
      int n = 0;
      if (!unicode::is_whitespace(unicode::decode_at(text_, k, &n))) break;
      end = k;
    }
  }
  if (begin == 0 && end == text_.size()) return;
  *this = slice(begin, end);
}

}  // namespace emily::tokenizers
