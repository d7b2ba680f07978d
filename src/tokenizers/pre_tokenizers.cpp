// Pre-tokenizers: cut the normalized text into words the model tokenizes one by one.
#include <string>
#include <vector>

#include "tokenizers/components.h"
#include "tokenizers/fields.h"
#include "tokenizers/regex.h"
#include "tokenizers/split.h"

namespace emily::tokenizers {

const std::string& byte_to_char(unsigned char b) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int next = 256;  // bytes that are not printable take code points from 256 on, in order
    for (int i = 0; i < 256; ++i) {
      bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174);
      unicode::append_utf8(t[i], static_cast<char32_t>(printable ? i : next++));
    }
    return t;
  }();
  return table[b];
}

int char_to_byte(char32_t c) {
  static const std::vector<int> table = [] {
    std::vector<int> t(256 + 68 + 1, -1);
    for (int b = 0; b < 256; ++b) {
      int n = 0;
      const std::string& s = byte_to_char(static_cast<unsigned char>(b));
      t[unicode::decode_at(s, 0, &n)] = b;
    }
    return t;
  }();
  return c < table.size() ? table[c] : -1;
}

namespace {

// The GPT-2 pattern the ByteLevel pre-tokenizer splits with.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Every character for which pred holds, as a match of its own.
template <class P>
std::vector<Offsets> char_matches(const std::string& s, P&& pred) {
  std::vector<Offsets> out;
  for (std::size_t i = 0; i < s.size();) {
    int n = 0;
    char32_t c = unicode::decode_at(s, i, &n);
    if (pred(c)) out.push_back({i, i + n});
    i += n;
  }
  return out;
}

bool is_bert_punctuation(char32_t c) {
  bool ascii = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
  return ascii || unicode::is_punctuation(c);
}

Behavior behavior_of(const json::Value& v, std::string_view fallback, std::string_view source) {
  std::string name = fields::string_or(v, "behavior", fallback, source);
  if (name == "Removed") return Behavior::removed;
  if (name == "Isolated") return Behavior::isolated;
  if (name == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (name == "MergedWithNext") return Behavior::merged_with_next;
  if (name == "Contiguous") return Behavior::contiguous;
  EMILY_THROW(FormatError, std::string(source).c_str(), "unknown split behavior '", name, "'");
}

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex_) regex_ = std::make_unique<Regex>(kGpt2Pattern, "ByteLevel");
  }
  void pre_tokenize(PreTokenized& splits) const override {
    split_each(splits, [&](std::size_t, NormalizedString s) {
      if (add_prefix_space_ && s.str().rfind(' ', 0) != 0) s.prepend(" ");
      if (!use_regex_) return std::vector<NormalizedString>{std::move(s)};
      return split_at(s, regex_->find_all(s.str()), Behavior::isolated);
    });
    for (Split& split : splits) {
      if (split.tokenized) continue;
      // Every byte becomes its alphabet character, aligned with the character it is part of.
      static const std::vector<char32_t> code_points = [] {
        std::vector<char32_t> t(256);
        for (int b = 0; b < 256; ++b) {
          int n = 0;
          t[b] = unicode::decode_at(byte_to_char(static_cast<unsigned char>(b)), 0, &n);
        }
        return t;
      }();
      split.normalized.map_chars([](char32_t c, std::u32string& out) {
        char bytes[4];
        int n = 0;
        if (c < 0x80) {
          bytes[n++] = static_cast<char>(c);
        } else {
          std::string s;
          unicode::append_utf8(s, c);
          for (char b : s) bytes[n++] = b;
        }
        for (int k = 0; k < n; ++k)
          out.push_back(code_points[static_cast<unsigned char>(bytes[k])]);
      });
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
  std::unique_ptr<Regex> regex_;
};

class SplitPattern : public PreTokenizer {
 public:
  SplitPattern(Regex regex, Behavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(PreTokenized& splits) const override {
    split_each(splits, [&](std::size_t, NormalizedString s) {
      return split_at(s, regex_.find_all(s.str()), behavior_, invert_);
    });
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

// Splits on characters: those where `pred` holds are matches, treated per `behavior`.
template <class P>
class CharSplit : public PreTokenizer {
 public:
  CharSplit(P pred, Behavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(PreTokenized& splits) const override {
    split_each(splits, [&](std::size_t, NormalizedString s) {
      return split_at(s, char_matches(s.str(), pred_), behavior_);
    });
  }

 private:
  P pred_;
  Behavior behavior_;
};
template <class P>
std::unique_ptr<PreTokenizer> char_split(P pred, Behavior behavior) {
  return std::make_unique<CharSplit<P>>(pred, behavior);
}

// Runs of word characters and runs of other non-space characters (\w+|[^\w\s]+).
class Whitespace : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenized& splits) const override {
    split_each(splits, [&](std::size_t, NormalizedString s) {
      std::vector<Offsets> runs;
      int current = 0;  // 0 space, 1 word, 2 other
      const std::string& t = s.str();
      for (std::size_t i = 0; i < t.size();) {
        int n = 0;
        char32_t c = unicode::decode_at(t, i, &n);
        int kind = unicode::is_word(c) ? 1 : unicode::is_whitespace(c) ? 0 : 2;
        if (kind != 0 && kind == current) {
          runs.back().end = i + n;
        } else if (kind != 0) {
          runs.push_back({i, i + n});
        }
        current = kind;
        i += n;
      }
      return split_at(s, runs, Behavior::removed, /*invert=*/true);
    });
  }
};

class Bert : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenized& splits) const override {
    split_each(splits, [](std::size_t, NormalizedString s) {
      return split_at(s, char_matches(s.str(), unicode::is_whitespace), Behavior::removed);
    });
    split_each(splits, [](std::size_t, NormalizedString s) {
      return split_at(s, char_matches(s.str(), is_bert_punctuation), Behavior::isolated);
    });
  }
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { always, first, never };
  Metaspace(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void pre_tokenize(PreTokenized& splits) const override {
    split_each(splits, [&](std::size_t, NormalizedString s) {
      s.replace(char_matches(s.str(), [](char32_t c) { return c == ' '; }), replacement_);
      bool starts = s.str().rfind(replacement_, 0) == 0;
      bool at_input_start = s.original(0, s.size()).start == 0;
      if (!starts &&
          (prepend_ == Prepend::always || (prepend_ == Prepend::first && at_input_start)))
        s.prepend(replacement_);
      if (!split_) return std::vector<NormalizedString>{std::move(s)};
      std::vector<Offsets> marks;
      const std::string& t = s.str();
      for (std::size_t at = t.find(replacement_); at != std::string::npos;
           at = t.find(replacement_, at + replacement_.size()))
        marks.push_back({at, at + replacement_.size()});
      return split_at(s, marks, Behavior::merged_with_next);
    });
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(PreTokenized& splits) const override {
    for (const auto& step : steps_) step->pre_tokenize(splits);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

Regex split_pattern(const json::Value& v, std::string_view source) {
  const json::Value& p = fields::require(v, "pattern", source);
  if (const json::Value* s = fields::optional(p, "String"); s && s->is_string())
    return Regex(Regex::escape(s->as_string()), source);
  if (const json::Value* r = fields::optional(p, "Regex"); r && r->is_string())
    return Regex(r->as_string(), source);
  EMILY_THROW(FormatError, std::string(source).c_str(),
              "Split pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json::Value& v, std::string_view source) {
  const std::string& type = fields::string(v, "type", source);
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(fields::boolean_or(v, "add_prefix_space", true, source),
                                       fields::boolean_or(v, "use_regex", true, source));
  if (type == "Split")
    return std::make_unique<SplitPattern>(split_pattern(v, source),
                                          behavior_of(v, "Isolated", source),
                                          fields::boolean_or(v, "invert", false, source));
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return char_split(unicode::is_whitespace, Behavior::removed);
  if (type == "BertPreTokenizer") return std::make_unique<Bert>();
  if (type == "Punctuation")
    return char_split(is_bert_punctuation, behavior_of(v, "Isolated", source));
  if (type == "Digits") {
    bool individual = fields::boolean_or(v, "individual_digits", false, source);
    return char_split(unicode::is_numeric, individual ? Behavior::isolated : Behavior::contiguous);
  }
  if (type == "Metaspace") {
    std::string replacement = fields::string_or(v, "replacement", "\xE2\x96\x81", source);
    if (replacement.empty())
      EMILY_THROW(FormatError, std::string(source).c_str(), "Metaspace replacement is empty");
    bool add_prefix_space = fields::boolean_or(v, "add_prefix_space", true, source);
    std::string scheme =
        fields::string_or(v, "prepend_scheme", add_prefix_space ? "always" : "never", source);
    Metaspace::Prepend prepend =
        scheme == "always"  ? Metaspace::Prepend::always
        : scheme == "first" ? Metaspace::Prepend::first
        : scheme == "never"
            ? Metaspace::Prepend::never
            : throw FormatError("[" + std::string(source) + "] unknown Metaspace prepend_scheme '" +
                                scheme + "'");
    return std::make_unique<Metaspace>(replacement, prepend,
                                       fields::boolean_or(v, "split", true, source));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const json::Value& step : fields::array(v, "pretokenizers", source))
      steps.push_back(make_pre_tokenizer(step, source));
    return std::make_unique<Sequence>(std::move(steps));
  }
  EMILY_THROW(Unsupported, std::string(source).c_str(), "pre-tokenizer type '", type,
              "' is not supported");
}

}  // namespace emily::tokenizers
