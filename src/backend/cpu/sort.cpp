// sort, argsort and top_k. The input arrives contiguous, seen as (outer, n, inner) around
// the sorted axis; each of the outer*inner lines is copied into a buffer of (value, index)
// pairs, ordered there, and written back. Lines spread over threads.
//
// The order is a strict weak order on values (NaN above every number) and stable sorts
// keep equal values in index order. top_k breaks ties by index, so its result is one
// defined answer, not any of several.
#include <omp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

template <class A>
bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>)
    return v != v;
  else
    return false;
}

// a strictly before b in ascending order: numbers by value, NaN after them all.
template <class A>
bool ascending(A a, A b) {
  if constexpr (std::is_floating_point_v<A>)
    return a < b || (is_nan(b) && !is_nan(a));
  else
    return a < b;
}
template <class A>
bool descending(A a, A b) {
  return ascending(b, a);
}

enum class Output { values, indices, top_k };

struct Lines {
  std::int64_t outer = 1, n = 1, inner = 1;
  explicit Lines(const Shape& s, int axis) {
    for (int d = 0; d < axis; ++d) outer *= s[d];
    n = s[axis];
    for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
  }
  // Offset of element k of line l.
  std::int64_t at(std::int64_t l, std::int64_t k, std::int64_t len) const {
    return (l / inner) * len * inner + (l % inner) + k * inner;
  }
};

template <class T, Output O>
void order_lines(const Tensor& x, std::span<Tensor> out, int axis, bool desc, std::int64_t k) {
  using A = compute_t<T>;
  const Lines L(x.shape(), axis);
  const std::int64_t lines = L.outer * L.inner;
  const T* px = x.data<T>();
  T* values = O == Output::indices ? nullptr : out[0].data<T>();
  std::int64_t* indices = O == Output::values    ? nullptr
                          : O == Output::indices ? out[0].data<std::int64_t>()
                                                 : out[1].data<std::int64_t>();
  const std::int64_t out_len = O == Output::top_k ? k : L.n;
  auto one = [&](std::int64_t l, std::vector<std::pair<A, std::int64_t>>& buf) {
    buf.resize(static_cast<std::size_t>(L.n));
    for (std::int64_t i = 0; i < L.n; ++i) buf[i] = {static_cast<A>(px[L.at(l, i, L.n)]), i};
    auto by_value = [desc](const auto& a, const auto& b) {
      return desc ? descending(a.first, b.first) : ascending(a.first, b.first);
    };
    if constexpr (O == Output::top_k) {
      // Largest first; equal values in index order, which makes the order total.
      auto by_rank = [](const auto& a, const auto& b) {
        return descending(a.first, b.first) ||
               (!descending(b.first, a.first) && a.second < b.second);
      };
      std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), by_rank);
    } else {
      std::stable_sort(buf.begin(), buf.end(), by_value);
    }
    for (std::int64_t i = 0; i < out_len; ++i) {
      const std::int64_t o = L.at(l, i, out_len);
      if (values) values[o] = px[L.at(l, buf[i].second, L.n)];
      if (indices) indices[o] = buf[i].second;
    }
  };
  if (lines > 1 && x.size() >= 2 * kParallelGrain) {
#pragma omp parallel num_threads(::emily::cpu::threads())
    {
      std::vector<std::pair<A, std::int64_t>> buf;
#pragma omp for schedule(static)
      for (std::int64_t l = 0; l < lines; ++l) one(l, buf);
    }
  } else {
    std::vector<std::pair<A, std::int64_t>> buf;
    for (std::int64_t l = 0; l < lines; ++l) one(l, buf);
  }
}

template <Output O>
void order_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  int axis;
  bool desc = false;
  std::int64_t k = 0;
  if constexpr (O == Output::top_k) {
    axis = std::get<AxisAttr>(attr).axis;
    k = out[0].shape()[axis];
  } else {
    axis = std::get<SortAttr>(attr).axis;
    desc = std::get<SortAttr>(attr).descending;
  }
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (!detail::is_complex_v<T>) order_lines<T, O>(in[0], out, axis, desc, k);
  });
}

}  // namespace

void register_sort(KernelTable& t) {
  t.set(Primitive::sort, order_kernel<Output::values>);
  t.set(Primitive::argsort, order_kernel<Output::indices>);
  t.set(Primitive::top_k, order_kernel<Output::top_k>);
}

}  // namespace emily::cpu
