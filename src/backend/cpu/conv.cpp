// conv_general by im2col + GEMM. For every (output batch item, group) the receptive
// fields are unrolled into a column matrix cols (C/g * prod(kernel), positions) and the
// group's kernel rows (O/g, C/g * prod(kernel)) multiply it in one cblas ?gemm, whose
// result is already the output's (O/g, positions) block in row-major layout. Padding,
// input dilation (holes in the input) and kernel dilation only change which input
// element, or zero, lands in a column entry, so one path serves every option; batch
// groups only change which batch item a group reads (see src/ops/conv.cpp).
//
// The column buffer is bounded (kColumnBytes): the output positions are cut into chunks
// whose columns fit, each chunk a GEMM of its own. A 1x1 kernel with unit stride and
// no padding or dilation needs no columns at all: the input is already the matrix.
// f16/bf16 unroll into f32 columns (the conversion rides along the copy), multiply in
// f32 and round once on store.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <type_traits>

#include "backend/cpu/gemm.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"
#include "emily/memory.h"

namespace emily::cpu {

namespace {

// At most this many bytes of unrolled columns per GEMM (per thread when tasks run in
// parallel).
constexpr std::size_t kColumnBytes = std::size_t{64} << 20;
// As in matmul.cpp: OpenBLAS runs a GEMM this small on the calling thread, so many of
// them are spread over OpenMP threads instead (depthwise convolutions, small batches).
constexpr double kSmallGemm = 65536.0 * 4.0;

struct Geometry {
  int ns = 0;                         // spatial axes
  std::int64_t Np = 0, O = 0, G = 1;  // output batch, output channels, groups
  std::int64_t Og = 0, Cg = 0, kprod = 1, Kg = 0, P = 1;
  bool batch_grouped = false;         // groups split the batch, not the channels
  Shape in_sp, out_sp, k_sp, dil_in;  // spatial sizes; dilated input sizes
  Strides in_st;                      // input spatial strides
  std::int64_t sN = 0, sC = 0;        // input batch and channel strides
  Shape stride, lo, kdil, idil;
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
  for (int d = 0; d < g.ns; ++d) {
    g.in_sp.push_back(x.shape()[d + 2]);
    g.out_sp.push_back(y.shape()[d + 2]);
    g.k_sp.push_back(w.shape()[d + 2]);
    g.in_st.push_back(x.strides()[d + 2]);
    g.kprod *= w.shape()[d + 2];
    g.P *= y.shape()[d + 2];
    const std::int64_t n = x.shape()[d + 2];
    g.dil_in.push_back(n == 0 ? 0 : (n - 1) * a.input_dilation[d] + 1);
  }
  g.Kg = g.Cg * g.kprod;
  g.sN = x.strides()[0];
  g.sC = x.strides()[1];
  g.stride = a.strides;
  g.lo = a.padding_low;
  g.kdil = a.kernel_dilation;
  g.idil = a.input_dilation;
  return g;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Fills row r (a channel and a kernel position) of the columns for output positions
// [p0, p0 + len): entry p is the input element that kernel position meets at output
// position p, or 0 where it meets padding or a hole between dilated input elements.
// `x` points at the first channel of the group in the batch item.
template <class C, class T>
void fill_row(const Geometry& g, const T* x, std::int64_t r, std::int64_t p0, std::int64_t len,
              C* dst) {
  const int L = g.ns - 1;
  Shape k(static_cast<std::size_t>(g.ns));
  std::int64_t kr = r % g.kprod;
  for (int d = L; d >= 0; --d) {
    k[d] = kr % g.k_sp[d];
    kr /= g.k_sp[d];
  }
  const T* xc = x + (r / g.kprod) * g.sC;
  const std::int64_t W = g.out_sp[L], st = g.stride[L], sl = g.in_st[L], idil = g.idil[L];
  const std::int64_t off = k[L] * g.kdil[L] - g.lo[L];  // dilated input index of output 0
  for (std::int64_t p = p0; p < p0 + len;) {
    const std::int64_t outer = p / W, ol = p % W, n = std::min(W - ol, p0 + len - p);
    C* o = dst + (p - p0);
    p += n;
    // The row of the input this stretch reads, from the outer output coordinates.
    bool valid = true;
    std::int64_t base = 0, t = outer;
    for (int d = L - 1; d >= 0 && valid; --d) {
      const std::int64_t od = t % g.out_sp[d];
      t /= g.out_sp[d];
      const std::int64_t i = od * g.stride[d] + k[d] * g.kdil[d] - g.lo[d];
      valid = i >= 0 && i < g.dil_in[d] && i % g.idil[d] == 0;
      base += (i / g.idil[d]) * g.in_st[d];
    }
    if (!valid) {
      std::fill(o, o + n, C(0));
      continue;
    }
    const T* xr = xc + base;
    if (idil == 1) {
      // Output positions [a, b) of this stretch read inside the input; the rest is padding.
      const std::int64_t in = g.in_sp[L];
      std::int64_t a = off >= 0 ? 0 : floor_div(-off + st - 1, st);
      std::int64_t b = in - 1 - off < 0 ? 0 : floor_div(in - 1 - off, st) + 1;
      a = std::clamp(a, ol, ol + n);
      b = std::clamp(b, a, ol + n);
      std::fill(o, o + (a - ol), C(0));
      if (b > a) {
        const T* s = xr + (a * st + off) * sl;
        const std::int64_t step = st * sl;
        C* od = o + (a - ol);
        if (step == 1) {
          for (std::int64_t j = 0; j < b - a; ++j) od[j] = static_cast<C>(s[j]);
        } else {
          for (std::int64_t j = 0; j < b - a; ++j) od[j] = static_cast<C>(s[j * step]);
        }
      }
      std::fill(o + (b - ol), o + n, C(0));
    } else {
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t i = (ol + j) * st + off;
        o[j] = (i >= 0 && i < g.dil_in[L] && i % idil == 0) ? static_cast<C>(xr[(i / idil) * sl])
                                                            : C(0);
      }
    }
  }
}

template <class C>
void gemm(blasint m, blasint n, blasint k, const C* a, blasint lda, const C* b, blasint ldb, C* c,
          blasint ldc) {
  ::emily::cpu::gemm(false, false, m, n, k, a, lda, b, ldb, c, ldc);
}

// Scratch memory from the caching allocator: the column buffer of a large convolution is
// megabytes, which malloc would map fresh (and fault in page by page) on every call.
template <class C>
struct Scratch {
  std::shared_ptr<Buffer> buffer;
  C* get() const { return buffer ? static_cast<C*>(buffer->data()) : nullptr; }
  void reserve(std::int64_t n) {
    if (!buffer) buffer = allocate(static_cast<std::size_t>(n) * sizeof(C), Device::cpu());
  }
};

// C is the GEMM type (float, double), T the tensors' element type.
template <class C, class T>
void conv(const Tensor& x, const Tensor& w, Tensor& y, const ConvAttr& attr) {
  const Geometry g = geometry(x, w, y, attr);
  if (y.size() == 0) return;
  if (g.Kg == 0) {  // no input channels: every output is an empty sum
    std::memset(y.raw_data(), 0, y.nbytes());
    return;
  }
  if (g.Kg > INT_MAX || g.P > INT_MAX || g.O > INT_MAX) {
    EMILY_THROW(Unsupported, "conv_general", "matrices above INT_MAX rows or columns");
  }
  // The weights as C: the kernel tensor itself, or an f32 copy of a half-precision one.
  Scratch<C> wcopy;
  const C* wc;
  if constexpr (std::is_same_v<C, T>) {
    wc = w.data<T>();
  } else {
    const std::int64_t n = w.size();
    wcopy.reserve(n);
    const T* pw = w.data<T>();
    for (std::int64_t i = 0; i < n; ++i) wcopy.get()[i] = static_cast<C>(pw[i]);
    wc = wcopy.get();
  }
  const T* px = x.data<T>();
  T* py = y.data<T>();

  // The input itself is the column matrix when every output position reads exactly the
  // input element at the same position (rows: channels, at stride sC).
  bool direct = std::is_same_v<C, T> && g.kprod == 1 && g.sC >= g.P && g.sC <= INT_MAX &&
                g.in_st == row_major_strides(g.in_sp) && g.in_sp == g.out_sp;
  for (int d = 0; d < g.ns && direct; ++d) {
    direct = g.stride[d] == 1 && g.lo[d] == 0 && g.idil[d] == 1;
  }

  const std::int64_t chunk =
      std::clamp<std::int64_t>(static_cast<std::int64_t>(kColumnBytes / sizeof(C)) / g.Kg, 1, g.P);
  const std::int64_t tasks = g.Np * g.G;
  const bool small = static_cast<double>(g.Og) * static_cast<double>(g.Kg) *
                         static_cast<double>(std::min(chunk, g.P)) <=
                     kSmallGemm;
  const bool task_parallel = small && tasks > 1;
  // Unrolling costs one copy per column entry, the GEMM O/g multiply-adds per entry. When
  // O/g is large the copy is a rounding error, and an OpenMP region before each GEMM only
  // leaves OpenMP threads spinning on the cores OpenBLAS's own threads need (measured:
  // ViT's patch embedding ran 2x slower on 2 cores), so the columns are filled serially.
  const bool fill_parallel = g.Og < 32;

  // One (output batch item, group): all its chunks of output positions.
  auto run_task = [&](std::int64_t task, Scratch<C>& cols, Scratch<C>& tmp, bool parallel_fill) {
    const std::int64_t n = task / g.G, grp = task % g.G;
    const std::int64_t b = g.batch_grouped ? grp * g.Np + n : n;
    const std::int64_t c0 = g.batch_grouped ? 0 : grp * g.Cg;
    const std::int64_t o0 = grp * g.Og;
    const T* xb = px + b * g.sN + c0 * g.sC;
    const C* wg = wc + o0 * g.Kg;
    T* yb = py + (n * g.O + o0) * g.P;
    const auto Og = static_cast<blasint>(g.Og), Kg = static_cast<blasint>(g.Kg),
               P = static_cast<blasint>(g.P);
    if constexpr (std::is_same_v<C, T>) {
      if (direct) {
        gemm(Og, P, Kg, wg, Kg, reinterpret_cast<const C*>(xb), static_cast<blasint>(g.sC), yb, P);
        return;
      }
    }
    cols.reserve(g.Kg * chunk);
    if constexpr (!std::is_same_v<C, T>) {
      tmp.reserve(g.Og * chunk);
    }
    for (std::int64_t p0 = 0; p0 < g.P; p0 += chunk) {
      const std::int64_t len = std::min(chunk, g.P - p0);
      C* cb = cols.get();
#pragma omp parallel for num_threads(::emily::cpu::threads()) \
    schedule(static) if (parallel_fill && g.Kg * len >= 2 * kParallelGrain)
      for (std::int64_t r = 0; r < g.Kg; ++r) fill_row<C, T>(g, xb, r, p0, len, cb + r * len);
      const auto ln = static_cast<blasint>(len);
      if constexpr (std::is_same_v<C, T>) {
        gemm(Og, ln, Kg, wg, Kg, cb, ln, yb + p0, P);
      } else {
        gemm(Og, ln, Kg, wg, Kg, cb, ln, tmp.get(), ln);
        for (std::int64_t o = 0; o < g.Og; ++o)
          for (std::int64_t j = 0; j < len; ++j)
            yb[o * g.P + p0 + j] = detail::convert<T>(tmp.get()[o * len + j]);
      }
    }
  };

  if (task_parallel) {
#pragma omp parallel num_threads(::emily::cpu::threads())
    {
      Scratch<C> cols, tmp;
#pragma omp for schedule(static)
      for (std::int64_t t = 0; t < tasks; ++t) run_task(t, cols, tmp, false);
    }
  } else {
    Scratch<C> cols, tmp;
    for (std::int64_t t = 0; t < tasks; ++t) run_task(t, cols, tmp, fill_parallel);
  }
}

void conv_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<ConvAttr>(attr);
  (void)threads();  // hands EMILY_NUM_THREADS to OpenBLAS before its first call
  visit_dtype(out[0].dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      conv<T, T>(in[0], in[1], out[0], a);
    } else if constexpr (detail::is_half_v<T>) {
      conv<float, T>(in[0], in[1], out[0], a);
    } else {
      EMILY_THROW(DTypeError, "conv_general", "no CPU kernel for ", name(out[0].dtype()));
    }
  });
}

}  // namespace

void register_conv(KernelTable& t) {
  t.set(Primitive::conv_general, conv_kernel);
}

}  // namespace emily::cpu
