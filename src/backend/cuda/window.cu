// Windowed reductions (window_sum/product/max/min) and SelectAndScatter
// (window_scatter_max/min) on CUDA, with the CPU's window.cpp semantics: the taps of
// output o on axis d are the inputs i = o * stride - low + k * dilation (k < window) inside
// x; padding taps are absent, so an all-padding window leaves the reduction's identity.
//
// One thread per output walks its taps in row-major window order with the CPU's
// accumulator (64-bit wrapping integers, f32 for f16/bf16), so results are bit-identical.
// The scatter is deterministic too: a first pass selects each window's element (the first
// max/min in window order, the first NaN winning), then one thread per element of the
// result adds up the sources of the windows that selected it, in window order, as the
// CPU does. No atomics.
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cuda/c64_values.cuh"
#include "backend/cuda/flat.cuh"
#include "backend/cuda/kernels.h"

namespace emily::cuda {

namespace {

// Per (merged) axis: the windowed extent `out`, x's extent `n`, the window's geometry,
// and the strides of x, of the scatter's source, and of the row-major result (ys).
struct Axes {
  int ndim = 0;
  std::int64_t out[kMaxDims], n[kMaxDims], window[kMaxDims], stride[kMaxDims], low[kMaxDims],
      dilation[kMaxDims], xs[kMaxDims], ss[kMaxDims], ys[kMaxDims];
};

// Axes the window leaves alone (window 1, stride 1, no padding) map output to input one
// to one; neighbours of that kind merge where x (and the source) walk them as one, and
// those of size 1 drop out. False when more than kMaxDims axes remain.
bool window_axes(const Tensor& x, const Shape& out, const WindowAttr& a, const Strides* src,
                 Axes& A) {
  struct Axis {
    std::int64_t out, n, window, stride, low, dilation, xs, ss;
    bool plain;
  };
  std::vector<Axis> axes;
  for (int d = 0; d < x.ndim(); ++d) {
    Axis ax{out[d],           x.shape()[d],  a.window[d],    a.strides[d],
            a.padding_low[d], a.dilation[d], x.strides()[d], src ? (*src)[d] : 0};
    ax.plain = ax.window == 1 && ax.stride == 1 && ax.low == 0 && a.padding_high[d] == 0;
    if (ax.plain && ax.n == 1) continue;
    if (ax.plain && !axes.empty() && axes.back().plain && axes.back().xs == ax.xs * ax.n &&
        axes.back().ss == ax.ss * ax.n) {
      Axis& b = axes.back();
      b.out *= ax.out;
      b.n *= ax.n;
      b.xs = ax.xs;
      b.ss = ax.ss;
      continue;
    }
    axes.push_back(ax);
  }
  if (axes.size() > static_cast<std::size_t>(kMaxDims)) return false;
  A.ndim = static_cast<int>(axes.size());
  std::int64_t ys = 1;
  for (int d = A.ndim - 1; d >= 0; --d) {
    const Axis& ax = axes[d];
    A.out[d] = ax.out;
    A.n[d] = ax.n;
    A.window[d] = ax.window;
    A.stride[d] = ax.stride;
    A.low[d] = ax.low;
    A.dilation[d] = ax.dilation;
    A.xs[d] = ax.xs;
    A.ss[d] = ax.ss;
    A.ys[d] = ys;
    ys *= ax.n;
  }
  return true;
}

// Calls fn(x_offset, result_offset) for every tap of output `f` (row-major over A.out) in
// row-major window order.
template <class F>
__device__ void for_each_tap(const Axes& A, std::int64_t f, F&& fn) {
  std::int64_t first[kMaxDims], end[kMaxDims], k[kMaxDims], base[kMaxDims];
  for (int d = A.ndim - 1; d >= 0; --d) {
    base[d] = (f % A.out[d]) * A.stride[d] - A.low[d];
    f /= A.out[d];
    const std::int64_t dil = A.dilation[d];
    // The k with 0 <= base + k * dil < n.
    first[d] = base[d] >= 0 ? 0 : (-base[d] + dil - 1) / dil;
    const std::int64_t room = A.n[d] - 1 - base[d];
    end[d] = room < 0 ? 0 : (room / dil + 1 < A.window[d] ? room / dil + 1 : A.window[d]);
    if (first[d] >= end[d]) return;  // the window lies in the padding
    k[d] = first[d];
  }
  if (A.ndim == 0) return fn(std::int64_t{0}, std::int64_t{0});
  const int last = A.ndim - 1;
  while (true) {
    std::int64_t xo = 0, yo = 0;
    for (int d = 0; d < last; ++d) {
      const std::int64_t i = base[d] + k[d] * A.dilation[d];
      xo += i * A.xs[d];
      yo += i * A.ys[d];
    }
    for (std::int64_t j = first[last]; j < end[last]; ++j) {
      const std::int64_t i = base[last] + j * A.dilation[last];
      fn(xo + i * A.xs[last], yo + i * A.ys[last]);
    }
    int d = last - 1;
    for (; d >= 0; --d) {
      if (++k[d] < end[d]) break;
      k[d] = first[d];
    }
    if (d < 0) return;
  }
}

// ---- reductions -------------------------------------------------------------------------

// Accumulators as the CPU's: integers in 64 bits, wrapping (signed ones sign-extended
// first); floats in their compute type; c64 as float2.
template <class T>
using sum_acc_t = std::conditional_t<
    std::is_same_v<T, c64>, float2,
    std::conditional_t<std::is_integral_v<T>, unsigned long long, typename Compute<S<T>>::type>>;

template <class T>
__device__ sum_acc_t<T> enter_sum(Elem<T> v) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<unsigned long long>(static_cast<long long>(v));
  else if constexpr (std::is_same_v<T, c64>)
    return v;
  else
    return load(v);
}

template <class T>
__device__ Elem<T> leave_sum(sum_acc_t<T> a) {
  if constexpr (std::is_same_v<T, c64>)
    return a;
  else
    return store<S<T>>(a);
}

template <class T>
struct SumOp {
  using acc = sum_acc_t<T>;
  __device__ static acc identity() {
    if constexpr (std::is_same_v<T, c64>)
      return make_float2(0.0f, 0.0f);
    else
      return acc(0);
  }
  __device__ static acc step(acc a, Elem<T> v) {
    if constexpr (std::is_same_v<T, c64>)
      return cadd(a, v);
    else
      return a + enter_sum<T>(v);
  }
};

template <class T>
struct ProductOp {
  using acc = sum_acc_t<T>;
  __device__ static acc identity() {
    if constexpr (std::is_same_v<T, c64>)
      return make_float2(1.0f, 0.0f);
    else
      return acc(1);
  }
  __device__ static acc step(acc a, Elem<T> v) {
    if constexpr (std::is_same_v<T, c64>)
      return cmul(a, v);
    else
      return a * enter_sum<T>(v);
  }
};

// NaN propagates: a NaN element replaces the accumulator, and nothing replaces a NaN.
template <class T, bool IsMax>
struct ExtremumOp {
  using acc = typename Compute<S<T>>::type;
  __device__ static acc identity() {
    if constexpr (std::is_same_v<T, bool>)
      return !IsMax;
    else if constexpr (std::numeric_limits<acc>::has_infinity)
      return IsMax ? -std::numeric_limits<acc>::infinity() : std::numeric_limits<acc>::infinity();
    else
      return IsMax ? std::numeric_limits<acc>::lowest() : std::numeric_limits<acc>::max();
  }
  __device__ static acc step(acc a, S<T> x) {
    const acc v = load(x);
    if constexpr (IsMax)
      return (v > a || v != v) ? v : a;
    else
      return (v < a || v != v) ? v : a;
  }
};

template <class T, class Op>
struct ReduceStep {
  Elem<T>* y;
  const Elem<T>* x;
  Axes A;
  __device__ void operator()(std::int64_t f, const std::int64_t (&)[1]) const {
    typename Op::acc acc = Op::identity();
    for_each_tap(A, f, [&](std::int64_t xo, std::int64_t) { acc = Op::step(acc, x[xo]); });
    if constexpr (std::is_same_v<Op, SumOp<T>> || std::is_same_v<Op, ProductOp<T>>)
      y[f] = leave_sum<T>(acc);
    else
      y[f] = store<S<T>>(acc);
  }
};

// Op<T> for the dtypes a reduction takes (the op layer rejects the others).
template <class T>
struct Sum {
  static constexpr bool takes = !std::is_same_v<T, bool>;
  using type = SumOp<T>;
};
template <class T>
struct Product {
  static constexpr bool takes = !std::is_same_v<T, bool>;
  using type = ProductOp<T>;
};
template <class T>
struct Max {
  static constexpr bool takes = !std::is_same_v<T, c64>;
  using type = ExtremumOp<T, true>;
};
template <class T>
struct Min {
  static constexpr bool takes = !std::is_same_v<T, c64>;
  using type = ExtremumOp<T, false>;
};

template <template <class> class OpOf>
void reduce(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
            Stream s) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  Axes A;
  bool done = false;
  if (window_axes(x, y.shape(), std::get<WindowAttr>(attr), nullptr, A)) {
    visit_dtype(x.dtype(), [&]<class T>() {
      if constexpr (OpOf<T>::takes) {
        launch<1>(
            flat(y.size()), s, name(p).data(),
            ReduceStep<T, typename OpOf<T>::type>{static_cast<Elem<T>*>(y.raw_data()),
                                                  static_cast<const Elem<T>*>(x.raw_data()), A});
        done = true;
      }
    });
  }
  if (!done) run_on_cpu(p, in, out, attr);
}

