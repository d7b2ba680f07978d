// The quantized GEMV for decode on the tensor cores: y {M, N} = x {M, K} . W^T for packed
// 4- or 8-bit W {N, K}, M <= 8 and 16-bit x (f16 or bf16). Included by quant.cu (the
// dispatch) and by the tuning harness scripts/device/qgemv_tune.cu. quant_gemv.cuh keeps
// the f32-FMA kernel for f32 x and 2, 3 and 6 bits, and for the cases where it measured
// faster (quant_gemv.h says which).
//
// Why tensor cores for a GEMV: the FMA kernel spent 5-6 instructions per int4 code (code
// to float, fma, activation conversion and sum) and was bound by issue, not DRAM (ncu:
// 25% of DRAM bandwidth; bench/results/fast-quant.md, session 15). Here a code pair
// becomes a 16-bit pair with one LOP3 into the mantissa of a power of two (plus a shift
// for most pairs), and mma.sync m16n8k16 does 8 codes x 16 rows of dot product per lane
// and instruction. The power of two stays in the product: the tensor core sums
// (offset + q) x, and the offset's share, a multiple of the piece's activation sums, is
// taken off in f32 after it (code_pairs, Offsets; until session 26 an HFMA2 per pair
// removed it first, a third of the loop's instructions). The products are exact (an
// integer below 2^11 and a 16-bit x are exact in x's type; their product fits f32), the
// sums are f32, and the scales and biases are applied in f32, as in the FMA kernel:
// w = s q + b is never rounded. What the offset costs is f32 rounding of larger sums: a
// few units of 2^-24 (offset + 255) sum |x| per piece (offset 128 or 256 for bf16, 1024
// for f16), far below the rounding of the 16-bit output (2^-9 or 2^-12 of it).
//
// Layout of one mma (A = 16 rows of W by 16 codes, B = 16 codes by 8 columns):
//  - Lane (g = lane / 4, t = lane % 4) loads 16 bytes of row g and of row g + 8 (its
//    "piece": 32 int4 or 16 int8 codes, one group or less); the 4 lanes of a quad load a
//    row's 64 consecutive bytes (a "segment"). The mma's k positions 2t, 2t+1, 2t+8,
//    2t+9 hold codes of lane t's piece, so the A operand needs no data movement between
//    lanes, only code pairs in the order the bit tricks give them ((c0, c4), (c1, c5)...
//    of an int4 word); each warp permutes the activations of its own segments into
//    that order in shared memory.
//  - Pieces of one segment may lie in different groups (group 32 or 64), so the 8 B
//    columns keep them apart: column n = 2 t' + mm holds activation row 2 p + mm at the
//    positions of lane t' only (zero elsewhere), so C[row][2t + mm], which lane t
//    holds, is the dot product of its own piece with activation row 2 p + mm. It
//    applies the piece's scale and bias (s * (C - offset term) + b * sum x) in f32.
//    M > 2 runs ceil(M / 2) "sets" of mma on the same A.
//  - A warp owns 16 rows and walks its segments; warps of a block split K and add their
//    sums in shared memory, blocks split K only when the rows cannot fill the machine
//    (f32 partial sums and qgemv::sum_splits, no atomics).
// Measured (session 17): a third fewer instructions than the FMA kernel for int4, but
// each warp's load-wait-compute chain still leaves DRAM at 27% (int4 4096^2) to 57%
// (int8 8192^2) of peak; 1.08-1.16x the FMA kernel for int4 at M = 1, 0.8x for int8,
// 1.45-2.6x at M = 2 and 8. Session 23 keeps a ring of segments' loads in registers
// (6-11% at int4) and found the rest of the time in each warp's fixed work (ncu: the
// prologue, staging and epilogue drew two thirds of the stall samples at 4096^2); each
// warp now stages its own activations, with no block-wide barrier before its products.
// Session 26 (ncu: DRAM at 52% of peak at int4 8192^2, 198 instructions per segment):
// keeping the offsets in the products (no HFMA2 per pair) and a fetch without branches
// did not change the time; what did was asking L2 for 128-byte lines and fewer warps per tile
// (8-16 segments each): int4 4096^2 and 8192^2 9% and 11% faster, int8 10% and 6% (now
// on the tensor cores at M = 1 too).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/quant_gemv.cuh"
#include "backend/cuda/quant_gemv_plan.h"

