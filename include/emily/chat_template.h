// Chat templates: the Jinja programs that model repositories ship (tokenizer_config.json's
// "chat_template") to turn a conversation into the prompt text the model was trained on.
//
//   ChatTemplate t(config.chat_template);
//   std::string prompt = t.render({{"system", "Be brief."}, {"user", "Hi"}},
//                                 /*add_generation_prompt=*/true, {{"bos_token", "<s>"}});
//
// Emily interprets the subset of Jinja that chat templates use (text, {{ }}, if/elif/else,
// for with loop.*, set, comparisons, and/or/not, + and ~, subscripts and attributes,
// is defined / is none, the filters trim/length/lower/upper, raise_exception) with the
// whitespace rules transformers sets (trim_blocks, lstrip_blocks), so ChatML (Qwen,
// SmolLM), Llama-3 and their like render exactly as transformers' apply_chat_template.
// A template that needs more (macros, namespace(), tojson, strftime_now, ...) raises
// Unsupported naming the construct, when parsed or when that branch runs: it never
// renders something else instead.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace emily {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

class ChatTemplate {
 public:
  // Parses `source`; a syntax error is FormatError, a construct outside the subset
  // Unsupported (both "[chat_template] ...").
  explicit ChatTemplate(std::string_view source);

  // `variables` are extra string globals (bos_token, eos_token, ...). A template's
  // raise_exception("...") becomes ValueError carrying its message.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                     const std::map<std::string, std::string>& variables = {}) const;

  struct Node;  // the parsed program

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace emily
