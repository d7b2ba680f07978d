// Chat templates and tokenizer_config.json. Oracle: transformers' apply_chat_template
// (Jinja2 with trim_blocks/lstrip_blocks) on the templates, conversations and
// add_generation_prompt values of scripts/fixtures/tokenizers.py (chat_templates.jsonl).
// Tolerance: none, the rendered text must be equal, and where the template raises
// Emily must raise ValueError.
#include <gtest/gtest.h>

#include <fstream>

#include "emily/chat_template.h"
#include "emily/json.h"
#include "emily/tokenizer_config.h"
#include "support/testing.h"

namespace {

using emily::ChatMessage;
using emily::ChatTemplate;
namespace json = emily::json;

std::string fixture(const std::string& name) {
  return std::string(EMILY_FIXTURES_DIR) + "/tokenizers/" + name;
}

std::vector<ChatMessage> messages(const json::Value& v) {
  std::vector<ChatMessage> out;
  for (const json::Value& m : v.as_array())
    out.push_back({m["role"].as_string(), m["content"].as_string()});
  return out;
}

TEST(ChatTemplate, RendersAsTransformers) {
  std::ifstream in(fixture("chat_templates.jsonl"));
  ASSERT_TRUE(in.good());
  std::string line;
  std::getline(in, line);
  json::Value sources = json::parse(line)["templates"];
  int rendered = 0, raised = 0;
  while (std::getline(in, line)) {
    json::Value row = json::parse(line);
    const std::string& name = row["template"].as_string();
    SCOPED_TRACE(name + " conversation " + std::to_string(row["conversation"].as_int()) +
                 (row["add_generation_prompt"].as_bool() ? " +generation prompt" : ""));
    ChatTemplate t(sources[name].as_string());
    std::map<std::string, std::string> vars = {{"bos_token", row["bos_token"].as_string()},
                                               {"eos_token", row["eos_token"].as_string()}};
    auto msgs = messages(row["messages"]);
    if (const json::Value* error = row.find("error")) {
      try {
        (void)t.render(msgs, row["add_generation_prompt"].as_bool(), vars);
        ADD_FAILURE() << "expected the template to raise: " << error->as_string();
      } catch (const emily::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find(error->as_string()), std::string::npos) << e.what();
        ++raised;
      }
      continue;
    }
    EXPECT_EQ(t.render(msgs, row["add_generation_prompt"].as_bool(), vars),
              row["text"].as_string());
    ++rendered;
  }
  EXPECT_GE(rendered, 30);
  EXPECT_GE(raised, 4);
}

TEST(ChatTemplate, RefusesWhatItCannotRenderFaithfully) {
  std::vector<ChatMessage> msgs = {{"user", "hi"}};
  EXPECT_EMILY_ERROR(ChatTemplate("{% macro f(x) %}{{ x }}{% endmacro %}{{ f(1) }}"), Unsupported,
                     "chat_template");
  EXPECT_EMILY_ERROR(ChatTemplate("{% set ns = namespace(a=1) %}"), Unsupported, "chat_template");
  // Refused only when the branch that needs it runs: tools are none here.
  ChatTemplate tools("{% if tools %}{{ tools | tojson }}{% endif %}ok");
  EXPECT_EQ(tools.render(msgs, false), "ok");
  ChatTemplate json_filter("{{ messages | tojson }}");
  EXPECT_EMILY_ERROR(json_filter.render(msgs, false), Unsupported, "chat_template");
  ChatTemplate date("{{ strftime_now('%d %b %Y') }}");
  EXPECT_EMILY_ERROR(date.render(msgs, false), Unsupported, "chat_template");
  EXPECT_EMILY_ERROR(ChatTemplate("{% if x %}unterminated"), FormatError, "chat_template");
  EXPECT_EMILY_ERROR(ChatTemplate("{{ 'open"), FormatError, "chat_template");
  // Deep nesting is refused before it can exhaust the stack.
  EXPECT_EMILY_ERROR(
      ChatTemplate("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"),
      FormatError, "chat_template");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_EMILY_ERROR(ChatTemplate(ifs), FormatError, "chat_template");
  ChatTemplate undefined_attr("{{ nothing.role }}");
  EXPECT_EMILY_ERROR(undefined_attr.render(msgs, false), ValueError, "chat_template");
}

TEST(TokenizerConfig, ReadsSpecialTokensAndTemplate) {
  auto c = emily::TokenizerConfig::from_file(fixture("qwen_bpe/tokenizer_config.json"));
  // Values written by the fixture script: eos as an AddedToken object, pad as a string.
  EXPECT_FALSE(c.bos_token.has_value());
  EXPECT_EQ(c.eos_token, "<|im_end|>");
  EXPECT_EQ(c.pad_token, "<|endoftext|>");
  ASSERT_TRUE(c.chat_template.has_value());
  std::vector<ChatMessage> msgs = {{"user", "Hello!"}};
  std::string prompt = c.apply_chat_template(msgs, true);
  EXPECT_EQ(prompt,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "Hello!<|im_end|>\n<|im_start|>assistant\n");

  auto named = emily::TokenizerConfig::from_json(
      R"({"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]})");
  EXPECT_EQ(named.chat_template, "A");
  EXPECT_EQ(named.chat_templates.at("tool_use"), "B");
  EXPECT_EMILY_ERROR(emily::TokenizerConfig::from_json(R"({"eos_token": 3})", "cfg.json"),
                     FormatError, "cfg.json");
  EXPECT_EMILY_ERROR(emily::TokenizerConfig::from_json("{}").apply_chat_template(msgs, true),
                     Unsupported, "chat_template");
}

}  // namespace
