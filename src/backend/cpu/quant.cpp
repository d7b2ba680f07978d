// Kernels of the quant family: dequantize and quantized_matmul over the packed bit
// stream of emily/quantization.h. The op layer hands them dense operands.
//
// Unpack order. For 2, 4 and 8 bits a group's codes are unpacked "word-major": the
// loop over the group's words is innermost, with one shift per pass, so it vectorises
// with plain SIMD shifts (no per-lane shift counts, which SSE2 lacks). Code e = i * per
// + k (word i, slot k of per = 32 / bits) lands at position p = k * words + i of the
// group's buffer. Products do not care about the order of a sum's terms, only that both
// factors use the same one, so activations are permuted the same way once per call (or
// outputs un-permuted once). 3- and 6-bit codes straddle words and unpack in element
// order, one chunk of 32 codes (`bits` words) at a time.
//
// quantized_matmul, x {M, K}:
//   * M <= kGemvRows: a GEMV-style loop. transpose (w {N, K}): threads own output
//     columns n; per group the codes are unpacked times the scale into a small f32
//     buffer, dotted with each of the M activation rows (eight f32 lanes, which the
//     compiler vectorises) and the bias enters as bias * sum(x over the group), so it
//     costs one multiply-add per group, not per weight. For M = 1 with 2/4/8 bits the
//     codes are unpacked and multiplied in one pass (no buffer), the scale applied per
//     group. On x86-64 CPUs with AVX2 and FMA, 2/4/8 bits with rows of whole 8-word
//     blocks run quant_avx2.cpp's loop instead (one 256-bit load of codes per shift
//     pass, FMA), chosen per call after one CPU check. !transpose (w {K, N}): threads
//     own blocks of output columns and add x[m, k] times row k of the block.
//   * larger M: tiles of W dequantized to f32 and multiplied with OpenBLAS's sgemm, so
//     the unpacking is paid once per weight rather than once per activation row.
// Accumulation is in f32; results round once to x's dtype. They agree with the
// decomposition (dequantize, astype, matmul) to rounding, not bitwise.
#include <cblas.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/quant_avx2.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "backend/quant_bits.h"
#include "backend/visit_floating.h"
#include "core/convert.h"
#include "emily/memory.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

constexpr std::int64_t kGemvRows = 8;
constexpr int kLanes = 8;

// The element of a group that sits at each position of its unpack buffer.
std::vector<int> unpack_order(int bits, int group_size) {
  std::vector<int> order(static_cast<std::size_t>(group_size));
  const int words = group_size * bits / 32, per = 32 / bits;
  for (int p = 0; p < group_size; ++p)
    order[p] = 32 % bits == 0 ? (p % words) * per + p / words : p;
  return order;
}

// The `words` words of one group (a multiple of `bits`) as codes * scale + offset, in
// unpack order. With scale 1 and offset 0 the codes come out exact.
template <int Bits>
inline void unpack_group(const std::uint32_t* w, int words, float scale, float offset, float* out) {
  constexpr std::uint32_t mask = (1u << Bits) - 1;
  if constexpr (32 % Bits == 0) {
    constexpr int per = 32 / Bits;
    for (int k = 0; k < per; ++k) {
      float* o = out + k * words;
      for (int i = 0; i < words; ++i)
        o[i] = static_cast<float>(static_cast<std::int32_t>((w[i] >> (Bits * k)) & mask)) * scale +
               offset;
    }
  } else {
    for (int c = 0; c < words / Bits; ++c) {
      const std::uint32_t* cw = w + c * Bits;
      float* o = out + c * 32;
#pragma GCC unroll 32
      for (int j = 0; j < 32; ++j) {
        const int bit = Bits * j, word = bit / 32, shift = bit % 32;
        std::uint32_t v = cw[word] >> shift;
        if (shift + Bits > 32) v |= cw[word + 1] << (32 - shift);
        o[j] = static_cast<float>(static_cast<std::int32_t>(v & mask)) * scale + offset;
      }
    }
  }
}

// Scratch from the caching allocator: tiles are megabytes, which malloc would map fresh
// (and fault in page by page) on every call.
struct Scratch {
  std::shared_ptr<Buffer> buffer;
  float* floats(std::int64_t n) {
    buffer = allocate(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(float),
                      Device::cpu());
    return static_cast<float*>(buffer->data());
  }
};

struct Layout {
  int bits, group_size, words;                 // words per group
  std::int64_t rows, cols, groups, row_words;  // of the packed matrix
};

