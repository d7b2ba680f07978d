// gather and scatter/scatter_add/scatter_max/scatter_min on CUDA. The op layer hands
// over contiguous x, indices (batch..., m) and, for scatters, updates (batch...,
// window...); one thread moves or combines one window element. Window starts resolve as
// on the CPU (scatter.cpp): gather.h's resolve_index, then clamped so the whole window
// fits.
//
// Duplicate starts: the CPU applies index rows in order, so plain scatter keeps the last
// row's value. Here every element first claims its target with atomicMax of its row
// number in a scratch array, and only the winner writes, which gives the same result.
// When windows cannot overlap partly (each indexed axis has a window of 1 or of the whole
// axis) the claim is per window, keyed by its start: one entry per possible start;
// otherwise per output element. scatter_add/max/min combine with atomics; max and min
// give the CPU's result in any order (NaN wins, else the extremum; only the sign of a
// zero among equal zeros may differ), sums of floats are added in a nondeterministic
// order (f32 atomics also flush subnormals), integer sums wrap exactly.
#include <climits>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cuda/c64_values.cuh"
#include "backend/cuda/flat.cuh"
#include "backend/cuda/kernels.h"
#include "backend/gather.h"
#include "backend/in_place.h"

namespace emily::cuda {

namespace {

// Where the windows lie in x: per indexed axis k (the order of the index row) its size
// n, the window's extent w and x's stride; the window's own axes (merged, extent-1 axes
// dropped) with x's strides. Units are elements of the width a kernel moves, which may
// be wider than x's (see widen()).
struct Plan {
  int m = 0;
  std::int64_t n[kMaxDims], w[kMaxDims], xs[kMaxDims];
  int ndim = 0;
  std::int64_t shape[kMaxDims], stride[kMaxDims];
  std::int64_t size = 1;  // elements per window
  std::int64_t batch = 0;
};

bool make_plan(const Tensor& x, const Tensor& indices, const std::vector<int>& axes,
               const Shape& window_shape, Plan& P) {
  const Shape xshape = x.ndim() == 0 ? Shape{1} : x.shape();
  const Shape window = window_shape.empty() ? Shape{1} : window_shape;
  const Strides xs = row_major_strides(xshape);
  if (axes.size() > static_cast<std::size_t>(kMaxDims)) return false;
  P.m = static_cast<int>(axes.size());
  for (int k = 0; k < P.m; ++k) {
    const int a = axes[static_cast<std::size_t>(k)];
    P.n[k] = xshape[a];
    P.w[k] = window[a];
    P.xs[k] = xs[a];
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> dims;  // (extent, stride)
  P.size = 1;
  for (std::size_t d = 0; d < window.size(); ++d) {
    P.size *= window[d];
    if (window[d] == 1) continue;
    if (!dims.empty() && dims.back().second == xs[d] * window[d]) {
      dims.back() = {dims.back().first * window[d], xs[d]};
    } else {
      dims.emplace_back(window[d], xs[d]);
    }
  }
  if (dims.size() > static_cast<std::size_t>(kMaxDims)) return false;
  P.ndim = static_cast<int>(dims.size());
  for (int d = 0; d < P.ndim; ++d) {
    P.shape[d] = dims[d].first;
    P.stride[d] = dims[d].second;
  }
  P.batch = 1;
  for (int d = 0; d + 1 < indices.ndim(); ++d) P.batch *= indices.shape()[d];
  return true;
}

// Moves `width`-byte elements in the widest unit V in {16, 8, 4} that every window row
// and start fills whole (contiguous innermost window axis, every other stride a multiple
// of V / width) at aligned addresses: an embedding row of bf16 then moves 16 bytes per
// thread instead of 2. Rescales P to units of V; returns the unit's width.
std::size_t widen(Plan& P, std::size_t width, std::initializer_list<const void*> pointers) {
  for (std::size_t v : {16, 8, 4}) {
    if (v <= width) break;
    const auto f = static_cast<std::int64_t>(v / width);
    bool ok = P.ndim > 0 && P.stride[P.ndim - 1] == 1 && P.shape[P.ndim - 1] % f == 0;
    for (int d = 0; ok && d + 1 < P.ndim; ++d) ok = P.stride[d] % f == 0;
    for (int k = 0; ok && k < P.m; ++k) ok = P.xs[k] % f == 0;
    for (const void* p : pointers) ok = ok && reinterpret_cast<std::uintptr_t>(p) % v == 0;
    if (!ok) continue;
    P.shape[P.ndim - 1] /= f;
    for (int d = 0; d < P.ndim; ++d) P.stride[d] = d + 1 == P.ndim ? 1 : P.stride[d] / f;
    for (int k = 0; k < P.m; ++k) P.xs[k] /= f;
    P.size /= f;
    return v;
  }
  return width;
}

template <class I>
__device__ std::int64_t clamped_start(const Plan& P, const I* idx, std::int64_t b, int k) {
  const std::int64_t s = resolve_index(idx[b * P.m + k], P.n[k]);
  return s > P.n[k] - P.w[k] ? P.n[k] - P.w[k] : s;
}

// x offset of row b's window.
template <class I>
__device__ std::int64_t window_start(const Plan& P, const I* idx, std::int64_t b) {
  std::int64_t off = 0;
  for (int k = 0; k < P.m; ++k) off += clamped_start(P, idx, b, k) * P.xs[k];
  return off;
}

// Row b's window among all possible windows (mixed radix over the clamped starts).
template <class I>
__device__ std::int64_t window_key(const Plan& P, const I* idx, std::int64_t b) {
  std::int64_t key = 0;
  for (int k = 0; k < P.m; ++k) key = key * (P.n[k] - P.w[k] + 1) + clamped_start(P, idx, b, k);
  return key;
}

// x offset of element r (row-major) within a window.
__device__ inline std::int64_t window_offset(const Plan& P, std::int64_t r) {
  std::int64_t off = 0;
  for (int d = P.ndim - 1; d >= 0; --d) {
    off += (r % P.shape[d]) * P.stride[d];
    r /= P.shape[d];
  }
  return off;
}

// Runs fn.template operator()<I>() with I the index dtype's type.
template <class Fn>
void visit_index(DType t, Fn&& fn) {
  visit_dtype(t, [&]<class I>() {
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) fn.template operator()<I>();
  });
}

// ---- gather -----------------------------------------------------------------------------

template <class I, class W>
struct GatherStep {
  W* y;
  const W* x;
  const I* idx;
  Plan P;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    const std::int64_t b = i / P.size;
    y[i] = x[window_start(P, idx, b) + window_offset(P, i - b * P.size)];
  }
};

void gather_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const auto& axes = std::get<AxesAttr>(attr).axes;
  const Tensor &x = in[0], &indices = in[1];
  Tensor& y = out[0];
  const Shape window(y.shape().begin() + (indices.ndim() - 1), y.shape().end());
  Plan P;
  if (!x.is_contiguous() || !indices.is_contiguous() || !make_plan(x, indices, axes, window, P))
    return run_on_cpu(Primitive::gather, in, out, attr);
  const std::size_t unit = widen(P, x.itemsize(), {x.raw_data(), y.raw_data()});
  visit_index(indices.dtype(), [&]<class I>() {
    auto go = [&]<std::size_t V>() {
      using W = Word<V>;
      launch<1>(flat(P.batch * P.size), s, "gather",
                GatherStep<I, W>{static_cast<W*>(y.raw_data()), static_cast<const W*>(x.raw_data()),
                                 static_cast<const I*>(indices.raw_data()), P});
    };
    if (unit == 16)
      go.template operator()<16>();
    else
      visit_word(unit, go);
  });
}

