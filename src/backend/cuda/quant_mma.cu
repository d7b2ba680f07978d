// quantized_matmul for prefill on tensor cores: y {M, N} = x {M, K} . W^T, W {N, K}
// packed (emily/quantization.h), x f16/bf16.
//
// A block owns a BM x BN tile of y and walks K (or its share of K) in tiles of 64. Per K
// tile it copies, with cp.async, BM x 64 activations and BN x 64 packed codes into
// shared memory (S = 2 or 3 stages, so S - 1 tiles are in flight while one is used);
// each thread then turns one 32-code chunk of W into x's type, w = s * q + b taken in
// f32 and rounded once, into a dequantized tile (two buffers); the warps multiply
// activation and weight tiles with mma.sync m16n8k16 (f32 accumulators, fragments read
// with ldmatrix, rows padded against bank conflicts). y is rounded once at the end (or,
// with K split across blocks, f32 partial sums are added by a second kernel).
//
// Why dequantize into shared memory rather than in registers: the MLX/GGUF layout packs
// consecutive k into a word, while an mma operand fragment wants k = 2t, 2t+1, 2t+8,
// 2t+9 per lane; a dequantized tile read by ldmatrix needs no repacking of the weights,
// and a weight element is dequantized once per block of BM rows, which for prefill is
// a small cost next to its 2 * BM flops.
//
// Schedule of one K tile kt (one barrier per tile):
//   barrier     -> X[kt] and Wd[kt % 2] are visible; every warp is done with tile kt-1
//   copy kt+S-1 into the stage tile kt-1 used
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

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/quant_gemv.cuh"
#include "backend/cuda/runtime.h"
#include "backend/cuda/sm_count.h"
#include "backend/quant_bits.h"

namespace emily::cuda::qmma {

namespace {

constexpr int kTileK = 64;            // codes of K per tile: two 32-code chunks per row of W
constexpr int kRow = kTileK + 8;      // shared row stride (elements): 144 bytes, conflict-free
constexpr int kChunks = kTileK / 32;  // 32-code chunks per row of a tile

std::atomic<bool> g_force_dequantize{false};

// A tile shape: BM x BN outputs per block, WM x WN per warp, copies `Stages` deep. Each
// thread dequantizes one 32-code chunk per K tile (BN rows x 2 chunks), hence 2 * BN
// threads. Registers are capped for two blocks per multiprocessor (128 a thread).
template <int BM_, int BN_, int WM_, int WN_, int Stages_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, WM = WM_, WN = WN_, Stages = Stages_;
  static constexpr int warps_m = BM / WM, warps = warps_m * (BN / WN), threads = 32 * warps;
  static constexpr int mt = WM / 16, nt = WN / 8;  // mma tiles per warp
  static_assert(threads == kChunks * BN, "one chunk of W per thread and K tile");
  static_assert(nt % 2 == 0, "B fragments are read two n-tiles at a time");
};
// For M in the thousands: 128 x 128 outputs per block of 8 warps (64 x 32 each), two
// stages so that two blocks (88 KiB of shared memory, 128 registers a thread) share a
// multiprocessor. (Three stages, 116 KiB, one block per multiprocessor: the same time
// at M = 1024 on an H100, 147 against 148 us; bench/results/fast-quant.md.)
using Large = Tile<128, 128, 64, 32, 2>;
// Below that, 64 rows per block (less padding for M of tens) and K split across blocks
// (matmul() below) to fill the GPU; three stages keep more bytes in flight per block.
// (At M = 1024 these took 201 us against the large tiles' 150, int4 4096².)
using Small = Tile<64, 128, 32, 32, 3>;

template <int Bits>
constexpr int kStageWords = kTileK* Bits / 32;  // packed words per row and K tile

template <class T, int Bits>
constexpr std::size_t shared_bytes() {
  return T::Stages * (T::BM * kRow * 2 + T::BN * kStageWords<Bits> * 4) + 2 * T::BN * kRow * 2;
}

struct Args {
  const std::uint16_t* x;       // {m, k}, f16 or bf16 bits
  const std::uint32_t* packed;  // {n, k * bits / 32}
  const void* scales;           // {n, k / group}
  const void* biases;
  qgemv::ScaleType st;
  std::uint16_t* y;  // {m, n}
  std::int64_t m, n, k;
  int group_shift;      // log2(group size)
  bool pairs;           // y takes 32-bit stores of two columns (n even, y aligned)
  int tiles_per_split;  // K tiles per blockIdx.z
  float* partial;       // with K split: f32 sums {splits, m, n} instead of y
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
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(d), "l"(src), "n"(Bytes),
                 "r"(n));
}