namespace emily::cuda::qgemv_tc {

using qgemv::ScaleType;

template <class TX>
constexpr bool is_bf16() {
  return std::is_same_v<TX, __nv_bfloat16>;
}

// A 16-bit pair of x's type with both halves v, a signed power of two, as a constant.
template <class TX>
constexpr std::uint32_t pair_of(float v) {
  const std::uint32_t sign = v < 0 ? 1u : 0u;
  float m = v < 0 ? -v : v;
  int e = 0;
  while (m >= 2.0f) m /= 2.0f, ++e;
  while (m < 1.0f) m *= 2.0f, --e;
  const std::uint32_t half = is_bf16<TX>() ? (sign << 15) | std::uint32_t(e + 127) << 7
                                           : (sign << 15) | std::uint32_t(e + 15) << 10;
  return half | half << 16;
}
static_assert(pair_of<__nv_bfloat16>(-128.0f) == 0xC300C300u &&
              pair_of<__half>(0.0625f) == 0x2C002C00u);

// 2^e, e the width of x's mantissa: an integer v below 2^e ORed into the mantissa of
// this power of two makes it read 2^e + v.
template <class TX>
constexpr float magic() {
  return is_bf16<TX>() ? 128.0f : 1024.0f;
}
static_assert(pair_of<__nv_bfloat16>(magic<__nv_bfloat16>()) == 0x43004300u &&
              pair_of<__half>(magic<__half>()) == 0x64006400u);

// (a & mask) | magic in one LOP3: with both constants in registers (the compiler
// otherwise splits it in two, one immediate each).
__device__ __forceinline__ std::uint32_t and_or(std::uint32_t a, std::uint32_t mask,
                                                std::uint32_t magic) {
  std::uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(mask), "r"(magic));
  return d;
}

// The codes of one word as 16-bit pairs of x's type, each code plus a fixed offset, in
// the order the bit tricks give them: one LOP3 each (and a shift for most), no
// arithmetic. The offsets leave the tensor core's sums; the staged activations carry
// what they add (Offsets, below).
//  - int4 (codes c0..c7): `lo` holds (c0, c4) and (c2, c6) as m + c, `hi` holds
//    (c1, c5) and (c3, c7) as m + f c. bf16 has 7 mantissa bits, so a nibble at bits
//    4..7 would reach the exponent: it is shifted to bits 3..6 and reads 128 + 8c; f16
//    has 10 and reads 1024 + 16c in place. `hi` is scaled back by Offsets::hi_scale
//    (gemv's consume says where).
//  - int8 (c0..c3): `lo` holds (c0, c2) and (c1, c3). In bf16 a byte does not fit the
//    mantissa: `lo` holds its low 7 bits (128 + l) and `hi` its top bit (128 + 128 h),
//    both multiplied into the same accumulator.
// Exact: each value is an integer below 2^11 in a 16-bit float, so each product fits f32.
template <int Bits, class TX>
struct CodePairs {
  static constexpr bool kHi = Bits == 4 || is_bf16<TX>();
  std::uint32_t lo[2], hi[2];
};

template <int Bits, class TX>
__device__ __forceinline__ CodePairs<Bits, TX> code_pairs(std::uint32_t w) {
  constexpr std::uint32_t m = pair_of<TX>(magic<TX>());
  CodePairs<Bits, TX> p;
  const std::uint32_t h = w >> 8;
  if constexpr (Bits == 4 && is_bf16<TX>()) {
    p.lo[0] = and_or(w, 0x000F000Fu, m), p.lo[1] = and_or(h, 0x000F000Fu, m);
    p.hi[0] = and_or(w >> 1, 0x00780078u, m), p.hi[1] = and_or(w >> 9, 0x00780078u, m);
  } else if constexpr (Bits == 4) {
    p.lo[0] = and_or(w, 0x000F000Fu, m), p.lo[1] = and_or(h, 0x000F000Fu, m);
    p.hi[0] = and_or(w, 0x00F000F0u, m), p.hi[1] = and_or(h, 0x00F000F0u, m);
  } else if constexpr (is_bf16<TX>()) {
    p.lo[0] = and_or(w, 0x007F007Fu, m), p.lo[1] = and_or(h, 0x007F007Fu, m);
    p.hi[0] = and_or(w, 0x00800080u, m), p.hi[1] = and_or(h, 0x00800080u, m);
  } else {
    p.lo[0] = __byte_perm(w, 0x64646464u, 0x4240u), p.lo[1] = __byte_perm(w, 0x64646464u, 0x4341u);
  }
  return p;
}

