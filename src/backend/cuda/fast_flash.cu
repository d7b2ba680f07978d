// Attention for prefill on tensor cores (FlashAttention-2's schedule): a block takes 64
// query rows of one (batch, head), each of its four warps 16 of them, and walks the keys
// its rows may see in tiles of 64. K and V tiles go through shared memory (cp.async, two
// stages, so the next tile loads while this one is used; fragments read with ldmatrix,
// rows padded against bank conflicts); S = Q K^T and O += P V are mma.sync m16n8k16
// products (f16/bf16 operands, f32 accumulators) whose fragments stay in registers: the
// accumulator layout of S is the operand layout of P, so the softmax (running max and
// sum per row, in the log2 domain) never leaves registers.
// P is rounded to the input's type for the second product, as every flash kernel does;
// everything else accumulates in f32, and O is rounded once at the end.
//
// Taken: f16/bf16, head size 64 or 128 for both K and V, every mask form, sinks, GQA (a
// query head reads kv head h / groups; K and V are never repeated). The operands must
// allow 16-byte loads along the features (last stride 1, other strides multiples of 8,
// aligned data); other cases run as the decomposition.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/fast_mask.cuh"
#include "backend/cuda/fast_sdpa.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

constexpr int kBlockRows = 64;  // query rows per block, 16 per warp
constexpr int kKeys = 64;       // keys per tile
constexpr int kPad = 8;         // shared-memory row padding (elements): no bank conflicts

struct FlashArgs {
  const void *q, *k, *v;
  void* out;
  std::int64_t qs[4], ks[4], vs[4];
  std::int64_t nq, tq, tkv, groups;
  float scale;  // softmax scale times log2(e)
  MaskArgs mask;
};

template <class T>
__device__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                    std::uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two values rounded to T and packed, the first in the low half (the lower column).
template <class T>
__device__ std::uint32_t pack(float lo, float hi) {
  const T l = store<T>(lo), h = store<T>(hi);
  return std::uint32_t(reinterpret_cast<const std::uint16_t&>(l)) |
         (std::uint32_t(reinterpret_cast<const std::uint16_t&>(h)) << 16);
}

// 16 bytes global -> shared without passing through registers; `bytes` 0 fills zeros
// (keys past the end).
__device__ void copy_async(void* dst, const void* src, int bytes) {
  const auto d = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(bytes));
}
__device__ void copies_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int kPending>
__device__ void copies_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
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

template <int D>
constexpr int kTileElements = kKeys*(D + kPad);
template <int D>
constexpr std::size_t kSharedBytes = 2 * 2 * kTileElements<D> * sizeof(std::uint16_t);

