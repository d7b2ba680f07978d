// config.json into typed configs: FormatError or Unsupported for anything it cannot take,
// and a config that loads prints as JSON.
// seeds: tests/fixtures/io/configs/*/config.json
// dict: fuzz/json.dict
#include <cstddef>
#include <cstdint>
#include <string>

#include "emily/error.h"
#include "emily/json.h"
#include "emily/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    emily::ModelConfig config =
        emily::parse_model_config(emily::json::parse(text, "config.json"), "config.json");
    (void)emily::json::dump(emily::to_json(config));
  } catch (const emily::FormatError&) {
  } catch (const emily::Unsupported&) {
  }
  return 0;
}
