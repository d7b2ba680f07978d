// conv_general on CUDA: the CPU's im2col + GEMM (src/backend/cpu/conv.cpp) with the
// unrolling on the device and the products in cuBLAS. For every (output batch item,
// group) the receptive fields become a column matrix cols (C/g * prod(kernel),
// positions) and the group's kernel rows (O/g, C/g * prod(kernel)) multiply it; the
// product is already the output's (O/g, positions) block. Padding, input dilation and
// kernel dilation only decide which input element, or zero, lands in a column entry, and
// batch groups only which batch item a group reads, so one unrolling kernel serves every
// ConvAttr.
//
// Row-major Y = W cols is the column-major product Y^T = cols^T W^T, so both operands go
// to cuBLAS untransposed. The (item, group) products are strided batches: over items for
// each group, or over groups for each item, whichever loop is shorter (a depthwise
// convolution of 768 groups is one call per item, not 768).
//
// The columns live in one pool buffer of at most kColumnBytes: batch items are cut into
// chunks whose columns fit, and a single item too large for it into chunks of output
// positions. A 1x1 kernel with unit stride and no padding or dilation over a contiguous
// input skips the unrolling: the input already is the column matrix.
//
// Convolutions whose groups each read one channel (depthwise) skip the GEMM: a direct
// kernel sums each output's window.
//
// f32 multiplies in strict f32 (no TF32), f64 in f64, f16/bf16 with f32 accumulation and
// one rounding on store (cuBLAS's 32F compute type), as on the CPU.
#include <algorithm>
#include <climits>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/handles.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace emily::cuda {

namespace {

constexpr int kMaxSpatial = 6;
constexpr std::int64_t kColumnBytes = std::int64_t{256} << 20;

struct Geometry {
  int ns = 0;
  std::int64_t Np = 0, O = 0, G = 1, Og = 0, Cg = 0, kprod = 1, Kg = 0, P = 1;
  bool batch_grouped = false;
  std::int64_t sN = 0, sC = 0;
  std::int64_t in_st[kMaxSpatial], dil_in[kMaxSpatial], out_sp[kMaxSpatial], k_sp[kMaxSpatial];
  std::int64_t stride[kMaxSpatial], lo[kMaxSpatial], kdil[kMaxSpatial], idil[kMaxSpatial];
};

Geometry geometry(const Tensor& x, const Tensor& w, const Tensor& y, const ConvAttr& a) {
  Geometry g;
  g.ns = x.ndim() - 2;
  g.Np = y.shape(0);
  g.O = y.shape(1);
  g.batch_grouped = a.batch_groups > 1;
  g.G = a.feature_groups * a.batch_groups;
  g.Og = g.O / g.G;
  g.Cg = w.shape(1);
  g.sN = x.strides()[0];
  g.sC = x.strides()[1];
  for (int d = 0; d < g.ns; ++d) {
    const std::int64_t n = x.shape()[d + 2];
    g.in_st[d] = x.strides()[d + 2];
    g.dil_in[d] = n == 0 ? 0 : (n - 1) * a.input_dilation[d] + 1;
    g.out_sp[d] = y.shape()[d + 2];
    g.k_sp[d] = w.shape()[d + 2];
    g.stride[d] = a.strides[d];
    g.lo[d] = a.padding_low[d];
    g.kdil[d] = a.kernel_dilation[d];
    g.idil[d] = a.input_dilation[d];
    g.kprod *= g.k_sp[d];
    g.P *= g.out_sp[d];
  }
  g.Kg = g.Cg * g.kprod;
  return g;
}

// Row `row` of a chunk's columns (items [n0, n0 + nb), positions [p0, p0 + len)), rows
// laid out [item][group][channel, kernel position], holds for each output position the
// input element that the row's channel and kernel position meet there, or zero in
// padding and dilation holes. Blocks own rows (y) and cut them into position tiles (x),
// so a row's decomposition happens once per block and an element costs two 32-bit
// divisions per spatial axis (P <= INT_MAX is checked before), plus two for an
// input-dilated axis.
template <std::size_t W>
__global__ void im2col(Geometry g, const Word<W>* x, Word<W>* cols, std::int64_t n0,
                       std::int64_t p0, std::int64_t len, std::int64_t rows) {
  for (std::int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const std::int64_t r = row % g.Kg, t = row / g.Kg;
    const std::int64_t grp = t % g.G, n = n0 + t / g.G;
    const std::int64_t b = g.batch_grouped ? grp * g.Np + n : n;
    const std::int64_t c = (g.batch_grouped ? 0 : grp * g.Cg) + r / g.kprod;
    const std::int64_t base = b * g.sN + c * g.sC;
    std::int64_t first[kMaxSpatial];  // dilated input index at output coordinate 0
    std::int64_t kr = r % g.kprod;
    for (int d = g.ns - 1; d >= 0; --d) {
      first[d] = (kr % g.k_sp[d]) * g.kdil[d] - g.lo[d];
      kr /= g.k_sp[d];
    }
    Word<W>* dst = cols + row * len;
    for (std::int64_t p = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; p < len;
         p += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
      auto q = static_cast<unsigned>(p0 + p);
      std::int64_t off = base;
      bool valid = true;
      for (int d = g.ns - 1; d >= 0 && valid; --d) {
        const auto extent = static_cast<unsigned>(g.out_sp[d]);
        const std::int64_t i = static_cast<std::int64_t>(q % extent) * g.stride[d] + first[d];
        q /= extent;
        valid = i >= 0 && i < g.dil_in[d];
        if (g.idil[d] == 1) {
          off += i * g.in_st[d];
        } else {
          valid = valid && i % g.idil[d] == 0;
          off += (i / g.idil[d]) * g.in_st[d];
        }
      }
      dst[p] = valid ? x[off] : Word<W>{};  // all-zero bytes: +0 in every float type
    }
  }
}

// Depthwise-style convolutions (every group reads one input channel) as direct sums:
// one thread per output element walks the kernel window. Their GEMMs would be one row
// deep, so unrolling them costs far more than it saves. Accumulates in Compute<T>
// (f32 for f16/bf16), summing kernel positions in order.
template <class T>
__global__ void depthwise(Geometry g, const T* x, const T* w, T* y, std::int64_t total) {
  using C = typename Compute<T>::type;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += step) {
    std::int64_t p = e % g.P;
    const std::int64_t o = (e / g.P) % g.O, n = e / (g.P * g.O);
    std::int64_t first[kMaxSpatial], kd[kMaxSpatial];  // window origin; kernel position
    for (int d = g.ns - 1; d >= 0; --d) {
      first[d] = (p % g.out_sp[d]) * g.stride[d] - g.lo[d];
      p /= g.out_sp[d];
      kd[d] = 0;
    }
    const T* xc = x + n * g.sN + (o / g.Og) * g.sC;
    const T* wo = w + o * g.kprod;
    C acc = C(0);
    // Kernel positions in row-major order, advanced as an odometer (no divisions).
    for (std::int64_t r = 0; r < g.kprod; ++r) {
      std::int64_t off = 0;
      bool valid = true;
      for (int d = 0; d < g.ns && valid; ++d) {
        const std::int64_t i = first[d] + kd[d] * g.kdil[d];
        valid = i >= 0 && i < g.dil_in[d] && (g.idil[d] == 1 || i % g.idil[d] == 0);
        off += (g.idil[d] == 1 ? i : i / g.idil[d]) * g.in_st[d];
      }
      if (valid) acc += load(xc[off]) * load(wo[r]);
      for (int d = g.ns - 1; d >= 0; --d) {
        if (++kd[d] < g.k_sp[d]) break;
        kd[d] = 0;
      }
    }
    y[e] = store<T>(acc);
  }
}

