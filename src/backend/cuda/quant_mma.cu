// quantized_matmul for prefill on tensor cores: y {M, N} = x {M, K} . W^T, W {N, K}
// packed (emily/quantization.h), x f16/bf16.
//
// A block owns a BM x BN tile of y and walks K in tiles of 64. Per K tile it copies, with
// cp.async, BM x 64 activations and BN x 64 packed codes into shared memory (three
// stages, so two tiles are in flight while one is used); each thread then turns one
// 32-code chunk of W into x's type, w = s * q + b taken in f32 and rounded once, into a
// dequantized tile (two buffers); the warps multiply activation and weight tiles with
// mma.sync m16n8k16 (f32 accumulators, fragments read with ldmatrix, rows padded against
// bank conflicts). y is rounded once at the end.
//
// Why dequantize into shared memory rather than in registers: the MLX/GGUF layout packs
// consecutive k into a word, while an mma operand fragment wants k = 2t, 2t+1, 2t+8,
// 2t+9 per lane; a dequantized tile read by ldmatrix needs no repacking of the weights,
// and a weight element is dequantized once per block of BM rows, which for prefill is
// a small cost next to its 2 * BM flops.
//
// Schedule of one K tile kt (one barrier per tile):
//   barrier     -> X[kt] and Wd[kt % 2] are visible; every warp is done with tile kt-1
//   copy kt+2   into the stage tile kt-1 used
//   mma  kt     from X[kt], Wd[kt % 2]
//   wait kt+1   (this thread's copies only)
//   dequant kt+1 into Wd[(kt+1) % 2], from the codes this same thread copied, so the
//               packed stage needs no barrier of its own
// The dequantization of the next tile thus overlaps other warps' tensor-core work.
#include "backend/cuda/quant_mma.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/quant_gemv.cuh"
#include "backend/cuda/runtime.h"
#include "backend/cuda/sm_count.h"
#include "backend/quant_bits.h"

namespace emily::cuda::qmma {

namespace {

constexpr int kTileK = 64;           // codes of K per tile: two 32-code chunks per row of W
constexpr int kStages = 3;           // copy stages of X and the packed codes
constexpr int kRow = kTileK + 8;     // shared row stride (elements): 144 bytes, conflict-free
constexpr int kChunks = kTileK / 32;  // 32-code chunks per row of a tile

std::atomic<bool> g_force_dequantize{false};

// A tile shape: BM x BN outputs per block, WM x WN per warp. Each thread dequantizes one
// 32-code chunk per K tile (BN rows x 2 chunks), hence 2 * BN threads.
template <int BM_, int BN_, int WM_, int WN_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_;
  static constexpr int warps_m = BM / WM, warps = warps_m * (BN / WN), threads = 32 * warps;
  static constexpr int mt = WM / 16, nt = WN / 8;  // mma tiles per warp
  static_assert(threads == kChunks * BN, "one chunk of W per thread and K tile");
  static_assert(nt % 2 == 0, "B fragments are read two n-tiles at a time");
};
// For M in the thousands: 128 x 128 outputs per block of 8 warps (64 x 32 each).
using Large = Tile<128, 128, 64, 32>;
// Below that, fewer rows and columns per block give more blocks to fill the GPU.
using Small = Tile<64, 64, 32, 32>;

template <int Bits>
constexpr int kStageWords = kTileK * Bits / 32;  // packed words per row and K tile

template <class T, int Bits>
constexpr std::size_t shared_bytes() {
  return kStages * T::BM * kRow * 2 + kStages * T::BN * kStageWords<Bits> * 4 +
         2 * T::BN * kRow * 2;
}

struct Args {
  const std::uint16_t* x;        // {m, k}, f16 or bf16 bits
  const std::uint32_t* packed;   // {n, k * bits / 32}
  const void* scales;            // {n, k / group}
  const void* biases;
  qgemv::ScaleType st;
  std::uint16_t* y;  // {m, n}
  std::int64_t m, n, k;
  int group_shift;   // log2(group size)
  bool pairs;        // y takes 32-bit stores of two columns (n even, y aligned)
};

template <class T>
__device__ __forceinline__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
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

// Four 8x8 matrices of 16-bit values; lane l names row l % 8 of matrix l / 8.
__device__ __forceinline__ void load_matrices(const std::uint16_t* row, std::uint32_t (&r)[4]) {
  const auto p = static_cast<std::uint32_t>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(p));
}

