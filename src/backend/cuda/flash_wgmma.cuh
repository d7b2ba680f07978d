// Attention for prefill on Hopper's warpgroup tensor cores (wgmma, sm_90a): the math of a
// consumer warpgroup, which the warp-specialized kernel of flash_tma.cuh runs (its tiles
// come by the tensor copy engine). fast_flash.cu chooses it over its mma.sync kernel on
// sm_90; scripts/device/flash_wgmma_check.cu checks and times it.
//
// The schedule is FlashAttention-2's (a block owns query rows, walks the keys in tiles,
// keeps the softmax state and O in registers), with the products on wgmma:
//  - A consumer warpgroup owns 64 query rows. S = Q K^T is one m64nKk16 per 16 features
//    (K keys a tile) with both operands read by the tensor cores straight from shared
//    memory; O += P V is one m64nDk16 per 16 keys with P from registers (wgmma's
//    accumulator layout is its A-fragment layout, as for mma.sync), V from shared memory
//    read N-major (transposed by the hardware).
//  - Q, K and V sit in shared memory in the 128-byte swizzle wgmma reads without bank
//    conflicts: a tile is stored in 64-feature slabs of 128-byte rows, the 16-byte piece
//    p of row r at piece p ^ (r % 8), each slab 1024-byte aligned. It is also the layout
//    the tensor copy engine writes with CU_TENSOR_MAP_SWIZZLE_128B.
//  - K is loaded a tile ahead of V: S of tile j + 1 is issued with P V of tile j, and the
//    softmax of tile j + 1 runs while P V j finishes on the tensor cores (FlashAttention-
//    3's overlap within a warpgroup).
//  - Softmax, masks, sinks and the output are the mma.sync kernel's (fast_flash.cu): log2
//    domain, running max and sum per row, O rescaled only when a row's max moved.
// A thread of warp w (of its warpgroup), lane (g, t), holds rows 16 w + g and + 8 of its
// warpgroup's 64, and columns 8 n + 2 t, + 1 of each accumulator: s[4 n + c] is key
// 8 n + 2 t + (c & 1) of row g + 8 (c >= 2).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/async_copy.cuh"  // exp2_approx
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/fast_mask.cuh"
#include "backend/cuda/wgmma.cuh"

