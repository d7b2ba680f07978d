// The quant family on the GPU: dequantize, and quantized_matmul as a GEMV over the
// packed codes for decode (M <= 8, transposed weights; quant_gemv_tc.cuh on tensor
// cores or quant_gemv.cuh with f32 FMA, chosen as quant_gemv.h says), a tensor-core
// kernel that dequantizes tiles in shared memory for prefill (M > 8, transposed
// weights, x f16/bf16; quant_mma.cu), or dequantize + matmul otherwise.
//
// Other cases (W {K, N}, f32 x with M > 8, f64 scales) dequantize the whole weight into a
// tensor of x's dtype, exactly as the decomposition rounds it (product rounded to the
// scales' dtype, then the bias, then the conversion), and hand it to the matmul kernel
// (cuBLASLt, or gemv.cu for M = 1), so those results equal the decomposition's on the GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/quant_gemv.cuh"
#include "backend/cuda/quant_gemv.h"
#include "backend/cuda/quant_gemv_tc.cuh"
#include "backend/cuda/quant_mma.h"
#include "backend/cuda/runtime.h"
#include "backend/cuda/sm_count.h"
#include "backend/cuda/visit_float.cuh"
#include "backend/quant_bits.h"

namespace emily::cuda {

namespace {

std::atomic<qgemv::GemvKernel> g_force_gemv{qgemv::GemvKernel::automatic};

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
  wait_for_previous_grid();  // launched dependent: before any read or write
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
        launch_dependent(
            "dequantize", dequantize_elements<TS, TO>, dim3(blocks_for(total, 256)), dim3(256), 0,
            cs, static_cast<const std::uint32_t*>(packed.raw_data()),
            static_cast<const TS*>(scales.raw_data()), static_cast<const TS*>(biases.raw_data()),
            static_cast<TO*>(out.raw_data()), total, cols, row_words, a.group_size, a.bits);
      }
    });
  });
  check_launch("dequantize");
}

// The GEMV reads codes with loads as wide as a chunk allows (16 bytes for 4 and 8 bits, 8
// for 2 and 6, 4 for 3) and activations 16 bytes at a time: true of fresh buffers and row
// slices, not of every view, which take the decomposition's road instead.
bool gemv_eligible(std::span<const Tensor> in, const QuantAttr& a, std::int64_t m, std::int64_t k) {
  const int width = a.bits % 4 == 0 ? 16 : a.bits % 2 == 0 ? 8 : 4;
  const auto codes = reinterpret_cast<std::uintptr_t>(in[1].raw_data());
  const auto acts = reinterpret_cast<std::uintptr_t>(in[0].raw_data());
  return a.transpose && m >= 1 && m <= qgemv::kMaxRows && k > 0 && in[2].dtype() != DType::f64 &&
         codes % width == 0 && acts % 16 == 0;
}

qgemv::ScaleType scale_type(DType t) {
  return t == DType::f16    ? qgemv::ScaleType::f16
         : t == DType::bf16 ? qgemv::ScaleType::bf16
                            : qgemv::ScaleType::f32;
}

template <class Fn>
void visit_rows(std::int64_t m, Fn&& fn) {
  if (m == 1) return fn.template operator()<1>();
  if (m == 2) return fn.template operator()<2>();
  if (m <= 4) return fn.template operator()<4>();
  return fn.template operator()<8>();
}

// y {m, n} = x {m, k} . W^T through qgemv_tc::gemv (4 and 8 bits, 16-bit x: tensor
// cores) or qgemv::gemv (the rest); when the plan splits K across blocks, their f32
// partial sums go through a scratch tensor freed on the stream after use.
void gemv_tc(std::span<const Tensor> in, Tensor& y, const QuantAttr& a, std::int64_t m,
             std::int64_t n, std::int64_t k, Stream s) {
  cudaStream_t cs = stream(s);
  visit_bits(a.bits, [&]<int Bits>() {
    if constexpr (Bits == 4 || Bits == 8) {
      const qgemv_tc::Plan p = qgemv_tc::plan<Bits>(n, k, m, sm_count());
      Tensor scratch;
      if (p.splits > 1) scratch = Tensor::empty({p.splits, m, n}, DType::f32, y.device());
      float* partial = p.splits > 1 ? static_cast<float*>(scratch.raw_data()) : nullptr;
      const dim3 grid(
          static_cast<unsigned>((n + qgemv_tc::kRows * p.tiles - 1) / (qgemv_tc::kRows * p.tiles)),
          static_cast<unsigned>(p.splits));
      const dim3 block(32, static_cast<unsigned>(p.tiles * p.kwarps));
      auto launch = [&]<class TX, class TS, int Sets>() {
        launch_dependent("quantized_matmul",
                         qgemv_tc::gemv<Bits, TX, TS, Sets, qgemv_tc::ring_depth<Sets>()>, grid,
                         block, p.smem_bytes, cs, static_cast<const TX*>(in[0].raw_data()),
                         static_cast<const std::uint32_t*>(in[1].raw_data()),
                         static_cast<const TS*>(in[2].raw_data()),
                         static_cast<const TS*>(in[3].raw_data()), static_cast<TX*>(y.raw_data()),
                         partial, qgemv_tc::args_for<Bits>(p, m, n, k, a.group_size));
        if (p.splits > 1) {
          const std::int64_t count = m * n;
          launch_dependent("quantized_matmul", qgemv::sum_splits<TX>, dim3(blocks_for(count, 256)),
                           dim3(256), 0, cs, partial, static_cast<TX*>(y.raw_data()), count,
                           p.splits);
        }
      };
      auto by_scales = [&]<class TX, int Sets>() {
        switch (in[2].dtype()) {
          case DType::f16:
            return launch.template operator()<TX, __half, Sets>();
          case DType::bf16:
            return launch.template operator()<TX, __nv_bfloat16, Sets>();
          default:
            return launch.template operator()<TX, float, Sets>();
        }
      };
      auto by_sets = [&]<class TX>() {
        const int sets = qgemv_tc::sets_for(m);
        if (sets == 1) return by_scales.template operator()<TX, 1>();
        if (sets == 2) return by_scales.template operator()<TX, 2>();
        by_scales.template operator()<TX, 4>();
      };
      if (in[0].dtype() == DType::bf16)
        by_sets.template operator()<__nv_bfloat16>();
      else
        by_sets.template operator()<__half>();
    }
  });
  check_launch("quantized_matmul");
}

