// The fused transformer kernels on CUDA that are not attention: rms_norm and layer_norm
// (one block per row), swiglu (elementwise) and rope (one thread per rotated pair or
// passed-through feature). Half inputs compute in f32 and round once on store, as the CPU
// kernels do; f64 computes in double. The op layer hands these kernels dense operands.
// register_fast also registers attention (fast_sdpa.cu, fast_flash.cu).
#include <algorithm>
#include <cmath>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/fast_sdpa.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/runtime.h"
#include "backend/cuda/swiglu.cuh"
#include "backend/cuda/visit_float.cuh"

namespace emily::cuda {

namespace {

int blocks_for(std::int64_t n, int threads) {
  return static_cast<int>(std::clamp<std::int64_t>((n + threads - 1) / threads, 1, 65536));
}

// ---- normalization --------------------------------------------------------------------

constexpr int kNormThreads = 256;

// The block's sum of `v`, returned to every thread. `shared` holds one value per warp.
template <class C>
__device__ C block_sum(C v, C* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read from the previous sum
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  C total = 0;
  for (int w = 0; w < blockDim.x / 32; ++w) total += shared[w];
  return total;
}

// A norm's operands. With `residual`, `sum` takes the rounded x + residual and the norm
// reads that: in each kernel a thread reads back only the features it wrote itself, so
// no barrier is needed between the add and the norm.
template <class T>
struct NormRows {
  const T* x;
  const T* residual;  // null without a residual add
  T* sum;
  const T* w;
  const T* bias;
  T* o;
  std::int64_t d;
  double eps;
};

// One block per row. Layer norm takes two passes over the row (the mean, then the
// variance of centred values: E[x^2] - E[x]^2 cancels badly when the mean is large); the
// row is re-read from cache, not kept, so rows of any length run in one launch.
template <class T, bool kLayer>
__global__ void norm_rows(NormRows<T> a) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  using C = typename Compute<T>::type;
  __shared__ C partial[kNormThreads / 32];
  const std::int64_t d = a.d, row = blockIdx.x;
  const T* xr = a.x + row * d;
  T* orow = a.o + row * d;
  if (a.residual) {
    T* srow = a.sum + row * d;
    const T* rrow = a.residual + row * d;
    for (std::int64_t j = threadIdx.x; j < d; j += blockDim.x)
      srow[j] = store<T>(load(xr[j]) + load(rrow[j]));
    xr = srow;
  }
  C mean = 0;
  if constexpr (kLayer) {
    C s = 0;
    for (std::int64_t j = threadIdx.x; j < d; j += blockDim.x) s += load(xr[j]);
    mean = block_sum(s, partial) / C(d);
  }
  C squares = 0;
  for (std::int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    const C c = load(xr[j]) - mean;
    squares += c * c;
  }
  const C inv = C(1) / sqrt(block_sum(squares, partial) / C(d) + C(a.eps));
  for (std::int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    C y = (load(xr[j]) - mean) * inv;
    if (a.w) y *= load(a.w[j]);
    if (a.bias) y += load(a.bias[j]);
    orow[j] = store<T>(y);
  }
}

// Rows of up to 8192 features, a multiple of 8: a thread holds 8 adjacent features in
// registers (one 16-byte load for half types), so the row is read once and the block is
// as wide as the row needs. A decode step's norms are single rows: there the scalar
// kernel's three strided passes over the row, in a fixed 128-thread block, cost twice
// a launch.
template <class T>
struct alignas(8 * sizeof(T)) Eight {
  T v[8];
};

template <class T, bool kLayer>
__global__ void norm_rows_in_registers(NormRows<T> a) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  using C = typename Compute<T>::type;
  __shared__ C partial[32];
  const std::int64_t d = a.d, row = blockIdx.x;
  const std::int64_t at = row * d + 8 * std::int64_t(threadIdx.x);
  const bool on = 8 * std::int64_t(threadIdx.x) < d;
  C v[8] = {};
  if (on) {
    const Eight<T> r = *reinterpret_cast<const Eight<T>*>(a.x + at);
    if (a.residual) {
      const Eight<T> add = *reinterpret_cast<const Eight<T>*>(a.residual + at);
      Eight<T> sum;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        sum.v[e] = store<T>(load(r.v[e]) + load(add.v[e]));
        v[e] = load(sum.v[e]);  // the norm reads the rounded sum
      }
      *reinterpret_cast<Eight<T>*>(a.sum + at) = sum;
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = load(r.v[e]);
    }
  }
  C mean = 0;
  if constexpr (kLayer) {
    C s = 0;
#pragma unroll
    for (int e = 0; e < 8; ++e) s += v[e];
    mean = block_sum(s, partial) / C(d);
  }
  C squares = 0;
  if (on) {
#pragma unroll
    for (int e = 0; e < 8; ++e) squares += (v[e] - mean) * (v[e] - mean);
  }
  const C inv = C(1) / sqrt(block_sum(squares, partial) / C(d) + C(a.eps));
  if (!on) return;
  const std::int64_t f = 8 * std::int64_t(threadIdx.x);
  Eight<T> wr{}, br{}, out;
  if (a.w) wr = *reinterpret_cast<const Eight<T>*>(a.w + f);
  if (a.bias) br = *reinterpret_cast<const Eight<T>*>(a.bias + f);
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    C y = (v[e] - mean) * inv;
    if (a.w) y *= load(wr.v[e]);
    if (a.bias) y += load(br.v[e]);
    out.v[e] = store<T>(y);
  }
  *reinterpret_cast<Eight<T>*>(a.o + at) = out;
}

