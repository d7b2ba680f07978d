// The quantized GEMV for decode: y {M, N} = x {M, K} . W^T for packed W {N, K} and
// M <= 8, reading the codes directly. Included by quant.cu (the dispatch) and by the
// tuning harness scripts/device/qgemv_tune.cu, so it depends on nothing but the device
// types.
//
// Why it is shaped this way (H100 measurements in bench/results/fast-quant.md):
//  - M = 1 reads each weight once, yet an int4 code costs several instructions to turn
//    into a float and use, and the kernel is bound by instruction latency and occupancy
//    more than by DRAM (ncu: ~25% of DRAM bandwidth, warps stalled on loads with too few
//    eligible to issue). So: a code becomes a float by writing it into the mantissa of
//    2^23 (one byte permute or logic op) and subtracting 2^23 (exact) instead of a
//    quarter-rate I2F; the scale and bias are applied once per 32 codes,
//    sum_j x_j (s q_j + b) = s sum_j x_j q_j + b sum_j x_j; the group index is a shift,
//    not a division; a chunk's activations load with its codes.
//  - Few registers (about 55) and a warp per row: more rows per warp share activation
//    loads but cost occupancy, and measured slower at M = 1 (2 rows: 6-40%, depending
//    on a register cap; 4 rows: up to 2x). At M = 8, 2 rows per warp were 1.25x faster.
//  - When N alone cannot fill the machine, the warps of a block split K (one
//    shared-memory sum at the end), then the grid does, writing f32 partial sums that a
//    second kernel adds (no atomics: the result does not depend on timing).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_types.cuh"

namespace emily::cuda::qgemv {

constexpr int kCols = 1;      // rows of W (output columns) per warp
constexpr int kMaxWarps = 8;  // per block; they split K
constexpr int kMaxRows = 8;   // activation rows M handled here

enum class ScaleType : int { f32, f16, bf16 };

// Scales and biases are read once per 32 codes, so a run-time switch on their dtype
// costs little and saves a third of the instantiations.
__device__ __forceinline__ float load_scale(const void* p, std::int64_t i, ScaleType t) {
  switch (t) {
    case ScaleType::f16:
      return __half2float(__ldg(static_cast<const __half*>(p) + i));
    case ScaleType::bf16:
      return __bfloat162float(__ldg(static_cast<const __nv_bfloat16*>(p) + i));
    default:
      return __ldg(static_cast<const float*>(p) + i);
  }
}

// `bits` = 0x4B000000 | q for a code q < 2^23: the float 2^23 + q, minus 2^23, is q exactly.
__device__ __forceinline__ float from_magic(std::uint32_t bits) {
  return __uint_as_float(bits) - 8388608.0f;
}

// Byte i of v as the low byte of 0x4B0000xx (a byte permute: one instruction).
template <int I>
__device__ __forceinline__ std::uint32_t byte_magic(std::uint32_t v) {
  return __byte_perm(v, 0x4B000000u, 0x7440u + I);
}

// The `Bits` words of a 32-code chunk; rows and chunks are aligned to the load width
// (checked by the caller): 16 bytes for 4 and 8 bits, 8 for 2 and 6, 4 for 3.
template <int Bits>
__device__ __forceinline__ void load_chunk(const std::uint32_t* __restrict__ p,
                                           std::uint32_t (&w)[Bits]) {
  if constexpr (Bits % 4 == 0) {
#pragma unroll
    for (int i = 0; i < Bits / 4; ++i) {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + i);
      w[4 * i] = v.x;
      w[4 * i + 1] = v.y;
      w[4 * i + 2] = v.z;
      w[4 * i + 3] = v.w;
    }
  } else if constexpr (Bits % 2 == 0) {
#pragma unroll
    for (int i = 0; i < Bits / 2; ++i) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(p) + i);
      w[2 * i] = v.x;
      w[2 * i + 1] = v.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < Bits; ++i) w[i] = __ldg(p + i);
  }
}

