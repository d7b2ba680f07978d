// The quant family on the GPU: dequantize, and quantized_matmul as a GEMV over the
// packed codes for decode (M <= 8, transposed weights) or dequantize + matmul otherwise.
//
// GEMV: one warp per output column n (a row of W {N, K}); each lane walks chunks of 32
// codes (`bits` words: 16-byte loads for 4 and 8 bits), unpacks them in registers into
// s * q + b (one fma per weight, shared by the M activation rows) and accumulates
// x[m] . w in f32; a warp shuffle sums the lanes. Decode reads each weight once, so the
// packed bytes are the whole memory traffic (x stays in L1/L2).
//
// Other cases (M > 8, W {K, N}, f64 scales) dequantize the whole weight into a tensor of
// x's dtype, exactly as the decomposition rounds it (product rounded to the scales'
// dtype, then the bias, then the conversion), and hand it to the matmul kernel (cuBLASLt,
// or gemv.cu for M = 1), so those results equal the decomposition's on the GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

constexpr int kMaxRows = 8;  // M handled by the GEMV kernel
constexpr int kWarps = 8;    // per GEMV block

// The `bits`-bit code of element j of a row's bit stream (a code may straddle 2 words).
__device__ __forceinline__ std::uint32_t code_at(const std::uint32_t* __restrict__ row,
                                                 std::int64_t j, int bits) {
  const std::int64_t bit = j * bits;
  const int shift = static_cast<int>(bit & 31);
  std::uint32_t v = row[bit >> 5] >> shift;
  if (shift + bits > 32) v |= row[(bit >> 5) + 1] << (32 - shift);
  return v & ((1u << bits) - 1u);
}

// s * q + b rounded as the decomposition rounds it: the product to the scales' dtype
// first (explicit round-to-nearest intrinsics, so nothing contracts into an fma), then
// the sum.
template <class TS>
__device__ __forceinline__ TS affine(std::uint32_t q, TS s, TS b) {
  if constexpr (std::is_same_v<TS, float>) {
    return __fadd_rn(__fmul_rn(static_cast<float>(q), s), b);
  } else if constexpr (std::is_same_v<TS, double>) {
    return __dadd_rn(__dmul_rn(static_cast<double>(q), s), b);
  } else {
    const TS product = store<TS>(__fmul_rn(static_cast<float>(q), load(s)));
    return store<TS>(__fadd_rn(load(product), load(b)));
  }
}

// out[r, j] = convert<TO>(s * q + b) over rows of `cols` elements, a thread per element.
template <class TS, class TO>
__global__ void dequantize_elements(const std::uint32_t* __restrict__ packed,
                                    const TS* __restrict__ scales, const TS* __restrict__ biases,
                                    TO* __restrict__ out, std::int64_t total, std::int64_t cols,
                                    std::int64_t row_words, int group_size, int bits) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t groups = cols / group_size;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const std::int64_t r = i / cols, j = i - r * cols;
    const std::int64_t g = r * groups + j / group_size;
    const TS w = affine(code_at(packed + r * row_words, j, bits), scales[g], biases[g]);
    out[i] = store<TO>(load(w));
  }
}

// 32 codes from the `Bits` words of one chunk, loaded 16 bytes at a time where the chunk
// is a multiple of 16 bytes (4 and 8 bits; rows start 16-byte aligned since K % 32 == 0).
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
  } else if constexpr (Bits == 2) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    w[0] = v.x;
    w[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < Bits; ++i) w[i] = __ldg(p + i);
  }
}

template <int Bits>
__device__ __forceinline__ std::uint32_t chunk_code(const std::uint32_t (&w)[Bits], int j) {
  const int bit = Bits * j, word = bit / 32, shift = bit % 32;
  std::uint32_t v = w[word] >> shift;
  if (shift + Bits > 32) v |= w[word + 1] << (32 - shift);
  return v & ((1u << Bits) - 1u);
}