// d = a * b + c on 16-bit pairs of x's type.
template <class TX>
__device__ __forceinline__ std::uint32_t hfma2(std::uint32_t a, std::uint32_t b, std::uint32_t c) {
  std::uint32_t d;
  if constexpr (is_bf16<TX>())
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  else
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

// What the offsets of code_pairs add to a piece's dot product, in multiples of the sums
// of its activations at even and odd positions (int4: the codes of `lo` sit under even
// positions, those of `hi` under odd ones), and the factor that scales `hi`'s sums back.
template <int Bits, class TX>
struct Offsets;
template <>
struct Offsets<4, __nv_bfloat16> {  // lo 128 + c; hi (128 + 8c) / 8
  static constexpr float even = 128.0f, odd = 16.0f, hi_scale = 0.125f;
};
template <>
struct Offsets<4, __half> {  // lo 1024 + c; hi (1024 + 16c) / 16
  static constexpr float even = 1024.0f, odd = 64.0f, hi_scale = 0.0625f;
};
template <>
struct Offsets<8, __nv_bfloat16> {  // (128 + l) + (128 + 128h)
  static constexpr float even = 256.0f, odd = 256.0f, hi_scale = 1.0f;
};
template <>
struct Offsets<8, __half> {  // 1024 + c
  static constexpr float even = 1024.0f, odd = 1024.0f, hi_scale = 1.0f;
};

// The codes themselves: code_pairs' offsets removed in 16-bit arithmetic, each step
// exact (every value is an integer of at most 9 bits). int8 in bf16 adds `hi` into
// `lo` ((128 + l - 256) + (128 + 128 h)), leaving `hi` unused. One or two HFMA2 per
// pair: cheaper than the offsets' f32 terms once there are several sets of mma, which
// would apply them once per set (gemv's consume).
template <int Bits, class TX>
__device__ __forceinline__ void remove_offsets(CodePairs<Bits, TX>& p) {
  constexpr float m = magic<TX>();
  constexpr float hs = Offsets<4, TX>::hi_scale;  // int4's hi reads m + c / hs
  constexpr std::uint32_t one = pair_of<TX>(1.0f), minus_m = pair_of<TX>(-m);
  constexpr std::uint32_t scale = pair_of<TX>(hs), minus_ms = pair_of<TX>(-m * hs);
  constexpr std::uint32_t minus_2m = pair_of<TX>(-2 * m);
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    if constexpr (Bits == 4) {
      p.lo[i] = hfma2<TX>(p.lo[i], one, minus_m);
      p.hi[i] = hfma2<TX>(p.hi[i], scale, minus_ms);
    } else if constexpr (is_bf16<TX>()) {
      p.lo[i] = hfma2<TX>(p.hi[i], one, hfma2<TX>(p.lo[i], one, minus_2m));
    } else {
      p.lo[i] = hfma2<TX>(p.lo[i], one, minus_m);
    }
  }
}