// Code j of a chunk's bit stream (3 and 6 bits may straddle two words); j is a
// compile-time constant once the callers' loops unroll.
template <int Bits>
__device__ __forceinline__ std::uint32_t chunk_code(const std::uint32_t (&w)[Bits], int j) {
  const int bit = Bits * j, word = bit / 32, shift = bit % 32;
  std::uint32_t v = w[word] >> shift;
  if (shift + Bits > 32) v |= w[word + 1] << (32 - shift);
  return v & ((1u << Bits) - 1u);
}

// Codes 8o .. 8o+7 of a chunk as exact floats.
template <int Bits>
__device__ __forceinline__ void octet(const std::uint32_t (&w)[Bits], int o, float (&q)[8]) {
  if constexpr (Bits == 8) {
    const std::uint32_t a = w[2 * o], b = w[2 * o + 1];
    q[0] = from_magic(byte_magic<0>(a));
    q[1] = from_magic(byte_magic<1>(a));
    q[2] = from_magic(byte_magic<2>(a));
    q[3] = from_magic(byte_magic<3>(a));
    q[4] = from_magic(byte_magic<0>(b));
    q[5] = from_magic(byte_magic<1>(b));
    q[6] = from_magic(byte_magic<2>(b));
    q[7] = from_magic(byte_magic<3>(b));
  } else if constexpr (Bits == 4) {
    // Even codes in the low nibbles, odd codes in the high ones: two masks, then a byte
    // permute per code.
    const std::uint32_t lo = w[o] & 0x0F0F0F0Fu, hi = (w[o] >> 4) & 0x0F0F0F0Fu;
    q[0] = from_magic(byte_magic<0>(lo));
    q[1] = from_magic(byte_magic<0>(hi));
    q[2] = from_magic(byte_magic<1>(lo));
    q[3] = from_magic(byte_magic<1>(hi));
    q[4] = from_magic(byte_magic<2>(lo));
    q[5] = from_magic(byte_magic<2>(hi));
    q[6] = from_magic(byte_magic<3>(lo));
    q[7] = from_magic(byte_magic<3>(hi));
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = from_magic(chunk_code<Bits>(w, 8 * o + i) | 0x4B000000u);
  }
}

// Activations 8o .. 8o+7 of a chunk as floats (16-byte loads: x rows are 16-byte aligned).
template <class TX>
__device__ __forceinline__ void load_x8(const TX* __restrict__ p, float (&x)[8]) {
  if constexpr (sizeof(TX) == 4) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(p));
    const float4 b = __ldg(reinterpret_cast<const float4*>(p) + 1);
    x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w;
    x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
  } else {
    halves_to_floats<TX>(__ldg(reinterpret_cast<const uint4*>(p)), x);
  }
}

// A chunk's 32 activations as raw 16-byte words, loaded in one go so that their latency
// overlaps the weights' (loading them octet by octet serialises four L2 round trips).
template <class TX>
struct XChunk {
  static constexpr int n = 32 * sizeof(TX) / 16;
  uint4 v[n];
};

template <class TX>
__device__ __forceinline__ void load_xchunk(const TX* __restrict__ p, XChunk<TX>& x) {
#pragma unroll
  for (int i = 0; i < XChunk<TX>::n; ++i) x.v[i] = __ldg(reinterpret_cast<const uint4*>(p) + i);
}

