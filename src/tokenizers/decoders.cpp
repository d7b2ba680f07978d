// Decoders: token strings back to text (byte-level alphabet to bytes, "##" joins, "▁" to
// spaces, <0x..> bytes to characters, ...).
#include "tokenizers/components.h"
#include "tokenizers/fields.h"
#include "tokenizers/regex.h"

namespace emily::tokenizers {
namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  std::string out;
  std::size_t at = 0;
  for (std::size_t hit = s.find(from); hit != std::string::npos; hit = s.find(from, at)) {
    out.append(s, at, hit - at);
    out += to;
    at = hit + from.size();
  }
  out.append(s, at);
  return out;
}

class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      // A token with a character outside the byte alphabet (an added token such as
      // "<|im_start|>" written in other scripts) is taken as it is.
      std::string mapped;
      bool all = true;
      for (std::size_t i = 0; i < t.size();) {
        int n = 0;
        int b = char_to_byte(unicode::decode_at(t, i, &n));
        if (b < 0) {
          all = false;
          break;
        }
        mapped.push_back(static_cast<char>(b));
        i += n;
      }
      bytes += all ? mapped : t;
    }
    tokens.assign(1, unicode::from_utf8_lossy(bytes));
  }
};

class WordPiece : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.rfind(prefix_, 0) == 0) {
          t.erase(0, prefix_.size());
        } else {
          t = " " + t;  // (not insert(0, ...), which trips GCC 12's -Wrestrict)
        }
      }
      if (cleanup_) t = cleanup(std::move(t));
    }
  }

  // BERT's detokenization of English punctuation and contractions.
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> rules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) s = replace_all(std::move(s), from, to);
    return s;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i)
      tokens[i] =
          replace_all(std::move(tokens[i]), replacement_, i == 0 && strip_first_ ? "" : " ");
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::first_invalid_utf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (std::size_t k = 0; k < pending.size(); ++k) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& t : tokens) {
      int b = byte_of(t);
      if (b >= 0) {
        pending.push_back(static_cast<char>(b));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // "<0xAB>" -> 0xAB, anything else -1.
  static int byte_of(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class Strip : public Decoder {
 public:
  Strip(char32_t content, std::size_t start, std::size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<std::pair<std::size_t, char32_t>> chars;  // (byte offset, character)
      for (std::size_t i = 0; i < t.size();) {
        int n = 0;
        chars.emplace_back(i, unicode::decode_at(t, i, &n));
        i += n;
      }
      std::size_t begin = 0, end = chars.size();
      while (begin < std::min(start_, chars.size()) && chars[begin].second == content_) ++begin;
      for (std::size_t k = 0; k < stop_ && end > 0 && chars[end - 1].second == content_; ++k) --end;
      if (end <= begin) {
        t.clear();
        continue;
      }
      std::size_t b = chars[begin].first;
      std::size_t e = end < chars.size() ? chars[end].first : t.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(Regex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      std::size_t at = 0;
      for (const Offsets& m : pattern_.find_all(t)) {
        out.append(t, at, m.start - at);
        out += content_;
        at = m.end;
      }
      out.append(t, at);
      t = std::move(out);
    }
  }

 private:
  Regex pattern_;
  std::string content_;
};

// The end-of-word suffix ("</w>") of BPE vocabularies becomes a space, except at the end.
class BpeSuffix : public Decoder {
 public:
  explicit BpeSuffix(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_all(std::move(tokens[i]), suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& s : steps_) s->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json::Value& v, std::string_view source) {
  const std::string& type = fields::string(v, "type", source);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "WordPiece")
    return std::make_unique<WordPiece>(fields::string_or(v, "prefix", "##", source),
                                       fields::boolean_or(v, "cleanup", true, source));
  if (type == "Metaspace") {
    bool add_prefix_space = fields::boolean_or(v, "add_prefix_space", true, source);
    std::string scheme =
        fields::string_or(v, "prepend_scheme", add_prefix_space ? "always" : "never", source);
    return std::make_unique<Metaspace>(fields::string_or(v, "replacement", "\xE2\x96\x81", source),
                                       scheme != "never");
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    const std::string& content = fields::string(v, "content", source);
    int n = 0;
    if (content.empty() || unicode::sequence_length(static_cast<unsigned char>(content[0])) !=
                               static_cast<int>(content.size()))
      EMILY_THROW(FormatError, std::string(source).c_str(),
                  "Strip decoder content must be one character");
    auto count = [&](const char* key) {
      return static_cast<std::size_t>(
          std::max<std::int64_t>(0, fields::integer_or(v, key, 0, source)));
    };
    return std::make_unique<Strip>(unicode::decode_at(content, 0, &n), count("start"),
                                   count("stop"));
  }
  if (type == "Replace") {
    const json::Value& p = fields::require(v, "pattern", source);
    const json::Value* s = fields::optional(p, "String");
    const json::Value* r = fields::optional(p, "Regex");
    if (s && s->is_string())
      return std::make_unique<Replace>(Regex(Regex::escape(s->as_string()), source),
                                       fields::string(v, "content", source));
    if (r && r->is_string())
      return std::make_unique<Replace>(Regex(r->as_string(), source),
                                       fields::string(v, "content", source));
    EMILY_THROW(FormatError, std::string(source).c_str(),
                "Replace pattern must be {\"String\": ...} or {\"Regex\": ...}");
  }
  if (type == "BPEDecoder")
    return std::make_unique<BpeSuffix>(fields::string_or(v, "suffix", "</w>", source));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const json::Value& step : fields::array(v, "decoders", source))
      steps.push_back(make_decoder(step, source));
    return std::make_unique<Sequence>(std::move(steps));
  }
  EMILY_THROW(Unsupported, std::string(source).c_str(), "decoder type '", type,
              "' is not supported");
}

}  // namespace emily::tokenizers
