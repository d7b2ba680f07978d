// JSON reader and writer. Any input either parses or raises FormatError; what parses
// dumps without error and reads back equal.
// seeds: tests/fixtures/io/configs/*/*.json tests/fixtures/io/safetensors/sharded/*.json
// dict: fuzz/json.dict
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "emily/error.h"
#include "emily/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  emily::json::Value v;
  try {
    v = emily::json::parse(text, "fuzz");
  } catch (const emily::FormatError&) {
    return 0;
  }
  std::string out = emily::json::dump(v);
  if (!(emily::json::parse(out, "dump") == v)) __builtin_trap();
  return 0;
}
