// sort, argsort and top_k. The input arrives contiguous, seen as (outer, n, inner) around
// the sorted axis; each of the outer*inner lines is copied into a buffer of (value, index)
// pairs, ordered there, and written back. Lines spread over threads. Long lines of sort
// and argsort go through a stable radix sort on order-preserving integer keys; short
// lines and top_k compare values.
//
// The order is a strict weak order on values (NaN above every number) and stable sorts
// keep equal values in index order. top_k breaks ties by index, so its result is one
// defined answer, not any of several.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>
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

// Radix keys: unsigned integers whose order is the sort order above. Floats map through
// their bits (negative values reversed), with every NaN above +inf and -0.0 folded onto
// 0.0 so that the two stay equal; halves go through float, narrow integers widen.
template <class T>
using key_t = std::conditional_t<sizeof(compute_t<T>) == 8, std::uint64_t, std::uint32_t>;

template <class T>
key_t<T> order_key(T v) {
  using K = key_t<T>;
  constexpr K top = K(1) << (sizeof(K) * 8 - 1);
  if constexpr (std::is_floating_point_v<compute_t<T>>) {
    auto f = static_cast<compute_t<T>>(v);
    if (f != f) return ~K(0);
    if (f == 0) f = 0;
    const K bits = std::bit_cast<K>(f);
    return (bits & top) ? ~bits : (bits | top);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<K>(static_cast<std::make_signed_t<K>>(v)) ^ top;
  } else {
    return static_cast<K>(v);
  }
}

// Stable LSD radix sort of (key, index) pairs, a byte per pass, with the histograms of
// all bytes counted in one read; a pass whose byte is the same in every key is skipped
// (the low bytes of widened halves and small integers). Indices share the key's width so
// that a pair of u32 keys is 8 bytes: the passes are bound by memory traffic.
template <class K>
void radix_sort(std::vector<std::pair<K, K>>& a, std::vector<std::pair<K, K>>& tmp) {
  constexpr unsigned kBytes = sizeof(K);
  tmp.resize(a.size());
  std::vector<std::size_t> count(kBytes * 257, 0);
  for (const auto& e : a)
    for (unsigned b = 0; b < kBytes; ++b) ++count[b * 257 + ((e.first >> (8 * b)) & 0xff) + 1];
  for (unsigned b = 0; b < kBytes; ++b) {
    std::size_t* c = count.data() + b * 257;
    if (std::find(c + 1, c + 257, a.size()) != c + 257) continue;
    for (int d = 0; d < 256; ++d) c[d + 1] += c[d];
    for (const auto& e : a) tmp[c[(e.first >> (8 * b)) & 0xff]++] = e;
    a.swap(tmp);
  }
}

// Lines shorter than this use a comparison sort: the radix passes' fixed cost (histograms
// of 256 buckets per byte) only pays off on longer lines.
constexpr std::int64_t kRadixMin = 512;

template <class T>
struct Scratch {
  std::vector<std::pair<compute_t<T>, std::int64_t>> values;
  std::vector<std::pair<key_t<T>, key_t<T>>> keys, tmp;
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
  auto emit = [&](std::int64_t l, auto&& index_at) {
    const std::int64_t in0 = L.at(l, 0, L.n), out0 = L.at(l, 0, out_len);
    for (std::int64_t i = 0; i < out_len; ++i) {
      const std::int64_t src = index_at(i);
      if (values) values[out0 + i * L.inner] = px[in0 + src * L.inner];
      if (indices) indices[out0 + i * L.inner] = src;
    }
  };
  auto one = [&](std::int64_t l, Scratch<T>& s) {
    const auto n = static_cast<std::size_t>(L.n);
    const T* line = px + L.at(l, 0, L.n);
    const auto stride = static_cast<std::size_t>(L.inner);
    using K = key_t<T>;
    if (O != Output::top_k && L.n >= kRadixMin &&
        static_cast<std::uint64_t>(L.n) <= std::numeric_limits<K>::max()) {
      s.keys.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const auto key = order_key(line[i * stride]);
        s.keys[i] = {desc ? ~key : key, static_cast<K>(i)};
      }
      radix_sort(s.keys, s.tmp);
      emit(l, [&](std::int64_t i) {
        return static_cast<std::int64_t>(s.keys[static_cast<std::size_t>(i)].second);
      });
      return;
    }
    auto& buf = s.values;
    buf.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto i64 = static_cast<std::int64_t>(i);
      buf[i] = {static_cast<A>(line[i * stride]), i64};
    }
    if constexpr (O == Output::top_k) {
      // Largest first; equal values in index order, which makes the order total.
      auto by_rank = [](const auto& a, const auto& b) {
        return descending(a.first, b.first) ||
               (!descending(b.first, a.first) && a.second < b.second);
      };
      std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), by_rank);
    } else {
      std::stable_sort(buf.begin(), buf.end(), [desc](const auto& a, const auto& b) {
        return desc ? descending(a.first, b.first) : ascending(a.first, b.first);
      });
    }
    emit(l, [&](std::int64_t i) { return buf[static_cast<std::size_t>(i)].second; });
  };
  if (lines > 1 && x.size() >= 2 * kParallelGrain) {
#pragma omp parallel num_threads(::emily::cpu::threads())
    {
      Scratch<T> s;
#pragma omp for schedule(static)
      for (std::int64_t l = 0; l < lines; ++l) one(l, s);
    }
  } else {
    Scratch<T> s;
    for (std::int64_t l = 0; l < lines; ++l) one(l, s);
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
