// Model-file reading. safetensors: time from open to the first tensor usable (its first
// element read) for a 500 MB file of 50 bf16 tensors, with the file's pages in the page
// cache (warm) and evicted from it (cold, posix_fadvise DONTNEED on this file only),
// beside reading the whole file into memory, which is what a loader without mmap pays.
// The file is written to /tmp before the benchmarks and removed after them. Also JSON
// parsing speed on a text shaped like a large tokenizer.json.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "emily/emily.h"
#include "emily/json.h"
#include "emily/safetensors.h"

namespace {

using namespace emily;

constexpr int kTensors = 50;
constexpr std::int64_t kRows = 2560, kCols = 2048;  // 10 MiB of bf16 each, 500 MiB in all

std::string bench_file() {
  static const std::string path =
      "/tmp/emily_bench_io_" + std::to_string(getpid()) + ".safetensors";
  return path;
}

void write_file() {
  std::vector<std::uint16_t> bits(kRows * kCols);
  for (std::size_t i = 0; i < bits.size(); ++i)
    bits[i] = static_cast<std::uint16_t>(0x3F80 + i % 64);
  Tensor w = from_blob(bits.data(), {kRows, kCols}, DType::bf16);
  std::map<std::string, Tensor> tensors;
  for (int i = 0; i < kTensors; ++i) tensors["layers." + std::to_string(i) + ".weight"] = w;
  save_safetensors(bench_file(), tensors, {{"format", "pt"}});
}

void evict_file() {
  int fd = ::open(bench_file().c_str(), O_RDONLY);
  if (fd >= 0) {
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

float open_and_read_first() {
  SafetensorsFile f = SafetensorsFile::open(bench_file());
  Tensor t = f.tensor("layers.0.weight");
  return static_cast<float>(t.data<bf16>()[0]);
}

void BM_safetensors_open_to_first_tensor_warm(benchmark::State& state) {
  open_and_read_first();
  for (auto _ : state) benchmark::DoNotOptimize(open_and_read_first());
}

void BM_safetensors_open_to_first_tensor_cold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    evict_file();
    state.ResumeTiming();
    benchmark::DoNotOptimize(open_and_read_first());
  }
}

// Opening, then a reduction over the whole first tensor (10 MiB read from the mapping).
void BM_safetensors_open_and_sum_first_tensor_cold(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    evict_file();
    state.ResumeTiming();
    SafetensorsFile f = SafetensorsFile::open(bench_file());
    benchmark::DoNotOptimize(sum(f.tensor("layers.0.weight")).item<float>());
  }
}

// Every tensor as a view: the header parse plus 50 views.
void BM_safetensors_load_all_views_warm(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(load_safetensors(bench_file()).size());
}

// The baseline without mmap: the whole file read into memory.
void BM_read_whole_file_warm(benchmark::State& state) {
  std::vector<char> buffer(static_cast<std::size_t>(kTensors * kRows * kCols * 2 + (1 << 20)));
  for (auto _ : state) {
    std::FILE* f = std::fopen(bench_file().c_str(), "rb");
    std::size_t n = std::fread(buffer.data(), 1, buffer.size(), f);
    std::fclose(f);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * kTensors * kRows * kCols * 2);
}

// JSON: a tokenizer.json-shaped text (a 150k-entry vocabulary object and 150k merges),
// about the size of Qwen's or Llama 3's.
const std::string& tokenizer_like_json() {
  static const std::string text = [] {
    std::string t = "{\"model\":{\"type\":\"BPE\",\"vocab\":{";
    for (int i = 0; i < 150000; ++i) {
      t += (i ? ",\"" : "\"") + std::string("\u0120tok") + std::to_string(i) +
           "\":" + std::to_string(i);
    }
    t += "},\"merges\":[";
    for (int i = 0; i < 150000; ++i) {
      t += (i ? ",\"" : "\"") + std::string("t") + std::to_string(i) + " ok\"";
    }
    return t + "]}}";
  }();
  return text;
}

void BM_json_parse_tokenizer_like(benchmark::State& state) {
  const std::string& text = tokenizer_like_json();
  for (auto _ : state) benchmark::DoNotOptimize(json::parse(text, "tokenizer.json"));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

BENCHMARK(BM_json_parse_tokenizer_like)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_safetensors_open_to_first_tensor_warm)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_safetensors_open_to_first_tensor_cold)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_safetensors_open_and_sum_first_tensor_cold)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_safetensors_load_all_views_warm)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_read_whole_file_warm)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  write_file();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::remove(bench_file().c_str());
  return 0;
}