// Activations 8o .. 8o+7 of a loaded chunk as floats.
template <class TX>
__device__ __forceinline__ void x8_from(const XChunk<TX>& c, int o, float (&x)[8]) {
  if constexpr (sizeof(TX) == 4) {
    const uint4 a = c.v[2 * o], b = c.v[2 * o + 1];
    x[0] = __uint_as_float(a.x), x[1] = __uint_as_float(a.y);
    x[2] = __uint_as_float(a.z), x[3] = __uint_as_float(a.w);
    x[4] = __uint_as_float(b.x), x[5] = __uint_as_float(b.y);
    x[6] = __uint_as_float(b.z), x[7] = __uint_as_float(b.w);
  } else {
    halves_to_floats<TX>(c.v[o], x);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// What a lane reads for one chunk before computing with it: the codes of its Cols rows,
// their scales and biases, and (one activation row) the chunk's activations.
template <int Bits, class TX, int Rows, int Cols>
struct Fetched {
  static constexpr bool hoist = Rows == 1;  // more rows would cost too many registers
  std::uint32_t w[Cols][Bits];
  float s[Cols], b[Cols];
  XChunk<TX> xc;
};

// Where a lane's rows start: codes, and scales/biases (an element index).
template <int Cols>
struct RowStarts {
  const std::uint32_t* codes[Cols];
  std::int64_t groups[Cols];
};

template <int Bits, class TX, int Rows, int Cols>
__device__ __forceinline__ void fetch(Fetched<Bits, TX, Rows, Cols>& f, std::int64_t ch,
                                      const TX* __restrict__ x, const RowStarts<Cols>& r,
                                      const void* __restrict__ scales,
                                      const void* __restrict__ biases, ScaleType st,
                                      int group_shift) {
#pragma unroll
  for (int c = 0; c < Cols; ++c) load_chunk<Bits>(r.codes[c] + ch * Bits, f.w[c]);
  if constexpr (Fetched<Bits, TX, Rows, Cols>::hoist) load_xchunk(x + ch * 32, f.xc);
  // A chunk lies inside one group; group sizes are powers of two, so a shift (a run-time
  // division here cost a reciprocal sequence per chunk, ahead of the scale loads).
  const std::int64_t g = (ch * 32) >> group_shift;
#pragma unroll
  for (int c = 0; c < Cols; ++c) {
    f.s[c] = load_scale(scales, r.groups[c] + g, st);
    f.b[c] = load_scale(biases, r.groups[c] + g, st);
  }
}

// acc[c][m] += x[m] . w[c] over one fetched chunk.
template <int Bits, class TX, int Rows, int Cols>
__device__ __forceinline__ void consume(const Fetched<Bits, TX, Rows, Cols>& f, std::int64_t ch,
                                        const TX* __restrict__ x, int rows, std::int64_t k,
                                        float (&acc)[Cols][Rows]) {
  float dot[Cols][Rows] = {}, xsum[Rows] = {};
#pragma unroll
  for (int o = 0; o < 4; ++o) {
    float q[Cols][8];
#pragma unroll
    for (int c = 0; c < Cols; ++c) octet<Bits>(f.w[c], o, q[c]);
#pragma unroll
    for (int m = 0; m < Rows; ++m) {
      if (Rows > 1 && m >= rows) break;
      float xv[8];
      if constexpr (Fetched<Bits, TX, Rows, Cols>::hoist)
        x8_from(f.xc, o, xv);
      else
        load_x8(x + m * k + ch * 32 + o * 8, xv);
#pragma unroll
      for (int i = 0; i < 8; ++i) xsum[m] += xv[i];
#pragma unroll
      for (int c = 0; c < Cols; ++c) {
#pragma unroll
        for (int i = 0; i < 8; ++i) dot[c][m] = fmaf(xv[i], q[c][i], dot[c][m]);
      }
    }
  }
#pragma unroll
  for (int c = 0; c < Cols; ++c) {
#pragma unroll
    for (int m = 0; m < Rows; ++m) acc[c][m] += fmaf(f.s[c], dot[c][m], f.b[c] * xsum[m]);
  }
}

// One block: Cols rows of W starting at blockIdx.x * Cols, the chunks of split
// blockIdx.y, blockDim.y warps interleaved over them 32 chunks at a time (a warp's loads
// of one row are 32 consecutive chunks: coalesced). Rows is M rounded up to 1, 2, 4 or
// 8 (registers scale with it); `rows` is M itself. With `partial` set, the block writes
// its f32 sums to partial[blockIdx.y][m][n] instead of y. MinBlocks caps registers
// (__launch_bounds__) for the tuning harness's wider variants.
template <int Bits, class TX, int Rows, int Cols = kCols, int MinBlocks = 1>
__global__ void __launch_bounds__(32 * kMaxWarps, MinBlocks)
    gemv(const TX* __restrict__ x, const std::uint32_t* __restrict__ packed,
         const void* __restrict__ scales, const void* __restrict__ biases, ScaleType st,
         TX* __restrict__ y, float* __restrict__ partial, int rows, std::int64_t n_out,
         std::int64_t k, int group_size, std::int64_t chunks_per_split) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  const int lane = threadIdx.x, warp = threadIdx.y, warps = blockDim.y;
  const std::int64_t n0 = static_cast<std::int64_t>(blockIdx.x) * Cols;
  const std::int64_t chunks = k / 32, row_words = k * Bits / 32, groups = k / group_size;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * chunks_per_split;
  const std::int64_t end = std::min(chunks, begin + chunks_per_split);
  // Past the last row, a warp re-reads the last one (in bounds, uniform control flow)
  // and drops the result.
  RowStarts<Cols> r;
#pragma unroll
  for (int c = 0; c < Cols; ++c) {
    const std::int64_t n = std::min(n0 + c, n_out - 1);
    r.codes[c] = packed + n * row_words;
    r.groups[c] = n * groups;
  }
  const int group_shift = __ffs(group_size) - 1;

  float acc[Cols][Rows] = {};
  // One chunk at a time, not unrolled: a second chunk's registers cost more occupancy
  // than its loads in flight give (a prefetching variant measured 10-40% slower).
#pragma unroll 1
  for (std::int64_t ch = begin + warp * 32 + lane; ch < end; ch += 32 * warps) {
    Fetched<Bits, TX, Rows, Cols> f;
    fetch(f, ch, x, r, scales, biases, st, group_shift);
    consume(f, ch, x, rows, k, acc);
  }

  __shared__ float sums[kMaxWarps][Cols][Rows];
#pragma unroll
  for (int c = 0; c < Cols; ++c) {
#pragma unroll
    for (int m = 0; m < Rows; ++m) {
      const float v = warp_sum(acc[c][m]);
      if (lane == 0) sums[warp][c][m] = v;
    }
  }
  __syncthreads();
  const int t = warp * 32 + lane;
  if (t >= Cols * Rows) return;
  const int c = t / Rows, m = t % Rows;
  if (m >= rows || n0 + c >= n_out) return;
  float total = 0.0f;
  for (int v = 0; v < warps; ++v) total += sums[v][c][m];
  if (partial != nullptr)
    partial[(static_cast<std::int64_t>(blockIdx.y) * rows + m) * n_out + n0 + c] = total;
  else
    y[m * n_out + n0 + c] = store<TX>(total);
}

// y[i] = sum over splits of partial[split][i], for the rows * n outputs.
template <class TX>
__global__ void sum_splits(const float* __restrict__ partial, TX* __restrict__ y,
                           std::int64_t count, int splits) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += step) {
    float total = 0.0f;
    for (int s = 0; s < splits; ++s) total += partial[s * count + i];
    y[i] = store<TX>(total);
  }
}

