// Attention for prefill on tensor cores. On sm_90 the warp-specialized wgmma kernel of
// flash_tma.cuh runs (same operands, same results within rounding); this file's mma.sync
// kernel runs on other GPUs, and where the tensor copy engine cannot describe the
// operands. The mma.sync kernel (FlashAttention-2's schedule): a block takes 128
// query rows of one (batch, head), each of its four warps two tiles of 16, and walks the
// keys its rows may see in tiles of 32. Q (once) and the K and V tiles go through shared
// memory (cp.async, two stages of K/V, so the next tile loads while this one is used;
// fragments read with ldmatrix, rows padded against bank conflicts); S = Q K^T and O += P V are
// mma.sync m16n8k16 products (f16/bf16 operands, f32 accumulators) whose fragments stay in
// registers: the accumulator layout of S is the operand layout of P, so the softmax (running max
// and sum per row, in the log2 domain) never leaves registers. P is rounded to the input's type for
// the second product, as every flash kernel does; everything else accumulates in f32, and O is
// rounded once at the end.
//
// Taken: f16/bf16, every mask form, sinks, GQA (a query head reads kv head h / groups; K
// and V are never repeated), K and V of one head size d, a multiple of 8 up to 128. The
// kernel is built for 64 and 128 features; a smaller d runs the next one up with the
// features past d staged as zeros (they add nothing to Q K^T, and O's columns past d are
// not written), so odd head sizes (40, 80, 96) cost the work of the larger size instead of
// falling back to the decomposition. The operands must allow 16-byte loads along the
// features (last stride 1, other strides multiples of 8, aligned data); other cases run as
// the decomposition.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/fast_mask.cuh"
#include "backend/cuda/fast_sdpa.h"
#include "backend/cuda/flash_tma.cuh"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

std::atomic<bool> g_force_mma_sync{false};  // ForceMmaSyncPrefill

constexpr int kWarps = 4;
constexpr int kPad = 8;  // shared-memory row padding (elements): no bank conflicts

// A warp owns kM tiles of 16 query rows: every K or V fragment read from shared memory
// then feeds kM products instead of one, which is what bounds the kernel (ldmatrix
// bandwidth and latency, not the tensor cores). kKeys keys per tile.
template <int D>
struct FlashShape {
  static constexpr int kM = 2;
  static constexpr int kKeys = 32;
  static constexpr int kRows = kWarps * 16 * kM;  // query rows per block
  static constexpr int kRow = D + kPad;           // a padded shared-memory row
  static constexpr int kTile = kKeys * kRow;
  // Q once, then two stages of K and V.
  static constexpr std::size_t kSharedBytes =
      (std::size_t(kRows) * kRow + 4 * std::size_t(kTile)) * sizeof(std::uint16_t);
};

// The products are pure arithmetic (not volatile), so the compiler may interleave them
// with the shared-memory loads of the next fragments.
template <class T>
__device__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                    std::uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 matrices of 16-bit values from shared memory, lane l giving the address of row
// l % 8 of matrix l / 8; `trans` reads them transposed (V's rows are keys, and P V needs
// them as columns).
template <bool kTrans>
__device__ void load_matrices(const void* row, std::uint32_t (&r)[4]) {
  const auto p = static_cast<std::uint32_t>(__cvta_generic_to_shared(row));
  if constexpr (kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(p));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(p));
}

// `rows` rows of D features from global memory (row r at base + r * stride) into shared
// rows of kRow elements, by the block's threads; rows at or past `valid` and features at or
// past `features` are zeros.
template <int D, int kRow, int kRowCount>
__device__ void stage_rows(std::uint16_t* dst, const std::uint16_t* base, std::int64_t stride,
                           std::int64_t valid, int features) {
  constexpr int kPieces = kRowCount * (D / 8), kThreads = kWarps * 32;
  static_assert(kPieces % kThreads == 0);
  // Rolled: unrolled copies would hold their addresses in registers the products need.
#pragma unroll 1
  for (int it = 0; it < kPieces / kThreads; ++it) {
    const int c = it * kThreads + static_cast<int>(threadIdx.x);
    const int r = c / (D / 8), col = (c % (D / 8)) * 8;
    const bool in = r < valid && col < features;
    copy_async(dst + r * kRow + col, base + (in ? r * stride + col : 0), in ? 16 : 0);
  }
}

