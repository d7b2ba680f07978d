#include "emily/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_set>

#include "emily/error.h"
#include "io/utf8.h"

namespace emily::json {

std::string_view name(Kind k) {
  static constexpr std::string_view names[] = {"null",   "boolean", "number",
                                               "string", "array",   "object"};
  return names[static_cast<int>(k)];
}

namespace {

std::string_view article(Kind k) {
  return k == Kind::array || k == Kind::object ? "an " : "a ";
}

[[noreturn]] void wrong_kind(Kind want, Kind got) {
  EMILY_THROW(FormatError, "json", "expected ", article(want), name(want), ", found ", article(got),
              name(got));
}

}  // namespace

Kind Value::kind() const {
  // The variant's order: null, bool, int64, double, string, array, object.
  static constexpr Kind kinds[] = {Kind::null,   Kind::boolean, Kind::number, Kind::number,
                                   Kind::string, Kind::array,   Kind::object};
  return kinds[v_.index()];
}

bool Value::as_bool() const {
  if (auto* b = std::get_if<bool>(&v_)) return *b;
  wrong_kind(Kind::boolean, kind());
}

double Value::as_double() const {
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
  wrong_kind(Kind::number, kind());
}

std::int64_t Value::as_int() const {
  if (auto* i = std::get_if<std::int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_)) {
    EMILY_THROW(FormatError, "json", "expected an integer, found ", *d,
                " (a fraction, an exponent or beyond 64 bits)");
  }
  wrong_kind(Kind::number, kind());
}

const std::string& Value::as_string() const {
  if (auto* s = std::get_if<std::string>(&v_)) return *s;
  wrong_kind(Kind::string, kind());
}

const Array& Value::as_array() const {
  if (auto* a = std::get_if<Array>(&v_)) return *a;
  wrong_kind(Kind::array, kind());
}

const Object& Value::as_object() const {
  if (auto* o = std::get_if<Object>(&v_)) return *o;
  wrong_kind(Kind::object, kind());
}

std::size_t Value::size() const {
  if (auto* a = std::get_if<Array>(&v_)) return a->size();
  if (auto* o = std::get_if<Object>(&v_)) return o->size();
  EMILY_THROW(FormatError, "json", "size of ", article(kind()), name(kind()),
              ": only arrays and objects have one");
}

const Value* Value::find(std::string_view key) const {
  auto* o = std::get_if<Object>(&v_);
  if (!o) return nullptr;
  for (const Member& m : *o) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  const Object& o = as_object();
  for (const Member& m : o) {
    if (m.key == key) return m.value;
  }
  EMILY_THROW(FormatError, "json", "missing key \"", key, "\"");
}

const Value& Value::at(std::size_t index) const {
  const Array& a = as_array();
  if (index >= a.size()) {
    EMILY_THROW(FormatError, "json", "index ", index, " out of range for an array of ", a.size());
  }
  return a[index];
}

void Value::push_back(Value v) {
  if (is_null()) v_ = Array{};
  auto* a = std::get_if<Array>(&v_);
  if (!a) EMILY_THROW(ValueError, "json", "push_back on ", article(kind()), name(kind()));
  a->push_back(std::move(v));
}

Value& Value::set(std::string key, Value v) {
  if (is_null()) v_ = Object{};
  auto* o = std::get_if<Object>(&v_);
  if (!o) EMILY_THROW(ValueError, "json", "set(\"", key, "\") on ", article(kind()), name(kind()));
  for (Member& m : *o) {
    if (m.key == key) return m.value = std::move(v);
  }
  o->push_back(Member{std::move(key), std::move(v)});
  return o->back().value;
}

bool operator==(const Value& a, const Value& b) {
  // Numbers compare by value whichever way they were written (1 == 1.0).
  if (a.is_number() && b.is_number() && a.is_integer() != b.is_integer()) {
    return a.as_double() == b.as_double();
  }
  return a.v_ == b.v_;
}

// ---------------------------------------------------------------------------------------
// Reading