// ---- scatter ------------------------------------------------------------------------

// starts[b]: x offset of row b's window; keys[b] (when asked for): its key.
template <class I>
struct StartStep {
  std::int64_t* starts;
  std::int64_t* keys;
  const I* idx;
  Plan P;
  __device__ void operator()(std::int64_t b, const std::int64_t (&)[1]) const {
    starts[b] = window_start(P, idx, b);
    if (keys) keys[b] = window_key(P, idx, b);
  }
};

// Claims: owner[cell] ends as the last row that writes the cell, a cell being a window
// (by key, one thread per row) or an element (one thread per element).
struct ClaimStep {
  int* owner;
  const std::int64_t* starts;
  const std::int64_t* keys;
  Plan P;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    if (keys) {
      atomicMax(owner + keys[i], static_cast<int>(i));
    } else {
      const std::int64_t b = i / P.size;
      atomicMax(owner + starts[b] + window_offset(P, i - b * P.size), static_cast<int>(b));
    }
  }
};

template <class W, class I>
struct AssignStep {
  W* y;
  const W* u;
  const std::int64_t* starts;  // null: each thread resolves its row's start from idx
  const std::int64_t* keys;
  const int* owner;  // null: one row, nothing to decide
  const I* idx;
  Plan P;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    const std::int64_t b = i / P.size;
    const std::int64_t start = starts ? starts[b] : window_start(P, idx, b);
    const std::int64_t at = start + window_offset(P, i - b * P.size);
    if (owner && owner[keys ? keys[b] : at] != static_cast<int>(b)) return;
    y[at] = u[i];
  }
};

enum class Combine { add, max, min };

