// Reading the fields of a tokenizer.json component: every miss or wrong kind becomes a
// FormatError naming the file and the field, rather than the JSON layer's generic one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "emily/error.h"
#include "emily/json.h"

namespace emily::tokenizers::fields {

inline std::string where(std::string_view source) {
  return std::string(source);
}

inline const json::Value& require(const json::Value& v, std::string_view key,
                                  std::string_view source) {
  const json::Value* f = v.is_object() ? v.find(key) : nullptr;
  if (f == nullptr) EMILY_THROW(FormatError, where(source).c_str(), "missing field '", key, "'");
  return *f;
}

// The field, or nullptr when absent or null.
inline const json::Value* optional(const json::Value& v, std::string_view key) {
  const json::Value* f = v.is_object() ? v.find(key) : nullptr;
  return (f == nullptr || f->is_null()) ? nullptr : f;
}

inline const std::string& string(const json::Value& v, std::string_view key,
                                 std::string_view source) {
  const json::Value& f = require(v, key, source);
  if (!f.is_string())
    EMILY_THROW(FormatError, where(source).c_str(), "field '", key, "' must be a string");
  return f.as_string();
}

inline std::string string_or(const json::Value& v, std::string_view key, std::string_view fallback,
                             std::string_view source) {
  const json::Value* f = optional(v, key);
  if (f == nullptr) return std::string(fallback);
  if (!f->is_string())
    EMILY_THROW(FormatError, where(source).c_str(), "field '", key, "' must be a string");
  return f->as_string();
}

inline bool boolean_or(const json::Value& v, std::string_view key, bool fallback,
                       std::string_view source) {
  const json::Value* f = optional(v, key);
  if (f == nullptr) return fallback;
  if (!f->is_bool())
    EMILY_THROW(FormatError, where(source).c_str(), "field '", key, "' must be true or false");
  return f->as_bool();
}

inline std::int64_t integer(const json::Value& v, std::string_view key, std::string_view source) {
  const json::Value& f = require(v, key, source);
  if (!f.is_integer())
    EMILY_THROW(FormatError, where(source).c_str(), "field '", key, "' must be an integer");
  return f.as_int();
}

inline std::int64_t integer_or(const json::Value& v, std::string_view key, std::int64_t fallback,
                               std::string_view source) {
  const json::Value* f = optional(v, key);
  if (f == nullptr) return fallback;
  if (!f->is_integer())
    EMILY_THROW(FormatError, where(source).c_str(), "field '", key, "' must be an integer");
  return f->as_int();
}

// A token id: an integer in [0, 2^31).
inline std::int32_t id(const json::Value& f, std::string_view what, std::string_view source) {
  if (!f.is_integer() || f.as_int() < 0 || f.as_int() > INT32_MAX)
    EMILY_THROW(FormatError, where(source).c_str(), what, " must be a token id (0 to 2^31-1)");
  return static_cast<std::int32_t>(f.as_int());
}

inline const json::Array& array(const json::Value& v, std::string_view key,
                                std::string_view source) {
  const json::Value& f = require(v, key, source);
  if (!f.is_array())
    EMILY_THROW(FormatError, where(source).c_str(), "field '", key, "' must be an array");
  return f.as_array();
}

}  // namespace emily::tokenizers::fields