// 32 activations from 16-byte loads (the row starts 16-byte aligned: K % 32 == 0 and
// the base is checked): 8 or 4 load instructions per chunk instead of 32.
template <class TX>
__device__ __forceinline__ void load_activations(const TX* __restrict__ p, float (&out)[32]) {
  constexpr int E = 16 / sizeof(TX);
#pragma unroll
  for (int v = 0; v < 32 / E; ++v) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p) + v);
    const TX* e = reinterpret_cast<const TX*>(&raw);
#pragma unroll
    for (int i = 0; i < E; ++i) out[v * E + i] = static_cast<float>(load(e[i]));
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// y[m, n] = sum_k x[m, k] (s q + b)[n, k] for W {N, K}; a warp per n.
template <int Bits, class TX, class TS>
__global__ void __launch_bounds__(32 * kWarps)
    gemv_transposed(const TX* __restrict__ x, const std::uint32_t* __restrict__ packed,
                    const TS* __restrict__ scales, const TS* __restrict__ biases,
                    TX* __restrict__ y, int rows, std::int64_t n_out, std::int64_t k,
                    int group_size) {
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.y;
  if (n >= n_out) return;
  const int lane = threadIdx.x;
  const std::int64_t chunks = k / 32, groups = k / group_size, row_words = k * Bits / 32;
  const std::uint32_t* row = packed + n * row_words;
  float acc[kMaxRows] = {};
  for (std::int64_t c = lane; c < chunks; c += 32) {
    std::uint32_t w[Bits];
    load_chunk<Bits>(row + c * Bits, w);
    const std::int64_t g = n * groups + c * 32 / group_size;
    const float s = static_cast<float>(load(scales[g])), b = static_cast<float>(load(biases[g]));
    float wv[32];
#pragma unroll
    for (int j = 0; j < 32; ++j) wv[j] = fmaf(s, static_cast<float>(chunk_code<Bits>(w, j)), b);
#pragma unroll
    for (int m = 0; m < kMaxRows; ++m) {
      if (m >= rows) break;
      float xv[32];
      load_activations(x + m * k + c * 32, xv);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 32; ++j) sum = fmaf(xv[j], wv[j], sum);
      acc[m] += sum;
    }
  }
#pragma unroll
  for (int m = 0; m < kMaxRows; ++m) {
    if (m >= rows) break;
    const float total = warp_sum(acc[m]);
    if (lane == 0) y[m * n_out + n] = store<TX>(total);
  }
}

template <class Fn>
void visit_float(DType t, Fn&& fn) {
  switch (t) {
    case DType::f16:
      return fn.template operator()<S<f16>>();
    case DType::bf16:
      return fn.template operator()<S<bf16>>();
    case DType::f32:
      return fn.template operator()<float>();
    case DType::f64:
      return fn.template operator()<double>();
    default:
      return;  // the op layer admits floating dtypes only
  }
}

template <class Fn>
void visit_bits(int bits, Fn&& fn) {
  switch (bits) {
    case 2:
      return fn.template operator()<2>();
    case 3:
      return fn.template operator()<3>();
    case 4:
      return fn.template operator()<4>();
    case 6:
      return fn.template operator()<6>();
    default:
      return fn.template operator()<8>();
  }
}

unsigned blocks_for(std::int64_t total, int threads) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((total + threads - 1) / threads, 1, 65536));
}

// The weight {rows, cols} dequantized into `out` (a tensor of rows x cols of any float
// dtype), rounding as the decomposition does.
void dequantize_into(const Tensor& packed, const Tensor& scales, const Tensor& biases,
                     const QuantAttr& a, Tensor& out, cudaStream_t cs) {
  const std::int64_t total = out.size();
  if (total == 0) return;
  const std::int64_t cols = scales.shape(-1) * a.group_size, row_words = packed.shape(-1);
  visit_float(scales.dtype(), [&]<class TS>() {
    visit_float(out.dtype(), [&]<class TO>() {
      if constexpr (std::is_same_v<TO, double> && !std::is_same_v<TS, double>) {
        return;  // never asked: results are the scales' dtype or x's (f32, f16, bf16)
      } else {
        dequantize_elements<TS, TO><<<blocks_for(total, 256), 256, 0, cs>>>(
            static_cast<const std::uint32_t*>(packed.raw_data()),
            static_cast<const TS*>(scales.raw_data()), static_cast<const TS*>(biases.raw_data()),
            static_cast<TO*>(out.raw_data()), total, cols, row_words, a.group_size, a.bits);
      }
    });
  });
  check_launch("dequantize");
}