void gemv(std::span<const Tensor> in, Tensor& y, const QuantAttr& a, std::int64_t m, std::int64_t n,
          std::int64_t k, Stream s) {
  const bool tc =
      (a.bits == 4 || a.bits == 8) && (in[0].dtype() == DType::bf16 || in[0].dtype() == DType::f16);
  const qgemv::GemvKernel force = g_force_gemv.load(std::memory_order_relaxed);
  // H100, session 26: at M = 1 the tensor cores are 1.03-1.5x faster from N = 2048 on
  // (int4 and int8), and up to 1.15x slower at N = 1024; M = 2 and 8 1.45-2.6x faster
  // (session 17).
  const bool prefer_tc = m >= 2 || n >= 2048;
  if (tc && (force == qgemv::GemvKernel::tensor_cores ||
             (force == qgemv::GemvKernel::automatic && prefer_tc)))
    return gemv_tc(in, y, a, m, n, k, s);
  cudaStream_t cs = stream(s);
  const qgemv::Plan p = qgemv::plan(n, k, sm_count());
  Tensor scratch;
  if (p.splits > 1) scratch = Tensor::empty({p.splits, m, n}, DType::f32, y.device());
  float* partial = p.splits > 1 ? static_cast<float*>(scratch.raw_data()) : nullptr;
  const dim3 grid(static_cast<unsigned>((n + qgemv::kCols - 1) / qgemv::kCols),
                  static_cast<unsigned>(p.splits));
  const dim3 block(32, static_cast<unsigned>(p.warps));
  visit_float(in[0].dtype(), [&]<class TX>() {
    if constexpr (std::is_same_v<TX, double>) {
      return;  // x is f32, f16 or bf16 (the op's checks)
    } else {
      visit_bits(a.bits, [&]<int Bits>() {
        visit_rows(m, [&]<int Rows>() {
          launch_dependent("quantized_matmul", qgemv::gemv<Bits, TX, Rows>, grid, block, 0, cs,
                           static_cast<const TX*>(in[0].raw_data()),
                           static_cast<const std::uint32_t*>(in[1].raw_data()), in[2].raw_data(),
                           in[3].raw_data(), scale_type(in[2].dtype()),
                           static_cast<TX*>(y.raw_data()), partial, static_cast<int>(m), n, k,
                           a.group_size, p.chunks_per_split);
        });
      });
      if (p.splits > 1) {
        const std::int64_t count = m * n;
        launch_dependent("quantized_matmul", qgemv::sum_splits<TX>, dim3(blocks_for(count, 256)),
                         dim3(256), 0, cs, partial, static_cast<TX*>(y.raw_data()), count,
                         p.splits);
      }
    }
  });
  check_launch("quantized_matmul");
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
  if (gemv_eligible(in, a, m, k)) {
    gemv(in, y, a, m, n, k, s);
    return;
  }
  if (qmma::fits(in, a, m, k)) {
    qmma::matmul(in, y, a, m, n, k, s);
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

qgemv::ForceGemv::ForceGemv(GemvKernel kernel) : previous_(g_force_gemv.exchange(kernel)) {}
qgemv::ForceGemv::~ForceGemv() {
  g_force_gemv.store(previous_);
}

void register_quant(KernelTable& t) {
  t.set(Primitive::dequantize, dequantize_kernel);
  t.set(Primitive::quantized_matmul, quantized_matmul_kernel);
}

}  // namespace emily::cuda
