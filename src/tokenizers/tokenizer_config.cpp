#include "emily/tokenizer_config.h"

#include <fstream>
#include <sstream>

#include "emily/error.h"
#include "emily/json.h"

namespace emily {
namespace {

std::optional<std::string> special_token(const json::Value& root, std::string_view key,
                                         std::string_view source) {
  const json::Value* v = root.find(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_string()) return v->as_string();
  if (v->is_object()) {
    const json::Value* content = v->find("content");
    if (content != nullptr && content->is_string()) return content->as_string();
  }
  EMILY_THROW(FormatError, std::string(source).c_str(), "'", key,
              "' must be a string or an AddedToken object with a \"content\" string");
}

}  // namespace

TokenizerConfig TokenizerConfig::from_json(std::string_view text, std::string_view source_name) {
  json::Value root = json::parse(text, source_name);
  std::string source(source_name);
  if (!root.is_object()) EMILY_THROW(FormatError, source.c_str(), "expected a JSON object");
  TokenizerConfig c;
  c.bos_token = special_token(root, "bos_token", source);
  c.eos_token = special_token(root, "eos_token", source);
  c.unk_token = special_token(root, "unk_token", source);
  c.pad_token = special_token(root, "pad_token", source);
  c.sep_token = special_token(root, "sep_token", source);
  c.cls_token = special_token(root, "cls_token", source);
  c.mask_token = special_token(root, "mask_token", source);
  if (const json::Value* t = root.find("chat_template"); t != nullptr && !t->is_null()) {
    if (t->is_string()) {
      c.chat_template = t->as_string();
    } else if (t->is_array()) {
      // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
      for (const json::Value& entry : t->as_array()) {
        const json::Value* name = entry.is_object() ? entry.find("name") : nullptr;
        const json::Value* body = entry.is_object() ? entry.find("template") : nullptr;
        if (name == nullptr || body == nullptr || !name->is_string() || !body->is_string())
          EMILY_THROW(FormatError, source.c_str(),
                      "chat_template entries must be {\"name\": ..., \"template\": ...}");
        c.chat_templates[name->as_string()] = body->as_string();
      }
      if (auto it = c.chat_templates.find("default"); it != c.chat_templates.end())
        c.chat_template = it->second;
    } else {
      EMILY_THROW(FormatError, source.c_str(), "chat_template must be a string or a list");
    }
  }
  return c;
}

TokenizerConfig TokenizerConfig::from_file(const std::string& path) {
  auto read = [](const std::string& p, std::string* out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream s;
    s << in.rdbuf();
    *out = s.str();
    return true;
  };
  std::string text;
  if (!read(path, &text)) EMILY_THROW(FormatError, path.c_str(), "cannot read the file");
  TokenizerConfig c = from_json(text, path);
  if (!c.chat_template) {
    std::size_t slash = path.find_last_of('/');
    std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    std::string jinja;
    if (read(folder + "chat_template.jinja", &jinja)) c.chat_template = jinja;
  }
  return c;
}

std::string TokenizerConfig::apply_chat_template(std::span<const ChatMessage> messages,
                                                 bool add_generation_prompt) const {
  if (!chat_template)
    EMILY_THROW(Unsupported, "chat_template", "the tokenizer config has no chat template");
  std::map<std::string, std::string> variables;
  auto put = [&](const char* name, const std::optional<std::string>& v) {
    if (v) variables[name] = *v;
  };
  put("bos_token", bos_token);
  put("eos_token", eos_token);
  put("unk_token", unk_token);
  put("pad_token", pad_token);
  put("sep_token", sep_token);
  put("cls_token", cls_token);
  put("mask_token", mask_token);
  return ChatTemplate(*chat_template).render(messages, add_generation_prompt, variables);
}

}  // namespace emily
