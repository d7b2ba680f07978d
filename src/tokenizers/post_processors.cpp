// Post-processors: the special tokens around a sequence or pair ([CLS] A [SEP] B [SEP]).
#include <unordered_map>

#include "tokenizers/components.h"
#include "tokenizers/fields.h"

namespace emily::tokenizers {
namespace {

void append_token(Encoding& e, std::int32_t id, std::string token, std::int32_t type_id) {
  e.ids.push_back(id);
  e.tokens.push_back(std::move(token));
  e.offsets.emplace_back(0, 0);
  e.type_ids.push_back(type_id);
  e.special_tokens_mask.push_back(1);
  e.attention_mask.push_back(1);
}

void append_sequence(Encoding& e, const Encoding& s, std::optional<std::int32_t> type_id) {
  e.ids.insert(e.ids.end(), s.ids.begin(), s.ids.end());
  e.tokens.insert(e.tokens.end(), s.tokens.begin(), s.tokens.end());
  e.offsets.insert(e.offsets.end(), s.offsets.begin(), s.offsets.end());
  if (type_id) {
    e.type_ids.insert(e.type_ids.end(), s.size(), *type_id);
  } else {
    e.type_ids.insert(e.type_ids.end(), s.type_ids.begin(), s.type_ids.end());
  }
  e.special_tokens_mask.insert(e.special_tokens_mask.end(), s.special_tokens_mask.begin(),
                               s.special_tokens_mask.end());
  e.attention_mask.insert(e.attention_mask.end(), s.attention_mask.begin(), s.attention_mask.end());
}

// Byte-level offsets cover the spaces a token starts with ("Ġworld"); trimming moves them
// onto the word. One Ġ is one byte of input.
void trim_byte_level_offsets(Encoding& e, bool add_prefix_space) {
  static const std::string space = byte_to_char(' ');
  for (std::size_t i = 0; i < e.size(); ++i) {
    const std::string& t = e.tokens[i];
    auto is_space = [&](std::size_t at, int* n) {
      if (t.compare(at, space.size(), space) == 0) {
        *n = static_cast<int>(space.size());
        return true;
      }
      return unicode::is_whitespace(unicode::decode_at(t, at, n));
    };
    std::size_t leading = 0, at = 0;
    int n = 0;
    while (at < t.size() && is_space(at, &n)) ++leading, at += n;
    // Counted over the whole token, independently: an all-space token has both.
    std::size_t trailing = 0;
    for (std::size_t end = t.size(); end > 0;) {
      std::size_t k = end - 1;
      while (k > 0 && (static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) --k;
      if (!is_space(k, &n)) break;
      ++trailing;
      end = k;
    }
    auto& [start, stop] = e.offsets[i];
    if (leading > 0) {
      bool first = i == 0 || start == 0;
      if (first && add_prefix_space && leading == 1) leading = 0;  // the space it added
      start = std::min(start + leading, stop);
    }
    if (trailing > 0 && stop >= trailing) stop = std::max(stop - trailing, start);
  }
}

class Template : public PostProcessor {
 public:
  struct Piece {
    bool special;
    std::string name;  // special token name, or "A"/"B"
    std::int32_t type_id;
  };
  struct Special {
    std::vector<std::int32_t> ids;
    std::vector<std::string> tokens;
  };

  Template(std::vector<Piece> single, std::vector<Piece> pair,
           std::unordered_map<std::string, Special> specials)
      : single_(std::move(single)), pair_(std::move(pair)), specials_(std::move(specials)) {}

  std::size_t added_tokens(bool pair) const override {
    std::size_t n = 0;
    for (const Piece& p : pair ? pair_ : single_)
      if (p.special) n += specials_.at(p.name).ids.size();
    return n;
  }

  void process(std::vector<Encoding>& encodings, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    Encoding out;
    for (const Piece& p : encodings.size() == 2 ? pair_ : single_) {
      if (p.special) {
        const Special& s = specials_.at(p.name);
        for (std::size_t k = 0; k < s.ids.size(); ++k)
          append_token(out, s.ids[k], s.tokens[k], p.type_id);
      } else {
        std::size_t which = p.name == "A" ? 0 : 1;
        if (which < encodings.size()) append_sequence(out, encodings[which], p.type_id);
      }
    }
    encodings.assign(1, std::move(out));
  }

 private:
  std::vector<Piece> single_, pair_;
  std::unordered_map<std::string, Special> specials_;
};

// BERT ([CLS] A [SEP] B [SEP], B with type id 1) and RoBERTa (<s> A </s> </s> B </s>).
class Bracketing : public PostProcessor {
 public:
  struct Named {
    std::string token;
    std::int32_t id;
  };
  Bracketing(Named cls, Named sep, bool roberta, bool trim_offsets, bool add_prefix_space)
      : cls_(std::move(cls)),
        sep_(std::move(sep)),
        roberta_(roberta),
        trim_offsets_(trim_offsets),
        add_prefix_space_(add_prefix_space) {}

  std::size_t added_tokens(bool pair) const override { return pair ? (roberta_ ? 4 : 3) : 2; }

  void process(std::vector<Encoding>& encodings, bool add_special_tokens) const override {
    if (roberta_ && trim_offsets_)
      for (Encoding& e : encodings) trim_byte_level_offsets(e, add_prefix_space_);
    if (!add_special_tokens) return;
    Encoding out;
    append_token(out, cls_.id, cls_.token, 0);
    append_sequence(out, encodings[0], 0);
    append_token(out, sep_.id, sep_.token, 0);
    if (encodings.size() == 2) {
      std::int32_t type = roberta_ ? 0 : 1;
      if (roberta_) append_token(out, sep_.id, sep_.token, type);
      append_sequence(out, encodings[1], type);
      append_token(out, sep_.id, sep_.token, type);
    }
    encodings.assign(1, std::move(out));
  }

 private:
  Named cls_, sep_;
  bool roberta_, trim_offsets_, add_prefix_space_;
};

class ByteLevelOffsets : public PostProcessor {
 public:
  ByteLevelOffsets(bool trim_offsets, bool add_prefix_space)
      : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  std::size_t added_tokens(bool) const override { return 0; }
  void process(std::vector<Encoding>& encodings, bool) const override {
    if (!trim_offsets_) return;
    for (Encoding& e : encodings) trim_byte_level_offsets(e, add_prefix_space_);
  }

 private:
  bool trim_offsets_, add_prefix_space_;
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  std::size_t added_tokens(bool pair) const override {
    std::size_t n = 0;
    for (const auto& s : steps_) n += s->added_tokens(pair);
    return n;
  }
  void process(std::vector<Encoding>& encodings, bool add_special_tokens) const override {
    for (const auto& s : steps_) s->process(encodings, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::vector<Template::Piece> template_pieces(const json::Value& v, std::string_view key,
                                             std::string_view source) {
  std::vector<Template::Piece> out;
  for (const json::Value& p : fields::array(v, key, source)) {
    if (const json::Value* s = fields::optional(p, "SpecialToken")) {
      out.push_back({true, fields::string(*s, "id", source),
                     static_cast<std::int32_t>(fields::integer_or(*s, "type_id", 0, source))});
    } else if (const json::Value* q = fields::optional(p, "Sequence")) {
      std::string id = fields::string(*q, "id", source);
      if (id != "A" && id != "B")
        EMILY_THROW(FormatError, std::string(source).c_str(), "template sequence id '", id,
                    "' must be A or B");
      out.push_back(
          {false, id, static_cast<std::int32_t>(fields::integer_or(*q, "type_id", 0, source))});
    } else {
      EMILY_THROW(FormatError, std::string(source).c_str(), "template piece in '", key,
                  "' is neither SpecialToken nor Sequence");
    }
  }
  return out;
}

Bracketing::Named named(const json::Value& v, std::string_view key, std::string_view source) {
  const json::Value& f = fields::require(v, key, source);
  if (!f.is_array() || f.size() != 2 || !f.as_array()[0].is_string())
    EMILY_THROW(FormatError, std::string(source).c_str(), "'", key, "' must be [token, id]");
  return {f.as_array()[0].as_string(), fields::id(f.as_array()[1], key, source)};
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json::Value& v, std::string_view source) {
  const std::string& type = fields::string(v, "type", source);
  if (type == "TemplateProcessing") {
    std::unordered_map<std::string, Template::Special> specials;
    const json::Value& table = fields::require(v, "special_tokens", source);
    if (!table.is_object())
      EMILY_THROW(FormatError, std::string(source).c_str(), "special_tokens must be an object");
    for (const json::Member& m : table.as_object()) {
      Template::Special s;
      for (const json::Value& id : fields::array(m.value, "ids", source))
        s.ids.push_back(fields::id(id, "special token id", source));
      for (const json::Value& t : fields::array(m.value, "tokens", source)) {
        if (!t.is_string())
          EMILY_THROW(FormatError, std::string(source).c_str(), "special token must be a string");
        s.tokens.push_back(t.as_string());
      }
      if (s.ids.size() != s.tokens.size())
        EMILY_THROW(FormatError, std::string(source).c_str(), "special token '", m.key, "' has ",
                    s.ids.size(), " ids but ", s.tokens.size(), " tokens");
      specials.emplace(m.key, std::move(s));
    }
    auto single = template_pieces(v, "single", source);
    auto pair = fields::optional(v, "pair") ? template_pieces(v, "pair", source) : single;
    for (const auto* list : {&single, &pair})
      for (const Template::Piece& p : *list)
        if (p.special && !specials.count(p.name))
          EMILY_THROW(FormatError, std::string(source).c_str(), "template names special token '",
                      p.name, "' missing from special_tokens");
    return std::make_unique<Template>(std::move(single), std::move(pair), std::move(specials));
  }
  if (type == "BertProcessing")
    return std::make_unique<Bracketing>(named(v, "cls", source), named(v, "sep", source), false,
                                        false, false);
  if (type == "RobertaProcessing")
    return std::make_unique<Bracketing>(named(v, "cls", source), named(v, "sep", source), true,
                                        fields::boolean_or(v, "trim_offsets", true, source),
                                        fields::boolean_or(v, "add_prefix_space", true, source));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelOffsets>(
        fields::boolean_or(v, "trim_offsets", true, source),
        fields::boolean_or(v, "add_prefix_space", true, source));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (const json::Value& step : fields::array(v, "processors", source))
      steps.push_back(make_post_processor(step, source));
    return std::make_unique<Sequence>(std::move(steps));
  }
  EMILY_THROW(Unsupported, std::string(source).c_str(), "post-processor type '", type,
              "' is not supported");
}

}  // namespace emily::tokenizers
