// Attention for prefill on Hopper's warpgroup tensor cores (wgmma, sm_90a). Included by
// fast_flash.cu, which chooses it over its mma.sync kernel on sm_90, and by the tuning
// harness scripts/device/flash_wgmma_check.cu.
//
// The schedule is FlashAttention-2's (a block owns query rows, walks the keys in tiles,
// keeps the softmax state and O in registers), with the products on wgmma:
//  - A block is two warpgroups of 64 query rows each (128 rows) over tiles of 128 keys
//    (64 for head size 64, see Layout). S = Q K^T is one m64nKk16 per 16 features
//    (K keys a tile) with both operands read by the tensor
//    cores straight from shared memory; O += P V is one m64nDk16 per 16 keys with P
//    from registers (wgmma's accumulator layout is its A-fragment layout, as for
//    mma.sync), V from shared memory read N-major (transposed by the hardware).
//  - Q, K and V sit in shared memory in the 128-byte swizzle wgmma reads without bank
//    conflicts: a tile is stored in 64-feature slabs of 128-byte rows, the 16-byte piece
//    p of row r at piece p ^ (r % 8), each slab 1024-byte aligned. cp.async writes them
//    there piece by piece (no TMA: the pieces also zero-fill rows past the end and
//    features past d, which a tensor map would need its own bounds for).
//  - K and V have two slots each, K loaded a tile ahead of V: S of tile j + 1 is issued
//    with P V of tile j, and the softmax of tile j + 1 runs while P V j finishes on the
//    tensor cores (FlashAttention-3's overlap within a warpgroup). One block-wide barrier
//    per tile frees the slots; the next tiles' copies run under the products.
//  - Softmax, masks, sinks and the output are the mma.sync kernel's (fast_flash.cu):
//    log2 domain, running max and sum per row, O rescaled only when a row's max moved.
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

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/fast_mask.cuh"

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
};

// Whether the current device runs the wgmma kernels (device_query.cpp): an sm_90 GPU.
bool warpgroup_mma_supported();

