// The text side of a model: its tokenizer, the ids that end a reply and its chat
// template, found wherever the model keeps them.
//
//   ModelTokenizer t = load_model_tokenizer("SmolLM2-135M-Instruct.Q4_1.gguf");
//   std::vector<std::int32_t> ids = t.encode_chat({{"user", "Hi"}});
//
// A Hugging Face folder holds tokenizer.json, and beside it tokenizer_config.json
// (special tokens, chat template), generation_config.json and config.json (eos ids). A
// GGUF file carries all of it in its metadata (tokenizer.ggml.*, tokenizer.chat_template).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emily/chat_template.h"
#include "emily/tokenizer.h"

namespace emily {

struct ModelTokenizer {
  Tokenizer tokenizer;
  // Every id that ends a reply: generation_config.json's and config.json's eos ids and
  // tokenizer_config.json's eos_token (GGUF: the eos and end-of-turn ids), without repeats.
  std::vector<std::int32_t> eos_ids;
  std::optional<ChatTemplate> chat_template;
  // Strings the template reads besides the messages (bos_token, eos_token, ...).
  std::map<std::string, std::string> template_variables;
  std::string source;  // the path it came from, for messages
  // Why chat_template is empty although the model ships one (a construct Emily does not
  // render); plain prompts still work.
  std::string chat_template_problem;

  // The conversation as the model was trained to see it. Unsupported naming the source
  // when the model has no chat template.
  std::string format_chat(std::span<const ChatMessage> messages,
                          bool add_generation_prompt = true) const;
  // Plain text with the tokenizer's special tokens (a BOS where the model wants one).
  std::vector<std::int32_t> encode(std::string_view text) const;
  // A formatted conversation: the template writes its own special tokens, so the
  // tokenizer adds none (as transformers' apply_chat_template(tokenize=True) does).
  std::vector<std::int32_t> encode_chat(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt = true) const;
};

// From a model folder (or a file inside one) or a .gguf file. FormatError or the
// loaders' errors naming the file; ValueError when the path holds no tokenizer.
ModelTokenizer load_model_tokenizer(const std::string& path);

}  // namespace emily