template <class T>
bool eight_aligned(const T* p) {
  return p == nullptr || reinterpret_cast<std::uintptr_t>(p) % (8 * sizeof(T)) == 0;
}

template <bool kLayer>
void norm_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = kLayer ? "fast_layer_norm" : "fast_rms_norm";
  const auto& attrs = std::get<NormAttr>(attr);
  const std::int64_t d = in[0].shape(-1);
  const std::int64_t rows = d == 0 ? 0 : in[0].size() / d;
  if (rows == 0) return;
  visit_float(in[0].dtype(), [&]<class T>() {
    std::size_t next = attrs.has_residual ? 2 : 1;
    NormRows<T> a{in[0].data<T>(), nullptr, nullptr, nullptr, nullptr, nullptr, d, attrs.eps};
    if (attrs.has_residual) {
      a.residual = in[1].data<T>();
      a.sum = out[0].data<T>();
    }
    if (attrs.has_weight) a.w = in[next++].data<T>();
    if (attrs.has_bias) a.bias = in[next].data<T>();
    a.o = out[attrs.has_residual ? 1 : 0].data<T>();
    if (d % 8 == 0 && d <= 8 * 1024 && rows <= 0x7fffffff && eight_aligned(a.x) &&
        eight_aligned(a.residual) && eight_aligned<T>(a.sum) && eight_aligned(a.w) &&
        eight_aligned(a.bias) && eight_aligned<T>(a.o)) {
      const int threads = static_cast<int>((d / 8 + 31) / 32 * 32);
      launch_dependent(op, norm_rows_in_registers<T, kLayer>, dim3(static_cast<unsigned>(rows)),
                       dim3(threads), 0, stream(s), a);
      return;
    }
    // Rows beyond the grid's x limit go round in slices of it.
    const int threads = d <= 128 ? 64 : (d <= 1024 ? 128 : kNormThreads);
    for (std::int64_t r0 = 0; r0 < rows; r0 += 0x7fffffff) {
      const auto n = static_cast<unsigned>(std::min<std::int64_t>(rows - r0, 0x7fffffff));
      NormRows<T> part = a;
      part.x += r0 * d;
      part.o += r0 * d;
      if (part.residual) {
        part.residual += r0 * d;
        part.sum += r0 * d;
      }
      launch_dependent(op, norm_rows<T, kLayer>, dim3(n), dim3(threads), 0, stream(s), part);
    }
  });
  check_launch(op);
}

// ---- swiglu ---------------------------------------------------------------------------

template <class T>
__global__ void swiglu_elements(const T* __restrict__ g, const T* __restrict__ u, T* __restrict__ o,
                                std::int64_t n) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    o[i] = swiglu_of(g[i], u[i]);
}

