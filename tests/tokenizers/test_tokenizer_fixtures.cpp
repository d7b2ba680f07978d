// Whole tokenizers against the Python `tokenizers` package. Oracle: HF tokenizers 0.23
// (scripts/fixtures/tokenizers.py trains each tokenizer offline on the committed corpus
// and records encode/decode of every line). Tolerance: none, ids, tokens, byte offsets,
// masks and decoded text must be equal.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "emily/json.h"
#include "emily/tokenizer.h"

namespace {

using emily::Encoding;
using emily::Tokenizer;
namespace json = emily::json;

std::string fixture_path(const std::string& relative) {
  return std::string(EMILY_FIXTURES_DIR) + "/tokenizers/" + relative;
}

std::vector<json::Value> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::vector<json::Value> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line, path));
  return rows;
}

template <class T>
std::vector<T> ints(const json::Value& v) {
  std::vector<T> out;
  for (const json::Value& x : v.as_array()) out.push_back(static_cast<T>(x.as_int()));
  return out;
}

std::vector<std::string> strings(const json::Value& v) {
  std::vector<std::string> out;
  for (const json::Value& x : v.as_array()) out.push_back(x.as_string());
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> offsets(const json::Value& v) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const json::Value& x : v.as_array())
    out.emplace_back(x.as_array()[0].as_int(), x.as_array()[1].as_int());
  return out;
}

class Fixture : public ::testing::TestWithParam<std::string> {};

TEST_P(Fixture, EncodeAndDecodeEqualHuggingFace) {
  Tokenizer tok = Tokenizer::from_file(fixture_path(GetParam() + "/tokenizer.json"));
  auto rows = read_jsonl(fixture_path(GetParam() + "/expected.jsonl"));
  ASSERT_GT(rows.size(), 50u);
  for (const json::Value& row : rows) {
    const std::string& text = row["text"].as_string();
    const json::Value* pair = row.find("pair");
    SCOPED_TRACE("text: " + json::dump(row["text"]) + (pair ? " pair: " + json::dump(*pair) : ""));
    Encoding e = pair ? tok.encode_pair(text, pair->as_string()) : tok.encode(text);
    EXPECT_EQ(e.ids, ints<std::int32_t>(row["ids"]));
    EXPECT_EQ(e.tokens, strings(row["tokens"]));
    EXPECT_EQ(e.offsets, offsets(row["offsets"]));
    EXPECT_EQ(e.type_ids, ints<std::int32_t>(row["type_ids"]));
    EXPECT_EQ(e.special_tokens_mask, ints<std::uint8_t>(row["special_tokens_mask"]));
    EXPECT_EQ(tok.encode(text, false).ids, ints<std::int32_t>(row["ids_plain"]));
    EXPECT_EQ(tok.decode(e.ids), row["decoded"].as_string());
    EXPECT_EQ(tok.decode(e.ids, true), row["decoded_skip"].as_string());
  }
}

TEST_P(Fixture, BatchPaddingAndTruncationEqualHuggingFace) {
  Tokenizer base = Tokenizer::from_file(fixture_path(GetParam() + "/tokenizer.json"));
  for (const json::Value& row : read_jsonl(fixture_path(GetParam() + "/batches.jsonl"))) {
    Tokenizer tok = base;
    emily::Direction side =
        row["direction"].as_string() == "left" ? emily::Direction::left : emily::Direction::right;
    tok.set_truncation(
        emily::Truncation{static_cast<std::size_t>(row["max_length"].as_int()), side});
    emily::Padding pad;
    pad.direction = side;
    pad.multiple_of = static_cast<std::size_t>(row["multiple_of"].as_int());
    pad.pad_id = static_cast<std::int32_t>(row["pad_id"].as_int());
    pad.pad_token = row["pad_token"].as_string();
    tok.set_padding(pad);
    std::vector<std::string> texts = strings(row["texts"]);
    SCOPED_TRACE("direction " + row["direction"].as_string() + " max_length " +
                 std::to_string(row["max_length"].as_int()));
    std::vector<Encoding> got = tok.encode_batch(texts);
    ASSERT_EQ(got.size(), texts.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].ids, ints<std::int32_t>(row["ids"][i])) << "text " << i;
      EXPECT_EQ(got[i].attention_mask, ints<std::uint8_t>(row["attention_mask"][i]))
          << "text " << i;
      EXPECT_EQ(got[i].special_tokens_mask, ints<std::uint8_t>(row["special_tokens_mask"][i]))
          << "text " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Fixture,
                         ::testing::Values("gpt2_bpe", "qwen_bpe", "bert_wordpiece", "unigram",
                                           "llama2_bpe"));

}  // namespace