// `Bytes` (4, 8 or 16) global -> shared; `in` false fills zeros (rows or K past the end;
// src must still be a valid address).
template <int Bytes>
__device__ __forceinline__ void copy_async(void* dst, const void* src, bool in) {
  const auto d = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  const int n = in ? Bytes : 0;
  if constexpr (Bytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(d), "l"(src),
                 "n"(Bytes), "r"(n));
}
__device__ __forceinline__ void copies_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void copies_wait_all_but_one() {
  asm volatile("cp.async.wait_group 1;\n" ::);
}

// Two floats rounded to T, the first in the low half.
template <class T>
__device__ __forceinline__ std::uint32_t pack(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return reinterpret_cast<const std::uint32_t&>(v);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    return reinterpret_cast<const std::uint32_t&>(v);
  }
}

// The widest copy a chunk of Bits words allows: rows of K * Bits / 32 words with K a
// multiple of 32 are 16-byte aligned for 4 and 8 bits, 8 for 2 and 6, 4 for 3.
template <int Bits>
constexpr int kCopyBytes = Bits % 4 == 0 ? 16 : Bits % 2 == 0 ? 8 : 4;

template <class T, int Bits>
struct Smem {
  std::uint16_t* x;       // [kStages][BM][kRow]
  std::uint32_t* codes;   // [kStages][BN][kStageWords]
  std::uint16_t* w;       // [2][BN][kRow]
  __device__ explicit Smem(void* base) {
    x = static_cast<std::uint16_t*>(base);
    codes = reinterpret_cast<std::uint32_t*>(x + kStages * T::BM * kRow);
    w = reinterpret_cast<std::uint16_t*>(codes + kStages * T::BN * kStageWords<Bits>);
  }
};