// How a call is spread over the machine.
struct Plan {
  int warps = 1;                      // per block, splitting K
  int splits = 1;                     // blocks along K (> 1: partial sums + sum_splits)
  std::int64_t chunks_per_split = 0;  // 32-code chunks per split
};

// One warp per block while the rows alone give at least 16 warps per SM (a block of one
// warp walking a whole row measured fastest for N >= 4096); below that, more warps per
// block share a row's K, as long as each keeps a full round of chunks, then the grid
// splits K. About 16 resident warps per SM suffice to cover memory latency here; more
// were not measured to help.
inline Plan plan(std::int64_t n, std::int64_t k, int sms, int cols = kCols) {
  Plan p;
  const std::int64_t chunks = k / 32, col_blocks = (n + cols - 1) / cols;
  const std::int64_t target_warps = static_cast<std::int64_t>(sms) * 16;
  while (p.warps < kMaxWarps && col_blocks * p.warps < target_warps && chunks >= 32 * 2 * p.warps)
    p.warps *= 2;
  const std::int64_t most = std::max<std::int64_t>(1, chunks / (32 * p.warps));
  const std::int64_t want = (target_warps + col_blocks * p.warps - 1) / (col_blocks * p.warps);
  p.splits = static_cast<int>(std::clamp<std::int64_t>(want, 1, std::min<std::int64_t>(most, 32)));
  p.chunks_per_split = (chunks + p.splits - 1) / p.splits;
  return p;
}

}  // namespace emily::cuda::qgemv