namespace {

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  Value document() {
    // RFC 8259 lets a reader ignore a byte order mark; some editors write one.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    skip_space();
    Value v = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const { fail_at(pos_, what); }

  [[noreturn]] void fail_at(std::size_t at, std::string_view what) const {
    // Line and column are computed only here: the happy path does not count lines.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string source(source_);
    EMILY_THROW(FormatError, source.c_str(), "line ", line, ", column ", column, ": ", what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
    pos_ += word.size();
  }

  Value value(int depth) {
    if (at_end()) fail("unexpected end of input, expected a value");
    switch (text_[pos_]) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return Value(string());
      case 't':
        expect_word("true");
        return Value(true);
      case 'f':
        expect_word("false");
        return Value(false);
      case 'n':
        expect_word("null");
        return Value();
      default:
        return number();
    }
  }

  void check_depth(int depth) {
    if (depth > kMaxDepth) {
      std::ostringstream what;
      what << "nesting deeper than " << kMaxDepth << " levels";
      fail(what.str());
    }
  }

  Value array(int depth) {
    check_depth(depth);
    ++pos_;  // '['
    Array items;
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return Value(std::move(items));
    }
    while (true) {
      skip_space();
      items.push_back(value(depth));
      skip_space();
      char c = peek();
      ++pos_;
      if (c == ']') break;
      if (c != ',') fail_at(pos_ - 1, "expected ',' or ']' in an array");
    }
    return Value(std::move(items));
  }

  Value object(int depth) {
    check_depth(depth);
    std::size_t start = pos_;
    ++pos_;  // '{'
    Object members;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return Value(std::move(members));
    }
    while (true) {
      skip_space();
      if (peek() != '"') fail("expected a string key in an object");
      std::string key = string();
      skip_space();
      if (peek() != ':') fail("expected ':' after an object key");
      ++pos_;
      skip_space();
      members.push_back(Member{std::move(key), value(depth)});
      skip_space();
      char c = peek();
      ++pos_;
      if (c == '}') break;
      if (c != ',') fail_at(pos_ - 1, "expected ',' or '}' in an object");
    }
    check_unique(members, start);
    return Value(std::move(members));
  }

  void check_unique(const Object& members, std::size_t start) const {
    const std::string* dup = nullptr;
    if (members.size() <= 16) {
      for (std::size_t i = 0; i < members.size() && !dup; ++i) {
        for (std::size_t j = i + 1; j < members.size(); ++j) {
          if (members[i].key == members[j].key) {
            dup = &members[i].key;
            break;
          }
        }
      }
    } else {
      // Large objects (a tokenizer's vocabulary) go through a hash set of views of the
      // keys, which stay put: the member vector is complete by now.
      std::unordered_set<std::string_view> seen;
      seen.reserve(members.size());
      for (const Member& m : members) {
        if (!seen.insert(m.key).second) {
          dup = &m.key;
          break;
        }
      }
    }
    if (dup) fail_at(start, "duplicate key \"" + escape_for_message(*dup) + "\" in an object");
  }

  static std::string escape_for_message(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 64)) {
      if (static_cast<unsigned char>(c) < 0x20) {
        out += '?';
      } else {
        out += c;
      }
    }
    if (s.size() > 64) out += "...";
    return out;
  }

  unsigned hex4() {
    if (text_.size() - pos_ < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        fail("invalid hex digit in a \\u escape");
      }
    }
    pos_ += 4;
    return v;
  }

  std::string string() {
    ++pos_;  // '"'
    std::string out;
    while (true) {
      // Copy the plain run up to the next quote, escape, control or non-ASCII byte.
      std::size_t run = pos_;
      while (run < text_.size()) {
        auto c = static_cast<unsigned char>(text_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out.append(text_.data() + pos_, run - pos_);
      pos_ = run;
      if (at_end()) fail("unterminated string");
      auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character in a string (must be escaped)");
      if (c >= 0x80) {
        std::size_t n = io::utf8_sequence_length(text_.substr(pos_));
        if (n == 0) fail("invalid UTF-8 in a string");
        out.append(text_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      escape(out);
    }
  }

  void escape(std::string& out) {
    ++pos_;  // '\\'
    if (at_end()) fail("unterminated string");
    char e = text_[pos_++];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        return;
      case 'b':
        out += '\b';
        return;
      case 'f':
        out += '\f';
        return;
      case 'n':
        out += '\n';
        return;
      case 'r':
        out += '\r';
        return;
      case 't':
        out += '\t';
        return;
      case 'u':
        break;
      default:
        fail_at(pos_ - 2, "invalid escape in a string");
    }
    std::size_t start = pos_ - 2;
    std::uint32_t cp = hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at(start, "lone low surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") fail_at(start, "lone high surrogate in a \\u escape");
      pos_ += 2;
      std::uint32_t low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail_at(start, "high surrogate not followed by a low one");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    io::append_utf8(out, cp);
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  Value number() {
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t n = 0;
      while (!at_end() && is_digit(text_[pos_])) ++pos_, ++n;
      return n;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (is_digit(peek())) fail_at(start, "leading zero in a number");
    } else if (digits() == 0) {
      fail_at(start, "expected a value");
    }
    bool integral = true;
    if (peek() == '.') {
      ++pos_;
      integral = false;
      if (digits() == 0) fail("expected a digit after the decimal point");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      integral = false;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) fail("expected a digit in the exponent");
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integral) {
      std::int64_t i = 0;
      auto [end, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && end == last) return Value(i);
      // Beyond int64: kept as the nearest double, which as_int() refuses.
    }
    double d = 0;
    auto [end, ec] = std::from_chars(first, last, d);
    if (ec == std::errc::result_out_of_range) {
      // from_chars reports both overflow and underflow; underflow is an honest zero.
      if (magnitude_exponent(std::string_view(first, last - first)) < 0) {
        return Value(*first == '-' ? -0.0 : 0.0);
      }
      fail_at(start, "number out of the range of a double");
    }
    if (ec != std::errc() || end != last) fail_at(start, "invalid number");
    return Value(d);
  }

  // The decimal exponent of a number's leading significant digit, roughly (sign only
  // matters): 1e400 and 123...(400 digits) are positive, 1e-400 and 0.000...1 negative.
  static long magnitude_exponent(std::string_view s) {
    if (!s.empty() && s[0] == '-') s.remove_prefix(1);
    std::size_t e = s.find_first_of("eE");
    long exp = 0;
    if (e != std::string_view::npos) {
      std::string_view ex = s.substr(e + 1);
      bool neg = !ex.empty() && ex[0] == '-';
      if (!ex.empty() && (ex[0] == '-' || ex[0] == '+')) ex.remove_prefix(1);
      for (char c : ex) exp = std::min<long>(exp * 10 + (c - '0'), 1L << 40);
      if (neg) exp = -exp;
      s = s.substr(0, e);
    }
    std::size_t dot = s.find('.');
    std::string_view int_part = s.substr(0, dot);
    std::size_t nz = int_part.find_first_not_of('0');
    if (nz != std::string_view::npos) return exp + static_cast<long>(int_part.size() - nz) - 1;
    std::string_view frac = dot == std::string_view::npos ? "" : s.substr(dot + 1);
    std::size_t lead = frac.find_first_not_of('0');
    if (lead == std::string_view::npos) return -1;  // zero
    return exp - static_cast<long>(lead) - 1;
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
};

}  // namespace

Value parse(std::string_view text, std::string_view source_name) {
  return Parser(text, source_name).document();
}

Value parse_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) EMILY_THROW(FormatError, path.c_str(), "cannot open the file");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) EMILY_THROW(FormatError, path.c_str(), "read error");
  return parse(text, path);
}

