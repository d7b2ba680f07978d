#include "emily/config.h"

#include <cctype>
#include <cstdlib>

#include "emily/error.h"

namespace emily::config {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

Settings load() {
  Settings s;
  s.device = env("EMILY_DEVICE");
  s.compile = env("EMILY_COMPILE");
  if (!s.compile.empty() && s.compile != "eager" && s.compile != "native" && s.compile != "fuse") {
    EMILY_THROW(ValueError, "EMILY_COMPILE", "expected eager, native or fuse, got '", s.compile,
                "'");
  }
  if (auto d = env("EMILY_DUMP_IR"); !d.empty()) {
    if (d != "0" && d != "1")
      EMILY_THROW(ValueError, "EMILY_DUMP_IR", "expected 0 or 1, got '", d, "'");
    s.dump_ir = d == "1";
  }
  if (auto g = env("EMILY_CUDA_GRAPHS"); !g.empty()) {
    if (g != "0" && g != "1")
      EMILY_THROW(ValueError, "EMILY_CUDA_GRAPHS", "expected 0 or 1, got '", g, "'");
    s.cuda_graphs = g == "1";
  }
  if (auto t = env("EMILY_MATMUL_TF32"); !t.empty()) {
    if (t != "0" && t != "1")
      EMILY_THROW(ValueError, "EMILY_MATMUL_TF32", "expected 0 or 1, got '", t, "'");
    s.matmul_tf32 = t == "1";
  }
  // Unset: under the home directory; set but empty would be unset, so "0" turns it off.
  s.kernel_cache = env("EMILY_KERNEL_CACHE");
  if (s.kernel_cache == "0")
    s.kernel_cache.clear();
  else if (s.kernel_cache.empty() && !env("HOME").empty())
    s.kernel_cache = env("HOME") + "/.cache/emily/kernels";
  if (auto f = env("EMILY_FALLBACK"); !f.empty()) s.fallback = parse_fallback(f);
  if (auto n = env("EMILY_NUM_THREADS"); !n.empty()) {
    char* end = nullptr;
    long v = std::strtol(n.c_str(), &end, 10);
    if (end == n.c_str() || *end != '\0' || v < 0 || v > 4096) {
      EMILY_THROW(ValueError, "EMILY_NUM_THREADS", "expected a thread count, got '", n, "'");
    }
    s.num_threads = static_cast<int>(v);
  }
  if (auto c = env("EMILY_CACHE_LIMIT"); !c.empty())
    s.cache_limit = parse_bytes("EMILY_CACHE_LIMIT", c);
  if (auto m = env("EMILY_MEMORY_LIMIT"); !m.empty()) {
    s.memory_limit = parse_bytes("EMILY_MEMORY_LIMIT", m);
  }
  return s;
}
}  // namespace

const Settings& settings() {
  static const Settings s = load();
  return s;
}

std::size_t parse_bytes(const std::string& variable, const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v >= 0)) {
    EMILY_THROW(ValueError, variable.c_str(), "expected a byte count like 512M, got '", text, "'");
  }
  double scale = 1;
  std::string suffix(end);
  if (!suffix.empty()) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    bool ok_tail = suffix.size() == 1 ||
                   (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b')) ||
                   (suffix.size() == 3 && (suffix.substr(1) == "iB"));
    if (c == 'K')
      scale = 1024.0;
    else if (c == 'M')
      scale = 1024.0 * 1024;
    else if (c == 'G')
      scale = 1024.0 * 1024 * 1024;
    else if (c == 'T')
      scale = 1024.0 * 1024 * 1024 * 1024;
    else
      ok_tail = false;
    if (!ok_tail) {
      EMILY_THROW(ValueError, variable.c_str(), "unknown size suffix in '", text,
                  "' (use K, M, G or T)");
    }
  }
  double bytes = v * scale;
  if (bytes > 1.8e19) EMILY_THROW(ValueError, variable.c_str(), "size '", text, "' is too large");
  return static_cast<std::size_t>(bytes);
}

FallbackPolicy parse_fallback(const std::string& text) {
  if (text == "silent") return FallbackPolicy::silent;
  if (text == "warn") return FallbackPolicy::warn;
  if (text == "raise") return FallbackPolicy::raise;
  EMILY_THROW(ValueError, "EMILY_FALLBACK", "expected silent, warn or raise, got '", text, "'");
}

}  // namespace emily::config