// The widest copy a chunk of Bits words allows: rows of K * Bits / 32 words with K a
// multiple of 32 are 16-byte aligned for 4 and 8 bits, 8 for 2 and 6, 4 for 3.
template <int Bits>
constexpr int kCopyBytes = Bits % 4 == 0   ? 16
                           : Bits % 2 == 0 ? 8
                                           : 4;

template <class T, int Bits>
struct Smem {
  std::uint16_t* x;      // [Stages][BM][kRow]
  std::uint32_t* codes;  // [Stages][BN][kStageWords]
  std::uint16_t* w;      // [2][BN][kRow]
  __device__ explicit Smem(void* base) {
    x = static_cast<std::uint16_t*>(base);
    codes = reinterpret_cast<std::uint32_t*>(x + T::Stages * T::BM * kRow);
    w = reinterpret_cast<std::uint16_t*>(codes + T::Stages * T::BN * kStageWords<Bits>);
  }
};

template <class TX, int Bits, class T>
__global__ void __launch_bounds__(T::threads, 2) quantized_mma(Args a) {
  extern __shared__ uint4 shared[];
  const Smem<T, Bits> sm(shared);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const std::int64_t n0 = static_cast<std::int64_t>(blockIdx.x) * T::BN;
  const std::int64_t m0 = static_cast<std::int64_t>(blockIdx.y) * T::BM;
  // This block's K tiles: [first, first + tiles).
  const int all_tiles = static_cast<int>((a.k + kTileK - 1) / kTileK);
  const int first = static_cast<int>(blockIdx.z) * a.tiles_per_split;
  const int tiles = min(a.tiles_per_split, all_tiles - first);
  const std::int64_t row_words = a.k * Bits / 32, groups = a.k >> a.group_shift;

  // This thread's chunk of W in every K tile: row `wr` of the tile, chunk `wc` of 2.
  const int wr = tid / kChunks, wc = tid % kChunks;
  const bool w_row_in = n0 + wr < a.n;
  const std::uint32_t* w_row = a.packed + (w_row_in ? n0 + wr : 0) * row_words;

  // Tile `i` of this block's range (stage i % Stages).
  auto load_tile = [&](int i) {
    const int kt = first + i;
    if (i < tiles) {
      const int stage = i % T::Stages;
      const std::int64_t k0 = static_cast<std::int64_t>(kt) * kTileK;
      // Activations: BM rows of 8 16-byte pieces.
      std::uint16_t* xs = sm.x + stage * T::BM * kRow;
      constexpr int kPieces = T::BM * kTileK / 8;
      static_assert(kPieces % T::threads == 0);
#pragma unroll
      for (int v = 0; v < kPieces / T::threads; ++v) {
        const int p = tid + v * T::threads;
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
      for (int v = 0; v < Bits; v += kWords)
        copy_async<kCopyBytes<Bits>>(cs + v, in ? w_row + chunk * Bits + v : a.packed, in);
    }
    copies_commit();  // possibly empty: every thread counts one group per tile
  };

  // The scale and bias of this thread's chunk in tile kt; zeros past N or K, which with
  // the zero-filled codes dequantize to zeros.
  auto affine_of = [&](int i, float& scale, float& bias) {
    const std::int64_t chunk = static_cast<std::int64_t>(first + i) * kChunks + wc;
    scale = bias = 0.0f;
    if (i < tiles && w_row_in && chunk * 32 < a.k) {
      const std::int64_t g = (n0 + wr) * groups + ((chunk * 32) >> a.group_shift);
      scale = qgemv::load_scale(a.scales, g, a.st);
      bias = qgemv::load_scale(a.biases, g, a.st);
    }
  };

  // Codes of this thread's chunk of tile kt -> w = s * q + b, rounded to TX, into Wd.
  auto dequantize = [&](int i, float scale, float bias) {
    const std::uint32_t* cs =
        sm.codes + ((i % T::Stages) * T::BN + wr) * kStageWords<Bits> + wc * Bits;
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
    std::uint16_t* ws = sm.w + ((i % 2) * T::BN + wr) * kRow + wc * 32;
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

  // Tiles are copied Stages - 1 ahead; the dequantization of tile i + 1 needs its
  // copies done, which leaves Stages - 2 groups pending.
#pragma unroll
  for (int i = 0; i < T::Stages - 1; ++i) load_tile(i);
  float s, b;
  affine_of(0, s, b);
  copies_wait<T::Stages - 2>();
  dequantize(0, s, b);

  for (int i = 0; i < tiles; ++i) {
    __syncthreads();
    load_tile(i + T::Stages - 1);
    affine_of(i + 1, s, b);  // loads in flight across the products
    if (active) {
      const std::uint16_t* xs = sm.x + (i % T::Stages) * T::BM * kRow;
      const std::uint16_t* ws = sm.w + (i % 2) * T::BN * kRow;
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
          load_matrices(
              ws + (wn0 + (j + lane / 16) * 8 + lane % 8) * kRow + kk * 16 + ((lane / 8) % 2) * 8,
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
    copies_wait<T::Stages - 2>();
    if (i + 1 < tiles) dequantize(i + 1, s, b);
  }

  if (!active) return;
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int i = 0; i < T::mt; ++i) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const std::int64_t r = m0 + wm0 + i * 16 + g + half * 8;
      if (r >= a.m) continue;
      if (a.partial != nullptr) {
        float* prow = a.partial + (static_cast<std::int64_t>(blockIdx.z) * a.m + r) * a.n;
#pragma unroll
        for (int j = 0; j < T::nt; ++j) {
          const std::int64_t c = n0 + wn0 + j * 8 + t * 2;
          if (c < a.n) prow[c] = acc[i][j][2 * half];
          if (c + 1 < a.n) prow[c + 1] = acc[i][j][2 * half + 1];
        }
        continue;
      }
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
void launch(const Args& a, int splits, cudaStream_t cs) {
  constexpr std::size_t bytes = shared_bytes<T, Bits>();
  // More than 48 KiB of shared memory must be asked for, once per kernel.
  static const bool raised = [] {
    return cudaFuncSetAttribute(quantized_mma<TX, Bits, T>,
                                cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(bytes)) == cudaSuccess;
  }();
  (void)raised;
  const dim3 grid(static_cast<unsigned>((a.n + T::BN - 1) / T::BN),
                  static_cast<unsigned>((a.m + T::BM - 1) / T::BM), static_cast<unsigned>(splits));
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
  // Large tiles once they alone give every multiprocessor a block. Below that, small
  // tiles with K split into as many parts as keep the grid within one wave of two blocks
  // per multiprocessor (rounded down: at M = 128, 4096², 5 splits = 1.2 waves took 48 us,
  // 4 splits 39 us; 1 and 2 splits 69 and 45 us), each part at least 4 K tiles so that
  // the copies' pipeline fills. The f32 partial sums go through a scratch tensor that
  // qgemv::sum_splits adds in a fixed order (no atomics: results do not depend on
  // timing).
  const int sms = sm_count();
  const std::int64_t large_blocks =
      ((m + Large::BM - 1) / Large::BM) * ((n + Large::BN - 1) / Large::BN);
  const bool large = large_blocks >= sms;
  const std::int64_t tiles = (k + kTileK - 1) / kTileK;
  const std::int64_t bm = large ? Large::BM : Small::BM, bn = large ? Large::BN : Small::BN;
  const std::int64_t blocks = ((m + bm - 1) / bm) * ((n + bn - 1) / bn);
  int splits = 1;
  if (blocks < sms) {
    const std::int64_t want = (2 * sms) / blocks;
    splits = static_cast<int>(std::clamp<std::int64_t>(std::min(want, tiles / 4), 1, 32));
  }
  a.tiles_per_split = static_cast<int>((tiles + splits - 1) / splits);
  splits = static_cast<int>((tiles + a.tiles_per_split - 1) / a.tiles_per_split);  // none empty
  Tensor scratch;
  if (splits > 1) {
    scratch = Tensor::empty({splits, m, n}, DType::f32, y.device());
    a.partial = static_cast<float*>(scratch.raw_data());
  }
  cudaStream_t cs = stream(s);
  auto run = [&]<class TX>() {
    visit_bits(q.bits, [&]<int Bits>() {
      large ? launch<TX, Bits, Large>(a, splits, cs) : launch<TX, Bits, Small>(a, splits, cs);
    });
    if (splits > 1) {
      const std::int64_t count = m * n;
      const unsigned blocks =
          static_cast<unsigned>(std::clamp<std::int64_t>((count + 255) / 256, 1, 65536));
      qgemv::sum_splits<TX>
          <<<blocks, 256, 0, cs>>>(a.partial, static_cast<TX*>(y.raw_data()), count, splits);
    }
  };
  if (in[0].dtype() == DType::bf16)
    run.template operator()<__nv_bfloat16>();
  else
    run.template operator()<__half>();
  check_launch("quantized_matmul");
}

ForceDequantize::ForceDequantize() : previous_(g_force_dequantize.exchange(true)) {}
ForceDequantize::~ForceDequantize() {
  g_force_dequantize.store(previous_);
}

}  // namespace emily::cuda::qmma
