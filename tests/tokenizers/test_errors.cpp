// Bad tokenizer files and bad input: each must raise the documented emily::Error kind
// with a message starting with the file (or "tokenizer"), never crash or encode garbage.
#include <gtest/gtest.h>

#include <fstream>

#include "emily/json.h"
#include "emily/tokenizer.h"
#include "support/testing.h"

namespace {

using emily::Tokenizer;

// A valid minimal WordPiece file, with `model` and `extra` spliced in for each case.
std::string file(const std::string& model, const std::string& extra = "") {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": null,
             "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
             "decoder": null, "model": )" +
         model + extra + "}";
}
const std::string kWordPiece =
    R"({"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}})";

TEST(TokenizerErrors, MalformedFilesNameTheFile) {
  EXPECT_NO_THROW(Tokenizer::from_json(file(kWordPiece), "ok.json"));
  EXPECT_EMILY_ERROR(Tokenizer::from_json("{\"model\": ", "cut.json"), FormatError, "cut.json");
  EXPECT_EMILY_ERROR(Tokenizer::from_json("[1, 2]", "array.json"), FormatError, "array.json");
  EXPECT_EMILY_ERROR(Tokenizer::from_json(R"({"normalizer": null})", "nomodel.json"), FormatError,
                     "nomodel.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(file(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]})"),
                           "merge.json"),
      FormatError, "merge.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(file(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a"]})"),
                           "merge1.json"),
      FormatError, "merge1.json");
  EXPECT_EMILY_ERROR(Tokenizer::from_json(
                         file(R"({"type": "BPE", "vocab": {"a": -3}, "merges": []})"), "neg.json"),
                     FormatError, "neg.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(file(R"({"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []})"),
                           "dup.json"),
      FormatError, "dup.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(file(R"({"type": "Unigram", "unk_id": 5, "vocab": [["a", -1.0]]})"),
                           "unk.json"),
      FormatError, "unk.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(file(R"({"type": "Unigram", "vocab": [["a"]]})"), "entry.json"),
      FormatError, "entry.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(file(kWordPiece, R"(, "added_tokens": [{"id": 1}])"), "added.json"),
      FormatError, "added.json");
  std::string bad_regex =
      file(kWordPiece)
          .replace(file(kWordPiece).find(R"({"type": "WhitespaceSplit"})"), 27,
                   R"({"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"})");
  EXPECT_EMILY_ERROR(Tokenizer::from_json(bad_regex, "regex.json"), FormatError, "regex.json");
  EXPECT_EMILY_ERROR(Tokenizer::from_file("/nonexistent/tokenizer.json"), FormatError,
                     "/nonexistent/tokenizer.json");
}

TEST(TokenizerErrors, UnknownComponentsAreUnsupportedNamingTheType) {
  try {
    Tokenizer::from_json(file(R"({"type": "CharLevel", "vocab": {}})"), "t.json");
    FAIL() << "expected Unsupported";
  } catch (const emily::Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("CharLevel"), std::string::npos) << e.what();
  }
  std::string precompiled =
      file(kWordPiece)
          .replace(file(kWordPiece).find(R"("normalizer": null)"), 18,
                   R"("normalizer": {"type": "Precompiled", "precompiled_charsmap": ""})");
  EXPECT_EMILY_ERROR(Tokenizer::from_json(precompiled, "p.json"), Unsupported, "p.json");
  EXPECT_EMILY_ERROR(
      Tokenizer::from_json(
          file(R"({"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []})"), "d.json"),
      Unsupported, "d.json");
}

TEST(TokenizerErrors, BadInputIsRefused) {
  Tokenizer tok = Tokenizer::from_json(file(kWordPiece), "ok.json");
  EXPECT_EMILY_ERROR(tok.encode("a \xFF a"), ValueError, "tokenizer");
  EXPECT_EMILY_ERROR(tok.encode("\xC3"), ValueError, "tokenizer");                // truncated
  EXPECT_EMILY_ERROR(tok.encode("\xED\xA0\x80"), ValueError, "tokenizer");        // surrogate
  EXPECT_EMILY_ERROR(tok.encode_pair("a", "\xC0\xAF"), ValueError, "tokenizer");  // overlong
  std::vector<std::int32_t> ids = {1, 99};
  EXPECT_EMILY_ERROR(tok.decode(ids), ValueError, "tokenizer");
  Tokenizer empty;
  EXPECT_EMILY_ERROR(empty.encode("a"), ValueError, "tokenizer");
  // An unknown word with no usable unk token is an error, not a silent drop.
  Tokenizer no_unk = Tokenizer::from_json(
      file(R"({"type": "WordPiece", "unk_token": "[MISSING]", "vocab": {"a": 0}})"), "n.json");
  EXPECT_EMILY_ERROR(no_unk.encode("b"), ValueError, "tokenizer");
}

}  // namespace
