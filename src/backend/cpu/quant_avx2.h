// The quantized GEMV (quantized_matmul with a {N, K} weight and M <= 8 activation rows)
// in AVX2 + FMA. The library is built for baseline x86-64, so these functions carry their
// own target attribute and quant.cpp calls them only where the CPU says, once, that it
// has both; other x86 CPUs and other architectures keep the generic loops of quant.cpp.
//
// Block order. Eight consecutive packed words fill one 256-bit register; shifting it by
// bits * k and masking gives code k of each word in lane order, so the activations are
// rearranged once per call to match: in each block of 8 words (8 * 32 / bits codes), the
// code in slot k of word i, element i * (32 / bits) + k of the block, sits at position
// k * 8 + i. A block spans whole groups or lies inside one, since a group is 2 to 32
// words; each lane's scale is its word's group's.
#pragma once

#include <cstdint>

namespace emily::cpu::quant_avx2 {

// True on an x86-64 CPU with AVX2 and FMA (asked once), unless a ForceGeneric is alive;
// false on other architectures.
bool available();

// Whether the AVX2 GEMV handles this weight: 2, 4 or 8 bits, rows of whole 8-word blocks.
bool fits(int bits, std::int64_t row_words);

// x {m, k} (in element order) rearranged into block order (above), row by row.
void block_order(const float* x, std::int64_t m, std::int64_t k, int bits, float* out);

struct Gemv {
  const float* x;     // {m, k} in block order
  const float* xsum;  // {m, groups}: the sum of each group's activations
  std::int64_t m;     // 1..8
  std::int64_t k;
  const std::uint32_t* packed;  // {n, row_words}
  int bits;
  int words;  // per group
  std::int64_t groups, row_words, n;
  float* out;  // {m, n}
};

// out[r, j] = sum_g s[j, g] (q[j, g] . x[r, g]) + b[j, g] xsum[r, g] for output columns
// j in [n0, n1), accumulated in f32. S is float, f16 or bf16.
template <class S>
void gemv(const Gemv& g, const S* scales, const S* biases, std::int64_t n0, std::int64_t n1);

// For tests: while alive, available() is false, so the generic loops run on this machine
// too. Process-wide; use it where no other thread runs kernels.
class ForceGeneric {
 public:
  ForceGeneric();
  ~ForceGeneric();
  ForceGeneric(const ForceGeneric&) = delete;
  ForceGeneric& operator=(const ForceGeneric&) = delete;

 private:
  bool previous_;
};

}  // namespace emily::cpu::quant_avx2