namespace emily::cuda {

// One prefill attention call: Q {B, Nq, Tq, d}, K and V {B, Nkv, Tkv, d} by strides (in
// elements, the last 1), out {B, Nq, Tq, d} contiguous.
struct FlashArgs {
  const void *q, *k, *v;
  void* out;
  std::int64_t qs[4], ks[4], vs[4];
  std::int64_t nq, tq, tkv, groups;
  int d;        // features of a row, <= D (the rest are staged as zeros)
  float scale;  // softmax scale times log2(e)
  MaskArgs mask;
  // The grid's order, set by order_blocks: blocks start in the order of their index.
  unsigned q_blocks;     // blocks of query rows per head
  unsigned heads;        // nq * batch
  unsigned group_heads;  // heads per group (see order_blocks)
};

// Whether the current device runs the wgmma kernels (device_query.cpp): an sm_90 GPU.
bool warpgroup_mma_supported();

namespace flash_wg {

using namespace wgmma;

constexpr int kSlab = 64;  // features per 128-byte swizzled row

// Output row i (of head h, batch b) from the quad of lanes that holds it: `sum` is this
// lane's part of the row's softmax sum; value(n, c) is its O at feature 8 n + 2 t + c
// (the mma accumulator layout, c = 0, 1). Every lane of the warp must call it (the
// quad's sums are shuffled); rows past Tq and features past d are left out.
template <class T, int D, class Value>
__device__ __forceinline__ void store_row(const FlashArgs& a, std::int64_t b, std::int64_t h,
                                          std::int64_t i, int t, float sum, Value value) {
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  if (i >= a.tq) return;
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  T* orow = static_cast<T*>(a.out) + ((b * a.nq + h) * a.tq + i) * a.d;
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
    if (n * 8 < a.d)
      *reinterpret_cast<std::uint32_t*>(orow + n * 8 + t * 2) =
          pack<T>(value(n, 0) * inv, value(n, 1) * inv);
}

// The 1-d grid's order. Heads (of all batch entries) go in groups, a group's blocks
// together; within a group, query blocks from the last to the first, the group's heads
// innermost. Causal blocks late in the sequence see the most keys, and a block that
// starts last sets the tail of the whole call: so the longest start first across every
// head of the group (longest first is close to the best order for a greedy scheduler).
// The group keeps to the heads whose K and V fit in half of L2, which the group's
// blocks then share; without a causal mask every block does the same work and a group
// is one head (each head's K and V read by the blocks running together).
inline void order_blocks(FlashArgs& a, int rows, std::int64_t batch) {
  static const std::int64_t l2_bytes = [] {
    int device = 0, bytes = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device);
    return bytes > 0 ? std::int64_t(bytes) : std::int64_t(50) << 20;
  }();
  a.q_blocks = static_cast<unsigned>((a.tq + rows - 1) / rows);
  a.heads = static_cast<unsigned>(a.nq * batch);
  a.group_heads = 1;
  if (!a.mask.causal || a.heads == 0) return;
  // K and V bytes per query head (GQA: a kv head serves `groups` query heads).
  const std::int64_t per_head = std::max<std::int64_t>(1, 4 * a.tkv * a.d / a.groups);
  const std::int64_t fit = std::clamp<std::int64_t>(l2_bytes / 2 / per_head, 1, a.heads);
  const std::int64_t groups = (a.heads + fit - 1) / fit;
  a.group_heads = static_cast<unsigned>((a.heads + groups - 1) / groups);  // near-equal sizes
}

// The grid's size for order_blocks' order.
inline unsigned grid_blocks(const FlashArgs& a) {
  return a.q_blocks * a.heads;
}

// This block's first query row, head and batch entry, in order_blocks' order.
struct BlockWork {
  std::int64_t i0, h, b;
};
__device__ __forceinline__ BlockWork block_work(const FlashArgs& a, int rows) {
  // 32-bit: the grid has fewer than 2^31 blocks (flash_fits), and 64-bit division
  // costs the kernels registers they need.
  const unsigned id = blockIdx.x, group = a.group_heads, span = group * a.q_blocks;
  const unsigned first = id / span * group, r = id % span;
  const unsigned n = a.heads - first < group ? a.heads - first : group;
  const unsigned hb = first + r % n, q_block = a.q_blocks - 1 - r / n;
  return {std::int64_t(q_block) * rows, hb % a.nq, hb / a.nq};
}

// e within [0, n]. By value: std::clamp and std::min return a reference, and one to a
// field of the kernel's parameter puts both operands on the stack.
__device__ __forceinline__ std::int64_t clamp_keys(std::int64_t e, std::int64_t n) {
  return e < 0 ? 0 : (e < n ? e : n);
}

// What one consumer warpgroup keeps and does, for tiles of kKeys keys and head size D:
// the softmax state of its thread's two rows, the weights of a tile, O, and the store.
template <class T, int D, int kKeys>
struct Rows {
  const FlashArgs& a;
  std::int64_t b, h;
  std::int64_t wrow;  // the warp's first row
  std::int64_t row0;  // this thread's (and row0 + 8)
  int t;              // lane % 4
  // Row g's state in [0], row g + 8's in [1]. A sink starts the sum at one at its own
  // logit (counted once, by the t == 0 lane; the lanes' sums add up at the end).
  float m[2], l[2];
  float corr[2];
  bool moved;