// Replaces *p by f(*p) atomically: a compare-and-swap loop on the aligned 4- or 8-byte
// word that holds *p (1- and 2-byte values share theirs with neighbours, left as found).
template <class T, class F>
__device__ void atomic_update(T* p, F f) {
  using Bits = std::conditional_t<sizeof(T) == 8, unsigned long long, unsigned>;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto* word = reinterpret_cast<Bits*>(addr & ~static_cast<std::uintptr_t>(sizeof(Bits) - 1));
  unsigned shift = 0;
  Bits mask = ~Bits(0);
  if constexpr (sizeof(T) < 4) {
    shift = static_cast<unsigned>(addr & 3) * 8;
    mask = ((Bits(1) << (8 * sizeof(T))) - 1) << shift;
  }
  Bits old = *word;
  while (true) {
    const Bits bits = (old & mask) >> shift;
    T cur, next;
    std::memcpy(&cur, &bits, sizeof(T));  // little-endian: the low bytes
    next = f(cur);
    Bits nbits = 0;
    std::memcpy(&nbits, &next, sizeof(T));
    const Bits desired = (old & ~mask) | (nbits << shift);
    if (desired == old) return;
    const Bits seen = atomicCAS(word, old, desired);
    if (seen == old) return;
    old = seen;
  }
}

// The CPU's combine_row for one element: sums in the compute type with integers
// wrapping and bool as "or"; max/min keep a NaN once there and take a NaN update.
template <Combine C, class T>
struct CombineValue {
  T u;
  __device__ T operator()(T a) const {
    if constexpr (std::is_same_v<T, float2>) {
      return cadd(a, u);
    } else if constexpr (C == Combine::add) {
      if constexpr (std::is_same_v<T, bool>)
        return a || u;
      else if constexpr (std::is_integral_v<T>)
        return static_cast<T>(wrap_t<T>(a) + wrap_t<T>(u));
      else
        return store<T>(load(a) + load(u));
    } else {
      const auto va = load(a), vb = load(u);
      if constexpr (!std::is_integral_v<T>) {
        if (va != va) return a;
        if (vb != vb) return u;
      }
      return (C == Combine::max ? vb > va : vb < va) ? u : a;
    }
  }
};

// One combine, through the hardware's atomic where it has the same result.
template <Combine C, class T>
__device__ void combine(T* p, T u) {
  constexpr bool wide_int = std::is_integral_v<T> && sizeof(T) >= 4;
  using U = std::conditional_t<sizeof(T) == 8, unsigned long long, unsigned>;
  using Sg = std::conditional_t<sizeof(T) == 8, long long, int>;
  if constexpr (C == Combine::add &&
                (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                 std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>)) {
    atomicAdd(p, u);
  } else if constexpr (C == Combine::add && std::is_same_v<T, float2>) {
    atomicAdd(&p->x, u.x);
    atomicAdd(&p->y, u.y);
  } else if constexpr (C == Combine::add && wide_int) {
    atomicAdd(reinterpret_cast<U*>(p), static_cast<U>(u));
  } else if constexpr (C != Combine::add && wide_int && std::is_signed_v<T>) {
    if constexpr (C == Combine::max)
      atomicMax(reinterpret_cast<Sg*>(p), static_cast<Sg>(u));
    else
      atomicMin(reinterpret_cast<Sg*>(p), static_cast<Sg>(u));
  } else if constexpr (C != Combine::add && wide_int) {
    if constexpr (C == Combine::max)
      atomicMax(reinterpret_cast<U*>(p), static_cast<U>(u));
    else
      atomicMin(reinterpret_cast<U*>(p), static_cast<U>(u));
  } else {
    atomic_update(p, CombineValue<C, T>{u});
  }
}

template <Combine C, class T>
struct CombineStep {
  T* y;
  const T* u;
  const std::int64_t* starts;
  Plan P;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    const std::int64_t b = i / P.size;
    combine<C>(y + starts[b] + window_offset(P, i - b * P.size), u[i]);
  }
};

// Whether overlapping windows can only coincide: per indexed axis the window is 1 wide
// or spans the axis. Then claims are per window.
bool windows_coincide_or_miss(const Plan& P) {
  for (int k = 0; k < P.m; ++k)
    if (P.w[k] != 1 && P.w[k] != P.n[k]) return false;
  return true;
}

