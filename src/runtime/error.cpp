#include "emily/error.h"

namespace emily::detail {

std::string concat_message(const char* op, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 16);
  out += '[';
  out += op;
  out += "] ";
  out += body;
  return out;
}

}  // namespace emily::detail