template <class TX, int Bits, class T>
__global__ void __launch_bounds__(T::threads) quantized_mma(Args a) {
  extern __shared__ uint4 shared[];
  const Smem<T, Bits> sm(shared);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const std::int64_t n0 = static_cast<std::int64_t>(blockIdx.x) * T::BN;
  const std::int64_t m0 = static_cast<std::int64_t>(blockIdx.y) * T::BM;
  const int tiles = static_cast<int>((a.k + kTileK - 1) / kTileK);
  const std::int64_t row_words = a.k * Bits / 32, groups = a.k >> a.group_shift;

  // This thread's chunk of W in every K tile: row `wr` of the tile, chunk `wc` of 2.
  const int wr = tid / kChunks, wc = tid % kChunks;
  const bool w_row_in = n0 + wr < a.n;
  const std::uint32_t* w_row = a.packed + (w_row_in ? n0 + wr : 0) * row_words;

  auto load_tile = [&](int kt) {
    if (kt < tiles) {
      const int stage = kt % kStages;
      const std::int64_t k0 = static_cast<std::int64_t>(kt) * kTileK;
      // Activations: BM rows of 8 16-byte pieces.
      std::uint16_t* xs = sm.x + stage * T::BM * kRow;
      constexpr int kPieces = T::BM * kTileK / 8;
      static_assert(kPieces % T::threads == 0);
#pragma unroll
      for (int i = 0; i < kPieces / T::threads; ++i) {
        const int p = tid + i * T::threads;
        const int r = p / (kTileK / 8), c = (p % (kTileK / 8)) * 8;
        const bool in = m0 + r < a.m && k0 + c < a.k;
        const std::uint16_t* src = in ? a.x + (m0 + r) * a.k + k0 + c : a.x;
        copy_async<16>(xs + r * kRow + c, src, in);
      }
      // Codes: this thread's chunk.
      const std::int64_t chunk = static_cast<std::int64_t>(kt) * kChunks + wc;
      const bool in = w_row_in && chunk * 32 < a.k;
      std::uint32_t* cs = sm.codes + (stage * T::BN + wr) * kStageWords<Bits> + wc * Bits;
      constexpr int kWords = kCopyBytes<Bits> / 4;
#pragma unroll
      for (int i = 0; i < Bits; i += kWords)
        copy_async<kCopyBytes<Bits>>(cs + i, in ? w_row + chunk * Bits + i : a.packed, in);
    }
    copies_commit();  // possibly empty: every thread counts one group per tile
  };

  // The scale and bias of this thread's chunk in tile kt; zeros past N or K, which with
  // the zero-filled codes dequantize to zeros.
  auto affine_of = [&](int kt, float& scale, float& bias) {
    const std::int64_t chunk = static_cast<std::int64_t>(kt) * kChunks + wc;
    scale = bias = 0.0f;
    if (kt < tiles && w_row_in && chunk * 32 < a.k) {
      const std::int64_t g = (n0 + wr) * groups + ((chunk * 32) >> a.group_shift);
      scale = qgemv::load_scale(a.scales, g, a.st);
      bias = qgemv::load_scale(a.biases, g, a.st);
    }
  };

  // Codes of this thread's chunk of tile kt -> w = s * q + b, rounded to TX, into Wd.
  auto dequantize = [&](int kt, float scale, float bias) {
    const std::uint32_t* cs =
        sm.codes + ((kt % kStages) * T::BN + wr) * kStageWords<Bits> + wc * Bits;
    std::uint32_t words[Bits];
    if constexpr (Bits % 4 == 0) {
#pragma unroll
      for (int i = 0; i < Bits; i += 4) {
        const uint4 v = *reinterpret_cast<const uint4*>(cs + i);
        words[i] = v.x, words[i + 1] = v.y, words[i + 2] = v.z, words[i + 3] = v.w;
      }
    } else {
#pragma unroll
      for (int i = 0; i < Bits; ++i) words[i] = cs[i];
    }
    std::uint16_t* ws = sm.w + ((kt % 2) * T::BN + wr) * kRow + wc * 32;
#pragma unroll
    for (int o = 0; o < 4; ++o) {
      float q[8];
      qgemv::octet<Bits>(words, o, q);
      uint4 v;
      v.x = pack<TX>(fmaf(scale, q[0], bias), fmaf(scale, q[1], bias));
      v.y = pack<TX>(fmaf(scale, q[2], bias), fmaf(scale, q[3], bias));
      v.z = pack<TX>(fmaf(scale, q[4], bias), fmaf(scale, q[5], bias));
      v.w = pack<TX>(fmaf(scale, q[6], bias), fmaf(scale, q[7], bias));
      *reinterpret_cast<uint4*>(ws + o * 8) = v;
    }
  };

  const int wm0 = (warp % T::warps_m) * T::WM, wn0 = (warp / T::warps_m) * T::WN;
  // Warps whose rows all lie past M (small M) skip the products, not the copies.
  const bool active = m0 + wm0 < a.m;
  float acc[T::mt][T::nt][4] = {};

  load_tile(0);
  load_tile(1);
  float s, b;
  affine_of(0, s, b);
  copies_wait_all_but_one();
  dequantize(0, s, b);

  for (int kt = 0; kt < tiles; ++kt) {
    __syncthreads();
    load_tile(kt + 2);
    affine_of(kt + 1, s, b);  // loads in flight across the products
    if (active) {
      const std::uint16_t* xs = sm.x + (kt % kStages) * T::BM * kRow;
      const std::uint16_t* ws = sm.w + (kt % 2) * T::BN * kRow;
#pragma unroll
      for (int kk = 0; kk < kTileK / 16; ++kk) {
        std::uint32_t af[T::mt][4], bf[T::nt][2];
#pragma unroll
        for (int i = 0; i < T::mt; ++i)
          load_matrices(xs + (wm0 + i * 16 + lane % 16) * kRow + kk * 16 + (lane / 16) * 8, af[i]);
#pragma unroll
        for (int j = 0; j < T::nt; j += 2) {
          // n-tiles j and j + 1, each with both halves of k.
          std::uint32_t r[4];
          load_matrices(ws + (wn0 + (j + lane / 16) * 8 + lane % 8) * kRow + kk * 16 +
                            ((lane / 8) % 2) * 8,
                        r);
          bf[j][0] = r[0];
          bf[j][1] = r[1];
          bf[j + 1][0] = r[2];
          bf[j + 1][1] = r[3];
        }
#pragma unroll
        for (int i = 0; i < T::mt; ++i) {
#pragma unroll
          for (int j = 0; j < T::nt; ++j) mma<TX>(acc[i][j], af[i], bf[j][0], bf[j][1]);
        }
      }
    }
    copies_wait_all_but_one();
    if (kt + 1 < tiles) dequantize(kt + 1, s, b);
  }

  if (!active) return;
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int i = 0; i < T::mt; ++i) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const std::int64_t r = m0 + wm0 + i * 16 + g + half * 8;
      if (r >= a.m) continue;
      std::uint16_t* yrow = a.y + r * a.n;
