// A model's tokenizer, eos ids and chat template from a folder or a GGUF file. Oracles:
// TokenizerConfig::apply_chat_template (itself compared with transformers in
// tests/tokenizers), the ids of tests/fixtures/tokenizers/gguf/expected.jsonl (HF
// tokenizers), and the JSON files the tests write.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "emily/default_model.h"
#include "emily/emily.h"
#include "emily/model_tokenizer.h"
#include "emily/tokenizer_config.h"
#include "support/testing.h"

namespace emily {
namespace {

namespace fs = std::filesystem;
const std::string kTokenizers = EMILY_FIXTURES_DIR "/tokenizers";

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("emily_model_tokenizer_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

TEST(ModelTokenizer, FolderGivesTheTemplateAndEosOfTokenizerConfig) {
  const std::string dir = kTokenizers + "/qwen_bpe";
  ModelTokenizer t = load_model_tokenizer(dir);
  TokenizerConfig config = TokenizerConfig::from_file(dir + "/tokenizer_config.json");
  std::vector<ChatMessage> chat = {{"user", "Hi there"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
  EXPECT_EQ(t.format_chat(chat), config.apply_chat_template(chat, true));
  EXPECT_EQ(t.encode_chat(chat), t.tokenizer.encode(t.format_chat(chat), false).ids);
  auto im_end = t.tokenizer.token_to_id("<|im_end|>");
  ASSERT_TRUE(im_end);
  EXPECT_EQ(t.eos_ids, std::vector<std::int32_t>{*im_end});
  // A file inside the folder names the folder.
  EXPECT_EQ(load_model_tokenizer(dir + "/tokenizer.json").format_chat(chat), t.format_chat(chat));
}

TEST(ModelTokenizer, EosIdsJoinGenerationConfigAndConfig) {
  fs::path dir = scratch_dir("eos");
  fs::copy_file(kTokenizers + "/gpt2_bpe/tokenizer.json", dir / "tokenizer.json");
  write(dir / "generation_config.json", R"({"eos_token_id": [5, 7], "do_sample": true})");
  write(dir / "config.json", R"({"eos_token_id": 7, "bos_token_id": 1})");
  ModelTokenizer t = load_model_tokenizer(dir.string());
  EXPECT_EQ(t.eos_ids, (std::vector<std::int32_t>{5, 7}));
  EXPECT_FALSE(t.chat_template);
  EXPECT_EMILY_ERROR(t.format_chat(std::vector<ChatMessage>{{"user", "x"}}), Unsupported, "chat");
  fs::remove_all(dir);
}

TEST(ModelTokenizer, GgufGivesTheIdsOfHfTokenizers) {
  ModelTokenizer t = load_model_tokenizer(kTokenizers + "/gguf/gpt2_bpe.gguf");
  // From expected.jsonl, the first case of gpt2_bpe.gguf.
  EXPECT_EQ(t.encode("Hello world!"), (std::vector<std::int32_t>{552, 330, 79, 345, 428, 1}));
  GgufVocabulary vocab = vocabulary(GgufFile::open(kTokenizers + "/gguf/gpt2_bpe.gguf"));
  if (vocab.eos_id) EXPECT_EQ(t.eos_ids.at(0), *vocab.eos_id);
}

TEST(ModelTokenizer, MissingModelsAreNamed) {
  EXPECT_EMILY_ERROR(load_model_tokenizer("/nonexistent/model"), ValueError, "model_tokenizer");
  fs::path dir = scratch_dir("empty");
  EXPECT_EMILY_ERROR(load_model_tokenizer(dir.string()), ValueError, "model_tokenizer");
  fs::remove_all(dir);
}

// The embedded default model (`make model`); skipped where it is not installed.
TEST(ModelTokenizer, DefaultModelChatsInChatML) {
  if (!fs::exists(default_model_path())) GTEST_SKIP() << "no default model (make model)";
  ModelTokenizer t = load_model_tokenizer(default_model_path());
  // Oracle: the template in the file's metadata, written out by hand for one turn, and
  // the file's eos id (<|im_end|>, 2).
  std::vector<ChatMessage> chat = {{"user", "Hi"}};
  EXPECT_EQ(t.format_chat(chat),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.eos_ids, std::vector<std::int32_t>{2});
  auto ids = t.encode_chat(chat);
  EXPECT_EQ(ids.front(), 1);  // <|im_start|> as one special token
  // SmolLM2's tokenizer splits digits one by one (its tokenizer.json: Digits with
  // individual_digits, then byte-level BPE).
  EXPECT_EQ(t.encode("12345").size(), 5u);
  EXPECT_EQ(t.tokenizer.decode(t.encode("Hello, 2024 world!"), true), "Hello, 2024 world!");
}

}  // namespace
}  // namespace emily
