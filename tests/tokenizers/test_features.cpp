// One option at a time, on small hand-written tokenizer.json files: BPE merges as pairs
// and strings, fuse_unk, no unk token, continuing-subword prefix, end-of-word suffix,
// added tokens (special, single_word, normalized, lstrip/rstrip), RoBERTa processing with
// offset trimming, WordPiece max_input_chars_per_word with a template, Unigram byte
// fallback. Oracle: the Python `tokenizers` package on the same files and inputs
// (scripts/fixtures/tokenizers.py, features.jsonl). Tolerance: none.
#include <gtest/gtest.h>

#include <fstream>

#include "emily/json.h"
#include "emily/tokenizer.h"

namespace {

namespace json = emily::json;

template <class T>
std::vector<T> ints(const json::Value& v) {
  std::vector<T> out;
  for (const json::Value& x : v.as_array()) out.push_back(static_cast<T>(x.as_int()));
  return out;
}

TEST(Features, EachOptionEqualsHuggingFace) {
  std::string path = std::string(EMILY_FIXTURES_DIR) + "/tokenizers/features.jsonl";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    json::Value row = json::parse(line, path);
    SCOPED_TRACE(row["name"].as_string());
    emily::Tokenizer tok = emily::Tokenizer::from_json(json::dump(row["spec"]), "features.jsonl");
    for (const json::Value& c : row["cases"].as_array()) {
      const std::string& text = c["text"].as_string();
      SCOPED_TRACE("text: " + json::dump(c["text"]));
      const json::Value* pair = c.find("pair");
      emily::Encoding e = pair ? tok.encode_pair(text, pair->as_string()) : tok.encode(text);
      EXPECT_EQ(e.ids, ints<std::int32_t>(c["ids"]));
      std::vector<std::string> tokens;
      for (const json::Value& t : c["tokens"].as_array()) tokens.push_back(t.as_string());
      EXPECT_EQ(e.tokens, tokens);
      EXPECT_EQ(e.type_ids, ints<std::int32_t>(c["type_ids"]));
      if (!pair) {
        std::vector<std::pair<std::size_t, std::size_t>> offsets;
        for (const json::Value& o : c["offsets"].as_array())
          offsets.emplace_back(o.as_array()[0].as_int(), o.as_array()[1].as_int());
        EXPECT_EQ(e.offsets, offsets);
        EXPECT_EQ(tok.decode(e.ids, false), c["decoded"].as_string());
        EXPECT_EQ(tok.decode(e.ids, true), c["decoded_skip"].as_string());
      }
      ++cases;
    }
  }
  EXPECT_GE(cases, 20);
}

}  // namespace