// Two stages of K and V tiles: the next tile's copies run while this one is used.
template <class T, int D>
__global__ void __launch_bounds__(128) flash_tiles(FlashArgs a) {
  extern __shared__ uint4 shared[];
  auto* tiles = reinterpret_cast<std::uint16_t*>(shared);
  auto k_tile = [&](int stage) { return tiles + (2 * stage) * kTileElements<D>; };
  auto v_tile = [&](int stage) { return tiles + (2 * stage + 1) * kTileElements<D>; };
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the mma fragments' row group and column pair
  // Causal blocks late in the sequence have the most keys: they start first.
  const std::int64_t i0 = std::int64_t(gridDim.x - 1 - blockIdx.x) * kBlockRows;
  const std::int64_t h = blockIdx.y, b = blockIdx.z, kvh = h / a.groups;
  const std::int64_t wrow = i0 + warp * 16;  // the warp's first query row

  std::int64_t last = a.tkv;  // keys [0, last) are all this block's rows may see
  if (a.mask.causal)
    last = std::clamp<std::int64_t>(i0 + kBlockRows + a.mask.causal_offset, 0, a.tkv);
  const std::uint16_t* kbase = static_cast<const std::uint16_t*>(a.k) + b * a.ks[0] + kvh * a.ks[1];
  const std::uint16_t* vbase = static_cast<const std::uint16_t*>(a.v) + b * a.vs[0] + kvh * a.vs[1];
  auto load_tile = [&](int stage, std::int64_t j0) {
    constexpr int kPieces = kKeys * D / 8;  // 16-byte pieces per tile
    std::uint16_t *kt = k_tile(stage), *vt = v_tile(stage);
    for (int c = threadIdx.x; c < kPieces; c += 128) {
      const int r = c / (D / 8), col = (c % (D / 8)) * 8;
      const bool in = j0 + r < a.tkv;
      const std::int64_t j = in ? j0 + r : 0;
      copy_async(kt + r * (D + kPad) + col, kbase + j * a.ks[2] + col, in ? 16 : 0);
      copy_async(vt + r * (D + kPad) + col, vbase + j * a.vs[2] + col, in ? 16 : 0);
    }
    copies_commit();
  };
  if (last > 0) load_tile(0, 0);

  // Q's fragments for every 16 features, held for the whole walk.
  std::uint32_t qf[D / 16][4];
  {
    const std::uint16_t* q = static_cast<const std::uint16_t*>(a.q) + b * a.qs[0] + h * a.qs[1];
    const std::int64_t r0 = wrow + g, r1 = wrow + g + 8;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const int c = kk * 16 + t * 2;
      auto at = [&](std::int64_t r, int col) -> std::uint32_t {
        return r < a.tq ? *reinterpret_cast<const std::uint32_t*>(q + r * a.qs[2] + col) : 0u;
      };
      qf[kk][0] = at(r0, c);
      qf[kk][1] = at(r1, c);
      qf[kk][2] = at(r0, c + 8);
      qf[kk][3] = at(r1, c + 8);
    }
  }

  float o[D / 8][4] = {};
  // Row g's state in c[0..1], row g + 8's in c[2..3]. A sink starts the sum at one at
  // its own logit (counted once, by the t == 0 lane; the lanes' sums add up at the end).
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  if (a.mask.sinks) {
    m[0] = m[1] = a.mask.sinks[h] * kLog2e;
    l[0] = l[1] = t == 0 ? 1.0f : 0.0f;
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
    if (wrow < a.tq) {
      float s[kKeys / 8][4] = {};
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
        for (int n = 0; n < kKeys / 8; n += 2) {
          // Key groups n and n + 1, features kk*16 .. +15: both halves of each.
          const int m8 = lane / 8;
          std::uint32_t kf[4];
          load_matrices<false>(
              ks + ((n + m8 / 2) * 8 + lane % 8) * (D + kPad) + kk * 16 + (m8 % 2) * 8, kf);
          mma<T>(s[n], qf[kk], kf[0], kf[1]);
          mma<T>(s[n + 1], qf[kk], kf[2], kf[3]);
        }
      }
      // Scale, then the masks where this tile may hold a hidden key.
      const bool partial = j0 + kKeys > a.tkv || a.mask.kind != SdpaMask::none ||
                           (a.mask.causal && j0 + kKeys - 1 > wrow + a.mask.causal_offset);
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          float x = s[n][c] * a.scale;
          if (partial) {
            const std::int64_t i = wrow + g + (c >= 2 ? 8 : 0);
            const std::int64_t j = j0 + n * 8 + t * 2 + (c & 1);
            x = j < a.tkv && i < a.tq ? apply_mask(a.mask, x, b, h, i, j) : -INFINITY;
          }
          s[n][c] = x;
        }
      }
      // The online softmax: each row's max over its four lanes, the gathered values
      // rescaled when it grows.
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float mx = m[half];
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n)
          mx = fmaxf(mx, fmaxf(s[n][2 * half], s[n][2 * half + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // A row that has seen nothing yet keeps shift 0: its weights are exp2(-inf) = 0.
        const float shift = mx == -INFINITY ? 0.0f : mx;
        const float corr = exp2f(m[half] - shift);
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) {
          s[n][2 * half] = exp2f(s[n][2 * half] - shift);
          s[n][2 * half + 1] = exp2f(s[n][2 * half + 1] - shift);
          sum += s[n][2 * half] + s[n][2 * half + 1];
        }
        l[half] = l[half] * corr + sum;
        m[half] = mx;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          o[n][2 * half] *= corr;
          o[n][2 * half + 1] *= corr;
        }
      }
      // O += P V: P's fragments are S's accumulators, two key groups of 8 per 16 keys.
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        const std::uint32_t p[4] = {pack<T>(s[2 * kk][0], s[2 * kk][1]),
                                    pack<T>(s[2 * kk][2], s[2 * kk][3]),
                                    pack<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                    pack<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int n = 0; n < D / 8; n += 2) {
          // Keys kk*16 .. +15 (both halves), features of groups n and n + 1, transposed.
          const int m8 = lane / 8;
          std::uint32_t vf[4];
          load_matrices<true>(
              vs + (kk * 16 + (m8 % 2) * 8 + lane % 8) * (D + kPad) + (n + m8 / 2) * 8, vf);
          mma<T>(o[n], p, vf[0], vf[1]);
          mma<T>(o[n + 1], p, vf[2], vf[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }
  if (wrow >= a.tq) return;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float total = l[half];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const std::int64_t i = wrow + g + half * 8;
    if (i >= a.tq) continue;
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    T* orow = static_cast<T*>(a.out) + ((b * a.nq + h) * a.tq + i) * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<std::uint32_t*>(orow + n * 8 + t * 2) =
          pack<T>(o[n][2 * half] * inv, o[n][2 * half + 1] * inv);
  }
}

