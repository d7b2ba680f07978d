// Kernel-level harness for the wgmma prefill attention (src/backend/cuda/flash_tma.cuh):
// checks it against a plain f32 attention on the GPU (one thread per query row) on odd
// shapes and layouts, then times the benchmark shapes of bench/results/fast-quant.md.
// One nvcc, no library build. Usage, on the device machine from the repository root:
//   nvcc -O3 -std=c++20 -gencode=arch=compute_90a,code=sm_90a -Isrc -Iinclude \
//     --expt-relaxed-constexpr scripts/device/flash_wgmma_check.cu -o /tmp/flash_check
//   [REPS=400] /tmp/flash_check [check] [time] [variants]   ("variants": the block shapes
//   tried beside the library's; REPS: calls per timing, default 20)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/flash_tma.cuh"

using namespace emily::cuda;

#define CHECK(x)                                                                    \
  do {                                                                              \
    cudaError_t e = (x);                                                            \
    if (e != cudaSuccess) {                                                         \
      std::printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

template <class T>
__device__ float to_f(T v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return __bfloat162float(v);
  else
    return __half2float(v);
}

// The oracle: softmax(scale q k^T (+ causal)) v in f32, q, k and v by strides (elements:
// batch, head, row), out contiguous.
struct Strides {
  std::int64_t b, h, r;
};
template <class T>
__global__ void reference(const T* q, const T* k, const T* v, float* out, Strides qs, Strides ks,
                          int nq, int nkv, int tq, int tkv, int d, float scale, bool causal,
                          int offset) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int h = blockIdx.y, b = blockIdx.z;
  if (i >= tq) return;
  const int kvh = h / (nq / nkv);
  const T* qr = q + b * qs.b + h * qs.h + i * qs.r;
  const T* kb = k + b * ks.b + kvh * ks.h;
  const T* vb = v + b * ks.b + kvh * ks.h;
  const int end = causal ? min(tkv, i + offset + 1) : tkv;
  float mx = -INFINITY;
  for (int j = 0; j < end; ++j) {
    float s = 0.0f;
    for (int f = 0; f < d; ++f) s += to_f(qr[f]) * to_f(kb[j * ks.r + f]);
    mx = fmaxf(mx, s * scale);
  }
  float acc[128] = {}, sum = 0.0f;
  for (int j = 0; j < end; ++j) {
    float s = 0.0f;
    for (int f = 0; f < d; ++f) s += to_f(qr[f]) * to_f(kb[j * ks.r + f]);
    const float p = expf(s * scale - mx);
    sum += p;
    for (int f = 0; f < d; ++f) acc[f] += p * to_f(vb[j * ks.r + f]);
  }
  float* orow = out + ((static_cast<std::int64_t>(b) * nq + h) * tq + i) * d;
  for (int f = 0; f < d; ++f) orow[f] = sum > 0.0f ? acc[f] / sum : 0.0f;
}

std::uint16_t to_bits(float f, bool bf16) {
  if (bf16) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return static_cast<std::uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
  }
  const __half h = __float2half(f);
  std::uint16_t r;
  std::memcpy(&r, &h, 2);
  return r;
}
float from_bits(std::uint16_t b, bool bf16) {
  if (bf16) {
    const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  __half h;
  std::memcpy(&h, &b, 2);
  return __half2float(h);
}

struct Case {
  int b, nq, nkv, tq, tkv, d;
  bool causal;
  bool interleaved = false;  // q, k, v stored {B, T, H, d} (a projection's output, viewed)
};

std::uint64_t state = 88172645463325252ull;
float uniform() {  // xorshift, in [-1, 1)
  state ^= state << 13, state ^= state >> 7, state ^= state << 17;
  return static_cast<float>(state >> 40) / static_cast<float>(1 << 23) - 1.0f;
}

template <class T>
void fill(FlashArgs& a, const Case& c, std::vector<void*>& owned) {
  const bool bf16 = std::is_same_v<T, __nv_bfloat16>;
  const std::size_t nq = std::size_t(c.b) * c.nq * c.tq * c.d;
  const std::size_t nk = std::size_t(c.b) * c.nkv * c.tkv * c.d;
  std::vector<std::uint16_t> hq(nq), hk(nk), hv(nk);
  for (auto& x : hq) x = to_bits(2.0f * uniform(), bf16);
  for (auto& x : hk) x = to_bits(2.0f * uniform(), bf16);
  for (auto& x : hv) x = to_bits(uniform(), bf16);
  void *q, *k, *v, *o;
  CHECK(cudaMalloc(&q, nq * 2));
  CHECK(cudaMalloc(&k, nk * 2));
  CHECK(cudaMalloc(&v, nk * 2));
  CHECK(cudaMalloc(&o, nq * 2));
  CHECK(cudaMemcpy(q, hq.data(), nq * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(k, hk.data(), nk * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(v, hv.data(), nk * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemset(o, 0xFF, nq * 2));
  owned = {q, k, v, o};
  a = FlashArgs{};
  a.q = q, a.k = k, a.v = v, a.out = o;
  const std::int64_t qs[4] = {std::int64_t(c.nq) * c.tq * c.d,
                              c.interleaved ? c.d : std::int64_t(c.tq) * c.d,
                              c.interleaved ? std::int64_t(c.nq) * c.d : c.d, 1};
  const std::int64_t ks[4] = {std::int64_t(c.nkv) * c.tkv * c.d,
                              c.interleaved ? c.d : std::int64_t(c.tkv) * c.d,
                              c.interleaved ? std::int64_t(c.nkv) * c.d : c.d, 1};
  for (int i = 0; i < 4; ++i) a.qs[i] = qs[i], a.ks[i] = ks[i], a.vs[i] = ks[i];
  a.nq = c.nq, a.tq = c.tq, a.tkv = c.tkv, a.groups = c.nq / c.nkv, a.d = c.d;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.d)) * kLog2e;
  a.mask.causal = c.causal;
  a.mask.causal_offset = c.tkv - c.tq;
}

// A block shape for each kernel head size (flash_tma::Config); Default is the library's
// choice (flash_tma::prefill).
template <class L64_, class L128_>
struct Variant {
  using L64 = L64_;
  using L128 = L128_;
};
using Default = Variant<flash_tma::Layout<64>, flash_tma::Layout<128>>;
// Candidates for tuning ("variants"): the turns of the consumers, and for head size 64
// three consumers or two at every length. (Two blocks per SM of 64-key tiles leave the consumers
// 104 registers: ptxas serializes the wgmma.)
using Pingpong =
    Variant<flash_tma::Config<64, 2, 128, 1, true>, flash_tma::Config<128, 2, 128, 1, true>>;
using Wide = Variant<flash_tma::Config<64, 3, 128, 1, false>, flash_tma::Layout<128>>;
using Narrow = Variant<flash_tma::Layout<64>, flash_tma::Layout<128>>;
// More query rows per block over 64-key tiles (session 26).
using Wide4 =
    Variant<flash_tma::Config<64, 4, 64, 1, false>, flash_tma::Config<128, 3, 64, 1, false>>;
using Keys64 =
    Variant<flash_tma::Config<64, 3, 64, 1, false>, flash_tma::Config<128, 2, 64, 1, false>>;

// Not supported: the tensor maps cannot describe the operands (the library then runs
// its mma.sync kernel); no case here should be.
template <class T, class V>
cudaError_t run(const FlashArgs& a, int batch) {
  if constexpr (std::is_same_v<V, Default>) return flash_tma::prefill<T>(a, batch, nullptr);
  return a.d <= 64 ? flash_tma::launch<T, 64, typename V::L64>(a, batch, nullptr)
                   : flash_tma::launch<T, 128, typename V::L128>(a, batch, nullptr);
}

template <class T, class V>
bool check(const Case& c) {
  const bool bf16 = std::is_same_v<T, __nv_bfloat16>;
  FlashArgs a;
  std::vector<void*> owned;
  fill<T>(a, c, owned);
  CHECK((run<T, V>(a, c.b)));
  const std::size_t n = std::size_t(c.b) * c.nq * c.tq * c.d;
  float* ref;
  CHECK(cudaMalloc(&ref, n * 4));
  reference<T><<<dim3((c.tq + 127) / 128, c.nq, c.b), 128>>>(
      static_cast<const T*>(a.q), static_cast<const T*>(a.k), static_cast<const T*>(a.v), ref,
      Strides{a.qs[0], a.qs[1], a.qs[2]}, Strides{a.ks[0], a.ks[1], a.ks[2]}, c.nq, c.nkv, c.tq,
      c.tkv, c.d, 1.0f / std::sqrt(static_cast<float>(c.d)), c.causal, c.tkv - c.tq);
  CHECK(cudaDeviceSynchronize());
  std::vector<std::uint16_t> got(n);
  std::vector<float> want(n);
  CHECK(cudaMemcpy(got.data(), a.out, n * 2, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(want.data(), ref, n * 4, cudaMemcpyDeviceToHost));
  // Tolerance: the weights P are rounded to T before P V (2^-8 relative for bf16, 2^-11
  // for f16), and the output once more.
  const float tol = bf16 ? 1.0f / 64 : 1.0f / 256;
  double worst = 0;
  std::size_t bad = 0, first = n;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = from_bits(got[i], bf16);
    const double err = std::fabs(double(x) - want[i]);
    const bool ok = err <= tol * (1.0 + std::fabs(want[i]));
    if (!ok && first == n) first = i;
    bad += !ok;
    if (!(err <= worst)) worst = err;
  }
  std::printf("%s b%d h%d/%d tq%d tkv%d d%d %s%s: max err %.3g, %zu of %zu outside %.3g%s\n",
              bf16 ? "bf16" : "f16", c.b, c.nq, c.nkv, c.tq, c.tkv, c.d,
              c.causal ? "causal" : "full", c.interleaved ? " interleaved" : "", worst, bad, n, tol,
              bad ? "  FAIL" : "");
  if (bad)
    std::printf("  first bad at %zu: got %g want %g\n", first, from_bits(got[first], bf16),
                want[first]);
  for (void* p : owned) cudaFree(p);
  cudaFree(ref);
  return bad == 0;
}

template <class T, class V>
void time_case(const Case& c, const char* name) {
  FlashArgs a;
  std::vector<void*> owned;
  fill<T>(a, c, owned);
  for (int i = 0; i < 3; ++i) CHECK((run<T, V>(a, c.b)));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  // REPS (default 20) back-to-back calls: a few hundred hold the load long enough for the
  // clocks to settle where a benchmark's sustained run sees them.
  const char* env = std::getenv("REPS");
  const int reps = env ? std::max(1, std::atoi(env)) : 20;
  cudaEventRecord(e0);
  for (int i = 0; i < reps; ++i) run<T, V>(a, c.b);
  cudaEventRecord(e1);
  CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  const double flops = 4.0 * c.b * c.nq * double(c.tq) * c.tkv * c.d * (c.causal ? 0.5 : 1.0);
  std::printf("time %s hd %d seq %d %s: %.1f us, %.1f TFLOP/s\n", name, c.d, c.tq,
              c.causal ? "causal" : "full", ms * 1000 / reps, flops / (ms / reps * 1e-3) / 1e12);
  for (void* p : owned) cudaFree(p);
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // a hang still shows how far it got
  bool do_check = false, do_time = false, variants = false;
  for (int i = 1; i < argc; ++i) {
    do_check |= std::string(argv[i]) == "check";
    do_time |= std::string(argv[i]) == "time";
    variants |= std::string(argv[i]) == "variants";
  }
  if (!do_check && !do_time) do_check = do_time = true;
  int failed = 0;
  if (do_check) {
    const Case cases[] = {
        {1, 2, 2, 128, 128, 128, false},     {1, 2, 2, 128, 128, 64, false},
        {2, 4, 2, 100, 300, 64, true},       {1, 2, 1, 257, 257, 128, true},
        {1, 2, 2, 33, 520, 64, false},       {2, 2, 2, 384, 200, 128, true},
        {1, 4, 2, 9, 9, 40, true},           {1, 2, 2, 300, 300, 96, false},
        {1, 2, 2, 1000, 1000, 128, true},    {2, 4, 2, 300, 700, 128, false, true},
        {1, 4, 4, 130, 130, 64, true, true}, {1, 2, 1, 1100, 1100, 64, true}};
    auto check_all = [&]<class V>(V, const char* name) {
      std::printf("variant %s\n", name);
      for (const Case& c : cases) {
        failed += !check<__nv_bfloat16, V>(c);
        failed += !check<__half, V>(c);
      }
    };
    check_all(Default{}, "default");
    if (variants) {
      check_all(Pingpong{}, "pingpong");
      check_all(Wide{}, "wide");
      check_all(Narrow{}, "narrow");
      check_all(Wide4{}, "wide4");
      check_all(Keys64{}, "keys64");
    }
    std::printf("check: %d failed\n", failed);
  }
  if (do_time) {
    auto time_all = [&]<class V>(V, const char* name) {
      for (int d : {64, 128})
        for (int t : {512, 2048, 8192})
          for (bool causal : {false, true})
            time_case<__nv_bfloat16, V>({4, 16, 16, t, t, d, causal}, name);
    };
    time_all(Default{}, "default");
    if (variants) {
      time_all(Pingpong{}, "pingpong");
      time_all(Wide{}, "wide");
      time_all(Narrow{}, "narrow");
      time_all(Wide4{}, "wide4");
      time_all(Keys64{}, "keys64");
    }
  }
  return failed ? 1 : 0;
}