namespace flash_wg {

constexpr int kGroups = 2;  // warpgroups per block
constexpr int kThreads = 128 * kGroups;
constexpr int kRows = 64 * kGroups;  // query rows per block
constexpr int kSlab = 64;            // features per 128-byte swizzled row

// Head size 128 takes tiles of 128 keys and one block per SM (S, O and P in 236
// registers a thread); 64 takes tiles of 64 keys and two blocks per SM (the registers
// fit 128 a thread).
template <int D>
struct Layout {
  static_assert(D % kSlab == 0);
  static constexpr int kKeys = D > 64 ? 128 : 64;  // keys per tile
  static constexpr int kBlocksPerSm = D > 64 ? 1 : 2;
  static constexpr int kQ = kRows * D * 2;       // bytes of Q
  static constexpr int kTile = kKeys * D * 2;    // bytes of a K or V tile
  static constexpr int kBytes = kQ + 4 * kTile;  // Q, two stages of K and V
  static constexpr int kShared = kBytes + 1024;  // and room to align the start
};

template <class T>
constexpr bool is_bf16 = std::is_same_v<T, __nv_bfloat16>;

// `rows` rows of D features (row r at src + r * stride) into the swizzled layout at dst,
// by the block's threads; rows at or past `valid` and features at or past `features`
// are zeros.
template <int D, int kRowCount>
__device__ __forceinline__ void stage_swizzled(std::uint8_t* dst, const std::uint16_t* src,
                                               std::int64_t stride, std::int64_t valid,
                                               int features) {
  constexpr int kPieces = kRowCount * (D / 8);
  static_assert(kPieces % kThreads == 0);
#pragma unroll
  for (int it = 0; it < kPieces / kThreads; ++it) {
    const int c = it * kThreads + static_cast<int>(threadIdx.x);
    const int r = c / (D / 8), p = c % (D / 8);
    const bool in = r < valid && p * 8 < features;
    std::uint8_t* to = dst + (p / 8) * (kRowCount * 128) + r * 128 + (((p % 8) ^ (r % 8)) << 4);
    copy_async(to, src + (in ? r * stride + p * 8 : 0), in ? 16 : 0);
  }
}

// The shared-memory matrix descriptor of wgmma: start address, leading and stride byte
// offsets (all in 16-byte units), 128-byte swizzle. Offsetting a descriptor by b bytes
// is adding b >> 4 (addresses stay below 2^18).
__device__ __forceinline__ std::uint64_t descriptor(const void* smem, int leading, int stride) {
  const auto a = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<std::uint64_t>((a & 0x3FFFF) >> 4) |
         static_cast<std::uint64_t>((leading >> 4) & 0x3FFF) << 16 |
         static_cast<std::uint64_t>((stride >> 4) & 0x3FFF) << 32 | 1ull << 62;
}

__device__ __forceinline__ void mma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void mma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void mma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
__device__ __forceinline__ void mma_wait_all() {
  mma_wait<0>();
}
// The async proxy (wgmma) reads what this thread's cp.async wrote to shared memory.
__device__ __forceinline__ void async_proxy_fence() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// The accumulators are written by the tensor cores until the wait: an empty asm that
// "writes" each after the wait keeps the compiler from reading them earlier (and from
// writing them between issue and wait).
template <int N>
__device__ __forceinline__ void hold(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define EMILY_ACC8(i)                                                                         \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define EMILY_ACC32 EMILY_ACC8(0), EMILY_ACC8(8), EMILY_ACC8(16), EMILY_ACC8(24)
#define EMILY_ACC64 EMILY_ACC32, EMILY_ACC8(32), EMILY_ACC8(40), EMILY_ACC8(48), EMILY_ACC8(56)
#define EMILY_REGS32                                                                            \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define EMILY_REGS64                                                                            \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, "  \
  "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, "  \
  "%56, %57, %58, %59, %60, %61, %62, %63}"

// d (+)= A B for A 64 x 16 and B 16 x N (K-major both) in shared memory; `accumulate`
// 0 overwrites d.
template <class T, int N>
__device__ __forceinline__ void mma_ss(float (&d)[N / 2], std::uint64_t a, std::uint64_t b,
                                       int accumulate) {
#define EMILY_SS(TY, SHAPE, REGS, ACC, DESCS, PRED)                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " PRED                                    \
               ", 0;\n"                                                                    \
               "wgmma.mma_async.sync.aligned." SHAPE ".f32." TY "." TY " " REGS ", " DESCS \
               ", p, 1, 1, 0, 0;\n}\n"                                                     \
               : ACC                                                                       \
               : "l"(a), "l"(b), "r"(accumulate))
  if constexpr (N == 64) {
    if constexpr (is_bf16<T>)
      EMILY_SS("bf16", "m64n64k16", EMILY_REGS32, EMILY_ACC32, "%32, %33", "%34");
    else
      EMILY_SS("f16", "m64n64k16", EMILY_REGS32, EMILY_ACC32, "%32, %33", "%34");
  } else {
    static_assert(N == 128);
    if constexpr (is_bf16<T>)
      EMILY_SS("bf16", "m64n128k16", EMILY_REGS64, EMILY_ACC64, "%64, %65", "%66");
    else
      EMILY_SS("f16", "m64n128k16", EMILY_REGS64, EMILY_ACC64, "%64, %65", "%66");
  }
#undef EMILY_SS
}

// d += A B for A 64 x 16 in registers (the accumulator layout, packed pairs) and B
// 16 x N in shared memory, N-major.
template <class T, int N>
__device__ __forceinline__ void mma_rs(float (&d)[N / 2], const std::uint32_t (&a)[4],
                                       std::uint64_t b) {
#define EMILY_RS(TY, SHAPE, REGS, ACC, OPERANDS, PRED)                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " PRED                                       \
               ", 0;\n"                                                                       \
               "wgmma.mma_async.sync.aligned." SHAPE ".f32." TY "." TY " " REGS ", " OPERANDS \
               ", p, 1, 1, 1;\n}\n"                                                           \
               : ACC                                                                          \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1))
  if constexpr (N == 64) {
#define EMILY_RS64(TY) \
  EMILY_RS(TY, "m64n64k16", EMILY_REGS32, EMILY_ACC32, "{%32, %33, %34, %35}, %36", "%37")
    if constexpr (is_bf16<T>)
      EMILY_RS64("bf16");
    else
      EMILY_RS64("f16");
#undef EMILY_RS64
  } else {
    static_assert(N == 128);
#define EMILY_RS128(TY) \
  EMILY_RS(TY, "m64n128k16", EMILY_REGS64, EMILY_ACC64, "{%64, %65, %66, %67}, %68", "%69")
    if constexpr (is_bf16<T>)
      EMILY_RS128("bf16");
    else
      EMILY_RS128("f16");
#undef EMILY_RS128
  }
#undef EMILY_RS
}
#undef EMILY_ACC8
#undef EMILY_ACC32
#undef EMILY_ACC64
#undef EMILY_REGS32
#undef EMILY_REGS64

