#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizers/regex.h"

#include <pcre2.h>

#include "emily/error.h"

namespace emily::tokenizers {

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern, std::string_view where) {
  int error = 0;
  PCRE2_SIZE at = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &at, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    EMILY_THROW(FormatError, std::string(where).c_str(), "bad regex '", pattern, "' at offset ", at,
                ": ", reinterpret_cast<const char*>(message));
  }
  compiled_ = std::make_shared<Compiled>();
  compiled_->code = code;
  // JIT is an optimisation only: where it is unavailable the interpreter runs.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#&~ \t\n").find(c) != std::string_view::npos) {
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      if (c == '\t') {
        out += "\\t";
        continue;
      }
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

std::vector<Offsets> Regex::find_all(std::string_view text) const {
  std::vector<Offsets> out;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> owned(data,
                                                                            &pcre2_match_data_free);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    // Input is validated UTF-8 once at the tokenizer's door, so PCRE2 need not re-check
    // it on every call (which would make splitting quadratic).
    int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data,
                         nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      EMILY_THROW(ValueError, "tokenizer",
                  "regex match failed: ", reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* v = pcre2_get_ovector_pointer(data);
    std::size_t b = v[0], e = v[1];
    if (e > b) {
      out.push_back({b, e});
      start = e;
    } else {
      if (b >= text.size()) break;
      start = b + unicode::sequence_length(static_cast<unsigned char>(text[b]));
    }
  }
  return out;
}

}  // namespace emily::tokenizers
