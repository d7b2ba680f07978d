// rfft of one Whisper clip's frames (3000 frames x 400 samples, f32) through emily::rfft
// against FFTW called directly on the same data in the same run: one plan for all rows,
// made once outside the timed loop, executed on one thread and split over the same number
// of threads Emily uses. The ratio of Emily's rate to the threaded baseline is the cost of
// Emily's layers (validation, dispatch, output allocation, plan-cache lookup).
#include <benchmark/benchmark.h>
#include <fftw3.h>

#include <vector>

#include "backend/cpu/threads.h"
#include "emily/emily.h"

namespace {

using namespace emily;

constexpr int kFrames = 3000, kSamples = 400, kBins = kSamples / 2 + 1;

void set_rate(benchmark::State& state) {
  state.counters["frames/s"] =
      benchmark::Counter(double(kFrames) * state.iterations(), benchmark::Counter::kIsRate);
}

// `rows` real rows of kSamples in, kBins complex bins out, contiguous.
fftwf_plan plan_rows(int rows, float* in, fftwf_complex* out) {
  const int n = kSamples;
  return fftwf_plan_many_dft_r2c(1, &n, rows, in, nullptr, 1, kSamples, out, nullptr, 1, kBins,
                                 FFTW_ESTIMATE);
}

void BM_fftw_rfft_1thread(benchmark::State& state) {
  auto in = random::normal(random::key(1), {kFrames, kSamples}).to_vector<float>();
  auto* out = fftwf_alloc_complex(std::size_t(kFrames) * kBins);
  fftwf_plan plan = plan_rows(kFrames, in.data(), out);
  for (auto _ : state) {
    fftwf_execute_dft_r2c(plan, in.data(), out);
    benchmark::DoNotOptimize(out);
  }
  fftwf_destroy_plan(plan);
  fftwf_free(out);
  set_rate(state);
}

void BM_fftw_rfft_threads(benchmark::State& state) {
  auto in = random::normal(random::key(1), {kFrames, kSamples}).to_vector<float>();
  auto* out = fftwf_alloc_complex(std::size_t(kFrames) * kBins);
  const int t = cpu::threads();
  std::vector<fftwf_plan> plans;
  std::vector<int> begin;
  for (int c = 0; c < t; ++c) {
    const int b = c * kFrames / t, e = (c + 1) * kFrames / t;
    begin.push_back(b);
    plans.push_back(
        plan_rows(e - b, in.data() + std::size_t(b) * kSamples, out + std::size_t(b) * kBins));
  }
  for (auto _ : state) {
#pragma omp parallel for num_threads(t) schedule(static)
    for (int c = 0; c < t; ++c)
      fftwf_execute_dft_r2c(plans[c], in.data() + std::size_t(begin[c]) * kSamples,
                            out + std::size_t(begin[c]) * kBins);
    benchmark::DoNotOptimize(out);
  }
  for (auto p : plans) fftwf_destroy_plan(p);
  fftwf_free(out);
  state.counters["threads"] = t;
  set_rate(state);
}

void BM_emily_rfft(benchmark::State& state) {
  Tensor frames = random::normal(random::key(1), {kFrames, kSamples});
  for (auto _ : state) benchmark::DoNotOptimize(rfft(frames));
  state.counters["threads"] = cpu::threads();
  set_rate(state);
}

BENCHMARK(BM_fftw_rfft_1thread)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_fftw_rfft_threads)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_emily_rfft)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