Layout layout_of(const Tensor& packed, const Tensor& scales, const QuantAttr& a) {
  Layout l{a.bits,           a.group_size,    a.group_size * a.bits / 32, 1, 0,
           scales.shape(-1), packed.shape(-1)};
  l.cols = l.groups * a.group_size;
  for (int d = 0; d + 1 < scales.ndim(); ++d) l.rows *= scales.shape(d);
  return l;
}

// ---- dequantize ------------------------------------------------------------------------

// Bit-identical to the decomposition: the code converted to the scales' dtype (exact),
// times the scale rounded to that dtype, plus the bias rounded again.
void dequantize_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                       Stream) {
  const auto& a = std::get<QuantAttr>(attr);
  const Layout l = layout_of(in[0], in[1], a);
  const std::vector<int> order = unpack_order(a.bits, a.group_size);
  const std::uint32_t* packed = in[0].data<std::uint32_t>();
  visit_floating(in[1].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* scales = in[1].data<T>();
    const T* biases = in[2].data<T>();
    T* o = out[0].data<T>();
    visit_bits(a.bits, [&]<int Bits>() {
#pragma omp parallel num_threads(::emily::cpu::threads()) if (l.rows * l.cols >= kParallelGrain)
      {
        std::vector<float> codes(static_cast<std::size_t>(l.group_size));
#pragma omp for schedule(static)
        for (std::int64_t r = 0; r < l.rows; ++r) {
          for (std::int64_t g = 0; g < l.groups; ++g) {
            unpack_group<Bits>(packed + r * l.row_words + g * l.words, l.words, 1.0f, 0.0f,
                               codes.data());
            const C s = C(scales[r * l.groups + g]), b = C(biases[r * l.groups + g]);
            T* og = o + r * l.cols + g * l.group_size;
            for (int p = 0; p < l.group_size; ++p) {
              const T product = T(C(codes[p]) * s);
              og[order[p]] = T(C(product) + b);
            }
          }
        }
      }
    });
  });
}

// ---- quantized_matmul ------------------------------------------------------------------

// x {M, K} as f32, each group of K permuted into unpack order (transpose: K is the packed
// axis) or left in order.
template <class X>
void activations(const X* x, std::int64_t m, std::int64_t k, const std::vector<int>* order,
                 float* out) {
  const std::int64_t gs = order ? static_cast<std::int64_t>(order->size()) : k;
  for (std::int64_t r = 0; r < m; ++r) {
    const X* xr = x + r * k;
    float* o = out + r * k;
    if (!order) {
      for (std::int64_t j = 0; j < k; ++j) o[j] = static_cast<float>(xr[j]);
      continue;
    }
    for (std::int64_t g0 = 0; g0 < k; g0 += gs)
      for (std::int64_t p = 0; p < gs; ++p) o[g0 + p] = static_cast<float>(xr[g0 + (*order)[p]]);
  }
}

inline float lane_sum(const float* lanes) {
  float s = 0;
  for (int l = 0; l < kLanes; ++l) s += lanes[l];
  return s;
}

// q . x for one group of a word-aligned width whose word count is a multiple of kLanes,
// x in unpack order: unpacking and the products in one pass, no buffer (M = 1, where a
// buffer would be written and read once per weight for nothing).
template <int Bits>
inline float dot_codes(const std::uint32_t* w, int words, const float* x) {
  constexpr std::uint32_t mask = (1u << Bits) - 1;
  float acc[kLanes] = {};
  for (int k = 0; k < 32 / Bits; ++k) {
    const float* xk = x + k * words;
    for (int i = 0; i < words; i += kLanes)
      for (int q = 0; q < kLanes; ++q)
        acc[q] += static_cast<float>(static_cast<std::int32_t>((w[i + q] >> (Bits * k)) & mask)) *
                  xk[i + q];
  }
  return lane_sum(acc);
}

// transpose, M = 1, 2/4/8 bits with whole lanes of words per group.
template <int Bits, class S>
void gemv_transposed_single(const float* xp, const float* xsum, const std::uint32_t* packed,
                            const S* scales, const S* biases, const Layout& l, float* out) {
  const std::int64_t n_total = l.rows;
#pragma omp parallel for num_threads(::emily::cpu::threads()) \
    schedule(static) if (n_total * l.cols >= kParallelGrain)
  for (std::int64_t n = 0; n < n_total; ++n) {
    const std::uint32_t* wn = packed + n * l.row_words;
    float total = 0;
    for (std::int64_t g = 0; g < l.groups; ++g) {
      const float d = dot_codes<Bits>(wn + g * l.words, l.words, xp + g * l.group_size);
      total += static_cast<float>(scales[n * l.groups + g]) * d +
               static_cast<float>(biases[n * l.groups + g]) * xsum[g];
    }
    out[n] = total;
  }
}

