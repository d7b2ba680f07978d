#include "generate/text_stream.h"

#include <algorithm>
#include <span>
#include <string_view>

namespace emily::generate_detail {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// The length of the longest suffix of `text` that is a proper prefix of `stop`.
std::size_t partial_match(std::string_view text, std::string_view stop) {
  std::size_t longest = std::min(text.size(), stop.size() - 1);
  for (std::size_t n = longest; n > 0; --n)
    if (text.substr(text.size() - n) == stop.substr(0, n)) return n;
  return 0;
}

}  // namespace

TextStream::TextStream(const Tokenizer& tokenizer, const std::vector<std::string>& stop_strings)
    : tokenizer_(&tokenizer), stop_strings_(&stop_strings) {}

std::string TextStream::decode(std::size_t begin, std::size_t end) const {
  std::span<const std::int32_t> ids(ids_.data() + begin, end - begin);
  return tokenizer_->decode(ids, /*skip_special_tokens=*/true);
}

std::string TextStream::push(std::int32_t id) {
  if (stopped_) return {};
  ids_.push_back(id);
  std::string before = decode(prefix_offset_, read_offset_);
  std::string after = decode(prefix_offset_, ids_.size());
  // An unfinished character (or a special token, which decodes to nothing) waits for
  // the next token.
  if (after.size() <= before.size() || std::string_view(after).ends_with(kReplacement))
    return release(false);
  // Decoders are prefix-stable for the tokenizers Emily reads, but a cut inside a
  // character would hand out invalid UTF-8 if one were not, so the cut moves forward.
  std::size_t cut = before.size();
  while (cut < after.size() && is_continuation(static_cast<unsigned char>(after[cut]))) ++cut;
  text_.append(after, cut, std::string::npos);
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return release(false);
}

std::string TextStream::finish() {
  if (stopped_) return {};
  if (read_offset_ < ids_.size()) {
    std::string before = decode(prefix_offset_, read_offset_);
    std::string after = decode(prefix_offset_, ids_.size());
    std::size_t cut = before.size();
    while (cut < after.size() && is_continuation(static_cast<unsigned char>(after[cut]))) ++cut;
    if (cut < after.size()) text_.append(after, cut, std::string::npos);
    prefix_offset_ = read_offset_ = ids_.size();
  }
  return release(true);
}

// Hands out text_ from sent_ up to the first stop string (ending the row), or up to
// where a stop string might be starting; `final` releases everything.
std::string TextStream::release(bool final) {
  std::size_t stop_at = std::string::npos;
  for (const std::string& stop : *stop_strings_) {
    if (stop.empty()) continue;
    // Only text not yet handed out can hold a new match (an earlier one would have
    // stopped the row), and a match may begin up to stop.size() - 1 bytes before it.
    std::size_t from = sent_ >= stop.size() - 1 ? sent_ - (stop.size() - 1) : 0;
    std::size_t at = text_.find(stop, from);
    if (at != std::string::npos) stop_at = std::min(stop_at, at);
  }
  std::size_t end = text_.size();
  if (stop_at != std::string::npos) {
    text_.resize(stop_at);
    stopped_ = true;
    end = stop_at;
  } else if (!final) {
    std::size_t hold = 0;
    for (const std::string& stop : *stop_strings_)
      if (!stop.empty()) hold = std::max(hold, partial_match(text_, stop));
    end = text_.size() - hold;
  }
  if (end <= sent_) return {};
  std::string out = text_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

}  // namespace emily::generate_detail
