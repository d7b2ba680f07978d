// Streamed text: whole UTF-8 characters only, SentencePiece spaces as a whole decode
// gives them, stop strings cut before they start. Oracles: the text that was encoded
// (byte-level tokens, one per byte, so every multi-byte character is split), the
// tokenizer's decode of the whole sequence (checked against HF in tests/tokenizers), and
// an unconstrained generation for stop strings in the decode loop.
#include <gtest/gtest.h>

#include "emily/emily.h"
#include "emily/generate.h"
#include "emily/json.h"
#include "generate/text_stream.h"
#include "support/testing.h"
#include "toy_model.h"

namespace emily {
namespace {

using generate_detail::TextStream;

// GPT-2's byte-to-character table: printable bytes stand for themselves, the others
// for the characters from U+0100 on.
std::string byte_char(int b) {
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
  int code = b;
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174))) ++n;
    code = 256 + n;
  }
  std::string s;
  if (code < 0x80) {
    s += static_cast<char>(code);
  } else {
    s += static_cast<char>(0xC0 | (code >> 6));
    s += static_cast<char>(0x80 | (code & 0x3F));
  }
  return s;
}

// Byte-level BPE without merges: token id b is byte b.
Tokenizer byte_tokenizer() {
  json::Value vocab = json::Object{};
  for (int b = 0; b < 256; ++b) vocab.set(byte_char(b), b);
  json::Value spec = json::Object{};
  json::Value model = json::Object{};
  model.set("type", "BPE");
  model.set("vocab", vocab);
  model.set("merges", json::Array{});
  json::Value pre = json::Object{};
  pre.set("type", "ByteLevel");
  pre.set("add_prefix_space", false);
  pre.set("use_regex", false);
  json::Value decoder = json::Object{};
  decoder.set("type", "ByteLevel");
  spec.set("model", model);
  spec.set("pre_tokenizer", pre);
  spec.set("decoder", decoder);
  return Tokenizer::from_spec(spec, "byte_tokenizer");
}

