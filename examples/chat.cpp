// Chat with a language model through the public API: load the weights and the
// tokenizer, format the conversation with the model's chat template, and stream the
// reply as it is generated.
//
//   build/examples/chat [MODEL] ["question"]
//
// MODEL is a Hugging Face folder or a .gguf file; without it, the default model
// (`make model`).
#include <iostream>
#include <string>
#include <vector>

#include "emily/default_model.h"
#include "emily/emily.h"
#include "emily/generate.h"
#include "emily/model_tokenizer.h"
#include "emily/models/causal_lm.h"

int main(int argc, char** argv) {
  using namespace emily;
  const std::string path = argc > 1 ? argv[1] : default_model_path();
  const std::string question = argc > 2 ? argv[2] : "What makes a good cup of tea?";
  try {
    // The tokenizer, its eos ids and chat template come from the same file or folder.
    ModelTokenizer text = load_model_tokenizer(path);
    models::LoadOptions load;
    load.device = default_device();  // a GPU when present
    load.dequantize = true;          // expand Q4/Q8 weights once (quantized matmul: later)
    std::unique_ptr<models::CausalLM> model = models::load_causal_lm(path, load);

    std::vector<ChatMessage> chat = {{"system", "You are a concise, friendly assistant."},
                                     {"user", question}};
    std::vector<std::int32_t> prompt = text.encode_chat(chat);

    GenerateOptions options;
    options.max_tokens = 200;
    options.eos_ids = text.eos_ids;
    options.sampling.temperature = 0.3;  // a little variety, still on topic
    options.sampling.top_p = 0.9;
    options.sampling.seed = 42;

    Generator generator(*model, {.tokenizer = text.tokenizer, .mode = std::nullopt});
    std::cout << "> " << question << "\n";
    GenerateResult result = generator.generate(
        {prompt}, options,
        [](std::size_t, std::string_view piece) { std::cout << piece << std::flush; });
    std::cout << "\n\n"
              << result.stats.generated_tokens << " tokens at "
              << result.stats.decode_tokens_per_second() << " tok/s\n";
  } catch (const Error& e) {
    std::cerr << "chat: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
