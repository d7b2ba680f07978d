// `emily generate`: load a model and its tokenizer, then stream a reply to one prompt or
// chat turn by turn on stdin. Text goes to stdout; progress and rates to stderr, so the
// reply can be piped on its own. Bad flags are usage errors (exit 2) naming the flag.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "emily/default_model.h"
#include "emily/emily.h"
#include "emily/generate.h"
#include "emily/model_tokenizer.h"
#include "emily/models/causal_lm.h"

namespace emily::cli {

namespace {

constexpr const char* kUsage =
    "usage: emily generate [--model PATH] (--prompt TEXT | --chat) [options]\n"
    "\n"
    "  --model PATH          HF folder (config.json, safetensors, tokenizer.json) or .gguf\n"
    "                        file; default: $EMILY_DEFAULT_MODEL, else SmolLM2-135M-Instruct\n"
    "                        in ~/.cache/emily/models (`make model` installs it)\n"
    "  --prompt TEXT         one user turn (chat template applied when the model has one)\n"
    "  --chat                read user turns from stdin, one per line, keeping the conversation\n"
    "  --system TEXT         a system message first\n"
    "  --raw                 the prompt as plain text, without the chat template\n"
    "  --max-tokens N        per reply (default 256)\n"
    "  --temperature T       0 is greedy (default 0.7)\n"
    "  --top-k K             0 is off (default 0)\n"
    "  --top-p P             in (0, 1] (default 0.9)\n"
    "  --min-p P             in [0, 1] (default 0)\n"
    "  --repetition-penalty R  > 0, 1 is off (default 1)\n"
    "  --seed S              sampling seed (default: random)\n"
    "  --stop TEXT           stop before this text (repeatable)\n"
    "  --device cpu|cuda     default: EMILY_DEVICE, else the GPU when present, else cpu\n"
    "  --mode eager|native|fuse  how the decode step runs (default native)\n"
    "  --dtype f32|bf16|f16  activations and weights (default: the file's; GGUF: f32)\n"
    "  --dequantize          expand quantized (GGUF) weights to --dtype once at load; by\n"
    "                        default they stay packed and run quantized kernels, which read\n"
    "                        4-8x fewer bytes per token (--quantized, the old opt-in, is\n"
    "                        still accepted and changes nothing)\n";

struct UsageError {
  std::string message;
};

struct Args {
  std::string model;
  std::optional<std::string> prompt, system;
  bool chat = false, raw = false, dequantize = false;
  GenerateOptions generate;
  std::optional<Device> device;
  std::optional<CompileMode> mode;
  std::optional<DType> dtype;
  bool seeded = false;
};

template <class T>
T parse_number(const std::string& flag, const std::string& text, const char* what) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty())
    throw UsageError{flag + " expects " + what + ", got '" + text + "'"};
  return value;
}

void require(bool ok, const std::string& flag, const char* what, const std::string& text) {
  if (!ok) throw UsageError{flag + " expects " + what + ", got '" + text + "'"};
}

