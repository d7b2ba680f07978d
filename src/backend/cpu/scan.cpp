// cumulative_sum/product/max/min. The input arrives contiguous in the output's dtype, seen
// as (outer, n, inner) around the scanned axis. With inner == 1 each line is scanned in
// a tight loop of its own; otherwise whole rows of `inner` accumulators advance together, so memory
// is read front to back and the inner loop vectorizes (a scan over axis 0 of a matrix reads it
// once, row by row, instead of column by column).
#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

struct Sum {
  template <class A>
  static A identity() {
    return A(0);
  }
  template <class A>
  static A step(A acc, A v) {
    return acc + v;
  }
};
struct Product {
  template <class A>
  static A identity() {
    return A(1);
  }
  template <class A>
  static A step(A acc, A v) {
    return acc * v;
  }
};
template <bool IsMax>
struct Extreme {
  template <class A>
  static A identity() {
    if constexpr (std::numeric_limits<A>::has_infinity)
      return IsMax ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
    else
      return IsMax ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
  // A NaN, once seen, stays: the comparison with a NaN accumulator is false, and a NaN
  // value is taken because it compares unequal to itself.
  template <class A>
  static A step(A acc, A v) {
    if constexpr (std::is_same_v<A, bool>)
      return IsMax ? (acc || v) : (acc && v);
    else
      return (v != v || (IsMax ? v > acc : v < acc)) ? v : acc;
  }
};

template <class Op, class T>
void scan_typed(const Tensor& x, Tensor& y, const ScanAttr& a) {
  using A = compute_t<T>;
  const Shape& s = x.shape();
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < a.axis; ++d) outer *= s[d];
  for (int d = a.axis + 1; d < x.ndim(); ++d) inner *= s[d];
  const std::int64_t n = s[a.axis];
  const T* px = x.data<T>();
  T* py = y.data<T>();
  // Position k of the walk reads element rev ? n-1-k : k along the axis.
  auto at = [&](std::int64_t k) { return a.reverse ? n - 1 - k : k; };
  // With inner > 1 a task advances a run of adjacent lines together, one accumulator each
  // (one row of `inner` elements per step, read contiguously); with inner == 1 it scans
  // one whole line in a tight loop.
  const bool rows = inner > 1;
  constexpr std::int64_t kMaxGroup = 1024;
  const std::int64_t group = rows ? std::min(inner, kMaxGroup) : 1;
  const std::int64_t groups_per_outer = (inner + group - 1) / group;
  const std::int64_t tasks = outer * groups_per_outer;
  auto task = [&](std::int64_t t) {
    if (!rows) {
      const std::int64_t first = t * n + (a.reverse ? n - 1 : 0), dir = a.reverse ? -1 : 1;
      const T* src = px + first;
      T* dst = py + first;
      A acc = Op::template identity<A>();
      for (std::int64_t k = 0; k < n; ++k) {
        const A v = static_cast<A>(src[k * dir]);
        if (a.inclusive) acc = Op::step(acc, v);
        dst[k * dir] = detail::convert<T>(acc);
        if (!a.inclusive) acc = Op::step(acc, v);
      }
      return;
    }
    const std::int64_t j0 = (t % groups_per_outer) * group;
    const std::int64_t base = (t / groups_per_outer) * n * inner + j0;
    const std::int64_t len = std::min(group, inner - j0);
    A acc[kMaxGroup];
    for (std::int64_t j = 0; j < len; ++j) acc[j] = Op::template identity<A>();
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t off = base + at(k) * inner;
      if (a.inclusive) {
        for (std::int64_t j = 0; j < len; ++j) {
          acc[j] = Op::step(acc[j], static_cast<A>(px[off + j]));
          py[off + j] = detail::convert<T>(acc[j]);
        }
      } else {
        for (std::int64_t j = 0; j < len; ++j) {
          py[off + j] = detail::convert<T>(acc[j]);
          acc[j] = Op::step(acc[j], static_cast<A>(px[off + j]));
        }
      }
    }
  };
  if (tasks > 1 && x.size() >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  }
}

template <class Op>
void scan_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<ScanAttr>(attr);
  visit_dtype(in[0].dtype(), [&]<class T>() {
    // The op layer turns bool sums/products into s64 and rejects complex max/min; the
    // guard keeps those combinations from instantiating.
    constexpr bool arithmetic = std::is_same_v<Op, Sum> || std::is_same_v<Op, Product>;
    if constexpr (arithmetic ? !std::is_same_v<T, bool> : !detail::is_complex_v<T>)
      scan_typed<Op, T>(in[0], out[0], a);
  });
}

}  // namespace

void register_scan(KernelTable& t) {
  t.set(Primitive::cumulative_sum, scan_kernel<Sum>);
  t.set(Primitive::cumulative_product, scan_kernel<Product>);
  t.set(Primitive::cumulative_max, scan_kernel<Extreme<true>>);
  t.set(Primitive::cumulative_min, scan_kernel<Extreme<false>>);
}

}  // namespace emily::cpu
