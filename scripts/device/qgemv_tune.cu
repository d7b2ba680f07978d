// Kernel-level timing of the quantized GEMV on the device machine, without Emily's eager
// host cost: the tensor-core kernel (src/backend/cuda/quant_gemv_tc.cuh) in several
// launch geometries, the f32-FMA kernel (quant_gemv.cuh, session 15) for a before/after
// in one run, and a device-to-device copy for the bandwidth ceiling. Every variant's
// output is checked against a reference kernel (a thread per output, f64 sums of
// x * (s q + b)): max |got - ref| / sum |x| |w| must stay under 1e-5 (bf16 output
// rounding is 2^-9 of |y| <= that sum, so the bound is 4e-3 for bf16 y).
//
// Build and run on the device machine from the repository root:
//   nvcc -O3 -std=c++20 -gencode=arch=compute_90a,code=sm_90a -Isrc -Iinclude \
//     --expt-relaxed-constexpr scripts/device/qgemv_tune.cu -o /tmp/qgemv_tune
//   /tmp/qgemv_tune
// Weights rotate over copies that together exceed 256 MB, so L2 (50 MB) holds none of
// them between calls. Times: CUDA events around 20 back-to-back launches, median of 15.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/quant_gemv.cuh"
#include "backend/cuda/quant_gemv_tc.cuh"

using namespace emily::cuda;
using qgemv::ScaleType;

#define CHECK(call)                                                                        \
  do {                                                                                     \
    cudaError_t e_ = (call);                                                               \
    if (e_ != cudaSuccess) {                                                               \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

using bf = __nv_bfloat16;

template <int Bits>
__global__ void reference(const bf* x, const std::uint32_t* packed, const bf* scales,
                          const bf* biases, double* y, double* bound, int rows, std::int64_t n_out,
                          std::int64_t k, int group_size) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n_out) return;
  const std::int64_t m = i / n_out, n = i % n_out, row_words = k * Bits / 32;
  double sum = 0, mag = 0;
  for (std::int64_t j = 0; j < k; ++j) {
    const std::int64_t bit = j * Bits;
    const std::uint32_t q = (packed[n * row_words + bit / 32] >> (bit % 32)) & ((1u << Bits) - 1);
    const std::int64_t g = n * (k / group_size) + j / group_size;
    const double w = double(__bfloat162float(scales[g])) * q + __bfloat162float(biases[g]);
    const double xv = __bfloat162float(x[m * k + j]);
    sum += xv * w;
    mag += std::fabs(xv * w);
  }
  y[i] = sum;
  bound[i] = mag;
}

struct Weights {
  std::uint32_t* packed;
  bf* scales;
  bf* biases;
};

struct Case {
  std::int64_t n, k;
  int bits, rows;
};

template <class T>
T* upload(const std::vector<T>& v) {
  T* p = nullptr;
  CHECK(cudaMalloc(&p, v.size() * sizeof(T)));
  CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}

bool g_profile = false;  // argv[1] == "profile": one launch of each variant, for ncu

template <class Launch>
double time_us(Launch&& launch, int copies) {
  if (g_profile) {
    launch(1 % copies);
    CHECK(cudaDeviceSynchronize());
    return 1.0;
  }
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < copies; ++i) launch(i);
  CHECK(cudaDeviceSynchronize());
  std::vector<float> t;
  int next = 0;
  for (int r = 0; r < 15; ++r) {
    CHECK(cudaEventRecord(a));
    for (int i = 0; i < 20; ++i) launch(next++ % copies);
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1e3f / 20);
  }
  CHECK(cudaGetLastError());
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double copy_bandwidth() {
  const std::size_t bytes = std::size_t(1) << 30;
  void *src, *dst;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  CHECK(cudaMemset(src, 1, bytes));
  const double us =
      time_us([&](int) { CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); }, 1);
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));
  return 2.0 * bytes / (us * 1e-6) / 1e9;  // read + written
}

int sms() {
  int d = 0, n = 0;
  CHECK(cudaGetDevice(&d));
  CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, d));
  return n;
}