// ---------------------------------------------------------------------------------------
// Writing

namespace {

void dump_string(const std::string& s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = io::utf8_sequence_length(std::string_view(s).substr(i));
      if (n == 0) EMILY_THROW(ValueError, "json", "dump: string is not valid UTF-8");
      out.append(s, i, n);
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void dump_value(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::null:
      out += "null";
      return;
    case Kind::boolean:
      out += v.as_bool() ? "true" : "false";
      return;
    case Kind::number: {
      char buf[32];
      std::to_chars_result r;
      if (v.is_integer()) {
        r = std::to_chars(buf, buf + sizeof buf, v.as_int());
      } else {
        double d = v.as_double();
        if (!std::isfinite(d)) EMILY_THROW(ValueError, "json", "dump: ", d, " is not JSON");
        // Shortest text that reads back to the same double.
        r = std::to_chars(buf, buf + sizeof buf, d);
      }
      out.append(buf, r.ptr);
      // A double stays a double when read back: 3.0 is written "3.0", not "3".
      if (!v.is_integer() &&
          std::string_view(buf, r.ptr).find_first_of(".e") == std::string_view::npos) {
        out += ".0";
      }
      return;
    }
    case Kind::string:
      dump_string(v.as_string(), out);
      return;
    case Kind::array: {
      out += '[';
      bool first = true;
      for (const Value& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        dump_value(e, out);
      }
      out += ']';
      return;
    }
    case Kind::object: {
      out += '{';
      bool first = true;
      for (const Member& m : v.as_object()) {
        if (!first) out += ',';
        first = false;
        dump_string(m.key, out);
        out += ':';
        dump_value(m.value, out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string dump(const Value& v) {
  std::string out;
  dump_value(v, out);
  return out;
}

}  // namespace emily::json