// Blocks per SM as Layout says: head size 128 takes 236 registers a thread, 64 takes 124.
template <class T, int D>
__global__ void __launch_bounds__(kThreads, Layout<D>::kBlocksPerSm) attend(FlashArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using L = Layout<D>;
  constexpr int kKeys = L::kKeys;
  extern __shared__ std::uint8_t shared_raw[];
  const auto raw_at = static_cast<std::uint32_t>(__cvta_generic_to_shared(shared_raw));
  std::uint8_t* const base = shared_raw + ((1024 - (raw_at & 1023)) & 1023);
  std::uint8_t* const qs = base;
  auto k_tile = [&](int stage) { return base + L::kQ + (2 * stage) * L::kTile; };
  auto v_tile = [&](int stage) { return base + L::kQ + (2 * stage + 1) * L::kTile; };

  const int tid = threadIdx.x, wg = tid / 128, warp = (tid / 32) % 4, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;
  // Causal blocks late in the sequence have the most keys: they start first.
  const std::int64_t i0 = std::int64_t(gridDim.x - 1 - blockIdx.x) * kRows;
  const std::int64_t h = blockIdx.y, b = blockIdx.z, kvh = h / a.groups;
  const std::int64_t grow = i0 + wg * 64;      // the warpgroup's first row
  const std::int64_t wrow = grow + warp * 16;  // the warp's
  const std::int64_t row0 = wrow + g;          // this thread's (and row0 + 8)

  std::int64_t last = a.tkv;  // keys [0, last) are all this block's rows may see
  if (a.mask.causal) last = std::clamp<std::int64_t>(i0 + kRows + a.mask.causal_offset, 0, a.tkv);

  const auto* kbase = static_cast<const std::uint16_t*>(a.k) + b * a.ks[0] + kvh * a.ks[1];
  const auto* vbase = static_cast<const std::uint16_t*>(a.v) + b * a.vs[0] + kvh * a.vs[1];
  auto load_k = [&](int slot, std::int64_t j0) {
    stage_swizzled<D, kKeys>(k_tile(slot), kbase + j0 * a.ks[2], a.ks[2], a.tkv - j0, a.d);
  };
  auto load_v = [&](int slot, std::int64_t j0) {
    stage_swizzled<D, kKeys>(v_tile(slot), vbase + j0 * a.vs[2], a.vs[2], a.tkv - j0, a.d);
  };
  const int tiles = static_cast<int>((last + kKeys - 1) / kKeys);
  // Copy groups: Q with K 0, then K 1 with V 0, then per tile j the group of K j + 2
  // and V j + 1: K runs a tile ahead of V because S of the next tile is multiplied
  // beside P V of this one.
  stage_swizzled<D, kRows>(
      qs, static_cast<const std::uint16_t*>(a.q) + b * a.qs[0] + h * a.qs[1] + i0 * a.qs[2],
      a.qs[2], a.tq - i0, a.d);
  if (tiles > 0) load_k(0, 0);
  copies_commit();
  if (tiles > 1) load_k(1, kKeys);
  if (tiles > 0) load_v(0, 0);
  copies_commit();

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  // Row g's state in [0], row g + 8's in [1]. A sink starts the sum at one at its own
  // logit (counted once, by the t == 0 lane; the lanes' sums add up at the end).
  float m[2], l[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    m[half] = a.mask.sinks ? a.mask.sinks[h] * kLog2e : -INFINITY;
    l[half] = a.mask.sinks && t == 0 ? 1.0f : 0.0f;
  }
  // Q's descriptor for this warpgroup's rows; features 16 kk are at slab kk / 4, byte
  // 32 (kk % 4) of the swizzled row (the hardware applies the swizzle to the address).
  const std::uint64_t qdesc = descriptor(qs + wg * 64 * 128, 16, 1024);
  float s[kKeys / 2];
  // S = Q K^T of the tile in K slot `slot`, issued (the caller commits and waits).
  auto issue_s = [&](int slot) {
    const std::uint64_t kdesc = descriptor(k_tile(slot), 16, 1024);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const int off = (kk / 4) * kRows * 128 + (kk % 4) * 32;
      const int koff = (kk / 4) * kKeys * 128 + (kk % 4) * 32;
      mma_ss<T, kKeys>(s, qdesc + (off >> 4), kdesc + (koff >> 4), kk > 0);
    }
  };

  if (tiles > 0) {
    copies_wait<1>();  // Q and K 0
    async_proxy_fence();
    __syncthreads();
    mma_fence();
    issue_s(0);
    mma_commit();
    mma_wait_all();
    hold(s);
  }
  // Tile j: the softmax of S j runs while the tensor cores finish P V of tile j - 1;
  // then S j + 1 and P V j are issued together, and S j + 1 is waited for.
  // `next` is a compile-time constant: the last tile is a call of its own, so no wgmma
  // issue or wait sits under a branch (ptxas serializes the pipeline when one does).
  auto tile = [&](int j, auto next) {
    const std::int64_t j0 = std::int64_t(j) * kKeys;
    std::uint32_t p[kKeys / 16][4];
    float corr[2] = {1.0f, 1.0f};
    bool moved = false;
    {
      // The scale is folded into the exponent's FMA (the max of raw scores is the max of
      // scaled ones for a positive scale); an additive mask is added to scaled scores.
      const bool fold = a.mask.kind != SdpaMask::additive && a.scale > 0.0f;
      const float mul = fold ? a.scale : 1.0f;
      if (!fold) {
#pragma unroll
        for (int i = 0; i < kKeys / 2; ++i) s[i] *= a.scale;
      }
      // Keys past the end and past each row's causal limit: warp-uniform tests, once
      // per tile (a test per score would put a branch around each).
      if (j0 + kKeys > a.tkv || (a.mask.causal && j0 + kKeys - 1 > wrow + a.mask.causal_offset)) {
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const std::int64_t i = row0 + (c >= 2 ? 8 : 0);
          const std::int64_t end =
              a.mask.causal ? std::min(a.tkv, i + a.mask.causal_offset + 1) : a.tkv;
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
    // P V of tile j - 1 is done: it read the previous P from registers, so the new P
    // is packed only now (the softmax above ran in S's registers under it); O may be
    // rescaled.
    mma_wait_all();
    hold(o);
    // P's fragment for 16 keys is S's accumulators of key groups 2 kk and 2 kk + 1.
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      p[kk][0] = pack<T>(s[8 * kk + 0], s[8 * kk + 1]);
      p[kk][1] = pack<T>(s[8 * kk + 2], s[8 * kk + 3]);
      p[kk][2] = pack<T>(s[8 * kk + 4], s[8 * kk + 5]);
      p[kk][3] = pack<T>(s[8 * kk + 6], s[8 * kk + 7]);
    }
    if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
      for (int i = 0; i < D / 2; ++i) o[i] *= corr[(i % 4) / 2];
    }
    // K j + 1 and V j have landed; every warpgroup is past S j (K slot j % 2) and P V
    // j - 1 (V slot (j + 1) % 2): those slots take K j + 2 and V j + 1.
    copies_wait<0>();
    async_proxy_fence();
    __syncthreads();
    if (j + 2 < tiles) load_k(j % 2, j0 + 2 * kKeys);
    if (j + 1 < tiles) load_v((j + 1) % 2, j0 + kKeys);
    copies_commit();
    if constexpr (next) {
      mma_fence();
      issue_s((j + 1) % 2);
      mma_commit();
    }
    {
      mma_fence();
      // O += P V, 16 keys a product: V's 16 rows start 16 kk rows (2048 bytes) into
      // each slab, slabs kKeys rows apart (the leading offset), 8-row groups 1024 bytes
      // apart (the stride).
      const std::uint64_t vdesc = descriptor(v_tile(j % 2), kKeys * 128, 1024);
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) mma_rs<T, D>(o, p[kk], vdesc + ((kk * 2048) >> 4));
      mma_commit();
    }
    if constexpr (next) {
      mma_wait<1>();  // S j + 1; P V j runs on under the next softmax
      hold(s);
    }
  };
  for (int j = 0; j + 1 < tiles; ++j) tile(j, std::true_type{});
  if (tiles > 0) tile(tiles - 1, std::false_type{});
  mma_wait_all();
  hold(o);
  if (wrow >= a.tq) return;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float total = l[half];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const std::int64_t i = row0 + half * 8;
    if (i >= a.tq) continue;
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    T* orow = static_cast<T*>(a.out) + ((b * a.nq + h) * a.tq + i) * a.d;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      if (n * 8 < a.d)
        *reinterpret_cast<std::uint32_t*>(orow + n * 8 + t * 2) =
            pack<T>(o[4 * n + 2 * half] * inv, o[4 * n + 2 * half + 1] * inv);
  }
#endif
}

// Launches the kernel for a.d <= D on `stream`; returns the launch's error.
template <class T, int D>
cudaError_t launch(const FlashArgs& a, std::int64_t batch, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((a.tq + kRows - 1) / kRows), static_cast<unsigned>(a.nq),
                  static_cast<unsigned>(batch));
  // More than 48 KiB of shared memory must be asked for, once per kernel.
  static const cudaError_t raised = cudaFuncSetAttribute(
      attend<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, Layout<D>::kShared);
  if (raised != cudaSuccess) return raised;
  attend<T, D><<<grid, kThreads, Layout<D>::kShared, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace flash_wg
}  // namespace emily::cuda
