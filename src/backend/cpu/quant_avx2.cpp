// AVX2 + FMA quantized GEMV (quant_avx2.h). Every function that uses AVX2 instructions
// carries __attribute__((target("avx2,fma"))) and is reached only through available();
// nothing here is inlined into generic code, so the rest of the library stays baseline
// x86-64. Lambdas and OpenMP regions would not inherit the attribute, hence none here:
// quant.cpp owns the threads and calls gemv on ranges of output columns.
//
// Per block of 8 words, shift k yields 8 codes as integers; converted to f32 (exact) and
// multiplied with the matching 8 activations, so every code is used exactly as the
// generic loops use it, and only the order of the f32 sum differs.
#include "backend/cpu/quant_avx2.h"

#include <atomic>
#include <bit>

#include "emily/half.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace emily::cpu::quant_avx2 {

namespace {

std::atomic<bool> g_force_generic{false};

bool cpu_has_avx2_fma() {
#if defined(__x86_64__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace

bool available() {
  return cpu_has_avx2_fma() && !g_force_generic.load(std::memory_order_relaxed);
}

bool fits(int bits, std::int64_t row_words) {
  return (bits == 2 || bits == 4 || bits == 8) && row_words > 0 && row_words % 8 == 0;
}

void block_order(const float* x, std::int64_t m, std::int64_t k, int bits, float* out) {
  const int per = 32 / bits, block = 8 * per;
  for (std::int64_t r = 0; r < m; ++r) {
    const float* xr = x + r * k;
    float* o = out + r * k;
    for (std::int64_t b0 = 0; b0 < k; b0 += block)
      for (int i = 0; i < 8; ++i)
        for (int s = 0; s < per; ++s) o[b0 + s * 8 + i] = xr[b0 + i * per + s];
  }
}

ForceGeneric::ForceGeneric() : previous_(g_force_generic.exchange(true)) {}
ForceGeneric::~ForceGeneric() {
  g_force_generic.store(previous_);
}

#if defined(__x86_64__)

namespace {

#define EMILY_AVX2 __attribute__((target("avx2,fma")))

EMILY_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The scale of each lane's word in block b of a row whose groups are `words` words long
// (2 to 32, a power of two: words_log2 spares a division per block): one group for the
// whole block from 8 words up, else 8 / words of them.
template <class S>
EMILY_AVX2 inline __m256 lane_scales(const S* s, std::int64_t b, int words, int words_log2) {
  if (words >= 8) return _mm256_set1_ps(static_cast<float>(s[(b * 8) >> words_log2]));
  if (words == 4) {
    const S* g = s + b * 2;
    return _mm256_setr_m128(_mm_set1_ps(static_cast<float>(g[0])),
                            _mm_set1_ps(static_cast<float>(g[1])));
  }
  const S* g = s + b * 4;  // words == 2
  const float a = static_cast<float>(g[0]), c = static_cast<float>(g[1]),
              d = static_cast<float>(g[2]), e = static_cast<float>(g[3]);
  return _mm256_setr_ps(a, a, c, c, d, d, e, e);
}

// The codes at bit `shift` of a block's 8 words as f32 lanes (exact: codes < 2^8). The
// loops calling it are unrolled, so the shift is an immediate.
EMILY_AVX2 inline __m256 codes(__m256i w, int shift, __m256i mask) {
  return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(w, shift), mask));
}

// sum_g b[g] * xsum[g] over one row's groups.
template <class S>
EMILY_AVX2 inline float bias_dot(const S* b, const float* xsum, std::int64_t groups) {
  float total = 0;
  for (std::int64_t g = 0; g < groups; ++g) total += static_cast<float>(b[g]) * xsum[g];
  return total;
}

// M = 1: each block's products are summed unscaled in two chains (k even, k odd), then
// scaled once per block, which saves a multiply per shift.
template <int Bits, class S>
EMILY_AVX2 void gemv_one_row(const Gemv& a, const S* scales, const S* biases, std::int64_t n0,
                             std::int64_t n1) {
  constexpr int per = 32 / Bits;
  const __m256i mask = _mm256_set1_epi32((1 << Bits) - 1);
  const std::int64_t blocks = a.row_words / 8;
  const int words_log2 = std::countr_zero(static_cast<unsigned>(a.words));
  for (std::int64_t n = n0; n < n1; ++n) {
    const std::uint32_t* wn = a.packed + n * a.row_words;
    const S* sn = scales + n * a.groups;
    __m256 total = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wn + b * 8));
      const float* xb = a.x + b * 8 * per;
      __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
#pragma GCC unroll 16
      for (int k = 0; k < per; k += 2) {
        even = _mm256_fmadd_ps(codes(w, Bits * k, mask), _mm256_loadu_ps(xb + 8 * k), even);
        odd = _mm256_fmadd_ps(codes(w, Bits * (k + 1), mask), _mm256_loadu_ps(xb + 8 * k + 8), odd);
      }
      total =
          _mm256_fmadd_ps(_mm256_add_ps(even, odd), lane_scales(sn, b, a.words, words_log2), total);
    }
    a.out[n] = horizontal_sum(total) + bias_dot(biases + n * a.groups, a.xsum, a.groups);
  }
}