struct Types {
  cudaDataType_t data;
  cublasComputeType_t compute;
};

Types types(DType d) {
  switch (d) {
    case DType::f16:
      return {CUDA_R_16F, CUBLAS_COMPUTE_32F};
    case DType::bf16:
      return {CUDA_R_16BF, CUBLAS_COMPUTE_32F};
    case DType::f64:
      return {CUDA_R_64F, CUBLAS_COMPUTE_64F};
    default:
      return {CUDA_R_32F, CUBLAS_COMPUTE_32F};
  }
}

// Where the column matrix of (item i of the chunk, group grp) starts, in elements from
// `base`: base + i * per_item + grp * per_group, leading dimension ld.
struct Columns {
  const char* base;
  std::int64_t per_item, per_group, ld;
};

void conv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = "conv_general";
  const auto& a = std::get<ConvAttr>(attr);
  const Tensor &x = in[0], &w = in[1];
  Tensor& y = out[0];
  const DType dtype = y.dtype();
  if ((dtype != DType::f32 && dtype != DType::f64 && dtype != DType::f16 && dtype != DType::bf16) ||
      x.ndim() - 2 > kMaxSpatial)
    return run_on_cpu(Primitive::conv_general, in, out, attr);
  const Geometry g = geometry(x, w, y, a);
  cudaStream_t cs = stream(s);
  if (g.Kg == 0) {  // no input channels: every output is an empty sum
    check(cudaMemsetAsync(y.raw_data(), 0, y.nbytes(), cs), op, "cudaMemsetAsync");
    return;
  }
  if (g.Cg == 1 && g.G > 1 && !g.batch_grouped) {
    const std::int64_t total = y.size();
    const auto blocks = static_cast<unsigned>(
        std::clamp<std::int64_t>((total + kThreads - 1) / kThreads, 1, 65536));
    visit_dtype(dtype, [&]<class T>() {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                    std::is_same_v<T, f16> || std::is_same_v<T, bf16>) {
        using St = S<T>;
        depthwise<St><<<blocks, kThreads, 0, cs>>>(g, static_cast<const St*>(x.raw_data()),
                                                   static_cast<const St*>(w.raw_data()),
                                                   static_cast<St*>(y.raw_data()), total);
      }
    });
    return check_launch(op);
  }
  if (g.Kg > INT_MAX || g.P > INT_MAX || g.O > INT_MAX)
    EMILY_THROW(Unsupported, op, "matrices above INT_MAX rows or columns");
  const std::int64_t item = static_cast<std::int64_t>(y.itemsize());

  bool direct = g.kprod == 1 && x.is_contiguous();
  for (int d = 0; d < g.ns && direct; ++d)
    direct = g.stride[d] == 1 && g.lo[d] == 0 && g.idil[d] == 1 && g.dil_in[d] == g.out_sp[d];

  // Chunks: nb items at a time with all positions, or one item and len positions.
  const std::int64_t per_item = g.G * g.Kg * g.P;
  std::int64_t nb = g.Np, len = g.P;
  if (!direct) {
    const std::int64_t budget = std::max<std::int64_t>(kColumnBytes / item, 1);
    if (per_item <= budget) {
      nb = std::clamp<std::int64_t>(budget / per_item, 1, g.Np);
    } else {
      nb = 1;
      len = std::clamp<std::int64_t>(budget / (g.G * g.Kg), 1, g.P);
    }
  }
  Tensor cols;
  if (!direct) cols = Tensor::empty({nb * g.G * g.Kg * len}, dtype, y.device());

  const Types ty = types(dtype);
  const float one32 = 1.0f, zero32 = 0.0f;
  const double one64 = 1.0, zero64 = 0.0;
  const bool f64 = dtype == DType::f64;
  const void* alpha = f64 ? static_cast<const void*>(&one64) : &one32;
  const void* beta = f64 ? static_cast<const void*>(&zero64) : &zero32;
  BlasHandle blas(s, op);
  const char* wp = static_cast<const char*>(w.raw_data());
  char* yp = static_cast<char*>(y.raw_data());

  for (std::int64_t n0 = 0; n0 < g.Np; n0 += nb) {
    const std::int64_t items = std::min(nb, g.Np - n0);
    for (std::int64_t p0 = 0; p0 < g.P; p0 += len) {
      const std::int64_t span = std::min(len, g.P - p0);
      Columns c;
      if (direct) {
        c = {static_cast<const char*>(x.raw_data()) + n0 * g.sN * item, g.sN,
             g.batch_grouped ? g.Np * g.sN : g.Cg * g.sC, g.P};
      } else {
        const std::int64_t rows = items * g.G * g.Kg;
        const dim3 grid(static_cast<unsigned>(
                            std::clamp<std::int64_t>((span + kThreads - 1) / kThreads, 1, 1024)),
                        static_cast<unsigned>(std::min<std::int64_t>(rows, 65535)));
        visit_word(y.itemsize(), [&]<std::size_t W>() {
          im2col<W><<<grid, kThreads, 0, cs>>>(g, static_cast<const Word<W>*>(x.raw_data()),
                                               static_cast<Word<W>*>(cols.raw_data()), n0, p0, span,
                                               rows);
        });
        check_launch(op);
        c = {static_cast<const char*>(cols.raw_data()), g.G * g.Kg * span, g.Kg * span, span};
      }
      // Column-major C (span x Og, ldc P) = cols^T (span x Kg) . W_g^T (Kg x Og).
      auto gemm = [&](std::int64_t i, std::int64_t grp, std::int64_t count, bool over_items) {
        const char* A = c.base + (i * c.per_item + grp * c.per_group) * item;
        const char* B = wp + grp * g.Og * g.Kg * item;
        char* C = yp + (((n0 + i) * g.O + grp * g.Og) * g.P + p0) * item;
        const long long sa = over_items ? c.per_item : c.per_group;
        const long long sb = over_items ? 0 : g.Og * g.Kg;
        const long long sc = over_items ? g.O * g.P : g.Og * g.P;
        check_blas(cublasGemmStridedBatchedEx(
                       blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(span),
                       static_cast<int>(g.Og), static_cast<int>(g.Kg), alpha, A, ty.data,
                       static_cast<int>(c.ld), sa, B, ty.data, static_cast<int>(g.Kg), sb, beta, C,
                       ty.data, static_cast<int>(g.P), sc, static_cast<int>(count), ty.compute,
                       CUBLAS_GEMM_DEFAULT),
                   op, "cublasGemmStridedBatchedEx");
      };
      if (g.G <= items) {
        for (std::int64_t grp = 0; grp < g.G; ++grp) gemm(0, grp, items, true);
      } else {
        for (std::int64_t i = 0; i < items; ++i) gemm(i, 0, g.G, false);
      }
    }
  }
}

}  // namespace

void register_conv(KernelTable& t) {
  t.set(Primitive::conv_general, conv_kernel);
}

}  // namespace emily::cuda
