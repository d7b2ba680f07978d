// random_bits: the one random kernel. Threefry-2x32 with 20 rounds (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011), laid out as JAX's
// partitionable scheme (jax_threefry_partitionable=True, JAX's default since 0.5), so
// streams match jax.random bit for bit:
//
//   key  = (k0, k1)                              the u32[2] input
//   i    = the row-major flat index of the output element
//   (b1, b2) = threefry2x32(key, counter = (i >> 32, i & 0xffffffff))
//   u32 output: b1 ^ b2            u64 output: (b1 << 32) | b2
//
// Each element depends only on the key and its own index, so any backend can compute
// any slice independently, and bits(key, (n,)) is a prefix of bits(key, (m,)) for n < m.
#include <array>
#include <cstdint>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"

namespace emily::cpu {

// Exposed (not static) so tests can check the block function against the Random123
// known-answer vectors; declared there, not in a header, as it is no public API.
std::array<std::uint32_t, 2> threefry2x32(std::array<std::uint32_t, 2> key,
                                          std::array<std::uint32_t, 2> counter);

namespace {

inline std::uint32_t rotl(std::uint32_t x, int d) {
  return (x << d) | (x >> (32 - d));
}

// Four Threefry rounds (add, rotate, xor) with the given rotation distances.
#define EMILY_THREEFRY_ROUNDS(r0, r1, r2, r3) \
  x0 += x1;                                   \
  x1 = rotl(x1, r0) ^ x0;                     \
  x0 += x1;                                   \
  x1 = rotl(x1, r1) ^ x0;                     \
  x0 += x1;                                   \
  x1 = rotl(x1, r2) ^ x0;                     \
  x0 += x1;                                   \
  x1 = rotl(x1, r3) ^ x0;

inline void block(std::uint32_t k0, std::uint32_t k1, std::uint32_t& x0, std::uint32_t& x1) {
  const std::uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;  // Threefish key-schedule parity
  x0 += k0;
  x1 += k1;
  EMILY_THREEFRY_ROUNDS(13, 15, 26, 6)
  x0 += k1;
  x1 += k2 + 1u;
  EMILY_THREEFRY_ROUNDS(17, 29, 16, 24)
  x0 += k2;
  x1 += k0 + 2u;
  EMILY_THREEFRY_ROUNDS(13, 15, 26, 6)
  x0 += k0;
  x1 += k1 + 3u;
  EMILY_THREEFRY_ROUNDS(17, 29, 16, 24)
  x0 += k1;
  x1 += k2 + 4u;
  EMILY_THREEFRY_ROUNDS(13, 15, 26, 6)
  x0 += k2;
  x1 += k0 + 5u;
}
#undef EMILY_THREEFRY_ROUNDS

template <class Out>
void fill(std::uint32_t k0, std::uint32_t k1, Out* out, std::int64_t n) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) \
    schedule(static) if (n >= 2 * kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::uint64_t>(i);
    std::uint32_t x0 = static_cast<std::uint32_t>(u >> 32), x1 = static_cast<std::uint32_t>(u);
    block(k0, k1, x0, x1);
    if constexpr (sizeof(Out) == 8) {
      out[i] = (static_cast<std::uint64_t>(x0) << 32) | x1;
    } else {
      out[i] = x0 ^ x1;
    }
  }
}

// in[0]: the key, u32[2], contiguous. out[0]: u32 or u64 of any shape.
void random_bits_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const std::uint32_t* key = in[0].data<std::uint32_t>();
  Tensor& y = out[0];
  if (y.dtype() == DType::u64) {
    fill(key[0], key[1], y.data<std::uint64_t>(), y.size());
  } else {
    fill(key[0], key[1], y.data<std::uint32_t>(), y.size());
  }
}

}  // namespace

std::array<std::uint32_t, 2> threefry2x32(std::array<std::uint32_t, 2> key,
                                          std::array<std::uint32_t, 2> counter) {
  block(key[0], key[1], counter[0], counter[1]);
  return counter;
}

void register_random(KernelTable& t) {
  t.set(Primitive::random_bits, random_bits_kernel);
}

}  // namespace emily::cpu