// ---- select and scatter ---------------------------------------------------------------

// sel[f]: the row-major position in x of window f's selected element, -1 when the window
// lies in the padding.
template <class X, bool IsMax>
struct SelectStep {
  std::int64_t* sel;
  const S<X>* x;
  Axes A;
  __device__ void operator()(std::int64_t f, const std::int64_t (&)[1]) const {
    using V = typename Compute<S<X>>::type;
    std::int64_t best = -1;
    V bv{};
    for_each_tap(A, f, [&](std::int64_t xo, std::int64_t yo) {
      const V v = load(x[xo]);
      bool better;
      if (best < 0)
        better = true;
      else if (bv != bv)
        better = false;  // a NaN stays selected
      else
        better = IsMax ? (v > bv || v != v) : (v < bv || v != v);
      if (better) {
        best = yo;
        bv = v;
      }
    });
    sel[f] = best;
  }
};

// y[p] = init + the sources of the windows that selected p, added in window order. The
// windows holding p on axis d are o = (i + low - k * dilation) / stride where that is
// exact and in [0, out); k descending gives them in ascending order.
template <class T>
struct GatherSelectedStep {
  Elem<T>* y;
  const Elem<T>* src;
  const Elem<T>* init;
  const std::int64_t* sel;
  Axes A;
  __device__ void operator()(std::int64_t p, const std::int64_t (&)[1]) const {
    using Op = SumOp<T>;
    typename Op::acc acc = enter_sum<T>(*init);
    std::int64_t reach[kMaxDims], lo[kMaxDims], hi[kMaxDims], k[kMaxDims];
    std::int64_t rest = p;
    for (int d = A.ndim - 1; d >= 0; --d) {
      reach[d] = rest % A.n[d] + A.low[d];  // = o * stride + k * dilation
      rest /= A.n[d];
      const std::int64_t dil = A.dilation[d], top = (A.out[d] - 1) * A.stride[d];
      // k with 0 <= reach - k * dil <= top, and k < window.
      hi[d] = reach[d] < 0 ? -1 : (reach[d] / dil < A.window[d] ? reach[d] / dil : A.window[d] - 1);
      lo[d] = reach[d] <= top ? 0 : (reach[d] - top + dil - 1) / dil;
      if (lo[d] > hi[d]) {
        y[p] = leave_sum<T>(acc);
        return;
      }
      k[d] = hi[d];
    }
    while (true) {
      std::int64_t f = 0, so = 0;
      bool hit = true;
      for (int d = 0; d < A.ndim && hit; ++d) {
        const std::int64_t t = reach[d] - k[d] * A.dilation[d];
        const std::int64_t o = t / A.stride[d];
        hit = o * A.stride[d] == t;
        f = f * A.out[d] + o;
        so += o * A.ss[d];
      }
      if (hit && sel[f] == p) acc = Op::step(acc, src[so]);
      int d = A.ndim - 1;
      for (; d >= 0; --d) {
        if (--k[d] >= lo[d]) break;
        k[d] = hi[d];
      }
      if (d < 0) break;
    }
    y[p] = leave_sum<T>(acc);
  }
};

