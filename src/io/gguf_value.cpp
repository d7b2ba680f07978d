// GGUF metadata values: typed reads and printing.
#include <limits>
#include <sstream>

#include "emily/gguf.h"
#include "io/utf8.h"

namespace emily {

namespace {

constexpr const char* kWhere = "gguf";

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;  // clang 14 does not deduce aggregates yet

bool integer_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8:
    case GgufValueType::i8:
    case GgufValueType::u16:
    case GgufValueType::i16:
    case GgufValueType::u32:
    case GgufValueType::i32:
    case GgufValueType::u64:
    case GgufValueType::i64:
      return true;
    default:
      return false;
  }
}

bool float_type(GgufValueType t) {
  return t == GgufValueType::f32 || t == GgufValueType::f64;
}

std::string type_text(const GgufValue& v) {
  std::string s(name(v.type()));
  if (v.is_array()) s += std::string(" of ") + std::string(name(v.element_type()));
  return s;
}

[[noreturn]] void wrong_type(const GgufValue& v, const char* wanted) {
  EMILY_THROW(FormatError, kWhere, "value is ", type_text(v), ", not ", wanted);
}

// Strings print quoted; well-formed UTF-8 stays as it is, and control characters and
// bytes that are not UTF-8 print as \xNN, so a listing of a vocabulary never writes
// raw control or broken bytes to a terminal.
void quote(std::ostream& os, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  os << '"';
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0x80 ? io::utf8_sequence_length(std::string_view(s).substr(i)) : 1;
    if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) n = 0;  // C1 controls
    if (c == '"' || c == '\\') {
      os << '\\' << c;
    } else if (n > 1 || (c >= 0x20 && c < 0x7f)) {
      os.write(s.data() + i, static_cast<std::streamsize>(n));
    } else {
      n = 1;
      os << "\\x" << hex[c >> 4] << hex[c & 15];
    }
    i += n;
  }
  os << '"';
}

template <class T>
std::int64_t checked_int(T value) {
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      EMILY_THROW(FormatError, kWhere, "value ", value, " does not fit a signed 64-bit integer");
  }
  return static_cast<std::int64_t>(value);
}

}  // namespace

std::string_view name(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8:
      return "u8";
    case GgufValueType::i8:
      return "i8";
    case GgufValueType::u16:
      return "u16";
    case GgufValueType::i16:
      return "i16";
    case GgufValueType::u32:
      return "u32";
    case GgufValueType::i32:
      return "i32";
    case GgufValueType::f32:
      return "f32";
    case GgufValueType::bool_:
      return "bool";
    case GgufValueType::string:
      return "string";
    case GgufValueType::array:
      return "array";
    case GgufValueType::u64:
      return "u64";
    case GgufValueType::i64:
      return "i64";
    case GgufValueType::f64:
      return "f64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const {
  return integer_type(type_);
}

bool GgufValue::is_float() const {
  return float_type(type_);
}

std::size_t GgufValue::size() const {
  return std::visit(Overloaded{[](const std::string&) -> std::size_t { return 1; },
                               [](const auto& x) -> std::size_t {
                                 if constexpr (requires { x.size(); })
                                   return x.size();
                                 else
                                   return 1;
                               }},
                    storage_);
}

std::int64_t GgufValue::as_int() const {
  if (!is_integer()) wrong_type(*this, "an integer");
  if (auto* u = std::get_if<std::uint64_t>(&storage_)) return checked_int(*u);
  return std::get<std::int64_t>(storage_);
}

std::uint64_t GgufValue::as_uint() const {
  if (!is_integer()) wrong_type(*this, "an integer");
  if (auto* u = std::get_if<std::uint64_t>(&storage_)) return *u;
  std::int64_t s = std::get<std::int64_t>(storage_);
  if (s < 0) EMILY_THROW(FormatError, kWhere, "value ", s, " is negative");
  return static_cast<std::uint64_t>(s);
}

double GgufValue::as_float() const {
  if (!is_float()) wrong_type(*this, "a float");
  return std::get<double>(storage_);
}

bool GgufValue::as_bool() const {
  if (type_ != GgufValueType::bool_) wrong_type(*this, "a bool");
  return std::get<std::uint64_t>(storage_) != 0;
}

const std::string& GgufValue::as_string() const {
  if (type_ != GgufValueType::string) wrong_type(*this, "a string");
  return std::get<std::string>(storage_);
}

std::vector<std::int64_t> GgufValue::as_ints() const {
  if (!is_array() || !(integer_type(element_type_) || element_type_ == GgufValueType::bool_))
    wrong_type(*this, "an array of integers");
  if (auto* s = std::get_if<std::vector<std::int64_t>>(&storage_)) return *s;
  const auto& u = std::get<std::vector<std::uint64_t>>(storage_);
  std::vector<std::int64_t> out;
  out.reserve(u.size());
  for (std::uint64_t x : u) out.push_back(checked_int(x));
  return out;
}

std::vector<double> GgufValue::as_floats() const {
  if (!is_array() || !float_type(element_type_)) wrong_type(*this, "an array of floats");
  return std::get<std::vector<double>>(storage_);
}

const std::vector<std::string>& GgufValue::as_strings() const {
  if (!is_array() || element_type_ != GgufValueType::string)
    wrong_type(*this, "an array of strings");
  return std::get<std::vector<std::string>>(storage_);
}

const std::vector<GgufValue>& GgufValue::as_arrays() const {
  if (!is_array() || element_type_ != GgufValueType::array) wrong_type(*this, "an array of arrays");
  return std::get<std::vector<GgufValue>>(storage_);
}

std::string to_string(const GgufValue& v, std::size_t max_elements) {
  std::ostringstream os;
  os.precision(std::numeric_limits<double>::max_digits10);
  // A float element prints as the file's type would (f32 with 9 digits is exact).
  auto put_float = [&](double x) {
    if (v.element_type() == GgufValueType::f32)
      os << static_cast<float>(x);
    else
      os << x;
  };
  auto put_scalar = [&](const auto& x) {
    using T = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<T, std::string>) {
      quote(os, x);
    } else if constexpr (std::is_same_v<T, double>) {
      put_float(x);
    } else if (v.element_type() == GgufValueType::bool_) {
      os << (x ? "true" : "false");
    } else {
      os << x;
    }
  };
  if (!v.is_array()) {
    os << name(v.type()) << ' ';
    std::visit(Overloaded{[&](const std::uint64_t& x) { put_scalar(x); },
                          [&](const std::int64_t& x) { put_scalar(x); },
                          [&](const double& x) { put_scalar(x); },
                          [&](const std::string& x) { put_scalar(x); }, [](const auto&) {}},
               v.storage());
    return os.str();
  }
  os << "array[" << v.size() << "] of " << name(v.element_type()) << " [";
  std::visit(
      Overloaded{[](const std::uint64_t&) {}, [](const std::int64_t&) {}, [](const double&) {},
                 [](const std::string&) {},
                 [&](const auto& elements) {
                   std::size_t n = std::min(elements.size(), max_elements);
                   for (std::size_t i = 0; i < n; ++i) {
                     if (i) os << ", ";
                     if constexpr (std::is_same_v<std::decay_t<decltype(elements[i])>, GgufValue>)
                       os << to_string(elements[i], max_elements);
                     else
                       put_scalar(elements[i]);
                   }
                   if (n < elements.size()) os << (n ? ", ..." : "...");
                 }},
      v.storage());
  os << ']';
  return os.str();
}

}  // namespace emily