// c += A . B for one m16n8k16 tile with f32 accumulators.
template <class TX>
__device__ __forceinline__ void mma(float (&c)[4], std::uint32_t a0, std::uint32_t a1,
                                    std::uint32_t a2, std::uint32_t a3, std::uint32_t b0,
                                    std::uint32_t b1) {
  if constexpr (is_bf16<TX>())
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Codes are read once: keep them out of L1, which holds the scales. A quad reads 64
// bytes of a row; asking L2 for the whole 128-byte line brings the row's next segment
// with it, in half the DRAM requests (H100, session 26: int4 8192^2 8% faster, int8 8%;
// asking for 256 bytes was slower).
__device__ __forceinline__ uint4 load_stream(const std::uint32_t* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::128B.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// What a lane reads from global memory for one segment: its piece of rows g and g + 8,
// and their scales and biases (a piece lies in one group).
struct Fetched {
  uint4 code[2];
  float s[2], b[2];
};

template <class TS>
__device__ __forceinline__ float ld_scale(const TS* p) {
  const TS v = __ldg(p);
  if constexpr (std::is_same_v<TS, float>)
    return v;
  else if constexpr (std::is_same_v<TS, __half>)
    return __half2float(v);
  else
    return __bfloat162float(v);
}

// A block: `tiles` tiles of 16 rows (blockIdx.x * tiles + warp / kwarps), `kwarps`
// warps per tile, each over a contiguous share of the segments of split blockIdx.y
// (pieces [blockIdx.y * pieces_per_split, + pieces_per_split)). Sets = ceil(M / 2)
// rounded up to 1, 2 or 4; `m_rows` is M itself. With `partial` set, the block writes f32
// sums to partial[blockIdx.y][m][n] instead of y. Each lane keeps a ring of `Depth`
// segments' loads in flight in registers (codes, scales and biases: the loads of a
// segment go out as soon as its slot is consumed).
template <int Bits, class TX, class TS, int Sets, int Depth>
__global__ void __launch_bounds__(32 * kMaxWarps)
    gemv(const TX* __restrict__ x, const std::uint32_t* __restrict__ packed,
         const TS* __restrict__ scales, const TS* __restrict__ biases, TX* __restrict__ y,
         float* __restrict__ partial, const Args a) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  constexpr int PC = piece_codes<Bits>(), PW = piece_words<Bits>(), MP = 2 * Sets;
  constexpr int kSums = sums_per_row(Sets);
  using Off = Offsets<Bits, TX>;
  extern __shared__ uint4 smem_raw[];
  std::uint32_t* const sm = reinterpret_cast<std::uint32_t*>(smem_raw);

  const int lane = threadIdx.x, warp = threadIdx.y, warps = blockDim.y;
  const int g = lane >> 2, t = lane & 3;
  const int kwarps = 1 << a.kwarps_log2, kw = warp & (kwarps - 1);
  const std::int64_t tile =
      static_cast<std::int64_t>(blockIdx.x) * a.tiles + (warp >> a.kwarps_log2);
  const std::int64_t n_out = a.n_out, k = a.k, groups = a.groups;
  const int m_rows = a.m_rows;
  const int p0 = static_cast<int>(blockIdx.y) * a.pieces_per_split;
  const int count = min(a.pieces - p0, a.pieces_per_split);
  const int segs = (count + 3) >> 2;
  const int gshift = a.gshift;
  const int per_warp = (segs + kwarps - 1) >> a.kwarps_log2;
  const int sb = kw * per_warp, se = min(segs, sb + per_warp);

  // Rows g and g + 8 of the tile; past the last row, the last one (in bounds, dropped).
  const std::int64_t n0 = min(tile * kRows + g, n_out - 1), n1 = min(n0 + 8, n_out - 1);
  const uint4* const code0 = reinterpret_cast<const uint4*>(packed + n0 * a.row_words) + p0;
  const uint4* const code1 = reinterpret_cast<const uint4*>(packed + n1 * a.row_words) + p0;
  const TS* const s0 = scales + n0 * groups;
  const TS* const s1 = scales + n1 * groups;
  const TS* const b0 = biases + n0 * groups;
  const TS* const b1 = biases + n1 * groups;

  // The lane's piece t of a segment. Past the split's last piece it reads that piece
  // again: the staged activations there are zero, as are their sums and offset terms, so
  // it adds nothing, and no branch or zeroing is needed.
  auto fetch = [&](Fetched& f, int seg) {
    const unsigned mine = min(seg * 4 + t, count - 1);
    const unsigned gi = ((p0 + mine) * PC) >> gshift;
    f.code[0] = load_stream(reinterpret_cast<const std::uint32_t*>(code0 + mine));
    f.code[1] = load_stream(reinterpret_cast<const std::uint32_t*>(code1 + mine));
    f.s[0] = ld_scale(s0 + gi), f.s[1] = ld_scale(s1 + gi);
    f.b[0] = ld_scale(b0 + gi), f.b[1] = ld_scale(b1 + gi);
  };

  const Smem L = smem_layout<Bits>(m_rows, segs, warps, Sets);
  float* const xsum_sm = reinterpret_cast<float*>(sm) + L.xsum;
  // One piece of activation row mi (zeros past the split), and its staging: the sum and
  // the offsets' term (Offsets), and the values permuted into the order code_pairs gives
  // the codes, 16 bytes per 8 codes, the B registers of two mma (int4: one word's
  // (x0,x4) (x2,x6) | (x1,x5) (x3,x7); int8: two words' (x0,x2) (x1,x3) | (x4,x6) (x5,x7)).
  auto load_piece = [&](int mi, int pc, std::uint32_t(&raw)[PW]) {
    if (pc < count) {
      const uint4* src = reinterpret_cast<const uint4*>(x + mi * k + (p0 + pc) * PC);
#pragma unroll
      for (int j = 0; j < PW / 4; ++j) {
        const uint4 v = __ldg(src + j);
        raw[4 * j] = v.x, raw[4 * j + 1] = v.y, raw[4 * j + 2] = v.z, raw[4 * j + 3] = v.w;
      }
    } else {
#pragma unroll
      for (int j = 0; j < PW; ++j) raw[j] = 0;
    }
  };
  auto stage_piece = [&](int mi, int pc, const std::uint32_t(&raw)[PW]) {
    float even = 0.0f, odd = 0.0f;
#pragma unroll
    for (int j = 0; j < PW; ++j) {
      if constexpr (is_bf16<TX>()) {
        even += __uint_as_float(raw[j] << 16), odd += __uint_as_float(raw[j] & 0xFFFF0000u);
      } else {
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&raw[j]));
        even += f.x, odd += f.y;
      }
    }
    std::uint32_t* dst = sm + L.xs + (mi * segs + (pc >> 2)) * 4 * PW + (pc & 3) * 4;
#pragma unroll
    for (int j = 0; j < PW / 4; ++j) {
      const std::uint32_t* r = raw + 4 * j;
      uint4 v;
      if constexpr (Bits == 4)
        v = make_uint4(__byte_perm(r[0], r[2], 0x5410), __byte_perm(r[1], r[3], 0x5410),
                       __byte_perm(r[0], r[2], 0x7632), __byte_perm(r[1], r[3], 0x7632));
      else
        v = make_uint4(__byte_perm(r[0], r[1], 0x5410), __byte_perm(r[0], r[1], 0x7632),
                       __byte_perm(r[2], r[3], 0x5410), __byte_perm(r[2], r[3], 0x7632));
      *reinterpret_cast<uint4*>(dst + j * 16) = v;
    }
    if constexpr (kSums == 2)
      *reinterpret_cast<float2*>(xsum_sm + (pc * MP + mi) * 2) =
          make_float2(even + odd, Off::even * even + Off::odd * odd);
    else
      xsum_sm[pc * MP + mi] = even + odd;
  };

  // Each warp stages the activations of its own segments, so no warp waits on another
  // before its products (ncu, session 23: the block-wide staging and the barrier after
  // it drew over half of the stall samples). The lane's first piece goes out ahead of
  // the codes: x sits in L2, and behind a flood of code misses its loads waited as long
  // as the codes did.
  const int pb = sb * 4, pe = max(se, sb) * 4;  // the warp's pieces
  const bool early = pb + lane < pe;
  std::uint32_t first[PW];
  if (early) load_piece(0, pb + lane, first);

  Fetched ring[Depth];
  // The first loads go out before the activations are staged.
