// tokenizer_config.json: the special tokens and the chat template that a Hugging Face
// model folder ships next to tokenizer.json.
//
//   TokenizerConfig c = TokenizerConfig::from_file("model/tokenizer_config.json");
//   std::string prompt = c.apply_chat_template({{"user", "Hi"}}, /*add_generation_prompt=*/true);
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "emily/chat_template.h"

namespace emily {

struct TokenizerConfig {
  // Special tokens, given in the file as strings or as AddedToken objects ({"content": ...}).
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token;
  std::optional<std::string> sep_token, cls_token, mask_token;
  // The default chat template, and every named one when the file lists several.
  std::optional<std::string> chat_template;
  std::map<std::string, std::string> chat_templates;

  // Malformed files raise FormatError naming the file. from_file also reads a
  // chat_template.jinja beside the file when the JSON holds no template (newer
  // transformers save it there).
  static TokenizerConfig from_file(const std::string& path);
  static TokenizerConfig from_json(std::string_view text,
                                   std::string_view source_name = "tokenizer_config.json");

  // Renders the default template with the special tokens as variables (as transformers'
  // apply_chat_template does). Unsupported when there is no template or Emily cannot
  // render it faithfully (see chat_template.h).
  std::string apply_chat_template(std::span<const ChatMessage> messages,
                                  bool add_generation_prompt) const;
};

}  // namespace emily
