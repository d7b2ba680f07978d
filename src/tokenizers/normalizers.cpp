// Normalizers: rewrite the text before it is split (Unicode forms, case, accents, ...).
#include <string>
#include <vector>

#include "tokenizers/components.h"
#include "tokenizers/fields.h"
#include "tokenizers/regex.h"

namespace emily::tokenizers {
namespace {

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(unicode::Form form) : form_(form) {}
  void normalize(NormalizedString& s) const override { s.normalize(form_); }

 private:
  unicode::Form form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.map_chars([](char32_t c, std::u32string& out) {
      // The one unconditional multi-character lowercase mapping (SpecialCasing.txt).
      if (c == 0x130) {
        out.append({U'i', 0x307});
      } else {
        out.push_back(unicode::to_lower(c));
      }
    });
  }
};

void remove_nonspacing_marks(NormalizedString& s) {
  s.map_chars([](char32_t c, std::u32string& out) {
    if (!unicode::is_mark_nonspacing(c)) out.push_back(c);
  });
}

// Unlike BERT's accent stripping (Mn only), this one drops every combining mark, spacing
// vowel signs (Mc) included, as HF's StripAccents does.
class StripAccents : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.map_chars([](char32_t c, std::u32string& out) {
      if (!unicode::is_mark(c)) out.push_back(c);
    });
  }
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_(chinese),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void normalize(NormalizedString& s) const override {
    if (clean_text_) {
      // Controls (other than tab and newlines) and U+FFFD go; every white space becomes ' '.
      s.map_chars([](char32_t c, std::u32string& out) {
        bool space = c == '\t' || c == '\n' || c == '\r' || unicode::is_whitespace(c);
        if (space) {
          out.push_back(' ');
        } else if (c != 0 && c != 0xFFFD && !unicode::is_other(c)) {
          out.push_back(c);
        }
      });
    }
    if (chinese_) {
      s.map_chars([](char32_t c, std::u32string& out) {
        if (unicode::is_cjk_ideograph(c)) {
          out.append({U' ', c, U' '});
        } else {
          out.push_back(c);
        }
      });
    }
    if (strip_accents_) {
      s.normalize(unicode::Form::nfd);
      remove_nonspacing_marks(s);
    }
    if (lowercase_) Lowercase().normalize(s);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

// A "pattern" field: {"String": literal} or {"Regex": pattern}.
Regex pattern_of(const json::Value& v, std::string_view source) {
  const json::Value& p = fields::require(v, "pattern", source);
  if (const json::Value* s = fields::optional(p, "String"); s && s->is_string())
    return Regex(Regex::escape(s->as_string()), source);
  if (const json::Value* r = fields::optional(p, "Regex"); r && r->is_string())
    return Regex(r->as_string(), source);
  EMILY_THROW(FormatError, std::string(source).c_str(),
              "pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

class Replace : public Normalizer {
 public:
  Replace(Regex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override {
    s.replace(pattern_.find_all(s.str()), content_);
  }

 private:
  Regex pattern_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(NormalizedString& s) const override { s.prepend(prefix_); }

 private:
  std::string prefix_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override { s.strip(left_, right_); }

 private:
  bool left_, right_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& step : steps_) step->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json::Value& v, std::string_view source) {
  const std::string& type = fields::string(v, "type", source);
  if (type == "NFC") return std::make_unique<UnicodeForm>(unicode::Form::nfc);
  if (type == "NFD") return std::make_unique<UnicodeForm>(unicode::Form::nfd);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(unicode::Form::nfkc);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(unicode::Form::nfkd);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "BertNormalizer") {
    bool lowercase = fields::boolean_or(v, "lowercase", true, source);
    return std::make_unique<BertNormalizer>(
        fields::boolean_or(v, "clean_text", true, source),
        fields::boolean_or(v, "handle_chinese_chars", true, source),
        // HF: strip_accents null follows lowercase.
        fields::boolean_or(v, "strip_accents", lowercase, source), lowercase);
  }
  if (type == "Replace")
    return std::make_unique<Replace>(pattern_of(v, source), fields::string(v, "content", source));
  if (type == "Prepend") return std::make_unique<Prepend>(fields::string(v, "prepend", source));
  if (type == "Strip")
    return std::make_unique<Strip>(fields::boolean_or(v, "strip_left", true, source),
                                   fields::boolean_or(v, "strip_right", true, source));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const json::Value& step : fields::array(v, "normalizers", source))
      steps.push_back(make_normalizer(step, source));
    return std::make_unique<Sequence>(std::move(steps));
  }
  EMILY_THROW(Unsupported, std::string(source).c_str(), "normalizer type '", type,
              "' is not supported");
}

}  // namespace emily::tokenizers