void swiglu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream s) {
  const std::int64_t n = out[0].size();
  visit_float(in[0].dtype(), [&]<class T>() {
    launch_dependent("fast_swiglu", swiglu_elements<T>, dim3(blocks_for(n, 256)), dim3(256), 0,
                     stream(s), in[0].data<T>(), in[1].data<T>(), out[0].data<T>(), n);
  });
  check_launch("fast_swiglu");
}

// ---- rope -----------------------------------------------------------------------------

// Element i of a position or frequency operand, whatever its (real) dtype, as C. The
// dtype is one value for the whole launch, so the switch never diverges.
template <class C>
__device__ C number_at(const void* p, DType t, std::int64_t i) {
  switch (t) {
    case DType::u8:
      return C(static_cast<const std::uint8_t*>(p)[i]);
    case DType::u16:
      return C(static_cast<const std::uint16_t*>(p)[i]);
    case DType::u32:
      return C(static_cast<const std::uint32_t*>(p)[i]);
    case DType::u64:
      return C(static_cast<const std::uint64_t*>(p)[i]);
    case DType::s8:
      return C(static_cast<const std::int8_t*>(p)[i]);
    case DType::s16:
      return C(static_cast<const std::int16_t*>(p)[i]);
    case DType::s32:
      return C(static_cast<const std::int32_t*>(p)[i]);
    case DType::s64:
      return C(static_cast<const std::int64_t*>(p)[i]);
    case DType::f16:
      return C(__half2float(static_cast<const __half*>(p)[i]));
    case DType::bf16:
      return C(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]));
    case DType::f32:
      return C(static_cast<const float*>(p)[i]);
    case DType::f64:
      return C(static_cast<const double*>(p)[i]);
    default:
      return C(0);  // bool and complex positions are refused by the op layer
  }
}

struct RopeArgs {
  std::int64_t rows, d, t;  // rows of x, features per row, rows per position run (axis -2)
  std::int64_t per_batch;   // rows per batch entry (axis 0)
  std::int64_t per_token;   // rows per {B, T} position (the axes after the first two)
  int dims;
  bool traditional;
  RopePositions positions;
  std::int64_t offset;
  const void* given = nullptr;  // offsets {B} or 0-d, or positions {B, T}
  DType given_dtype = DType::s32;
  bool given_scalar = false;
  const void* freqs = nullptr;  // inverse frequencies {dims/2}, or null: base^(-2i/dims)
  DType freqs_dtype = DType::f32;
  double base, scale;
  double norm_eps;
};

// The step of pair k (< dims/2) in f32, as the CPU kernel and the decomposition take it.
// It reads no tensor unless frequencies are given, so kernels compute it before waiting
// for the previous grid, hiding the double-precision pow behind that kernel's tail.
__device__ float rope_freq(const RopeArgs& a, std::int64_t k) {
  return static_cast<float>(a.scale * pow(a.base, -2.0 * double(k) / a.dims));
}

// Turns pair k of row r (k < dims/2) by `freq` (null frequencies: rope_freq's), or copies
// feature dims + k - dims/2 (larger k): `value(j)` reads feature j of the row in the
// compute type.
template <class T, class Value>
__device__ void rope_pair(const RopeArgs& a, std::int64_t r, std::int64_t k, float freq, T* orow,
                          Value value) {
  using C = typename Compute<T>::type;
  const std::int64_t half = a.dims / 2;
  if (k >= half) {
    const std::int64_t j = a.dims + (k - half);
    orow[j] = store<T>(value(j));
    return;
  }
  const C step = C(static_cast<double>(a.offset + r % a.t));
  C pos = step;
  if (a.positions == RopePositions::batch)
    pos = number_at<C>(a.given, a.given_dtype, a.given_scalar ? 0 : r / a.per_batch) + step;
  else if (a.positions == RopePositions::tokens)
    pos = number_at<C>(a.given, a.given_dtype, r / a.per_token);
  if (a.freqs) freq = number_at<float>(a.freqs, a.freqs_dtype, k) * static_cast<float>(a.scale);
  const C angle = pos * C(freq);
  const C c = cos(angle), s = sin(angle);
  const std::int64_t j = a.traditional ? 2 * k : k, second = a.traditional ? 1 : half;
  const C x1 = value(j), x2 = value(j + second);
  orow[j] = store<T>(x1 * c - x2 * s);
  orow[j + second] = store<T>(x1 * s + x2 * c);
}