// Two blocks per SM fit the registers of head size 128, three those of 64.
template <class T, int D>
__global__ void __launch_bounds__(kWarps * 32, D > 64 ? 2 : 3) flash_tiles(FlashArgs a) {
  using S = FlashShape<D>;
  constexpr int kM = S::kM, kKeys = S::kKeys, kRow = S::kRow;
  extern __shared__ uint4 shared[];
  std::uint16_t* const qs = reinterpret_cast<std::uint16_t*>(shared);
  std::uint16_t* const tiles = qs + S::kRows * kRow;
  auto k_tile = [&](int stage) { return tiles + (2 * stage) * S::kTile; };
  auto v_tile = [&](int stage) { return tiles + (2 * stage + 1) * S::kTile; };
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the mma fragments' row group and column pair
  const int m8 = lane / 8;               // which of ldmatrix's four matrices this lane addresses
  // Causal blocks late in the sequence have the most keys: they start first. (The
  // wgmma kernel's order, flash_wg::block_work, costs this kernel spills.)
  const std::int64_t i0 = std::int64_t(gridDim.x - 1 - blockIdx.x) * S::kRows;
  const std::int64_t h = blockIdx.y, b = blockIdx.z, kvh = h / a.groups;
  const int wq = warp * 16 * kM;      // the warp's first row within the block
  const std::int64_t wrow = i0 + wq;  // and in the sequence
  const std::int64_t wlast = wrow + 16 * kM - 1;

  std::int64_t last = a.tkv;  // keys [0, last) are all this block's rows may see
  if (a.mask.causal) last = flash_wg::clamp_keys(i0 + S::kRows + a.mask.causal_offset, a.tkv);
  // And this warp's: a warp past its own last key skips the tile's products.
  std::int64_t wend = last;
  if (a.mask.causal) wend = flash_wg::clamp_keys(wlast + 1 + a.mask.causal_offset, last);
  const auto* kbase = static_cast<const std::uint16_t*>(a.k) + b * a.ks[0] + kvh * a.ks[1];
  const auto* vbase = static_cast<const std::uint16_t*>(a.v) + b * a.vs[0] + kvh * a.vs[1];
  auto load_tile = [&](int stage, std::int64_t j0) {
    stage_rows<D, kRow, kKeys>(k_tile(stage), kbase + j0 * a.ks[2], a.ks[2], a.tkv - j0, a.d);
    stage_rows<D, kRow, kKeys>(v_tile(stage), vbase + j0 * a.vs[2], a.vs[2], a.tkv - j0, a.d);
    copies_commit();
  };
  // Q's rows join the first tile's copies.
  stage_rows<D, kRow, S::kRows>(
      qs, static_cast<const std::uint16_t*>(a.q) + b * a.qs[0] + h * a.qs[1] + i0 * a.qs[2],
      a.qs[2], a.tq - i0, a.d);
  if (last > 0)
    load_tile(0, 0);
  else
    copies_commit();

  float o[kM][D / 8][4] = {};
  // Row g's state in [0], row g + 8's in [1], per row tile. A sink starts the sum at one
  // at its own logit (counted once, by the t == 0 lane; the lanes' sums add up at the end).
  float m[kM][2], l[kM][2];
#pragma unroll
  for (int mt = 0; mt < kM; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      m[mt][half] = a.mask.sinks ? a.mask.sinks[h] * kLog2e : -INFINITY;
      l[mt][half] = a.mask.sinks && t == 0 ? 1.0f : 0.0f;
    }

  int stage = 0;
  for (std::int64_t j0 = 0; j0 < last; j0 += kKeys, stage ^= 1) {
    if (j0 + kKeys < last) {
      load_tile(stage ^ 1, j0 + kKeys);
      copies_wait<1>();  // this tile's copies are done, the next tile's may run on
    } else {
      copies_wait<0>();
    }
    __syncthreads();
    const std::uint16_t *ks = k_tile(stage), *vs = v_tile(stage);
    if (wrow < a.tq && j0 < wend) {
      float s[kM][kKeys / 8][4] = {};
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        // Q's fragments of features kk*16 .. +15 for each row tile.
        std::uint32_t qf[kM][4];
#pragma unroll
        for (int mt = 0; mt < kM; ++mt)
          load_matrices<false>(
              qs + (wq + mt * 16 + (m8 % 2) * 8 + lane % 8) * kRow + kk * 16 + (m8 / 2) * 8,
              qf[mt]);
#pragma unroll
        for (int n = 0; n < kKeys / 8; n += 2) {
          // Key groups n and n + 1, features kk*16 .. +15: both halves of each.
          std::uint32_t kf[4];
          load_matrices<false>(ks + ((n + m8 / 2) * 8 + lane % 8) * kRow + kk * 16 + (m8 % 2) * 8,
                               kf);
#pragma unroll
          for (int mt = 0; mt < kM; ++mt) {
            mma<T>(s[mt][n], qf[mt], kf[0], kf[1]);
            mma<T>(s[mt][n + 1], qf[mt], kf[2], kf[3]);
          }
        }
      }
      // Scale, then the masks where this tile may hold a hidden key. The tests are
      // warp-uniform and taken once per tile: a test per score would put a branch (and
      // its reconvergence) around each of them.
#pragma unroll
      for (int mt = 0; mt < kM; ++mt)
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
          for (int c = 0; c < 4; ++c) s[mt][n][c] *= a.scale;
      if (j0 + kKeys > a.tkv || a.mask.causal) {
        // Keys past the end, and past each row's causal limit (rows past the end see no
        // keys: their scores stay finite but are never written).
#pragma unroll
        for (int mt = 0; mt < kM; ++mt)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            const std::int64_t i = wrow + mt * 16 + g + (c >= 2 ? 8 : 0);
            const std::int64_t end =
                a.mask.causal ? std::min(a.tkv, i + a.mask.causal_offset + 1) : a.tkv;
#pragma unroll
            for (int n = 0; n < kKeys / 8; ++n)
              if (j0 + n * 8 + t * 2 + (c & 1) >= end) s[mt][n][c] = -INFINITY;
          }
      }
      if (a.mask.kind != SdpaMask::none) {
#pragma unroll
        for (int mt = 0; mt < kM; ++mt)
#pragma unroll
          for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
              const std::int64_t i = wrow + mt * 16 + g + (c >= 2 ? 8 : 0);
              const std::int64_t j = j0 + n * 8 + t * 2 + (c & 1);
              if (i < a.tq && j < a.tkv)
                s[mt][n][c] = apply_mask_operand(a.mask, s[mt][n][c], b, h, i, j);
            }
      }
      // The online softmax: each row's max over its four lanes, the gathered values
      // rescaled when it grows. Once the maxima settle, a tile seldom moves any row's, and
      // the warp skips the rescaling of O (a multiply per accumulator) altogether.
      float corr[kM][2];
      bool moved = false;