Args parse(int argc, char** argv) {
  Args a;
  a.generate.max_tokens = 256;
  a.generate.sampling.temperature = 0.7;
  a.generate.sampling.top_p = 0.9;
  for (int i = 0; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
      return argv[++i];
    };
    SamplingOptions& s = a.generate.sampling;
    if (flag == "--model") {
      a.model = value();
    } else if (flag == "--prompt") {
      a.prompt = value();
    } else if (flag == "--system") {
      a.system = value();
    } else if (flag == "--chat") {
      a.chat = true;
    } else if (flag == "--raw") {
      a.raw = true;
    } else if (flag == "--dequantize") {
      a.dequantize = true;
    } else if (flag == "--quantized") {
      // The default since quantized kernels landed; kept so older scripts still run.
    } else if (flag == "--max-tokens") {
      std::string v = value();
      a.generate.max_tokens = parse_number<std::int64_t>(flag, v, "an integer >= 1");
      require(a.generate.max_tokens >= 1, flag, "an integer >= 1", v);
    } else if (flag == "--temperature") {
      std::string v = value();
      s.temperature = parse_number<double>(flag, v, "a number >= 0");
      require(s.temperature >= 0 && std::isfinite(s.temperature), flag, "a number >= 0", v);
    } else if (flag == "--top-k") {
      std::string v = value();
      s.top_k = parse_number<std::int64_t>(flag, v, "an integer >= 0");
      require(s.top_k >= 0, flag, "an integer >= 0", v);
    } else if (flag == "--top-p") {
      std::string v = value();
      s.top_p = parse_number<double>(flag, v, "a number in (0, 1]");
      require(s.top_p > 0 && s.top_p <= 1, flag, "a number in (0, 1]", v);
    } else if (flag == "--min-p") {
      std::string v = value();
      s.min_p = parse_number<double>(flag, v, "a number in [0, 1]");
      require(s.min_p >= 0 && s.min_p <= 1, flag, "a number in [0, 1]", v);
    } else if (flag == "--repetition-penalty") {
      std::string v = value();
      s.repetition_penalty = parse_number<double>(flag, v, "a number > 0");
      require(s.repetition_penalty > 0 && std::isfinite(s.repetition_penalty), flag, "a number > 0",
              v);
    } else if (flag == "--seed") {
      s.seed = parse_number<std::uint64_t>(flag, value(), "an unsigned integer");
      a.seeded = true;
    } else if (flag == "--stop") {
      std::string v = value();
      require(!v.empty(), flag, "a non-empty text", v);
      a.generate.stop_strings.push_back(v);
    } else if (flag == "--device") {
      std::string v = value();
      try {
        a.device = parse_device(v);
      } catch (const Error&) {
        throw UsageError{flag + " expects cpu, cuda or cuda:N, got '" + v + "'"};
      }
    } else if (flag == "--mode") {
      std::string v = value();
      try {
        a.mode = parse_compile_mode(v, "--mode");
      } catch (const Error&) {
        throw UsageError{flag + " expects eager, native or fuse, got '" + v + "'"};
      }
    } else if (flag == "--dtype") {
      std::string v = value();
      if (v == "f32")
        a.dtype = DType::f32;
      else if (v == "bf16")
        a.dtype = DType::bf16;
      else if (v == "f16")
        a.dtype = DType::f16;
      else
        throw UsageError{flag + " expects f32, bf16 or f16, got '" + v + "'"};
    } else {
      throw UsageError{"unknown flag '" + flag + "'"};
    }
  }
  if (a.prompt && a.chat) throw UsageError{"--prompt and --chat exclude each other"};
  if (!a.prompt && !a.chat) throw UsageError{"give --prompt TEXT or --chat"};
  if (!a.seeded) a.generate.sampling.seed = std::random_device{}();
  return a;
}

std::string percent(double fraction) {
  return std::to_string(static_cast<int>(fraction * 100 + 0.5)) + "%";
}

// Loading progress on stderr: one line rewritten in place on a terminal, else each
// stage named once (a log should not fill with percentages).
class Progress {
 public:
  Progress() : tty_(isatty(STDERR_FILENO)) {}
  void show(const std::string& stage, std::optional<double> fraction = std::nullopt) {
    if (tty_) {
      std::cerr << "\r\033[K" << stage << (fraction ? " " + percent(*fraction) : "") << std::flush;
      open_ = true;
    } else if (stage != last_) {
      std::cerr << stage << "...\n";
      last_ = stage;
    }
  }
  void done(const std::string& line) {
    if (open_) std::cerr << "\r\033[K";
    std::cerr << line << "\n";
    open_ = false;
  }

 private:
  bool tty_;
  bool open_ = false;
  std::string last_;
};

std::string rate(double tokens, double seconds) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << (seconds > 0 ? tokens / seconds : 0.0) << " tok/s";
  return os.str();
}

