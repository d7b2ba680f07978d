// The one exception hierarchy. Every message starts with the op or file in brackets,
// e.g. "[matmul] inner dimensions 3 and 4 differ", so a log line names its source.
#pragma once

#include <stdexcept>
#include <string>

namespace emily {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ShapeError : public Error {
  using Error::Error;
};
class DTypeError : public Error {
  using Error::Error;
};
class DeviceError : public Error {
  using Error::Error;
};
class OutOfMemory : public Error {
  using Error::Error;
};
class FormatError : public Error {
  using Error::Error;
};
class Unsupported : public Error {
  using Error::Error;
};
// A value outside what the op accepts (a negative count, an index out of range).
class ValueError : public Error {
  using Error::Error;
};

namespace detail {
template <class E, class... Args>
[[noreturn]] void raise(const char* op, const Args&... args);
std::string concat_message(const char* op, const std::string& body);
}  // namespace detail

}  // namespace emily

#include <sstream>

namespace emily::detail {
template <class E, class... Args>
[[noreturn]] void raise(const char* op, const Args&... args) {
  std::ostringstream body;
  (body << ... << args);
  throw E(concat_message(op, body.str()));
}
}  // namespace emily::detail

// EMILY_THROW(ShapeError, "matmul", "inner dimensions ", k1, " and ", k2, " differ")
#define EMILY_THROW(Kind, op, ...) ::emily::detail::raise<::emily::Kind>(op, __VA_ARGS__)
#define EMILY_CHECK(cond, Kind, op, ...)             \
  do {                                               \
    if (!(cond)) EMILY_THROW(Kind, op, __VA_ARGS__); \
  } while (0)
