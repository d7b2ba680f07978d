// Prefill and decode speed of a causal LM through the decode loop (generate.h), the
// numbers behind bench/results/llm.md:
//
//   bench_decode --model PATH [--device cpu|cuda] [--mode eager|native|fuse]
//                [--dtype f32|bf16|f16] [--dequantize] [--prompt-tokens 128]
//                [--new-tokens 128] [--repeats 3] [--stream-ordered] [--unstacked]
//                [--no-queue-ahead]
//
// --stream-ordered launches every GPU kernel in plain stream order, not as a dependent
// launch (backend/cuda/dependent_launch.cuh); --unstacked keeps one product per q/k/v and
// gate/up projection (LoadOptions::stack_projections); --no-queue-ahead makes each decode
// step wait for the host to read the token before it (GeneratorOptions::queue_ahead):
// the befores of before/afters in one build.
// Quantized (GGUF) weights stay packed unless --dequantize, as in `emily generate`;
// --quantized, the old opt-in, is accepted and changes nothing.
//
// The prompt is random token ids (a fixed seed), so no tokenizer is needed and every run
// sees the same work; no EOS stops a row early. One warm-up generation (which traces the
// decode step) precedes the timed ones; the best of --repeats is reported, as JSON.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "emily/emily.h"
#include "emily/generate.h"
#include "emily/models/causal_lm.h"
#ifdef EMILY_HAS_CUDA
#include "backend/cuda/dependent_launch.cuh"
#endif

namespace {

struct Args {
  std::string model, device = "cpu", mode = "native", dtype;
  bool dequantize = false, stream_ordered = false, unstacked = false, no_queue_ahead = false;
  long prompt_tokens = 128, new_tokens = 128, repeats = 3;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_decode: " << why
            << "\nusage: bench_decode --model PATH [--device cpu|cuda] [--mode eager|native|fuse]"
               " [--dtype f32|bf16|f16] [--dequantize] [--prompt-tokens N] [--new-tokens N]"
               " [--repeats N] [--stream-ordered] [--unstacked] [--no-queue-ahead]\n";
  std::exit(2);
}

long positive(const std::string& flag, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v <= 0) usage(flag + " needs a positive integer, got '" + text + "'");
  return v;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--dequantize" || flag == "--quantized") {
      a.dequantize = a.dequantize || flag == "--dequantize";
      continue;
    }
    if (flag == "--stream-ordered" || flag == "--unstacked" || flag == "--no-queue-ahead") {
      (flag == "--unstacked"        ? a.unstacked
       : flag == "--stream-ordered" ? a.stream_ordered
                                    : a.no_queue_ahead) = true;
      continue;
    }
    if (i + 1 >= argc) usage(flag + " needs a value");
    const char* value = argv[++i];
    if (flag == "--model")
      a.model = value;
    else if (flag == "--device")
      a.device = value;
    else if (flag == "--mode")
      a.mode = value;
    else if (flag == "--dtype")
      a.dtype = value;
    else if (flag == "--prompt-tokens")
      a.prompt_tokens = positive(flag, value);
    else if (flag == "--new-tokens")
      a.new_tokens = positive(flag, value);
    else if (flag == "--repeats")
      a.repeats = positive(flag, value);
    else
      usage("unknown flag " + flag);
  }
  if (a.model.empty()) usage("--model is required");
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  using namespace emily;
  Args args = parse(argc, argv);
#ifdef EMILY_HAS_CUDA
  std::optional<cuda::StreamOrderedLaunches> ordered;
  if (args.stream_ordered) ordered.emplace();
#endif

  models::LoadOptions load;
  load.device = parse_device(args.device);
  load.dequantize = args.dequantize;
  load.stack_projections = !args.unstacked;
  if (!args.dtype.empty()) load.dtype = dtype_from_name(args.dtype);
  auto start = std::chrono::steady_clock::now();
  auto model = models::load_causal_lm(args.model, load);
  double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::mt19937 rng(0);
  std::uniform_int_distribution<std::int32_t> token(
      0, static_cast<std::int32_t>(model->config().vocab_size - 1));
  std::vector<std::int32_t> prompt(static_cast<std::size_t>(args.prompt_tokens));
  for (auto& t : prompt) t = token(rng);

  GeneratorOptions gen_options;
  gen_options.mode = parse_compile_mode(args.mode, "--mode");
  gen_options.queue_ahead = !args.no_queue_ahead;
  Generator generator(*model, gen_options);
  GenerateOptions options;
  options.max_tokens = args.new_tokens;

  // Whether the decode step replays as one recorded launch (a CUDA graph), and why not.
  long recordings = 0;
  telemetry::attach("emily.compile.", [&](const telemetry::Event& e) {
    if (e.name == "emily.compile.record.start") ++recordings;
    const std::string* why = e.find("reason");
    if (e.name == "emily.compile.unrecorded" && why)
      std::cerr << "bench_decode: the step is not recorded: " << *why << "\n";
  });
  generator.generate({prompt}, options);  // warm-up: traces the step, fills the pools
  GenerationStats best;
  for (long r = 0; r < args.repeats; ++r) {
    GenerationStats s = generator.generate({prompt}, options).stats;
    if (r == 0 || s.decode_tokens_per_second() > best.decode_tokens_per_second()) best = s;
  }
  std::printf(
      "{\"model\": \"%s\", \"device\": \"%s\", \"mode\": \"%s\", \"dtype\": \"%s\", "
      "\"dequantize\": %s, \"load_seconds\": %.2f, \"prompt_tokens\": %ld, \"new_tokens\": %ld, "
      "\"prefill_tok_s\": %.1f, \"decode_tok_s\": %.1f, \"step_traces\": %zu, "
      "\"recordings\": %ld}\n",
      args.model.c_str(), args.device.c_str(), args.mode.c_str(),
      std::string(name(model->dtype())).c_str(), args.dequantize ? "true" : "false", load_seconds,
      args.prompt_tokens, args.new_tokens, best.prefill_tokens_per_second(),
      best.decode_tokens_per_second(), generator.step_traces(), recordings);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_decode: " << e.what() << "\n";
  return 1;
}
