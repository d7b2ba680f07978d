// CUDA convolution, FFT and linear algebra at the shapes models use: Whisper's two
// encoder convolutions (f16), ViT-B/16's patch embedding (bf16, batch 32), a 7x7
// depthwise convolution (f32), a Whisper-sized STFT (rfft of 3000 frames of 400) and a
// 1024x1024 fft2, and linalg at one large and one batched-small size (f32). Each time
// covers one eager call, synchronised; bench/torch_cuda_math.py measures the same ops in
// PyTorch. Skipped without a GPU.
#include <benchmark/benchmark.h>

#include <functional>

#include "emily/emily.h"

namespace {

using namespace emily;
using Call = std::function<void()>;

Tensor gpu_normal(std::uint64_t seed, const Shape& shape, DType dtype = DType::f32) {
  return to_device(astype(random::normal(random::key(seed), shape), dtype), Device::cuda(0));
}

Tensor gpu_eye(std::int64_t n, double scale) {
  return to_device(eye(n) * scale, Device::cuda(0));
}

// Each case makes its inputs and returns the call to time.
struct Case {
  const char* name;
  std::function<Call()> make;
};

const Case kCases[] = {
    {"cuda_conv_whisper1_f16",
     [] {
       Tensor x = gpu_normal(0, {1, 80, 3000}, DType::f16);
       Tensor w = gpu_normal(1, {384, 80, 3}, DType::f16);
       return Call([=] { conv_general(x, w, {{}, {1}, {1}}); });
     }},
    {"cuda_conv_whisper2_f16",
     [] {
       Tensor x = gpu_normal(0, {1, 384, 3000}, DType::f16);
       Tensor w = gpu_normal(1, {384, 384, 3}, DType::f16);
       return Call([=] { conv_general(x, w, {{2}, {1}, {1}}); });
     }},
    {"cuda_conv_vit_patches_bf16",
     [] {
       Tensor x = gpu_normal(0, {32, 3, 224, 224}, DType::bf16);
       Tensor w = gpu_normal(1, {768, 3, 16, 16}, DType::bf16);
       return Call([=] { conv_general(x, w, {{16, 16}}); });
     }},
    {"cuda_conv_depthwise7x7_f32",
     [] {
       Tensor x = gpu_normal(0, {8, 384, 56, 56}), w = gpu_normal(1, {384, 1, 7, 7});
       return Call([=] { conv_general(x, w, {{}, {3, 3}, {3, 3}, {}, {}, 384}); });
     }},
    {"cuda_rfft_stft_3000x400",
     [] {
       Tensor x = gpu_normal(0, {3000, 400});
       return Call([=] { rfft(x); });
     }},
    {"cuda_fft2_1024",
     [] {
       Tensor x = astype(gpu_normal(0, {1024, 1024}), DType::c64);
       return Call([=] { fft2(x); });
     }},
    {"cuda_cholesky_1024_f32",
     [] {
       Tensor b = gpu_normal(0, {1024, 1024});
       Tensor a = matmul(b, transpose(b)) + gpu_eye(1024, 1024.0);
       return Call([=] { linalg::cholesky(a); });
     }},
    {"cuda_solve_1024_f32",
     [] {
       Tensor a = gpu_normal(0, {1024, 1024}) + gpu_eye(1024, 1024.0);
       Tensor b = gpu_normal(1, {1024, 16});
       return Call([=] { linalg::solve(a, b); });
     }},
    {"cuda_inv_4096x8x8_f32",
     [] {
       Tensor a = gpu_normal(0, {4096, 8, 8}) + gpu_eye(8, 8.0);
       return Call([=] { linalg::inv(a); });
     }},
    {"cuda_svd_512_f32",
     [] {
       Tensor a = gpu_normal(0, {512, 512});
       return Call([=] { linalg::svd(a); });
     }},
    {"cuda_eigh_512_f32",
     [] {
       Tensor b = gpu_normal(0, {512, 512});
       Tensor a = b + transpose(b);
       return Call([=] { linalg::eigh(a); });
     }},
    {"cuda_qr_1024x512_f32",
     [] {
       Tensor a = gpu_normal(0, {1024, 512});
       return Call([=] { linalg::qr(a); });
     }},
};

void run(benchmark::State& state, const Case& c) {
  if (cuda_device_count() == 0) return state.SkipWithError("no CUDA device");
  const Call call = c.make();
  StreamGuard guard(default_stream(Device::cuda(0)));
  for (int i = 0; i < 3; ++i) call();
  synchronize();
  for (auto _ : state) {
    call();
    synchronize();
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (const Case& c : kCases)
    benchmark::RegisterBenchmark(c.name, [&c](benchmark::State& s) { run(s, c); })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