#pragma unroll
      for (int j = 0; j < T::nt; ++j) {
        const std::int64_t c = n0 + wn0 + j * 8 + t * 2;
        const std::uint32_t v = pack<TX>(acc[i][j][2 * half], acc[i][j][2 * half + 1]);
        if (a.pairs && c + 1 < a.n) {
          *reinterpret_cast<std::uint32_t*>(yrow + c) = v;
        } else {
          if (c < a.n) yrow[c] = static_cast<std::uint16_t>(v & 0xFFFFu);
          if (c + 1 < a.n) yrow[c + 1] = static_cast<std::uint16_t>(v >> 16);
        }
      }
    }
  }
}

template <class TX, int Bits, class T>
void launch(const Args& a, cudaStream_t cs) {
  constexpr std::size_t bytes = shared_bytes<T, Bits>();
  // More than 48 KiB of shared memory must be asked for, once per kernel.
  static const bool raised = [] {
    return cudaFuncSetAttribute(quantized_mma<TX, Bits, T>,
                                cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(bytes)) == cudaSuccess;
  }();
  (void)raised;
  const dim3 grid(static_cast<unsigned>((a.n + T::BN - 1) / T::BN),
                  static_cast<unsigned>((a.m + T::BM - 1) / T::BM));
  quantized_mma<TX, Bits, T><<<grid, T::threads, bytes, cs>>>(a);
}

}  // namespace

bool fits(std::span<const Tensor> in, const QuantAttr& a, std::int64_t m, std::int64_t k) {
  if (g_force_dequantize.load(std::memory_order_relaxed)) return false;
  const DType xt = in[0].dtype(), st = in[2].dtype();
  if (!a.transpose || (xt != DType::f16 && xt != DType::bf16)) return false;
  if (st != DType::f32 && st != DType::f16 && st != DType::bf16) return false;
  if (in[1].ndim() != 2 || k <= 0 || k % 32 != 0) return false;
  // The grid's y extent counts tiles of M rows.
  if ((m + Small::BM - 1) / Small::BM > 65535) return false;
  const int width = a.bits % 4 == 0 ? 16 : a.bits % 2 == 0 ? 8 : 4;
  return reinterpret_cast<std::uintptr_t>(in[0].raw_data()) % 16 == 0 &&
         reinterpret_cast<std::uintptr_t>(in[1].raw_data()) % width == 0;
}

void matmul(std::span<const Tensor> in, Tensor& y, const QuantAttr& q, std::int64_t m,
            std::int64_t n, std::int64_t k, Stream s) {
  Args a{};
  a.x = static_cast<const std::uint16_t*>(in[0].raw_data());
  a.packed = static_cast<const std::uint32_t*>(in[1].raw_data());
  a.scales = in[2].raw_data();
  a.biases = in[3].raw_data();
  a.st = in[2].dtype() == DType::f16    ? qgemv::ScaleType::f16
         : in[2].dtype() == DType::bf16 ? qgemv::ScaleType::bf16
                                        : qgemv::ScaleType::f32;
  a.y = static_cast<std::uint16_t*>(y.raw_data());
  a.m = m;
  a.n = n;
  a.k = k;
  a.group_shift = __builtin_ctz(static_cast<unsigned>(q.group_size));
  a.pairs = n % 2 == 0 && reinterpret_cast<std::uintptr_t>(y.raw_data()) % 4 == 0;
  // Large tiles once they alone give every multiprocessor a block; below that the small
  // ones, whose four times as many blocks fill the GPU for prefill of a few hundred rows.
  const std::int64_t large_blocks = ((m + Large::BM - 1) / Large::BM) * ((n + Large::BN - 1) / Large::BN);
  const bool large = large_blocks >= sm_count();
  cudaStream_t cs = stream(s);
  visit_bits(q.bits, [&]<int Bits>() {
    if (in[0].dtype() == DType::bf16)
      large ? launch<__nv_bfloat16, Bits, Large>(a, cs) : launch<__nv_bfloat16, Bits, Small>(a, cs);
    else
      large ? launch<__half, Bits, Large>(a, cs) : launch<__half, Bits, Small>(a, cs);
  });
  check_launch("quantized_matmul");
}

ForceDequantize::ForceDequantize() : previous_(g_force_dequantize.exchange(true)) {}
ForceDequantize::~ForceDequantize() { g_force_dequantize.store(previous_); }

}  // namespace emily::cuda::qmma
