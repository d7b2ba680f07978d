// Windowed reductions (window_sum/product/max/min) and SelectAndScatter
// (window_scatter_max/min).
//
// Both walk "taps": for output coordinate o on axis d, the input coordinates
// i = o * stride - low + k * dilation (k < window) that land inside x. Padding taps are
// simply absent, which is the same as padding with the reduction's identity, and an
// all-padding window leaves the identity. The taps of each axis are tabulated once;
// an output element then walks the product of its axes' tap lists in row-major window
// order (which fixes the tie rule of the scatter: the first max in that order wins).
#include <omp.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

// Per axis, the valid taps of every output coordinate: begin[d][o] .. begin[d][o+1]
// index xoff[d] (offsets into x by its strides) and yoff[d] (row-major offsets into a
// tensor of x's shape, where the scatter writes).
struct Taps {
  int nd = 0;
  Shape out;
  std::vector<std::vector<std::int64_t>> begin, xoff, yoff;
};

Taps tabulate(const Tensor& x, const Shape& out, const WindowAttr& a) {
  Taps t;
  t.nd = x.ndim();
  t.out = out;
  const Strides ys = row_major_strides(x.shape());
  t.begin.resize(t.nd);
  t.xoff.resize(t.nd);
  t.yoff.resize(t.nd);
  for (int d = 0; d < t.nd; ++d) {
    auto& b = t.begin[d];
    b.push_back(0);
    for (std::int64_t o = 0; o < out[d]; ++o) {
      for (std::int64_t k = 0; k < a.window[d]; ++k) {
        const std::int64_t i = o * a.strides[d] - a.padding_low[d] + k * a.dilation[d];
        if (i < 0 || i >= x.shape()[d]) continue;
        t.xoff[d].push_back(i * x.strides()[d]);
        t.yoff[d].push_back(i * ys[d]);
      }
      b.push_back(static_cast<std::int64_t>(t.xoff[d].size()));
    }
  }
  return t;
}

// Calls fn(xoff, yoff) for every tap of output element `flat` (row-major in t.out), in
// row-major window order. `range` is scratch of 2 * nd entries.
template <class Fn>
void walk(const Taps& t, std::int64_t flat, std::vector<std::int64_t>& range, Fn&& fn) {
  for (int d = t.nd - 1; d >= 0; --d) {
    const std::int64_t o = flat % t.out[d];
    flat /= t.out[d];
    range[2 * d] = t.begin[d][o];
    range[2 * d + 1] = t.begin[d][o + 1];
    if (range[2 * d] == range[2 * d + 1]) return;  // the window lies in the padding
  }
  if (t.nd == 0) {
    fn(std::int64_t{0}, std::int64_t{0});
    return;
  }
  // Depth-first over the axes; the last axis is the tight loop.
  auto rec = [&](auto&& self, int d, std::int64_t xo, std::int64_t yo) -> void {
    const std::int64_t* px = t.xoff[d].data();
    const std::int64_t* py = t.yoff[d].data();
    if (d == t.nd - 1) {
      for (std::int64_t j = range[2 * d]; j < range[2 * d + 1]; ++j) fn(xo + px[j], yo + py[j]);
      return;
    }
    for (std::int64_t j = range[2 * d]; j < range[2 * d + 1]; ++j)
      self(self, d + 1, xo + px[j], yo + py[j]);
  };
  rec(rec, 0, 0, 0);
}

// Runs body(begin, end, scratch) over [0, n) in blocks, across threads when the work
// (n * taps per element) is large enough to pay for them.
template <class Body>
void blocks(std::int64_t n, std::int64_t work_per_item, int nd, Body&& body) {
  constexpr std::int64_t kBlockItems = 256;
  const std::int64_t nblocks = (n + kBlockItems - 1) / kBlockItems;
  const bool parallel =
      nblocks > 1 && n * std::max<std::int64_t>(1, work_per_item) >= 2 * kParallelGrain;
#pragma omp parallel num_threads(::emily::cpu::threads()) if (parallel)
  {
    std::vector<std::int64_t> scratch(static_cast<std::size_t>(2 * nd));
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < nblocks; ++b)
      body(b * kBlockItems, std::min(n, (b + 1) * kBlockItems), scratch);
  }
}

std::int64_t taps_per_window(const WindowAttr& a) {
  return numel(a.window);
}

// ---- reductions ---------------------------------------------------------------------

// Integers sum and multiply in uint64 (wrapping, no UB; the store truncates back);
// floating types in their compute type (f32 for f16/bf16).
template <class T>
using sum_acc_t = std::conditional_t<std::is_integral_v<T>, std::uint64_t, compute_t<T>>;

template <class T>
sum_acc_t<T> load_sum(T v) {
  if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(v));
  } else {
    return static_cast<sum_acc_t<T>>(v);
  }
}

template <class T>
struct SumOp {
  using acc_t = sum_acc_t<T>;
  static acc_t identity() { return acc_t(0); }
  static acc_t step(acc_t a, T v) { return a + load_sum(v); }
};

template <class T>
struct ProductOp {
  using acc_t = sum_acc_t<T>;
  static acc_t identity() { return acc_t(1); }
  static acc_t step(acc_t a, T v) { return a * load_sum(v); }
};