// One thread per (row, k) of rope_pair.
template <class T>
__global__ void rope_rows(const T* __restrict__ x, T* __restrict__ o, RopeArgs a) {
  const std::int64_t half = a.dims / 2, width = half + (a.d - a.dims);
  const std::int64_t n = a.rows * width;
  const std::int64_t first = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  const float first_freq = first % width < half ? rope_freq(a, first % width) : 0.0f;
  wait_for_previous_grid();  // launched dependent: before any read or write
  for (std::int64_t e = first; e < n; e += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = e / width, k = e % width;
    const T* xr = x + r * a.d;
    const float freq = e == first ? first_freq : (k < half ? rope_freq(a, k) : 0.0f);
    rope_pair<T>(a, r, k, freq, o + r * a.d, [&](std::int64_t j) { return load(xr[j]); });
  }
}

// With the norm prologue: a row's (row, k) threads are one to eight whole warps of the
// block (`per_row` threads; a row wider than that loops); they sum the row's squares
// through shuffles and shared memory, then turn the pairs from the normed values, each
// rounded to T as fast_rms_norm would store it.
constexpr int kRopeNormThreads = 256;

// One tensor of a normed rope launch: its rows, their norm weight and output, and the
// blocks that take them.
template <class T>
struct NormRopePart {
  const T* x;
  const T* w;
  T* o;
  RopeArgs a;
  unsigned blocks;
};

template <class T>
__device__ __forceinline__ void rope_block_normed(const NormRopePart<T>& part, unsigned block,
                                                  int per_row, float first_freq) {
  using C = typename Compute<T>::type;
  __shared__ C partial[kRopeNormThreads / 32];
  const RopeArgs& a = part.a;
  const T* __restrict__ w = part.w;
  const std::int64_t half = a.dims / 2, width = half + (a.d - a.dims);
  const int t = threadIdx.x % per_row, warps = per_row / 32, warp = threadIdx.x / 32;
  const std::int64_t r = block * std::int64_t(kRopeNormThreads / per_row) + threadIdx.x / per_row;
  const bool on = r < a.rows;  // off threads still take part in the block's barrier
  const T* __restrict__ xr = part.x + (on ? r : 0) * a.d;
  C squares = 0;
  for (std::int64_t k = t; on && k < width; k += per_row) {
    if (k >= half) {
      const C v = load(xr[a.dims + (k - half)]);
      squares += v * v;
      continue;
    }
    const std::int64_t j = a.traditional ? 2 * k : k, second = a.traditional ? 1 : half;
    const C v1 = load(xr[j]), v2 = load(xr[j + second]);
    squares += v1 * v1 + v2 * v2;
  }
  for (int m = 16; m > 0; m >>= 1) squares += __shfl_xor_sync(0xffffffffu, squares, m);
  if (warps > 1) {
    if (threadIdx.x % 32 == 0) partial[warp] = squares;
    __syncthreads();
    squares = 0;
    for (int i = warp - warp % warps; i < warp - warp % warps + warps; ++i) squares += partial[i];
  }
  if (!on) return;
  const C inv = C(1) / sqrt(squares / C(a.d) + C(a.norm_eps));
  for (std::int64_t k = t; k < width; k += per_row)
    rope_pair<T>(a, r, k, k == t ? first_freq : (k < half ? rope_freq(a, k) : 0.0f),
                 part.o + r * a.d,
                 [&](std::int64_t j) { return load(store<T>(load(xr[j]) * inv * load(w[j]))); });
}

// The first part's blocks come first, then the second's (q's and k's heads of a decode
// step: one launch where two would each pay a launch's fixed cost). Both parts share
// dims, base and scale, so a thread's first frequency is one value for either.
template <class T>
__global__ void __launch_bounds__(kRopeNormThreads)
    rope_rows_normed(NormRopePart<T> first, NormRopePart<T> second, int per_row) {
  const std::int64_t half = first.a.dims / 2;
  const int t = threadIdx.x % per_row;
  const float first_freq = t < half ? rope_freq(first.a, t) : 0.0f;
  wait_for_previous_grid();  // launched dependent: before any read or write
  if (blockIdx.x < first.blocks)
    rope_block_normed(first, blockIdx.x, per_row, first_freq);
  else
    rope_block_normed(second, blockIdx.x - first.blocks, per_row, first_freq);
}