#pragma unroll
      for (int mt = 0; mt < kM; ++mt)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float mx = m[mt][half];
#pragma unroll
          for (int n = 0; n < kKeys / 8; ++n)
            mx = fmaxf(mx, fmaxf(s[mt][n][2 * half], s[mt][n][2 * half + 1]));
          mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
          mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
          // A row that has seen nothing yet keeps shift 0: its weights are exp2(-inf) = 0.
          const float shift = mx == -INFINITY ? 0.0f : mx;
          moved |= mx != m[mt][half];
          corr[mt][half] = exp2_approx(m[mt][half] - shift);
          float sum = 0.0f;
#pragma unroll
          for (int n = 0; n < kKeys / 8; ++n) {
            s[mt][n][2 * half] = exp2_approx(s[mt][n][2 * half] - shift);
            s[mt][n][2 * half + 1] = exp2_approx(s[mt][n][2 * half + 1] - shift);
            sum += s[mt][n][2 * half] + s[mt][n][2 * half + 1];
          }
          l[mt][half] = l[mt][half] * corr[mt][half] + sum;
          m[mt][half] = mx;
        }
      if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
        for (int mt = 0; mt < kM; ++mt)
#pragma unroll
          for (int n = 0; n < D / 8; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) o[mt][n][c] *= corr[mt][c / 2];
      }
      // O += P V: P's fragments are S's accumulators, two key groups of 8 per 16 keys.
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        std::uint32_t p[kM][4];
#pragma unroll
        for (int mt = 0; mt < kM; ++mt) {
          p[mt][0] = pack<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          p[mt][1] = pack<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          p[mt][2] = pack<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          p[mt][3] = pack<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int n = 0; n < D / 8; n += 2) {
          // Keys kk*16 .. +15 (both halves), features of groups n and n + 1, transposed.
          std::uint32_t vf[4];
          load_matrices<true>(vs + (kk * 16 + (m8 % 2) * 8 + lane % 8) * kRow + (n + m8 / 2) * 8,
                              vf);
#pragma unroll
          for (int mt = 0; mt < kM; ++mt) {
            mma<T>(o[mt][n], p[mt], vf[0], vf[1]);
            mma<T>(o[mt][n + 1], p[mt], vf[2], vf[3]);
          }
        }
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }
  if (wrow >= a.tq) return;