template <bool IsMax>
void scatter_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr Primitive prim = IsMax ? Primitive::window_scatter_max : Primitive::window_scatter_min;
  const char* op = name(prim).data();
  const Tensor &x = in[0], &src = in[1], &init = in[2];
  Tensor& y = out[0];
  Axes A;
  if (!window_axes(x, src.shape(), std::get<WindowAttr>(attr), &src.strides(), A) ||
      is_complex(x.dtype()) || y.dtype() == DType::bool_)
    return run_on_cpu(prim, in, out, attr);
  Tensor sel = Tensor::empty({src.size()}, DType::s64, y.device());
  auto* ps = static_cast<std::int64_t*>(sel.raw_data());
  visit_dtype(x.dtype(), [&]<class X>() {
    if constexpr (!std::is_same_v<X, c64>)
      launch<1>(flat(src.size()), s, op,
                SelectStep<X, IsMax>{ps, static_cast<const S<X>*>(x.raw_data()), A});
  });
  visit_dtype(y.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>)
      launch<1>(flat(y.size()), s, op,
                GatherSelectedStep<T>{static_cast<Elem<T>*>(y.raw_data()),
                                      static_cast<const Elem<T>*>(src.raw_data()),
                                      static_cast<const Elem<T>*>(init.raw_data()), ps, A});
  });
}

}  // namespace

void register_window(KernelTable& t) {
  t.set(Primitive::window_sum, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a,
                                  Stream s) { reduce<Sum>(Primitive::window_sum, in, out, a, s); });
  t.set(Primitive::window_product,
        [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
          reduce<Product>(Primitive::window_product, in, out, a, s);
        });
  t.set(Primitive::window_max, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a,
                                  Stream s) { reduce<Max>(Primitive::window_max, in, out, a, s); });
  t.set(Primitive::window_min, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a,
                                  Stream s) { reduce<Min>(Primitive::window_min, in, out, a, s); });
  t.set(Primitive::window_scatter_max, scatter_kernel<true>);
  t.set(Primitive::window_scatter_min, scatter_kernel<false>);
}

}  // namespace emily::cuda