// 2 <= M <= 8: each shift's codes are scaled once and shared by the M rows.
template <int Bits, int M, class S>
EMILY_AVX2 void gemv_rows(const Gemv& a, const S* scales, const S* biases, std::int64_t n0,
                          std::int64_t n1) {
  constexpr int per = 32 / Bits;
  const __m256i mask = _mm256_set1_epi32((1 << Bits) - 1);
  const std::int64_t blocks = a.row_words / 8;
  const int words_log2 = std::countr_zero(static_cast<unsigned>(a.words));
  for (std::int64_t n = n0; n < n1; ++n) {
    const std::uint32_t* wn = a.packed + n * a.row_words;
    const S* sn = scales + n * a.groups;
    __m256 acc[M];
    for (int r = 0; r < M; ++r) acc[r] = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wn + b * 8));
      const __m256 s = lane_scales(sn, b, a.words, words_log2);
      const float* xb = a.x + b * 8 * per;
#pragma GCC unroll 16
      for (int k = 0; k < per; ++k) {
        const __m256 c = _mm256_mul_ps(codes(w, Bits * k, mask), s);
#pragma GCC unroll 8
        for (int r = 0; r < M; ++r)
          acc[r] = _mm256_fmadd_ps(c, _mm256_loadu_ps(xb + r * a.k + 8 * k), acc[r]);
      }
    }
    for (int r = 0; r < M; ++r)
      a.out[r * a.n + n] =
          horizontal_sum(acc[r]) + bias_dot(biases + n * a.groups, a.xsum + r * a.groups, a.groups);
  }
}

template <int Bits, class S>
void gemv_bits(const Gemv& a, const S* scales, const S* biases, std::int64_t n0, std::int64_t n1) {
  switch (a.m) {
    case 1:
      return gemv_one_row<Bits>(a, scales, biases, n0, n1);
    case 2:
      return gemv_rows<Bits, 2>(a, scales, biases, n0, n1);
    case 3:
      return gemv_rows<Bits, 3>(a, scales, biases, n0, n1);
    case 4:
      return gemv_rows<Bits, 4>(a, scales, biases, n0, n1);
    case 5:
      return gemv_rows<Bits, 5>(a, scales, biases, n0, n1);
    case 6:
      return gemv_rows<Bits, 6>(a, scales, biases, n0, n1);
    case 7:
      return gemv_rows<Bits, 7>(a, scales, biases, n0, n1);
    case 8:
      return gemv_rows<Bits, 8>(a, scales, biases, n0, n1);
    default:
      return;  // quant.cpp sends 1..8 rows only
  }
}

}  // namespace

template <class S>
void gemv(const Gemv& a, const S* scales, const S* biases, std::int64_t n0, std::int64_t n1) {
  switch (a.bits) {
    case 2:
      return gemv_bits<2>(a, scales, biases, n0, n1);
    case 4:
      return gemv_bits<4>(a, scales, biases, n0, n1);
    case 8:
      return gemv_bits<8>(a, scales, biases, n0, n1);
    default:
      return;  // fits() admits these only
  }
}

#else  // not x86-64: available() is false, so these are never called.

template <class S>
void gemv(const Gemv&, const S*, const S*, std::int64_t, std::int64_t) {}

#endif

template void gemv<float>(const Gemv&, const float*, const float*, std::int64_t, std::int64_t);
template void gemv<double>(const Gemv&, const double*, const double*, std::int64_t, std::int64_t);
template void gemv<f16>(const Gemv&, const f16*, const f16*, std::int64_t, std::int64_t);
template void gemv<bf16>(const Gemv&, const bf16*, const bf16*, std::int64_t, std::int64_t);

}  // namespace emily::cpu::quant_avx2