#pragma unroll
  for (int d = 0; d < Depth; ++d)
    if (sb + d < se) fetch(ring[d], sb + d);

  // Stage the warp's activations: a lane per (row of x, piece), permuted into mma
  // order, with the piece's sums; pieces past `count` and rows past M are zero.
  if (early) stage_piece(0, pb + lane, first);
  for (int mi = 0; mi < MP; ++mi) {
    for (int pc = pb + lane + (mi == 0 ? 32 : 0); pc < pe; pc += 32) {
      if (mi >= m_rows) {
        for (int i = 0; i < kSums; ++i) xsum_sm[(pc * MP + mi) * kSums + i] = 0.0f;
        continue;
      }
      std::uint32_t raw[PW];
      load_piece(mi, pc, raw);
      stage_piece(mi, pc, raw);
    }
  }
  std::uint32_t* const zeros = sm + L.zeros + warp * 64;
  zeros[lane] = 0, zeros[lane + 32] = 0;
  __syncwarp();

  // B column n = 2 owner + mm holds activation row 2p + mm at the k positions of lane
  // `owner` of the quad, zero elsewhere; so C[row][2t + mm] is this lane's own piece
  // dotted with activation row 2p + mm. Lane (g, t) supplies column g: its own piece's
  // activations when g / 2 == t, else zeros (stepping 0 per segment).
  const std::uint32_t* bptr[Sets];
  int bstep[Sets];