// transpose, M <= kGemvRows: out[m, n] = sum_g s[n,g] (q[n,g] . x[m,g]) + b[n,g] sum(x[m,g]).
template <int Bits, class S>
void gemv_transposed(const float* xp, const float* xsum, std::int64_t m,
                     const std::uint32_t* packed, const S* scales, const S* biases, const Layout& l,
                     float* out) {
  const std::int64_t n_total = l.rows;
#pragma omp parallel num_threads(::emily::cpu::threads()) if (n_total * l.cols >= kParallelGrain)
  {
    std::vector<float> buf(static_cast<std::size_t>(l.group_size));
    alignas(64) float lanes[kGemvRows][kLanes];
    float bias_part[kGemvRows];
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < n_total; ++n) {
      for (std::int64_t r = 0; r < m; ++r) {
        std::fill(lanes[r], lanes[r] + kLanes, 0.0f);
        bias_part[r] = 0;
      }
      const std::uint32_t* wn = packed + n * l.row_words;
      for (std::int64_t g = 0; g < l.groups; ++g) {
        const float s = static_cast<float>(scales[n * l.groups + g]);
        const float b = static_cast<float>(biases[n * l.groups + g]);
        unpack_group<Bits>(wn + g * l.words, l.words, s, 0.0f, buf.data());
        const float* bg = buf.data();
        for (std::int64_t r = 0; r < m; ++r) {
          const float* xg = xp + r * l.cols + g * l.group_size;
          // A local copy of the lanes: the compiler keeps it in registers, which it
          // could not do through a pointer that might alias the operands.
          float acc[kLanes];
          std::copy_n(lanes[r], kLanes, acc);
          for (int p = 0; p < l.group_size; p += kLanes)
            for (int q = 0; q < kLanes; ++q) acc[q] += bg[p + q] * xg[p + q];
          std::copy_n(acc, kLanes, lanes[r]);
          bias_part[r] += b * xsum[r * l.groups + g];
        }
      }
      for (std::int64_t r = 0; r < m; ++r) out[r * n_total + n] = lane_sum(lanes[r]) + bias_part[r];
    }
  }
}

// !transpose, M <= kGemvRows: out[m, :] = sum_k x[m, k] w[k, :]. Threads own blocks of
// output columns (whole groups) and walk all K rows of them.
template <int Bits, class S>
void gemv_plain(const float* xp, std::int64_t m, std::int64_t k, const std::uint32_t* packed,
                const S* scales, const S* biases, const Layout& l, const std::vector<int>& order,
                float* out) {
  const std::int64_t n_total = l.cols, block_groups = std::max<int>(1, 256 / l.group_size);
  const std::int64_t blocks = (l.groups + block_groups - 1) / block_groups;
#pragma omp parallel num_threads(::emily::cpu::threads()) if (k * n_total >= kParallelGrain)
  {
    std::vector<float> buf(static_cast<std::size_t>(l.group_size));
    std::vector<float> acc(static_cast<std::size_t>(m * block_groups * l.group_size));
#pragma omp for schedule(static)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t g0 = blk * block_groups, g1 = std::min(l.groups, g0 + block_groups);
      const std::int64_t width = (g1 - g0) * l.group_size;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t kk = 0; kk < k; ++kk) {
        const std::uint32_t* wk = packed + kk * l.row_words;
        for (std::int64_t g = g0; g < g1; ++g) {
          const float s = static_cast<float>(scales[kk * l.groups + g]);
          const float b = static_cast<float>(biases[kk * l.groups + g]);
          unpack_group<Bits>(wk + g * l.words, l.words, s, b, buf.data());
          for (std::int64_t r = 0; r < m; ++r) {
            const float xv = xp[r * k + kk];
            float* ar = acc.data() + r * width + (g - g0) * l.group_size;
            for (int p = 0; p < l.group_size; ++p) ar[p] += xv * buf[p];
          }
        }
      }
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t g = g0; g < g1; ++g)
          for (int p = 0; p < l.group_size; ++p)
            out[r * n_total + g * l.group_size + order[p]] =
                acc[r * width + (g - g0) * l.group_size + p];
    }
  }
}