void report(const GenerationStats& s) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << "prompt: " << s.prompt_tokens << " tokens in "
     << s.prefill_seconds << " s (" << rate(double(s.prompt_tokens), s.prefill_seconds)
     << "); generation: " << s.generated_tokens << " tokens, " << s.decode_tokens << " in "
     << s.decode_seconds << " s (" << rate(double(s.decode_tokens), s.decode_seconds) << ")";
  std::cerr << os.str() << "\n";
}

}  // namespace

int generate(int argc, char** argv) {
  if (argc == 1 && (std::string(argv[0]) == "--help" || std::string(argv[0]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "emily generate: " << e.message << "\n\n" << kUsage;
    return 2;
  }
  const bool named = !args.model.empty();
  if (!named) args.model = default_model_path();
  if (!std::filesystem::exists(args.model)) {
    std::cerr << "emily generate: no model at " << args.model << "\n"
              << (named ? ""
                        : "  (run `make model` to install the default model, or give "
                          "--model PATH, or set EMILY_DEFAULT_MODEL)\n");
    return 1;
  }

  // The library's default device stays the CPU without EMILY_DEVICE (docs/ARCHITECTURE.md,
  // Decisions), but a user asking for text wants the GPU when there is one.
  auto generation_device = [] {
    if (std::getenv("EMILY_DEVICE") || cuda_device_count() == 0) return default_device();
    return Device::cuda(0);
  };
  try {
    Progress progress;
    const auto start = std::chrono::steady_clock::now();
    progress.show("loading tokenizer");
    ModelTokenizer text = load_model_tokenizer(args.model);
    models::LoadOptions load;
    load.device = args.device.value_or(generation_device());
    load.dtype = args.dtype;
    load.dequantize = args.dequantize;
    load.progress = [&](std::string_view stage, double fraction) {
      progress.show("loading " + std::string(stage), fraction);
    };
    std::unique_ptr<models::CausalLM> model = models::load_causal_lm(args.model, load);
    const double load_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    {
      const DecoderConfig& c = model->config();
      std::ostringstream os;
      os << std::fixed << std::setprecision(2) << "loaded " << args.model << " (" << c.model_type
         << ", " << c.num_hidden_layers << " layers, " << to_string(model->device()) << ", "
         << name(model->dtype()) << ") in " << load_seconds << " s";
      progress.done(os.str());
    }

    GenerateOptions options = args.generate;
    options.eos_ids = text.eos_ids;
    for (std::int64_t id : model->config().eos_token_ids)
      if (std::find(options.eos_ids.begin(), options.eos_ids.end(), id) == options.eos_ids.end())
        options.eos_ids.push_back(static_cast<std::int32_t>(id));
    Generator generator(*model, {.tokenizer = text.tokenizer, .mode = args.mode});
    auto stream = [](std::size_t, std::string_view piece) { std::cout << piece << std::flush; };

    std::vector<ChatMessage> messages;
    if (args.system) messages.push_back({"system", *args.system});
    const bool templated = !args.raw && text.chat_template.has_value();
    if (args.chat && !templated) {
      std::cerr << "emily generate: --chat needs a chat template, which " << args.model
                << " does not have"
                << (text.chat_template_problem.empty()
                        ? ""
                        : " in a form Emily renders: " + text.chat_template_problem)
                << "\n";
      return 1;
    }

    auto reply = [&](const std::string& user) {
      std::vector<std::int32_t> ids;
      if (templated) {
        messages.push_back({"user", user});
        ids = text.encode_chat(messages);
      } else {
        ids = text.encode(user);
      }
      GenerateResult result = generator.generate({ids}, options, stream);
      std::cout << "\n" << std::flush;
      if (templated) messages.push_back({"assistant", result.rows[0].text});
      report(result.stats);
    };

    if (args.prompt) {
      reply(*args.prompt);
      return 0;
    }
    const bool interactive = isatty(STDIN_FILENO);
    std::string line;
    while (true) {
      if (interactive) std::cerr << "> " << std::flush;
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      reply(line);
    }
    return 0;
  } catch (const Error& e) {
    std::cerr << "\nemily generate: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace emily::cli
