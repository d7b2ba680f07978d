// Encode throughput (bytes/s of UTF-8 input, one thread) on English and code text, for a
// GPT-2-style and a Qwen2-style byte-level BPE and a BERT WordPiece; the inputs and the
// Hugging Face numbers to compare with come from bench/tokenizer_hf.py:
//   python3 bench/tokenizer_hf.py /tmp/tokbench
//   EMILY_TOKENIZER_BENCH_DIR=/tmp/tokbench build/bench/bench_tokenizer
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "emily/tokenizer.h"

namespace {

std::string bench_dir() {
  const char* d = std::getenv("EMILY_TOKENIZER_BENCH_DIR");
  return d ? d : "/tmp/tokbench";
}

bool read(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

void BM_encode(benchmark::State& state, const char* tokenizer, const char* text_name) {
  std::string text;
  if (!read(bench_dir() + "/" + text_name + ".txt", &text)) {
    state.SkipWithError("inputs missing: run python3 bench/tokenizer_hf.py first");
    return;
  }
  emily::Tokenizer tok = emily::Tokenizer::from_file(bench_dir() + "/" + tokenizer + ".json");
  benchmark::DoNotOptimize(tok.encode(text));  // warm-up: fills the word cache, as HF's run does
  std::size_t tokens = 0;
  for (auto _ : state) {
    emily::Encoding e = tok.encode(text);
    tokens = e.size();
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

}  // namespace

BENCHMARK_CAPTURE(BM_encode, gpt2_english, "gpt2", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_encode, gpt2_code, "gpt2", "code")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_encode, qwen2_english, "qwen2", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_encode, qwen2_code, "qwen2", "code")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_encode, bert_english, "bert", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_encode, bert_code, "bert", "code")->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