#pragma unroll
  for (int mt = 0; mt < kM; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half)
      flash_wg::store_row<T, D>(a, b, h, wrow + mt * 16 + g + half * 8, t, l[mt][half],
                                [&](int n, int c) { return o[mt][n][2 * half + c]; });
}

bool loads_16_bytes(const Tensor& t) {
  if (t.strides()[3] != 1 && t.shape(3) != 1) return false;
  for (int i = 0; i < 3; ++i)
    if (t.shape(i) != 1 && t.strides()[i] % 8 != 0) return false;
  return reinterpret_cast<std::uintptr_t>(t.raw_data()) % 16 == 0;
}

template <class T, int D>
void launch(const FlashArgs& a, std::int64_t batch, Stream s) {
  using S = FlashShape<D>;
  const dim3 grid(static_cast<unsigned>((a.tq + S::kRows - 1) / S::kRows),
                  static_cast<unsigned>(a.nq), static_cast<unsigned>(batch));
  // More than 48 KiB of shared memory must be asked for, once per kernel.
  static const bool raised = [] {
    return cudaFuncSetAttribute(flash_tiles<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(S::kSharedBytes)) == cudaSuccess;
  }();
  (void)raised;
  flash_tiles<T, D><<<grid, kWarps * 32, S::kSharedBytes, stream(s)>>>(a);
  check_launch("fast_sdpa");
}

}  // namespace

bool flash_fits(std::span<const Tensor> in, const SdpaAttr&) {
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  if (q.dtype() != DType::f16 && q.dtype() != DType::bf16) return false;
  const std::int64_t d = q.shape(3);
  if (d % 8 != 0 || d < 8 || d > 128 || v.shape(3) != d) return false;
  if (q.shape(0) > 65535 || q.shape(1) > 65535) return false;  // grid extents
  // The wgmma kernel's 1-d grid (flash_wg::grid_blocks) at its smallest block of rows.
  const std::int64_t blocks = (q.shape(2) + 127) / 128 * q.shape(1) * q.shape(0);
  if (blocks > std::numeric_limits<std::int32_t>::max()) return false;
  return loads_16_bytes(q) && loads_16_bytes(k) && loads_16_bytes(v);
}

void flash_attention(std::span<const Tensor> in, Tensor& out, const SdpaAttr& attr, Stream s) {
  if (out.size() == 0) return;  // no blocks to launch
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  FlashArgs a{};
  a.q = q.raw_data();
  a.k = k.raw_data();
  a.v = v.raw_data();
  a.out = out.raw_data();
  for (int i = 0; i < 4; ++i) {
    a.qs[i] = q.strides()[i];
    a.ks[i] = k.strides()[i];
    a.vs[i] = v.strides()[i];
  }
  a.nq = q.shape(1);
  a.tq = q.shape(2);
  a.tkv = k.shape(2);
  a.groups = k.shape(1) == 0 ? 1 : a.nq / k.shape(1);
  a.scale = static_cast<float>(attr.scale) * kLog2e;
  a.mask = mask_args(in, attr);
  const std::int64_t batch = q.shape(0);
  a.d = static_cast<int>(q.shape(3));
  if (warpgroup_mma_supported() && !g_force_mma_sync.load(std::memory_order_relaxed)) {
    const cudaError_t e = q.dtype() == DType::bf16
                              ? flash_tma::prefill<__nv_bfloat16>(a, batch, stream(s))
                              : flash_tma::prefill<__half>(a, batch, stream(s));
    if (e != cudaErrorNotSupported) {
      check(e, "fast_sdpa", "prefill kernel launch");
      return;
    }
  }
  if (q.dtype() == DType::bf16)
    a.d <= 64 ? launch<__nv_bfloat16, 64>(a, batch, s) : launch<__nv_bfloat16, 128>(a, batch, s);
  else
    a.d <= 64 ? launch<__half, 64>(a, batch, s) : launch<__half, 128>(a, batch, s);
}

ForceMmaSyncPrefill::ForceMmaSyncPrefill() : previous_(g_force_mma_sync.exchange(true)) {}
ForceMmaSyncPrefill::~ForceMmaSyncPrefill() {
  g_force_mma_sync.store(previous_);
}

}  // namespace emily::cuda