// 0 for "assign" (plain scatter); Combine + 1 otherwise.
template <int Kind>
void scatter_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr Primitive prim = Kind == 0   ? Primitive::scatter
                             : Kind == 1 ? Primitive::scatter_add
                             : Kind == 2 ? Primitive::scatter_max
                                         : Primitive::scatter_min;
  constexpr const char* op = Kind == 0   ? "scatter"
                             : Kind == 1 ? "scatter_add"
                             : Kind == 2 ? "scatter_max"
                                         : "scatter_min";
  const auto& axes = std::get<AxesAttr>(attr).axes;
  const Tensor &x = in[0], &indices = in[1], &updates = in[2];
  Tensor& y = out[0];
  const Shape window(updates.shape().begin() + (indices.ndim() - 1), updates.shape().end());
  Plan P;
  if (!x.is_contiguous() || !indices.is_contiguous() || !updates.is_contiguous() ||
      !make_plan(x, indices, axes, window, P) || (Kind == 0 && P.batch > INT_MAX))
    return run_on_cpu(prim, in, out, attr);
  if (!same_storage(y, x)) {
    check(cudaMemcpyAsync(y.raw_data(), x.raw_data(), y.nbytes(), cudaMemcpyDeviceToDevice,
                          stream(s)),
          op, "cudaMemcpyAsync");
  }
  if (P.batch * P.size == 0) return;
  // Moves may go in wider units; the starts are resolved after, in those units.
  const std::size_t unit =
      Kind == 0 ? widen(P, x.itemsize(), {y.raw_data(), updates.raw_data()}) : x.itemsize();
  const bool claims = Kind == 0 && P.batch > 1;
  const bool per_window = claims && windows_coincide_or_miss(P);
  // One window (a KV-cache write): its elements resolve the start themselves, which saves
  // a launch. s32/s64 indices only, to keep the kernel count down.
  const bool inline_start = Kind == 0 && P.batch == 1 &&
                            (indices.dtype() == DType::s32 || indices.dtype() == DType::s64);
  Tensor starts, keys;
  if (per_window) keys = Tensor::empty({P.batch}, DType::s64, y.device());
  std::int64_t* ps = nullptr;
  auto* pk = per_window ? static_cast<std::int64_t*>(keys.raw_data()) : nullptr;
  if (!inline_start) {
    starts = Tensor::empty({P.batch}, DType::s64, y.device());
    ps = static_cast<std::int64_t*>(starts.raw_data());
    visit_index(indices.dtype(), [&]<class I>() {
      launch<1>(flat(P.batch), s, op,
                StartStep<I>{ps, pk, static_cast<const I*>(indices.raw_data()), P});
    });
  }
  if constexpr (Kind == 0) {
    Tensor owner;
    if (claims) {
      std::int64_t cells = 1;
      if (per_window) {
        for (int k = 0; k < P.m; ++k) cells *= P.n[k] - P.w[k] + 1;
      } else {
        cells = static_cast<std::int64_t>(y.nbytes() / unit);
      }
      owner = Tensor::empty({cells}, DType::s32, y.device());
      check(cudaMemsetAsync(owner.raw_data(), 0xff, owner.nbytes(), stream(s)), op,
            "cudaMemsetAsync");  // -1: unclaimed
      launch<1>(flat(per_window ? P.batch : P.batch * P.size), s, op,
                ClaimStep{static_cast<int*>(owner.raw_data()), ps, pk, P});
    }
    const int* own = claims ? static_cast<const int*>(owner.raw_data()) : nullptr;
    auto go = [&]<std::size_t V>() {
      using W = Word<V>;
      auto assign = [&]<class I>() {
        launch<1>(flat(P.batch * P.size), s, op,
                  AssignStep<W, I>{static_cast<W*>(y.raw_data()),
                                   static_cast<const W*>(updates.raw_data()), ps, pk, own,
                                   static_cast<const I*>(indices.raw_data()), P});
      };
      if (!inline_start || indices.dtype() == DType::s64)
        assign.template operator()<std::int64_t>();  // with starts, idx is not read
      else
        assign.template operator()<std::int32_t>();
    };
    if (unit == 16)
      go.template operator()<16>();
    else
      visit_word(unit, go);
  } else {
    constexpr Combine C = static_cast<Combine>(Kind - 1);
    visit_dtype(x.dtype(), [&]<class X>() {
      if constexpr (C == Combine::add || !std::is_same_v<X, c64>) {
        using T = Elem<X>;
        launch<1>(flat(P.batch * P.size), s, op,
                  CombineStep<C, T>{static_cast<T*>(y.raw_data()),
                                    static_cast<const T*>(updates.raw_data()), ps, P});
      }
    });
  }
}

}  // namespace

void register_scatter(KernelTable& t) {
  t.set(Primitive::gather, gather_kernel);
  t.set(Primitive::scatter, scatter_kernel<0>);
  t.set(Primitive::scatter_add, scatter_kernel<1>);
  t.set(Primitive::scatter_max, scatter_kernel<2>);
  t.set(Primitive::scatter_min, scatter_kernel<3>);
}

}  // namespace emily::cuda