template <int Bits>
void run_case(const Case& c, double copy_gbs) {
  constexpr int group = 64;
  const std::int64_t words = c.n * c.k * Bits / 32, groups = c.n * c.k / group;
  const double bytes = words * 4.0 + groups * 4.0;  // codes + bf16 scales + biases
  const int copies = static_cast<int>(std::max(2.0, std::ceil(256e6 / bytes)));
  std::mt19937 rng(c.n * 31 + c.k + Bits);
  std::vector<std::uint32_t> hp(words);
  for (auto& v : hp) v = rng();
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<bf> hs(groups), hb(groups), hx(c.rows * c.k);
  for (auto& v : hs) v = __float2bfloat16_rn(0.01f + 0.001f * std::fabs(normal(rng)));
  for (auto& v : hb) v = __float2bfloat16_rn(-0.01f * (1 << (Bits - 1)) * (1 + 0.1f * normal(rng)));
  for (auto& v : hx) v = __float2bfloat16_rn(normal(rng));
  std::vector<Weights> w;
  for (int i = 0; i < copies; ++i) w.push_back({upload(hp), upload(hs), upload(hb)});
  bf* x = upload(hx);
  bf* y;
  float* partial;
  double *ref, *bound;
  const std::int64_t outs = c.rows * c.n;
  CHECK(cudaMalloc(&y, outs * sizeof(bf)));
  CHECK(cudaMalloc(&partial, 32 * outs * sizeof(float)));
  CHECK(cudaMalloc(&ref, outs * sizeof(double)));
  CHECK(cudaMalloc(&bound, outs * sizeof(double)));
  reference<Bits><<<(outs + 127) / 128, 128>>>(x, w[0].packed, w[0].scales, w[0].biases, ref, bound,
                                               c.rows, c.n, c.k, group);
  CHECK(cudaDeviceSynchronize());
  std::vector<double> href(outs), hbound(outs);
  CHECK(cudaMemcpy(href.data(), ref, outs * 8, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(hbound.data(), bound, outs * 8, cudaMemcpyDeviceToHost));

  auto check = [&](const char* name) {
    std::vector<bf> got(outs);
    CHECK(cudaMemcpy(got.data(), y, outs * sizeof(bf), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (std::int64_t i = 0; i < outs; ++i)
      worst = std::max(worst,
                       std::fabs(double(__bfloat162float(got[i])) - href[i]) / (hbound[i] + 1e-30));
    if (!(worst < 4e-3)) std::printf("  WRONG %s: max error %.3g of sum |x||w|\n", name, worst);
    return worst;
  };
  auto report = [&](const char* name, double us, double err) {
    const double gbs = bytes / (us * 1e-6) / 1e9;
    std::printf("int%d N=%-5lld K=%-5lld M=%d %-22s %8.2f us %7.0f GB/s %5.2f of copy  err %.1e\n",
                Bits, (long long)c.n, (long long)c.k, c.rows, name, us, gbs, gbs / copy_gbs, err);
  };

  auto variant = [&]<int Rows, int Cols, int Mb = 1>(const char* name, int warps, int splits) {
    qgemv::Plan p = qgemv::plan(c.n, c.k, sms(), Cols);
    if (warps > 0) p.warps = warps;
    if (splits > 0) p.splits = splits;
    p.chunks_per_split = (c.k / 32 + p.splits - 1) / p.splits;
    const dim3 grid((c.n + Cols - 1) / Cols, p.splits), block(32, p.warps);
    auto launch = [&](int i) {
      qgemv::gemv<Bits, bf, Rows, Cols, Mb><<<grid, block>>>(
          x, w[i].packed, w[i].scales, w[i].biases, ScaleType::bf16, y,
          p.splits > 1 ? partial : nullptr, c.rows, c.n, c.k, group, p.chunks_per_split);
      if (p.splits > 1)
        qgemv::sum_splits<bf><<<(outs + 255) / 256, 256>>>(partial, y, outs, p.splits);
    };
    CHECK(cudaMemset(y, 0xFF, outs * sizeof(bf)));
    launch(0);
    CHECK(cudaDeviceSynchronize());
    const double err = check(name);
    char label[64];
    std::snprintf(label, sizeof label, "%s w%d s%d", name, p.warps, p.splits);
    report(label, time_us(launch, copies), err);
  };

  // The tensor-core kernel (quant_gemv_tc.cuh): "tc" is the library's plan; the others
  // set tiles of 16 rows per block (t), warps per tile (k), blocks along K (s) and the
  // ring's depth (d).
  auto tc = [&]<int Sets, int Depth>(const char* name, int tiles, int kwarps, int splits) {
    qgemv_tc::Plan p = qgemv_tc::plan<Bits>(c.n, c.k, c.rows, sms());
    if (tiles > 0) {
      p.tiles = tiles;
      p.kwarps = kwarps;
      p = qgemv_tc::finish<Bits>(p, c.n, c.k, c.rows, sms() * 16);
    }
    if (splits > 0) {
      const int pieces = static_cast<int>(c.k / qgemv_tc::piece_codes<Bits>());
      p.pieces_per_split = ((pieces + splits - 1) / splits + 3) / 4 * 4;
      p.splits = (pieces + p.pieces_per_split - 1) / p.pieces_per_split;
      p.smem_bytes = qgemv_tc::smem_bytes<Bits>(c.rows, p.pieces_per_split, p.tiles * p.kwarps,
                                                qgemv_tc::sets_for(c.rows));
    }
    const dim3 grid((c.n + 16 * p.tiles - 1) / (16 * p.tiles), p.splits),
        block(32, p.tiles * p.kwarps);
    auto launch = [&](int i) {
      qgemv_tc::gemv<Bits, bf, bf, Sets, Depth><<<grid, block, p.smem_bytes>>>(
          x, w[i].packed, w[i].scales, w[i].biases, y, p.splits > 1 ? partial : nullptr,
          qgemv_tc::args_for<Bits>(p, c.rows, c.n, c.k, group));
      if (p.splits > 1)
        qgemv::sum_splits<bf><<<(outs + 255) / 256, 256>>>(partial, y, outs, p.splits);
    };
    CHECK(cudaMemset(y, 0xFF, outs * sizeof(bf)));
    launch(0);
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaGetLastError());
    const double err = check(name);
    char label[64];
    std::snprintf(label, sizeof label, "%s d%d t%d k%d s%d", name, Depth, p.tiles, p.kwarps,
                  p.splits);
    report(label, time_us(launch, copies), err);
  };
  // "fma (s15)" is the f32-FMA kernel (quant_gemv.cuh, session 15: the before column).
  // The same bytes copied device to device (read + written), rotating like the weights:
  // the ceiling for this size (bench_quant's BM_cuda_copy_like).
  {
    std::vector<void*> src(copies), dst(copies);
    for (int i = 0; i < copies; ++i) {
      CHECK(cudaMalloc(&src[i], static_cast<std::size_t>(bytes)));
      CHECK(cudaMalloc(&dst[i], static_cast<std::size_t>(bytes)));
    }
    const double us = time_us(
        [&](int i) {
          CHECK(cudaMemcpyAsync(dst[i], src[i], static_cast<std::size_t>(bytes),
                                cudaMemcpyDeviceToDevice));
        },
        copies);
    std::printf("int%d N=%-5lld K=%-5lld M=%d %-22s %8.2f us (same bytes copied)\n", Bits,
                (long long)c.n, (long long)c.k, c.rows, "copy", us);
    for (int i = 0; i < copies; ++i) {
      CHECK(cudaFree(src[i]));
      CHECK(cudaFree(dst[i]));
    }
  }
  // "fma (s15)" is the f32-FMA kernel (quant_gemv.cuh, session 15: the before column).
  // "tc" is the library's plan (a ring of 4 segments, or 2 for M > 2); the others
  // change the ring's depth or the warps per tile.
  if (c.rows == 1) {
    variant.template operator()<1, 1>("fma (s15)", 0, 0);
    tc.template operator()<1, 4>("tc", 0, 0, 0);
    if (!g_profile) {
      tc.template operator()<1, 4>("tc", 1, 2, 1);
      tc.template operator()<1, 4>("tc", 1, 4, 1);
      tc.template operator()<1, 4>("tc", 1, 8, 1);
      tc.template operator()<1, 4>("tc", 1, 16, 1);
      tc.template operator()<1, 2>("tc", 1, 4, 1);
    }
  } else if (c.rows == 2) {
    variant.template operator()<2, 1>("fma (s15)", 0, 0);
    tc.template operator()<1, 4>("tc", 0, 0, 0);
  } else {
    variant.template operator()<8, 1>("fma (s15)", 0, 0);
    tc.template operator()<4, 2>("tc", 0, 0, 0);
    tc.template operator()<4, 1>("tc", 0, 0, 0);
  }
  for (auto& v : w) {
    CHECK(cudaFree(v.packed));
    CHECK(cudaFree(v.scales));
    CHECK(cudaFree(v.biases));
  }
  CHECK(cudaFree(x));
  CHECK(cudaFree(y));
  CHECK(cudaFree(partial));
  CHECK(cudaFree(ref));
  CHECK(cudaFree(bound));
}

int main(int argc, char** argv) {
  g_profile = argc > 1 && std::string(argv[1]) == "profile";
  if (g_profile) {
    run_case<4>({4096, 4096, 4, 1}, 3000);
    run_case<4>({8192, 8192, 4, 1}, 3000);
    run_case<8>({4096, 4096, 8, 1}, 3000);
    return 0;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const double copy = copy_bandwidth();
  std::printf("%s, %d SMs, L2 %d MB; device-to-device copy %.0f GB/s (read + written)\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, copy);
  for (std::int64_t n : {4096, 8192}) {
    run_case<4>({n, n, 4, 1}, copy);
    run_case<8>({n, n, 8, 1}, copy);
  }
  run_case<4>({4096, 4096, 4, 2}, copy);
  run_case<4>({4096, 4096, 4, 8}, copy);
  run_case<8>({4096, 4096, 8, 8}, copy);
  run_case<4>({1024, 4096, 4, 1}, copy);
  for (int bits : {4, 8})
    for (auto [n, k] : {std::pair{1024, 1024}, {3072, 1024}, {1024, 3072}, {2048, 1024}}) {
      if (bits == 4)
        run_case<4>({n, k, 4, 1}, copy);
      else
        run_case<8>({n, k, 8, 1}, copy);
    }
  run_case<4>({4096, 14336, 4, 1}, copy);
  run_case<4>({14336, 4096, 4, 1}, copy);
  return 0;
}