// The launch geometry of a rope over x (its rows, and each row's position).
RopeArgs rope_args(const Tensor& x, const RopeAttr& ra) {
  RopeArgs a{};
  a.d = x.shape(-1);
  a.rows = a.d == 0 ? 0 : x.size() / a.d;
  a.t = x.shape(-2);
  a.per_batch = std::max<std::int64_t>(a.rows / std::max<std::int64_t>(x.shape(0), 1), 1);
  a.per_token = x.ndim() >= 3 ? std::max<std::int64_t>(
                                    a.rows / std::max<std::int64_t>(x.shape(0) * x.shape(1), 1), 1)
                              : 1;
  a.dims = ra.dims;
  a.traditional = ra.traditional;
  a.positions = ra.positions;
  a.offset = ra.offset;
  a.base = ra.base;
  a.scale = ra.scale;
  a.norm_eps = ra.norm_eps;
  return a;
}

void rope_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const auto& ra = std::get<RopeAttr>(attr);
  const Tensor& x = in[0];
  RopeArgs a = rope_args(x, ra);
  if (ra.positions != RopePositions::scalar) {
    a.given = in[1].raw_data();
    a.given_dtype = in[1].dtype();
    a.given_scalar = in[1].ndim() == 0;
  }
  if (ra.has_freqs) {
    const Tensor& freqs = in[in.size() - (ra.has_norm ? 2 : 1)];
    a.freqs = freqs.raw_data();
    a.freqs_dtype = freqs.dtype();
  }
  // The pair form's second tensor: k {B, T, heads, D} with q's positions.
  RopeArgs b = a;
  if (ra.pair) {
    b = rope_args(in[3], ra);
    b.given = a.given, b.given_dtype = a.given_dtype, b.given_scalar = a.given_scalar;
  }
  if (a.rows == 0 && b.rows == 0) return;
  const std::int64_t n = a.rows * (a.dims / 2 + a.d - a.dims);
  visit_float(x.dtype(), [&]<class T>() {
    if (ra.has_norm) {
      // Whole warps per row (a row's pairs and passed-through features, up to the block).
      const std::int64_t width = a.dims / 2 + (a.d - a.dims);
      int per_row = 32;
      while (per_row < kRopeNormThreads && per_row < width) per_row *= 2;
      const std::int64_t rows_per_block = kRopeNormThreads / per_row;
      auto blocks = [&](const RopeArgs& p) {
        return static_cast<unsigned>((p.rows + rows_per_block - 1) / rows_per_block);
      };
      const Tensor& weight = ra.pair ? in[2] : in.back();  // after the frequencies, if any
      NormRopePart<T> first{x.data<T>(), weight.data<T>(), out[0].data<T>(), a, blocks(a)};
      NormRopePart<T> second = first;
      second.blocks = 0;
      if (ra.pair) second = {in[3].data<T>(), in[4].data<T>(), out[1].data<T>(), b, blocks(b)};
      launch_dependent("fast_rope", rope_rows_normed<T>, dim3(first.blocks + second.blocks),
                       dim3(kRopeNormThreads), 0, stream(s), first, second, per_row);
    } else if (n > 0) {
      launch_dependent("fast_rope", rope_rows<T>, dim3(blocks_for(n, 256)), dim3(256), 0, stream(s),
                       x.data<T>(), out[0].data<T>(), a);
    }
  });
  check_launch("fast_rope");
}

}  // namespace

void register_fast(KernelTable& t) {
  t.set(Primitive::fast_rms_norm, norm_kernel<false>);
  t.set(Primitive::fast_layer_norm, norm_kernel<true>);
  t.set(Primitive::fast_swiglu, swiglu_kernel);
  t.set(Primitive::fast_linear_swiglu, linear_swiglu_kernel, linear_swiglu_accepts);
  t.set(Primitive::fast_rope, rope_kernel);
  t.set(Primitive::fast_sdpa, sdpa_kernel, sdpa_accepts);
}

}  // namespace emily::cuda