// Whether `s` is well-formed UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int n = 0;
    std::uint32_t cp = c;
    if (c >= 0x80) {
      if ((c & 0xE0) == 0xC0)
        n = 1, cp = c & 0x1F;
      else if ((c & 0xF0) == 0xE0)
        n = 2, cp = c & 0x0F;
      else if ((c & 0xF8) == 0xF0)
        n = 3, cp = c & 0x07;
      else
        return false;
    }
    if (i + n >= s.size()) return false;  // the character runs past the end
    for (int k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const std::uint32_t shortest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < shortest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// The index just past the character that starts at `i`.
std::size_t next_char(const std::string& s, std::size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

std::vector<std::string> stream_all(TextStream& stream, const std::vector<std::int32_t>& ids) {
  std::vector<std::string> pieces;
  for (std::int32_t id : ids) pieces.push_back(stream.push(id));
  pieces.push_back(stream.finish());
  return pieces;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string s;
  for (const auto& p : pieces) s += p;
  return s;
}

TEST(TextStream, MultiByteCharactersComeOutWhole) {
  Tokenizer tok = byte_tokenizer();
  const std::string text =
      "a\xE2\x82\xAC"
      "b\xF0\x9F\x98\x80 c \xC3\xA9!";  // a€b😀 c é!
  auto ids = tok.encode(text, false).ids;
  ASSERT_EQ(ids.size(), text.size());  // one token per byte: € is three tokens
  std::vector<std::string> stops;
  TextStream stream(tok, stops);
  auto pieces = stream_all(stream, ids);
  for (const auto& p : pieces) EXPECT_TRUE(valid_utf8(p)) << "piece of " << p.size() << " bytes";
  EXPECT_EQ(pieces[1], "");              // first byte of €: held back
  EXPECT_EQ(pieces[2], "");              // second byte
  EXPECT_EQ(pieces[3], "\xE2\x82\xAC");  // third: the whole character
  EXPECT_EQ(joined(pieces), text);
  EXPECT_EQ(stream.text(), text);
}

TEST(TextStream, SentencePieceSpacesMatchAWholeDecode) {
  Tokenizer tok = Tokenizer::from_file(EMILY_FIXTURES_DIR "/tokenizers/llama2_bpe/tokenizer.json");
  const std::string text = "Hello world, how are you?  Fine \xE2\x98\x83 thanks";  // ☃
  auto ids = tok.encode(text, false).ids;
  std::vector<std::string> stops;
  TextStream stream(tok, stops);
  auto pieces = stream_all(stream, ids);
  for (const auto& p : pieces) EXPECT_TRUE(valid_utf8(p));
  EXPECT_EQ(joined(pieces), tok.decode(ids, true));
}

TEST(TextStream, StopStringCutsTheTextBeforeIt) {
  Tokenizer tok = byte_tokenizer();
  std::vector<std::string> stops = {"END", "now!"};
  TextStream stream(tok, stops);
  auto ids = tok.encode("say END now", false).ids;
  std::string out;
  for (std::size_t i = 0; i < ids.size() && !stream.stopped(); ++i) {
    std::string piece = stream.push(ids[i]);
    if (i == 4 || i == 5) EXPECT_EQ(piece, "") << "\"E\" and \"EN\" may start a stop string";
    out += piece;
  }
  out += stream.finish();
  EXPECT_TRUE(stream.stopped());
  EXPECT_EQ(out, "say ");
  EXPECT_EQ(stream.text(), "say ");
}

TEST(TextStream, HeldTextIsReleasedWhenNoStopFollows) {
  Tokenizer tok = byte_tokenizer();
  std::vector<std::string> stops = {"ENDX"};
  TextStream stream(tok, stops);
  auto pieces = stream_all(stream, tok.encode("say END now", false).ids);
  EXPECT_FALSE(stream.stopped());
  EXPECT_EQ(joined(pieces), "say END now");
}

// The decode loop streams whole characters per row, and its text is the row's text.
TEST(TextStream, GenerationStreamsValidTextPerRow) {
  Tokenizer tok = byte_tokenizer();
  testing::ToyLM model(256, 16, 3);
  Generator gen(model, {.tokenizer = tok, .mode = std::nullopt});
  GenerateOptions o;
  o.max_tokens = 40;
  o.sampling.seed = 9;
  o.sampling.temperature = 1.5;
  std::vector<std::string> streamed(3);
  auto result = gen.generate({{104, 105}, {65}, {200, 201, 202}}, o,
                             [&](std::size_t row, std::string_view piece) {
                               EXPECT_TRUE(valid_utf8(piece));
                               streamed[row] += piece;
                             });
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(streamed[r], result.rows[r].text);
    EXPECT_EQ(result.rows[r].text, tok.decode(result.rows[r].tokens, true));
  }
}

TEST(TextStream, GenerationStopsAtAStopString) {
  Tokenizer tok = Tokenizer::from_file(EMILY_FIXTURES_DIR "/tokenizers/gpt2_bpe/tokenizer.json");
  testing::ToyLM model(static_cast<std::int64_t>(tok.vocab_size()), 16, 5);
  Generator gen(model, {.tokenizer = tok, .mode = std::nullopt});
  GenerateOptions o;
  o.max_tokens = 30;
  o.sampling.temperature = 0;
  auto free_run = gen.generate({{10, 20, 30}}, o).rows[0];
  const std::string& full = free_run.text;
  // Two characters from the middle of the free run's text become the stop string.
  std::size_t at = full.size() / 2;
  while (at > 0 && (static_cast<unsigned char>(full[at]) & 0xC0) == 0x80) --at;
  const std::string stop = full.substr(at, next_char(full, next_char(full, at)) - at);
  ASSERT_FALSE(stop.empty());
  o.stop_strings = {stop};
  std::string streamed;
  auto row =
      gen.generate({{10, 20, 30}}, o, [&](std::size_t, std::string_view p) { streamed += p; })
          .rows[0];
  EXPECT_EQ(row.finish, FinishReason::stop_string);
  EXPECT_EQ(row.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(streamed, row.text);
  EXPECT_LT(row.tokens.size(), free_run.tokens.size());
}

}  // namespace
}  // namespace emily
