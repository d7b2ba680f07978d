// JSON values: a strict RFC 8259 reader and a compact writer, for the model files
// (safetensors headers, config.json, tokenizer.json). Objects keep their members in file
// order; numbers written as integers stay exact 64-bit integers.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace emily::json {

enum class Kind : std::uint8_t { null, boolean, number, string, array, object };
std::string_view name(Kind k);  // "null", "boolean", ...

struct Member;
class Value;
using Array = std::vector<Value>;
using Object = std::vector<Member>;  // in file order; keys are unique

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Value(T i) : v_(static_cast<std::int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const char* s) : v_(std::string(s)) {}  // not bool, which a pointer would become
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}

  Kind kind() const;
  bool is_null() const { return kind() == Kind::null; }
  bool is_bool() const { return kind() == Kind::boolean; }
  bool is_number() const { return kind() == Kind::number; }
  // A number written without fraction or exponent that fits in int64.
  bool is_integer() const { return std::holds_alternative<std::int64_t>(v_); }
  bool is_string() const { return kind() == Kind::string; }
  bool is_array() const { return kind() == Kind::array; }
  bool is_object() const { return kind() == Kind::object; }

  // Each raises FormatError ("[json] expected a string, found a number") on another kind:
  // a value of the wrong kind is the file's fault.
  bool as_bool() const;
  double as_double() const;     // any number (integers converted)
  std::int64_t as_int() const;  // integers only: 1.0, 1e3 and 2^63 are refused
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // Elements of an array or members of an object.
  std::size_t size() const;
  // Object member, nullptr when absent (or when this is not an object).
  const Value* find(std::string_view key) const;
  // Object member; FormatError naming the key when absent.
  const Value& at(std::string_view key) const;
  const Value& operator[](std::string_view key) const { return at(key); }
  const Value& operator[](const char* key) const { return at(key); }
  // Array element; FormatError when out of range.
  const Value& at(std::size_t index) const;
  const Value& operator[](std::size_t index) const { return at(index); }

  // Builders for writing: append to an array, set (or replace) an object member.
  void push_back(Value v);
  Value& set(std::string key, Value v);

  friend bool operator==(const Value& a, const Value& b);

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_;
};

struct Member {
  std::string key;
  Value value;
  friend bool operator==(const Member&, const Member&) = default;
};

// Nesting deeper than this is refused (a "[[[[..." bomb would otherwise exhaust the stack).
inline constexpr int kMaxDepth = 512;

// Parses one JSON text. Errors are FormatError
// "[<source_name>] line L, column C: what". Strict: UTF-8 is validated (a leading BOM is
// skipped), \u escapes must pair surrogates, duplicate keys in an object are refused (two
// readers could otherwise see two different files), and numbers must be finite doubles.
Value parse(std::string_view text, std::string_view source_name = "json");
// Reads and parses a file; errors name the path.
Value parse_file(const std::string& path);

// Compact text (no spaces), strings escaped; non-ASCII stays UTF-8. ValueError on NaN or
// infinite numbers and on strings that are not valid UTF-8.
std::string dump(const Value& v);

}  // namespace emily::json