// Rows [r0, r1) and groups [g0, g1) of W dequantized to f32 in unpack order, row-major
// with leading dimension ld.
template <int Bits, class S>
void dequantize_tile(const std::uint32_t* packed, const S* scales, const S* biases, const Layout& l,
                     std::int64_t r0, std::int64_t r1, std::int64_t g0, std::int64_t g1,
                     float* tile, std::int64_t ld) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) \
    schedule(static) if ((r1 - r0) * (g1 - g0) * l.group_size >= kParallelGrain)
  for (std::int64_t r = r0; r < r1; ++r)
    for (std::int64_t g = g0; g < g1; ++g)
      unpack_group<Bits>(packed + r * l.row_words + g * l.words, l.words,
                         static_cast<float>(scales[r * l.groups + g]),
                         static_cast<float>(biases[r * l.groups + g]),
                         tile + (r - r0) * ld + (g - g0) * l.group_size);
}

// Larger M: tiles of about kTileFloats dequantized weights (16 MB), each one sgemm.
// Measured at K = N = 4096, M = 64 on one core: 1024-row tiles match the dense sgemm's
// time, 256-row tiles took twice as long (OpenBLAS is slower on narrow products).
constexpr std::int64_t kTileFloats = std::int64_t{1} << 22;

template <int Bits, class S>
void gemm(const float* xp, std::int64_t m, std::int64_t k, const std::uint32_t* packed,
          const S* scales, const S* biases, const Layout& l, bool transpose,
          const std::vector<int>& order, float* out) {
  Scratch scratch;
  if (transpose) {
    // W {N, K}: a tile is a block of rows; x and the tile share the unpack order of K.
    const std::int64_t n_total = l.rows;
    const std::int64_t rows = std::clamp<std::int64_t>(kTileFloats / std::max<std::int64_t>(k, 1),
                                                       16, std::max<std::int64_t>(n_total, 1));
    float* tile = scratch.floats(rows * k);
    for (std::int64_t n0 = 0; n0 < n_total; n0 += rows) {
      const std::int64_t nb = std::min(rows, n_total - n0);
      dequantize_tile<Bits>(packed, scales, biases, l, n0, n0 + nb, 0, l.groups, tile, k);
      ::emily::cpu::gemm(false, true, static_cast<blasint>(m), static_cast<blasint>(nb),
                         static_cast<blasint>(k), xp, static_cast<blasint>(k), tile,
                         static_cast<blasint>(k), out + n0, static_cast<blasint>(n_total));
    }
    return;
  }
  // W {K, N}: a tile is a block of whole groups of columns, all K rows; its product
  // comes out in unpack order and is put back in order.
  const std::int64_t n_total = l.cols;
  const std::int64_t tile_groups =
      std::clamp<std::int64_t>(kTileFloats / std::max<std::int64_t>(k * l.group_size, 1), 1,
                               std::max<std::int64_t>(l.groups, 1));
  const std::int64_t width = tile_groups * l.group_size;
  float* tile = scratch.floats(k * width);
  Scratch product_scratch;
  float* product = product_scratch.floats(m * width);
  for (std::int64_t g0 = 0; g0 < l.groups; g0 += tile_groups) {
    const std::int64_t g1 = std::min(l.groups, g0 + tile_groups), nb = (g1 - g0) * l.group_size;
    dequantize_tile<Bits>(packed, scales, biases, l, 0, k, g0, g1, tile, width);
    ::emily::cpu::gemm(false, false, static_cast<blasint>(m), static_cast<blasint>(nb),
                       static_cast<blasint>(k), xp, static_cast<blasint>(k), tile,
                       static_cast<blasint>(width), product, static_cast<blasint>(width));
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (m * nb >= kParallelGrain)
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t j = 0; j < nb; ++j)
        out[r * n_total + g0 * l.group_size + (j / l.group_size) * l.group_size +
            order[j % l.group_size]] = product[r * width + j];
  }
}

