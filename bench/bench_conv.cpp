// conv_general on the two convolutions of the transformer models, each next to its
// baseline in the same run: one cblas_sgemm of the (M, N, K) that the im2col path
// multiplies, i.e. the same FLOPs with no unrolling and no Emily layers.
//   ViT patch embedding: (1, 3, 224, 224) * (768, 3, 16, 16), stride 16
//     -> M = 768 filters, N = 14 * 14 = 196 patches, K = 3 * 16 * 16 = 768.
//   Whisper conv1: (1, 80, 3000) * (384, 80, 3), padding 1
//     -> M = 384, N = 3000 frames, K = 80 * 3 = 240.
// GFLOP/s counts 2 * M * N * K per iteration for both.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "emily/emily.h"

namespace {

using namespace emily;

struct Case {
  Shape input, kernel;
  ConvOptions options;
  std::int64_t M, N, K;
};

const Case kVit{{1, 3, 224, 224}, {768, 3, 16, 16}, {.strides = {16, 16}}, 768, 196, 768};
const Case kWhisper{{1, 80, 3000}, {384, 80, 3}, {.padding_low = {1}, .padding_high = {1}},
                    384,           3000,         240};

void set_flops(benchmark::State& state, const Case& c) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(c.M * c.N * c.K) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

void run_conv(benchmark::State& state, const Case& c) {
  Tensor x = random::uniform(random::key(1), c.input);
  Tensor k = random::uniform(random::key(2), c.kernel);
  for (auto _ : state) benchmark::DoNotOptimize(conv_general(x, k, c.options));
  set_flops(state, c);
}

void run_sgemm(benchmark::State& state, const Case& c) {
  auto a = random::uniform(random::key(1), {c.M, c.K}).to_vector<float>();
  auto b = random::uniform(random::key(2), {c.K, c.N}).to_vector<float>();
  std::vector<float> y(static_cast<std::size_t>(c.M * c.N));
  const auto M = static_cast<int>(c.M), N = static_cast<int>(c.N), K = static_cast<int>(c.K);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data(), K, b.data(), N,
                0.0f, y.data(), N);
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, c);
}

void BM_vit_patch_conv(benchmark::State& s) {
  run_conv(s, kVit);
}
void BM_vit_patch_sgemm(benchmark::State& s) {
  run_sgemm(s, kVit);
}
void BM_whisper_conv1d(benchmark::State& s) {
  run_conv(s, kWhisper);
}
void BM_whisper_sgemm(benchmark::State& s) {
  run_sgemm(s, kWhisper);
}

BENCHMARK(BM_vit_patch_sgemm)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_vit_patch_conv)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_whisper_sgemm)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_whisper_conv1d)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
