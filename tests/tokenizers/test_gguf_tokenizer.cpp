// Tokenizers from GGUF vocabularies. Oracle: HF `tokenizers` on the tokenizer.json each
// vocabulary stands for (scripts/fixtures/tokenizers.py writes the GGUF files with the
// `gguf` package from the trained fixtures and records HF's ids; for the "llama" file
// the merges-from-scores rule is restated there in Python after transformers'
// SentencePiece converter). Tolerance: none, ids and decoded text must be equal.
#include <gtest/gtest.h>

#include <fstream>

#include "emily/gguf.h"
#include "emily/gguf_tokenizer.h"
#include "emily/json.h"
#include "support/testing.h"

namespace {

namespace json = emily::json;

std::string fixture(const std::string& name) {
  return std::string(EMILY_FIXTURES_DIR) + "/tokenizers/gguf/" + name;
}

TEST(GgufTokenizer, EqualsHuggingFaceOnTheEquivalentTokenizerJson) {
  std::ifstream in(fixture("expected.jsonl"));
  ASSERT_TRUE(in.good());
  std::string line;
  int files = 0;
  while (std::getline(in, line)) {
    json::Value row = json::parse(line);
    std::string path = fixture(row["file"].as_string());
    SCOPED_TRACE(path);
    emily::GgufFile f = emily::GgufFile::open(path);
    emily::Tokenizer tok = emily::tokenizer_from_gguf(emily::vocabulary(f), path);
    for (const json::Value& c : row["cases"].as_array()) {
      const std::string& text = c["text"].as_string();
      SCOPED_TRACE("text: " + json::dump(c["text"]));
      emily::Encoding e = tok.encode(text);
      std::vector<std::int32_t> want;
      for (const json::Value& id : c["ids"].as_array())
        want.push_back(static_cast<std::int32_t>(id.as_int()));
      EXPECT_EQ(e.ids, want);
      if (const json::Value* decoded = c.find("decoded"))
        EXPECT_EQ(tok.decode(e.ids), decoded->as_string());
    }
    ++files;
  }
  EXPECT_EQ(files, 3);
}

TEST(GgufTokenizer, UnknownVocabularyKindsAreUnsupported) {
  emily::GgufVocabulary v;
  v.model = "bert";
  v.tokens = {"a"};
  EXPECT_EMILY_ERROR(emily::tokenizer_from_gguf(v, "m.gguf"), Unsupported, "m.gguf");
  v.model = "gpt2";
  v.pre = "some-future-model";
  EXPECT_EMILY_ERROR(emily::tokenizer_from_gguf(v, "m.gguf"), Unsupported, "m.gguf");
  v.model = "llama";  // no scores
  EXPECT_EMILY_ERROR(emily::tokenizer_from_gguf(v, "m.gguf"), FormatError, "m.gguf");
}

}  // namespace