  __device__ Rows(const FlashArgs& args, std::int64_t b_, std::int64_t h_, std::int64_t wrow_,
                  int lane)
      : a(args), b(b_), h(h_), wrow(wrow_), row0(wrow_ + lane / 4), t(lane % 4) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      m[half] = a.mask.sinks ? a.mask.sinks[h] * kLog2e : -INFINITY;
      l[half] = a.mask.sinks && t == 0 ? 1.0f : 0.0f;
    }
  }

  // Scores of the tile at key j0 become unnormalised weights in place; corr and moved
  // say how O must be rescaled.
  __device__ __forceinline__ void softmax(float (&s)[kKeys / 2], std::int64_t j0) {
    // The scale is folded into the exponent's FMA (the max of raw scores is the max of
    // scaled ones for a positive scale); an additive mask is added to scaled scores.
    const bool fold = a.mask.kind != SdpaMask::additive && a.scale > 0.0f;
    const float mul = fold ? a.scale : 1.0f;
    if (!fold) {
#pragma unroll
      for (int i = 0; i < kKeys / 2; ++i) s[i] *= a.scale;
    }
    // Keys past the end and past each row's causal limit: warp-uniform tests, once per
    // tile (a test per score would put a branch around each).
    if (j0 + kKeys > a.tkv || (a.mask.causal && j0 + kKeys - 1 > wrow + a.mask.causal_offset)) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const std::int64_t i = row0 + (c >= 2 ? 8 : 0);
        const std::int64_t end =
            a.mask.causal ? clamp_keys(i + a.mask.causal_offset + 1, a.tkv) : a.tkv;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n)
          if (j0 + n * 8 + t * 2 + (c & 1) >= end) s[4 * n + c] = -INFINITY;
      }
    }
    if (a.mask.kind != SdpaMask::none) {
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const std::int64_t i = row0 + (c >= 2 ? 8 : 0);
          const std::int64_t jj = j0 + n * 8 + t * 2 + (c & 1);
          if (i < a.tq && jj < a.tkv)
            s[4 * n + c] = apply_mask_operand(a.mask, s[4 * n + c], b, h, i, jj);
        }
    }
    moved = false;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float raw = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n)
        raw = fmaxf(raw, fmaxf(s[4 * n + 2 * half], s[4 * n + 2 * half + 1]));
      float mx = fmaxf(m[half], raw * mul);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // A row that has seen nothing yet keeps shift 0: its weights are exp2(-inf) = 0.
      const float shift = mx == -INFINITY ? 0.0f : mx;
      moved |= mx != m[half];
      corr[half] = exp2_approx(m[half] - shift);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
        s[4 * n + 2 * half] = exp2_approx(fmaf(s[4 * n + 2 * half], mul, -shift));
        s[4 * n + 2 * half + 1] = exp2_approx(fmaf(s[4 * n + 2 * half + 1], mul, -shift));
        sum += s[4 * n + 2 * half] + s[4 * n + 2 * half + 1];
      }
      l[half] = l[half] * corr[half] + sum;
      m[half] = mx;
    }
  }

  // P's A fragment for 16 keys is S's accumulators of key groups 2 kk and 2 kk + 1.
  __device__ __forceinline__ static void pack_weights(const float (&s)[kKeys / 2],
                                                      std::uint32_t (&p)[kKeys / 16][4]) {
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk)
#pragma unroll
      for (int r = 0; r < 4; ++r) p[kk][r] = pack<T>(s[8 * kk + 2 * r], s[8 * kk + 2 * r + 1]);
  }

  __device__ __forceinline__ void rescale(float (&o)[D / 2]) const {
    if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
      for (int i = 0; i < D / 2; ++i) o[i] *= corr[(i % 4) / 2];
    }
  }

  // O / l of this thread's rows to out, rows past Tq and features past d left out.
  __device__ __forceinline__ void store(const float (&o)[D / 2]) const {
    if (wrow >= a.tq) return;
#pragma unroll
    for (int half = 0; half < 2; ++half)
      store_row<T, D>(a, b, h, row0 + half * 8, t, l[half],
                      [&](int n, int c) { return o[4 * n + 2 * half + c]; });
  }
};

// S = Q K^T for one warpgroup's 64 rows: Q's slabs hold kQRows rows, K's kKeys; features
// 16 kk are at slab kk / 4, byte 32 (kk % 4) of the swizzled row (the hardware applies
// the swizzle to the address). Issued only: the caller commits and waits.
template <class T, int D, int kKeys, int kQRows>
__device__ __forceinline__ void issue_scores(float (&s)[kKeys / 2], std::uint64_t qdesc,
                                             const std::uint8_t* k_tile) {
  const std::uint64_t kdesc = descriptor(k_tile, 16, 1024);
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const int off = (kk / 4) * kQRows * 128 + (kk % 4) * 32;
    const int koff = (kk / 4) * kKeys * 128 + (kk % 4) * 32;
    mma_ss<T, kKeys>(s, qdesc + (off >> 4), kdesc + (koff >> 4), kk > 0);
  }
}

// O += P V, 16 keys a product: V's 16 rows start 16 kk rows (2048 bytes) into each slab,
// slabs kKeys rows apart (the leading offset), 8-row groups 1024 bytes apart (the
// stride). Issued only.
template <class T, int D, int kKeys>
__device__ __forceinline__ void issue_values(float (&o)[D / 2],
                                             const std::uint32_t (&p)[kKeys / 16][4],
                                             const std::uint8_t* v_tile) {
  const std::uint64_t vdesc = descriptor(v_tile, kKeys * 128, 1024);
#pragma unroll
  for (int kk = 0; kk < kKeys / 16; ++kk) mma_rs<T, D>(o, p[kk], vdesc + ((kk * 2048) >> 4));
}

}  // namespace flash_wg
}  // namespace emily::cuda