// transpose, M <= kGemvRows on a CPU with AVX2 and FMA (quant_avx2.h); x {M, K} is in
// element order and gets rearranged here. Threads own chunks of output columns.
template <class S>
void gemv_transposed_avx2(const float* x, std::int64_t m, std::int64_t k,
                          const std::uint32_t* packed, const S* scales, const S* biases,
                          const Layout& l, float* out) {
  std::vector<float> xsum(static_cast<std::size_t>(m * l.groups));
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t g = 0; g < l.groups; ++g) {
      float s = 0;
      for (int p = 0; p < l.group_size; ++p) s += x[r * k + g * l.group_size + p];
      xsum[r * l.groups + g] = s;
    }
  Scratch scratch;
  float* xb = scratch.floats(m * k);
  quant_avx2::block_order(x, m, k, l.bits, xb);
  const quant_avx2::Gemv args{xb,      xsum.data(), m,           k,      packed, l.bits,
                              l.words, l.groups,    l.row_words, l.rows, out};
  constexpr std::int64_t chunk = 16;
  const std::int64_t chunks = (l.rows + chunk - 1) / chunk;
#pragma omp parallel for num_threads(::emily::cpu::threads()) \
    schedule(static) if (l.rows * l.cols >= kParallelGrain)
  for (std::int64_t c = 0; c < chunks; ++c)
    quant_avx2::gemv(args, scales, biases, c * chunk, std::min(l.rows, (c + 1) * chunk));
}

void quantized_matmul_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                             Stream) {
  const auto& a = std::get<QuantAttr>(attr);
  const Tensor& x = in[0];
  const Layout l = layout_of(in[1], in[2], a);
  const std::int64_t k = x.shape(-1), n = out[0].shape(-1);
  std::int64_t m = 1;
  for (int d = 0; d + 1 < x.ndim(); ++d) m *= x.shape(d);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    visit_floating(x.dtype(), [&]<class X>() { std::fill_n(out[0].data<X>(), m * n, X(0.0f)); });
    return;
  }
  if (m > kGemvRows && (m > INT_MAX || n > INT_MAX || k > INT_MAX))
    EMILY_THROW(Unsupported, "quantized_matmul", "matrices above INT_MAX rows or columns");
  const std::vector<int> order = unpack_order(a.bits, a.group_size);
  const bool gemv = m <= kGemvRows;
  const bool avx2 =
      gemv && a.transpose && quant_avx2::fits(a.bits, l.row_words) && quant_avx2::available();
  // Activations in unpack order along K where K is the packed axis (the AVX2 GEMV
  // rearranges them its own way).
  Scratch x_scratch, out_scratch;
  float* xp = x_scratch.floats(m * k);
  visit_floating(x.dtype(), [&]<class X>() {
    activations(x.data<X>(), m, k, a.transpose && !avx2 ? &order : nullptr, xp);
  });
  float* result = x.dtype() == DType::f32 ? out[0].data<float>() : out_scratch.floats(m * n);
  const std::uint32_t* packed = in[1].data<std::uint32_t>();
  visit_floating(in[2].dtype(), [&]<class S>() {
    const S* scales = in[2].data<S>();
    const S* biases = in[3].data<S>();
    if (avx2) return gemv_transposed_avx2(xp, m, k, packed, scales, biases, l, result);
    visit_bits(a.bits, [&]<int Bits>() {
      if (!gemv) return gemm<Bits>(xp, m, k, packed, scales, biases, l, a.transpose, order, result);
      if (!a.transpose) return gemv_plain<Bits>(xp, m, k, packed, scales, biases, l, order, result);
      std::vector<float> xsum(static_cast<std::size_t>(m * l.groups));
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t g = 0; g < l.groups; ++g) {
          float s = 0;
          for (int p = 0; p < l.group_size; ++p) s += xp[r * k + g * l.group_size + p];
          xsum[r * l.groups + g] = s;
        }
      if constexpr (32 % Bits == 0) {
        if (m == 1 && l.words % kLanes == 0)
          return gemv_transposed_single<Bits>(xp, xsum.data(), packed, scales, biases, l, result);
      }
      gemv_transposed<Bits>(xp, xsum.data(), m, packed, scales, biases, l, result);
    });
  });
  if (x.dtype() != DType::f32) {
    visit_floating(x.dtype(), [&]<class X>() {
      X* o = out[0].data<X>();
      for (std::int64_t i = 0; i < m * n; ++i) o[i] = X(result[i]);
    });
  }
}

}  // namespace

void register_quant(KernelTable& t) {
  t.set(Primitive::dequantize, dequantize_kernel);
  t.set(Primitive::quantized_matmul, quantized_matmul_kernel);
}

}  // namespace emily::cpu