// NaN propagates: a NaN element always replaces the accumulator, and no comparison
// replaces a NaN accumulator (as emily::max).
template <class T, bool IsMax>
struct ExtremumOp {
  using acc_t = compute_t<T>;
  static acc_t identity() {
    if constexpr (std::is_same_v<T, bool>) {
      return !IsMax;
    } else if constexpr (std::numeric_limits<acc_t>::has_infinity) {
      return IsMax ? -std::numeric_limits<acc_t>::infinity()
                   : std::numeric_limits<acc_t>::infinity();
    } else {
      return IsMax ? std::numeric_limits<acc_t>::lowest() : std::numeric_limits<acc_t>::max();
    }
  }
  static acc_t step(acc_t a, T x) {
    const auto v = static_cast<acc_t>(x);
    if constexpr (IsMax) {
      return (v > a || v != v) ? v : a;
    } else {
      return (v < a || v != v) ? v : a;
    }
  }
};

template <template <class> class Op>
void reduce_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<WindowAttr>(attr);
  const Tensor& x = in[0];
  Tensor& y = out[0];
  const Taps t = tabulate(x, y.shape(), a);
  visit_dtype(y.dtype(), [&]<class T>() {
    using O = Op<T>;
    if constexpr (requires { O::identity(); }) {
      const T* px = x.data<T>();
      T* py = y.data<T>();
      blocks(y.size(), taps_per_window(a), t.nd,
             [&](std::int64_t b, std::int64_t e, std::vector<std::int64_t>& range) {
               for (std::int64_t f = b; f < e; ++f) {
                 typename O::acc_t acc = O::identity();
                 walk(t, f, range,
                      [&](std::int64_t xo, std::int64_t) { acc = O::step(acc, px[xo]); });
                 py[f] = detail::convert<T>(acc);
               }
             });
    }
  });
}

// Op<T> for each reduction; types a reduction does not take (the op layer rejects them)
// leave the output untouched.
template <class T>
struct SumFor : SumOp<T> {};
template <class T>
requires std::is_same_v<T, bool>
struct SumFor<T> {
};
template <class T>
struct ProductFor : ProductOp<T> {};
template <class T>
requires std::is_same_v<T, bool>
struct ProductFor<T> {
};
template <class T>
struct MaxFor : ExtremumOp<T, true> {};
template <class T>
requires std::is_same_v<T, c64>
struct MaxFor<T> {
};
template <class T>
struct MinFor : ExtremumOp<T, false> {};
template <class T>
requires std::is_same_v<T, c64>
struct MinFor<T> {
};

// ---- select and scatter -------------------------------------------------------------

// For every window, the row-major position in x of its selected element (-1 when the
// window lies in the padding): the first max (min) in window order, NaN counting as
// both the max and the min (the first NaN wins).
template <bool IsMax>
std::vector<std::int64_t> select(const Tensor& x, const Taps& t, std::int64_t windows,
                                 std::int64_t work) {
  std::vector<std::int64_t> sel(static_cast<std::size_t>(windows), -1);
  visit_dtype(x.dtype(), [&]<class X>() {
    if constexpr (!std::is_same_v<X, c64>) {
      using V = compute_t<X>;
      const X* px = x.data<X>();
      blocks(windows, work, t.nd,
             [&](std::int64_t b, std::int64_t e, std::vector<std::int64_t>& range) {
               for (std::int64_t f = b; f < e; ++f) {
                 std::int64_t best = -1;
                 V bv{};
                 walk(t, f, range, [&](std::int64_t xo, std::int64_t yo) {
                   const auto v = static_cast<V>(px[xo]);
                   bool better;
                   if (best < 0) {
                     better = true;
                   } else if (bv != bv) {
                     better = false;  // a NaN stays selected
                   } else if constexpr (IsMax) {
                     better = v > bv || v != v;
                   } else {
                     better = v < bv || v != v;
                   }
                   if (better) {
                     best = yo;
                     bv = v;
                   }
                 });
                 sel[static_cast<std::size_t>(f)] = best;
               }
             });
    }
  });
  return sel;
}

template <bool IsMax>
void scatter_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<WindowAttr>(attr);
  const Tensor &x = in[0], &src = in[1], &init = in[2];
  Tensor& y = out[0];
  const Taps t = tabulate(x, src.shape(), a);
  const std::vector<std::int64_t> sel = select<IsMax>(x, t, src.size(), taps_per_window(a));
  visit_dtype(y.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      using A = typename SumOp<T>::acc_t;
      std::vector<A> acc(static_cast<std::size_t>(y.size()), load_sum(init.data<T>()[0]));
      // Windows in row-major order, so overlapping windows add up in a fixed order.
      const T* ps = src.data<T>();
      const Strides& ss = src.strides();
      Shape idx(static_cast<std::size_t>(src.ndim()), 0);
      std::int64_t soff = 0;
      for (std::int64_t f = 0; f < src.size(); ++f) {
        const std::int64_t s = sel[static_cast<std::size_t>(f)];
        if (s >= 0) acc[static_cast<std::size_t>(s)] += load_sum(ps[soff]);
        for (int d = src.ndim() - 1; d >= 0; --d) {  // odometer step through source
          soff += ss[d];
          if (++idx[d] < src.shape()[d]) break;
          soff -= ss[d] * src.shape()[d];
          idx[d] = 0;
        }
      }
      T* py = y.data<T>();
      for (std::int64_t i = 0; i < y.size(); ++i)
        py[i] = detail::convert<T>(acc[static_cast<std::size_t>(i)]);
    }
  });
}

}  // namespace

void register_window(KernelTable& t) {
  t.set(Primitive::window_sum, reduce_kernel<SumFor>);
  t.set(Primitive::window_product, reduce_kernel<ProductFor>);
  t.set(Primitive::window_max, reduce_kernel<MaxFor>);
  t.set(Primitive::window_min, reduce_kernel<MinFor>);
  t.set(Primitive::window_scatter_max, scatter_kernel<true>);
  t.set(Primitive::window_scatter_min, scatter_kernel<false>);
}

}  // namespace emily::cpu