bool loads_16_bytes(const Tensor& t) {
  if (t.strides()[3] != 1 && t.shape(3) != 1) return false;
  for (int i = 0; i < 3; ++i)
    if (t.shape(i) != 1 && t.strides()[i] % 8 != 0) return false;
  return reinterpret_cast<std::uintptr_t>(t.raw_data()) % 16 == 0;
}

template <class T, int D>
void launch(const FlashArgs& a, std::int64_t batch, Stream s) {
  const dim3 grid(static_cast<unsigned>((a.tq + kBlockRows - 1) / kBlockRows),
                  static_cast<unsigned>(a.nq), static_cast<unsigned>(batch));
  // More than 48 KiB of shared memory must be asked for, once per kernel.
  static const bool raised = [] {
    return cudaFuncSetAttribute(flash_tiles<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(kSharedBytes<D>)) == cudaSuccess;
  }();
  (void)raised;
  flash_tiles<T, D><<<grid, 128, kSharedBytes<D>, stream(s)>>>(a);
  check_launch("fast_sdpa");
}

}  // namespace

bool flash_fits(std::span<const Tensor> in, const SdpaAttr&) {
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  if (q.dtype() != DType::f16 && q.dtype() != DType::bf16) return false;
  const std::int64_t d = q.shape(3);
  if ((d != 64 && d != 128) || v.shape(3) != d) return false;
  if (q.shape(0) > 65535 || q.shape(1) > 65535) return false;  // grid extents
  return loads_16_bytes(q) && loads_16_bytes(k) && loads_16_bytes(v);
}

void flash_attention(std::span<const Tensor> in, Tensor& out, const SdpaAttr& attr, Stream s) {
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
  const std::int64_t batch = q.shape(0), d = q.shape(3);
  if (q.dtype() == DType::bf16)
    d == 64 ? launch<__nv_bfloat16, 64>(a, batch, s) : launch<__nv_bfloat16, 128>(a, batch, s);
  else
    d == 64 ? launch<__half, 64>(a, batch, s) : launch<__half, 128>(a, batch, s);
}

}  // namespace emily::cuda
