// Token ids to streamed text, one token at a time, for one row of a generation.
//
// Decoding each token alone goes wrong twice: a character split over several byte
// tokens decodes to U+FFFD pieces, and SentencePiece decoders strip the leading space of
// the first token they see. So the stream decodes a short window of recent tokens twice
// (with and without the newest ones) and hands out the difference, and only once it no
// longer ends in U+FFFD. Text that could be the start of a stop string is held back too,
// until it is known not to be one; a completed stop string ends the row, and the text
// stops right before it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emily/tokenizer.h"

namespace emily::generate_detail {

class TextStream {
 public:
  TextStream(const Tokenizer& tokenizer, const std::vector<std::string>& stop_strings);

  // Adds one token; returns the text that became final (possibly empty), always whole
  // UTF-8 characters.
  std::string push(std::int32_t id);
  // No more tokens: whatever was held back (an unfinished character decodes to U+FFFD).
  std::string finish();

  bool stopped() const { return stopped_; }  // a stop string completed
  const std::string& text() const { return text_; }

 private:
  std::string decode(std::size_t begin, std::size_t end) const;
  std::string release(bool final);

  const Tokenizer* tokenizer_;
  const std::vector<std::string>* stop_strings_;
  std::vector<std::int32_t> ids_;
  std::size_t prefix_offset_ = 0;  // the window starts here
  std::size_t read_offset_ = 0;    // tokens before this one are already in text_
  std::string text_;               // decoded so far (possibly ending in a held stop prefix)
  std::size_t sent_ = 0;           // bytes of text_ already handed out
  bool stopped_ = false;
};

}  // namespace emily::generate_detail
