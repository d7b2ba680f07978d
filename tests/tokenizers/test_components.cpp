// Normalizers, pre-tokenizers and decoders one at a time. Oracle: the Python `tokenizers`
// package's normalize_str / pre_tokenize_str / decode on the committed corpus
// (scripts/fixtures/tokenizers.py, components.jsonl). Tolerance: none, strings and byte
// offsets must be equal.
#include <gtest/gtest.h>

#include <fstream>

#include "emily/error.h"
#include "emily/json.h"
#include "support/testing.h"
#include "tokenizers/components.h"
#include "tokenizers/regex.h"
#include "tokenizers/split.h"

namespace {

namespace json = emily::json;
namespace tk = emily::tokenizers;

std::vector<json::Value> component_rows(const std::string& kind) {
  std::string path = std::string(EMILY_FIXTURES_DIR) + "/tokenizers/components.jsonl";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<json::Value> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json::Value v = json::parse(line, path);
    if (v["kind"].as_string() == kind) rows.push_back(std::move(v));
  }
  return rows;
}

std::vector<std::string> corpus_sample() {
  // The component fixtures use every third corpus line and every line with non-ASCII text.
  std::string path = std::string(EMILY_FIXTURES_DIR) + "/tokenizers/corpus.jsonl";
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  for (std::size_t i = 0; std::getline(in, line);) {
    if (line.empty()) continue;
    std::string text = json::parse(line, path).as_string();
    bool wide = false;
    for (unsigned char c : text) wide |= c >= 0x80;
    if (i % 3 == 0 || wide) out.push_back(text);
    ++i;
  }
  return out;
}

TEST(Normalizers, EqualHuggingFace) {
  auto lines = corpus_sample();
  auto rows = component_rows("normalizer");
  ASSERT_GE(rows.size(), 10u);
  for (const json::Value& row : rows) {
    SCOPED_TRACE(row["name"].as_string());
    auto n = tk::make_normalizer(row["spec"], "components.jsonl");
    const json::Array& outputs = row["outputs"].as_array();
    ASSERT_EQ(outputs.size(), lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      tk::NormalizedString s(lines[i], 0);
      n->normalize(s);
      EXPECT_EQ(s.str(), outputs[i].as_string()) << "input: " << json::dump(lines[i]);
    }
  }
}

TEST(PreTokenizers, PiecesAndOffsetsEqualHuggingFace) {
  auto lines = corpus_sample();
  auto rows = component_rows("pre_tokenizer");
  ASSERT_GE(rows.size(), 10u);
  for (const json::Value& row : rows) {
    SCOPED_TRACE(row["name"].as_string());
    auto p = tk::make_pre_tokenizer(row["spec"], "components.jsonl");
    const json::Array& outputs = row["outputs"].as_array();
    ASSERT_EQ(outputs.size(), lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      tk::PreTokenized splits;
      splits.push_back({tk::NormalizedString(lines[i], 0), {}, false});
      p->pre_tokenize(splits);
      std::vector<std::string> pieces;
      std::vector<std::pair<std::size_t, std::size_t>> offsets;
      for (const tk::Split& s : splits) {
        pieces.push_back(s.normalized.str());
        tk::Offsets o = s.normalized.original(0, s.normalized.size());
        offsets.emplace_back(o.start, o.end);
      }
      std::vector<std::string> want;
      std::vector<std::pair<std::size_t, std::size_t>> want_offsets;
      for (const json::Value& x : outputs[i]["pieces"].as_array()) want.push_back(x.as_string());
      for (const json::Value& x : outputs[i]["offsets"].as_array())
        want_offsets.emplace_back(x.as_array()[0].as_int(), x.as_array()[1].as_int());
      EXPECT_EQ(pieces, want) << "input: " << json::dump(lines[i]);
      EXPECT_EQ(offsets, want_offsets) << "input: " << json::dump(lines[i]);
    }
  }
}

TEST(Decoders, EqualHuggingFace) {
  auto rows = component_rows("decoder");
  ASSERT_GE(rows.size(), 8u);
  for (const json::Value& row : rows) {
    SCOPED_TRACE(row["name"].as_string());
    auto d = tk::make_decoder(row["spec"], "components.jsonl");
    const json::Array& inputs = row["inputs"].as_array();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      std::vector<std::string> tokens;
      for (const json::Value& t : inputs[i].as_array()) tokens.push_back(t.as_string());
      d->decode_chain(tokens);
      std::string text;
      for (const std::string& t : tokens) text += t;
      EXPECT_EQ(text, row["outputs"][i].as_string()) << "tokens " << json::dump(inputs[i]);
    }
  }
}

// Split behaviours on a hand-checkable case: matches of "-" in "a-b--c". Oracle: the rules
// of HF's SplitDelimiterBehavior (a run of matches glues only its edge match; inverted,
// adjacent matches stay separate pieces).
TEST(Split, BehaviorsCutAsDocumented) {
  tk::NormalizedString s("a-b--c", 0);
  std::vector<tk::Offsets> dashes = {{1, 2}, {3, 4}, {4, 5}};
  auto cut = [&](tk::Behavior b, bool invert = false) {
    std::vector<std::string> out;
    for (const auto& piece : tk::split_at(s, dashes, b, invert)) out.push_back(piece.str());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(cut(tk::Behavior::removed), (V{"a", "b", "c"}));
  EXPECT_EQ(cut(tk::Behavior::isolated), (V{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(cut(tk::Behavior::merged_with_previous), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(cut(tk::Behavior::merged_with_next), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(cut(tk::Behavior::contiguous), (V{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(cut(tk::Behavior::removed, true), (V{"-", "-", "-"}));
}

TEST(Regex, UnicodeClassesAndBadPatterns) {
  tk::Regex letters(R"(\p{L}+)", "test");
  auto m = letters.find_all("ab 12 \xC3\xA9t\xC3\xA9 \xE4\xBD\xA0");  // "ab 12 été 你"
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1], (tk::Offsets{6, 11}));
  EXPECT_EMILY_ERROR(tk::Regex("(unclosed", "tokenizer.json"), FormatError, "tokenizer.json");
}

TEST(Components, UnknownTypesAreUnsupported) {
  json::Value spec = json::parse(R"({"type": "Precompiled"})");
  EXPECT_EMILY_ERROR(tk::make_normalizer(spec, "t.json"), Unsupported, "t.json");
  EXPECT_EMILY_ERROR(tk::make_pre_tokenizer(spec, "t.json"), Unsupported, "t.json");
  EXPECT_EMILY_ERROR(tk::make_decoder(spec, "t.json"), Unsupported, "t.json");
  EXPECT_EMILY_ERROR(tk::make_post_processor(spec, "t.json"), Unsupported, "t.json");
  EXPECT_EMILY_ERROR(tk::make_model(spec, "t.json"), Unsupported, "t.json");
  EXPECT_EMILY_ERROR(tk::make_normalizer(json::parse(R"({"lowercase": true})"), "t.json"),
                     FormatError, "t.json");
}

}  // namespace