void dequantize_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                       Stream s) {
  dequantize_into(in[0], in[1], in[2], std::get<QuantAttr>(attr), out[0], stream(s));
}

void quantized_matmul_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                             Stream s) {
  const auto& a = std::get<QuantAttr>(attr);
  const Tensor& x = in[0];
  Tensor& y = out[0];
  const std::int64_t k = x.shape(-1), n = y.shape(-1);
  const std::int64_t m = n == 0 ? 0 : y.size() / n;
  cudaStream_t cs = stream(s);
  if (y.size() == 0) return;
  // 16-byte loads need rows that start 16-byte aligned (8 for 2-bit codes), codes and
  // activations: true of fresh buffers and row slices, not of every view.
  const auto address = reinterpret_cast<std::uintptr_t>(in[1].raw_data());
  const bool aligned = address % (a.bits % 4 == 0 ? 16
                                  : a.bits == 2   ? 8
                                                  : 4) ==
                           0 &&
                       reinterpret_cast<std::uintptr_t>(x.raw_data()) % 16 == 0;
  const bool gemv = a.transpose && m <= kMaxRows && k > 0 && in[2].dtype() != DType::f64 && aligned;
  if (gemv) {
    visit_float(x.dtype(), [&]<class TX>() {
      visit_float(in[2].dtype(), [&]<class TS>() {
        if constexpr (std::is_same_v<TX, double> || std::is_same_v<TS, double>) {
          return;  // excluded above (x is f32, f16 or bf16)
        } else {
          visit_bits(a.bits, [&]<int Bits>() {
            const dim3 block(32, kWarps);
            gemv_transposed<Bits, TX, TS>
                <<<static_cast<unsigned>((n + kWarps - 1) / kWarps), block, 0, cs>>>(
                    static_cast<const TX*>(x.raw_data()),
                    static_cast<const std::uint32_t*>(in[1].raw_data()),
                    static_cast<const TS*>(in[2].raw_data()),
                    static_cast<const TS*>(in[3].raw_data()), static_cast<TX*>(y.raw_data()),
                    static_cast<int>(m), n, k, a.group_size);
          });
        }
      });
    });
    check_launch("quantized_matmul");
    return;
  }
  // The decomposition's road: the weight in x's dtype, then the matmul kernel.
  const std::int64_t rows = in[1].shape(-2), cols = in[2].shape(-1) * a.group_size;
  Tensor dense = Tensor::empty({rows, cols}, x.dtype(), y.device());
  dequantize_into(in[1], in[2], in[3], a, dense, cs);
  const DType t = x.dtype();
  const Tensor x2 = x.with_layout(t, {m, k}, {k, 1}, x.offset());
  const Tensor w2 = a.transpose ? dense.with_layout(t, {k, n}, {1, k}, 0) : dense;
  Tensor y2 = y.with_layout(t, {m, n}, {n, 1}, y.offset());
  const Tensor operands[] = {x2, w2};
  kernels(Device::Type::cuda)
      .get(Primitive::matmul)(std::span<const Tensor>(operands, 2), std::span<Tensor>(&y2, 1),
                              NoAttr{}, s);
}

}  // namespace

void register_quant(KernelTable& t) {
  t.set(Primitive::dequantize, dequantize_kernel);
  t.set(Primitive::quantized_matmul, quantized_matmul_kernel);
}

}  // namespace emily::cuda
