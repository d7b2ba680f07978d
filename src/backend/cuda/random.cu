// random_bits on CUDA: the CPU's generator (backend/cpu/random.cpp) element for element.
// Threefry-2x32 with 20 rounds in JAX's partitionable layout: element i of the row-major
// output is threefry2x32(key, (i >> 32, i & 0xffffffff)) folded to b1 ^ b2 (u32) or
// (b1 << 32) | b2 (u64). Since an element depends only on the key and its index, any
// thread computes any element and the bits equal the CPU's for the same key.
//
// The key (u32[2]) stays on the device: each thread reads it, so no host round trip
// precedes the launch.
#include <cstdint>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/runtime.h"
#include "emily/tensor.h"

namespace emily::cuda {

namespace {

__device__ inline std::uint32_t rotl(std::uint32_t x, int d) {
  return __funnelshift_l(x, x, d);
}

// Four rounds (add, rotate, xor) with the given rotation distances.
template <int R0, int R1, int R2, int R3>
__device__ inline void rounds(std::uint32_t& x0, std::uint32_t& x1) {
  x0 += x1;
  x1 = rotl(x1, R0) ^ x0;
  x0 += x1;
  x1 = rotl(x1, R1) ^ x0;
  x0 += x1;
  x1 = rotl(x1, R2) ^ x0;
  x0 += x1;
  x1 = rotl(x1, R3) ^ x0;
}

// Five groups of four rounds, each followed by a key injection (Threefish's schedule:
// keys k0, k1 and their parity k2 in rotation, plus the injection count).
__device__ inline void threefry(std::uint32_t k0, std::uint32_t k1, std::uint32_t& x0,
                                std::uint32_t& x1) {
  const std::uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  x0 += k0;
  x1 += k1;
  rounds<13, 15, 26, 6>(x0, x1);
  x0 += k1;
  x1 += k2 + 1u;
  rounds<17, 29, 16, 24>(x0, x1);
  x0 += k2;
  x1 += k0 + 2u;
  rounds<13, 15, 26, 6>(x0, x1);
  x0 += k0;
  x1 += k1 + 3u;
  rounds<17, 29, 16, 24>(x0, x1);
  x0 += k1;
  x1 += k2 + 4u;
  rounds<13, 15, 26, 6>(x0, x1);
  x0 += k2;
  x1 += k0 + 5u;
}

template <class Out>
__global__ void random_bits(const std::uint32_t* key, Out* out, std::int64_t n) {
  const std::uint32_t k0 = key[0], k1 = key[1];
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += step) {
    const auto u = static_cast<std::uint64_t>(i);
    std::uint32_t x0 = static_cast<std::uint32_t>(u >> 32), x1 = static_cast<std::uint32_t>(u);
    threefry(k0, k1, x0, x1);
    if constexpr (sizeof(Out) == 8)
      out[i] = (static_cast<std::uint64_t>(x0) << 32) | x1;
    else
      out[i] = x0 ^ x1;
  }
}

// in[0]: the key, u32[2], contiguous (the op layer makes it so). out[0]: u32 or u64.
void random_bits_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream s) {
  Tensor& y = out[0];
  const std::int64_t n = y.size();
  if (n == 0) return;
  const auto* key = static_cast<const std::uint32_t*>(in[0].raw_data());
  const std::int64_t blocks = std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65536);
  const auto grid = static_cast<unsigned>(blocks);
  if (y.dtype() == DType::u64)
    random_bits<<<grid, kThreads, 0, stream(s)>>>(key, static_cast<std::uint64_t*>(y.raw_data()),
                                                  n);
  else
    random_bits<<<grid, kThreads, 0, stream(s)>>>(key, static_cast<std::uint32_t*>(y.raw_data()),
                                                  n);
  check_launch("random_bits");
}

}  // namespace

void register_random(KernelTable& t) {
  t.set(Primitive::random_bits, random_bits_kernel);
}

}  // namespace emily::cuda