#pragma unroll
  for (int p = 0; p < Sets; ++p) {
    const int mb = 2 * p + (g & 1);
    const bool own = g / 2 == t && mb < m_rows;
    bptr[p] = own ? sm + L.xs + mb * segs * 4 * PW + t * 4 : zeros;
    bstep[p] = own ? 4 * PW : 0;
  }
  const float* const xsp = xsum_sm + t * MP * kSums;

  float acc[Sets][2][2] = {};  // [set][row g, g + 8][activation row 2p, 2p + 1]
  auto consume = [&](const Fetched& f, int seg) {
    // One set keeps the offsets in the products, int4's `hi` in its own accumulator
    // scaled back in f32; several sets remove them first (remove_offsets): the f32 terms
    // would be paid once per set and int8's `hi` would double the mma (H100, session 26:
    // M = 8 6-12% slower with the offsets kept).
    constexpr bool kExact = Sets > 1;
    constexpr bool kSplit = Bits == 4 && !kExact;
    constexpr bool kHi = CodePairs<Bits, TX>::kHi && (Bits == 4 || !kExact);
    auto pairs = [](std::uint32_t w) {
      CodePairs<Bits, TX> p = code_pairs<Bits, TX>(w);
      if constexpr (kExact) remove_offsets<Bits, TX>(p);
      return p;
    };
    float c[Sets][4] = {}, ch[Sets][kSplit ? 4 : 1] = {};
    const std::uint32_t w0[4] = {f.code[0].x, f.code[0].y, f.code[0].z, f.code[0].w};
    const std::uint32_t w1[4] = {f.code[1].x, f.code[1].y, f.code[1].z, f.code[1].w};
    const uint4* bq[Sets];
#pragma unroll
    for (int p = 0; p < Sets; ++p) bq[p] = reinterpret_cast<const uint4*>(bptr[p] + seg * bstep[p]);
#pragma unroll
    for (int j = 0; j < PW / 4; ++j) {  // 16 bytes of B per set
      uint4 bv[Sets];
#pragma unroll
      for (int p = 0; p < Sets; ++p) bv[p] = bq[p][4 * j];
      if constexpr (Bits == 4) {  // one word per row: lo against (x, y), hi against (z, w)
        const CodePairs<Bits, TX> r0 = pairs(w0[j]), r1 = pairs(w1[j]);
#pragma unroll
        for (int p = 0; p < Sets; ++p) {
          mma<TX>(c[p], r0.lo[0], r1.lo[0], r0.lo[1], r1.lo[1], bv[p].x, bv[p].y);
          if constexpr (kSplit)
            mma<TX>(ch[p], r0.hi[0], r1.hi[0], r0.hi[1], r1.hi[1], bv[p].z, bv[p].w);
          else
            mma<TX>(c[p], r0.hi[0], r1.hi[0], r0.hi[1], r1.hi[1], bv[p].z, bv[p].w);
        }
      } else {  // two words per row; lo and hi of a word against the same activations
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const CodePairs<Bits, TX> r0 = pairs(w0[2 * j + h]), r1 = pairs(w1[2 * j + h]);
#pragma unroll
          for (int p = 0; p < Sets; ++p) {
            const std::uint32_t bx = h ? bv[p].z : bv[p].x, by = h ? bv[p].w : bv[p].y;
            mma<TX>(c[p], r0.lo[0], r1.lo[0], r0.lo[1], r1.lo[1], bx, by);
            if constexpr (kHi) mma<TX>(c[p], r0.hi[0], r1.hi[0], r0.hi[1], r1.hi[1], bx, by);
          }
        }
      }
    }
    // Per piece: s (C - offsets' term) + b sum(x), in f32 (no term when kExact).
    const float* xs = xsp + seg * 4 * MP * kSums;
