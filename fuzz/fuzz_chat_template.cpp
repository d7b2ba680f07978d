// Chat templates: any text either parses or raises an emily::Error, and a parsed
// template renders a small conversation or raises one (never crashes or hangs).
// seeds: tests/fixtures/tokenizers/qwen_bpe/tokenizer_config.json
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "emily/chat_template.h"
#include "emily/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  std::vector<emily::ChatMessage> messages = {
      {"system", "Be brief."}, {"user", "Hi {{ there }}"}, {"assistant", "Hello"}, {"tool", "1"}};
  try {
    emily::ChatTemplate t(source);
    (void)t.render(messages, true, {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
    (void)t.render({}, false);
  } catch (const emily::Error&) {
  }
  return 0;
}