#pragma unroll
    for (int p = 0; p < Sets; ++p) {
      float sum0, sum1, term0 = 0.0f, term1 = 0.0f;
      if constexpr (kSums == 2) {
        const float4 v = *reinterpret_cast<const float4*>(xs + 4 * p);
        sum0 = v.x, term0 = v.y, sum1 = v.z, term1 = v.w;
      } else {
        const float2 v = *reinterpret_cast<const float2*>(xs + 2 * p);
        sum0 = v.x, sum1 = v.y;
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float v0 = c[p][2 * r] - term0, v1 = c[p][2 * r + 1] - term1;
        if constexpr (kSplit) {
          v0 = fmaf(Off::hi_scale, ch[p][2 * r], v0);
          v1 = fmaf(Off::hi_scale, ch[p][2 * r + 1], v1);
        }
        acc[p][r][0] += fmaf(f.s[r], v0, f.b[r] * sum0);
        acc[p][r][1] += fmaf(f.s[r], v1, f.b[r] * sum1);
      }
    }
  };

  // Slot d of the ring holds segments sb + d, sb + d + Depth, ...: unrolled by Depth so
  // that the ring stays in registers.
#pragma unroll 1
  for (int seg = sb; seg < se; seg += Depth) {
#pragma unroll
    for (int d = 0; d < Depth; ++d) {
      const int s = seg + d;
      if (s < se) {
        consume(ring[d], s);
        if (s + Depth < se) fetch(ring[d], s + Depth);
      }
    }
  }

  // The quad's four lanes hold the four pieces of a segment: add them.
  float* red = reinterpret_cast<float*>(sm + L.red);
#pragma unroll
  for (int p = 0; p < Sets; ++p) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int mm = 0; mm < 2; ++mm) {
        float v = acc[p][r][mm];
        v += __shfl_xor_sync(0xffffffffu, v, 1);
        v += __shfl_xor_sync(0xffffffffu, v, 2);
        if (t == 2 * r + mm) red[(warp * MP + 2 * p + mm) * kRows + g + 8 * r] = v;
      }
    }
  }
  __syncthreads();
  // A thread per (tile, activation row, row of W): the sum over the tile's warps.
  const int tid = warp * 32 + lane;
  for (int tb = 0; tb < a.tiles; ++tb) {
    for (int i = tid; i < m_rows * kRows; i += warps * 32) {
      const int mi = i / kRows, r = i % kRows;
      const std::int64_t n = (static_cast<std::int64_t>(blockIdx.x) * a.tiles + tb) * kRows + r;
      if (n >= n_out) continue;
      float total = 0.0f;
      for (int w = 0; w < kwarps; ++w) total += red[((tb * kwarps + w) * MP + mi) * kRows + r];
      if (partial != nullptr)
        partial[(static_cast<std::int64_t>(blockIdx.y) * m_rows + mi) * n_out + n] = total;
      else
        y[mi * n_out + n] = store<TX>(total);
    }
  }
}

// Segments a lane keeps loads of in registers: 4 for one set of mma (104 registers, two
// blocks of 8 warps per SM), 2 for more sets, whose accumulators leave less room.
template <int Sets>
constexpr int ring_depth() {
  return Sets == 1 ? 4 : 2;
}

}  // namespace emily::cuda::qgemv_tc
