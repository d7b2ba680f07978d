// Reductions (sum product max min all any) and index reductions (argmax argmin).
//
// The output arrives contiguous in keep-dims form, so an output element's offset is the
// dot product of its kept indices with the output strides. The input may have any
// strides. Two loop orders, chosen from the input's layout:
//   A ("run"):  the reduced axis with the smallest stride is walked innermost, one output
//               element at a time; sums use NumPy's pairwise scheme on each run, so a
//               contiguous last-axis f32 sum agrees with NumPy to a few ulp; max/min
//               of contiguous f32/f64 runs use explicit 16-byte vectors.
//   B ("rows"): a kept axis has the smallest stride: whole rows of it are accumulated
//               into a block of accumulators, so memory is read contiguously (a sum over
//               a leading axis reads each row once, front to back).
// When the outputs are too few to spread over threads (a full reduction, say), the
// reduced index range is cut into a fixed number of parts that depends only on the
// sizes, never on the thread count, so results are reproducible on every machine.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

struct Dim {
  std::int64_t n, xs, ys;  // size, input stride, output stride
};

// A multi-index over `dims` (outermost first) with its running input/output offsets.
class Odometer {
 public:
  Odometer(const std::vector<Dim>& dims, std::int64_t flat) : dims_(&dims), idx_(dims.size()) {
    for (std::size_t k = dims.size(); k-- > 0;) {
      idx_[k] = flat % dims[k].n;
      flat /= dims[k].n;
      xoff += idx_[k] * dims[k].xs;
      yoff += idx_[k] * dims[k].ys;
    }
  }
  void next() {
    for (std::size_t k = idx_.size(); k-- > 0;) {
      const Dim& d = (*dims_)[k];
      if (++idx_[k] < d.n) {
        xoff += d.xs;
        yoff += d.ys;
        return;
      }
      idx_[k] = 0;
      xoff -= (d.n - 1) * d.xs;
      yoff -= (d.n - 1) * d.ys;
    }
  }
  std::int64_t xoff = 0, yoff = 0;

 private:
  const std::vector<Dim>* dims_;
  std::vector<std::int64_t> idx_;
};

std::int64_t count(const std::vector<Dim>& dims) {
  std::int64_t n = 1;
  for (const auto& d : dims) n *= d.n;
  return n;
}

// Merges dims[i] into dims[i-1] where one flat index walks both (both strides agree).
void collapse(std::vector<Dim>& dims) {
  std::vector<Dim> out;
  for (const Dim& d : dims) {
    if (!out.empty() && out.back().xs == d.xs * d.n && out.back().ys == d.ys * d.n) {
      out.back() = {out.back().n * d.n, d.xs, d.ys};
    } else {
      out.push_back(d);
    }
  }
  dims = std::move(out);
}

// Kept axes (in order, with output strides) and reduced axes (outermost first by
// input stride), both without size-1 axes and collapsed.
struct Geometry {
  std::vector<Dim> kept, red;
};

Geometry geometry(const Tensor& x, const Tensor& y, const std::vector<int>& axes) {
  Geometry g;
  for (int i = 0; i < x.ndim(); ++i) {
    if (x.shape()[i] == 1) continue;
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (reduced) {
      g.red.push_back({x.shape()[i], x.strides()[i], 0});
    } else {
      g.kept.push_back({x.shape()[i], x.strides()[i], y.strides()[i]});
    }
  }
  std::stable_sort(g.red.begin(), g.red.end(),
                   [](const Dim& a, const Dim& b) { return std::llabs(a.xs) > std::llabs(b.xs); });
  collapse(g.kept);
  collapse(g.red);
  return g;
}

// Elements of work per part when a reduction is cut into parts along the reduced range.
constexpr std::int64_t kSplitGrain = 1 << 16;
// Fewer natural tasks than this and a reduction is cut into parts.
constexpr std::int64_t kFewTasks = 32;
constexpr std::int64_t kMaxParts = 64;
// Accumulators per block in loop order B: whole rows of up to 16 KiB of f32, so each
// reduced row is read as one contiguous stretch.
constexpr std::int64_t kBlock = 4096;

// ---- the reduction operators --------------------------------------------------------
// Each names its accumulator type, identity, how an element enters (load) and how two
// accumulators combine. `pairwise` selects NumPy's pairwise summation for runs.

template <class T>
using sum_acc_t = std::conditional_t<std::is_same_v<T, bool> || std::is_integral_v<T>,
                                     std::uint64_t,  // wraps, no UB
                                     compute_t<T>>;

template <class T>
typename std::conditional_t<std::is_integral_v<T>, std::uint64_t, compute_t<T>> load_sum(T x) {
  if constexpr (std::is_same_v<T, bool>) {
    return x ? 1u : 0u;
  } else if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) {
    // Sign-extend then reinterpret: two's complement arithmetic mod 2^64.
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(x));
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<std::uint64_t>(x);
  } else {
    return static_cast<compute_t<T>>(x);
  }
}

template <class T>
struct SumOp {
  using acc_t = sum_acc_t<T>;
  static constexpr bool pairwise = true;
  static acc_t identity() { return acc_t(0); }
  static acc_t load(T x) { return load_sum(x); }
  static acc_t combine(acc_t a, acc_t b) { return a + b; }
};

template <class T>
struct ProductOp {
  using acc_t = sum_acc_t<T>;
  static constexpr bool pairwise = false;
  static acc_t identity() { return acc_t(1); }
  static acc_t load(T x) { return load_sum(x); }
  static acc_t combine(acc_t a, acc_t b) { return a * b; }
};

// NaN propagates: once an accumulator holds NaN no comparison replaces it, and a NaN
// element always replaces the accumulator.
template <class T, bool IsMax>
struct ExtremumOp {
  using acc_t = compute_t<T>;
  static constexpr bool pairwise = false;
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
  static acc_t load(T x) { return static_cast<acc_t>(x); }
  static acc_t combine(acc_t a, acc_t b) {
    if constexpr (IsMax) {
      return (b > a || b != b) ? b : a;
    } else {
      return (b < a || b != b) ? b : a;
    }
  }
  // A contiguous run of float/double: compare-select on 16-byte vectors (GCC/Clang
  // vector extensions, so any target) with NaNs collected in a separate mask; the
  // scalar formulation does not vectorize.
  static acc_t run_unit(const T* p, std::int64_t n) requires std::is_floating_point_v<T> {
    constexpr int W = 16 / sizeof(T), K = 4;
    using V [[gnu::vector_size(16)]] = T;
    using I [[gnu::vector_size(16)]] =
        std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    V r[K];
    I nan[K];
    for (int k = 0; k < K; ++k) {
      for (int w = 0; w < W; ++w) r[k][w] = identity();
      nan[k] = I{};
    }
    std::int64_t i = 0;
    for (; i + K * W <= n; i += K * W) {
      for (int k = 0; k < K; ++k) {
        V b;
        std::memcpy(&b, p + i + k * W, sizeof(V));
        r[k] = (IsMax ? b > r[k] : b < r[k]) ? b : r[k];
        nan[k] |= b != b;
      }
    }
    acc_t out = identity();
    bool any_nan = false;
    for (int k = 0; k < K; ++k) {
      for (int w = 0; w < W; ++w) {
        out = combine(out, r[k][w]);
        any_nan = any_nan || nan[k][w] != 0;
      }
    }
    for (; i < n; ++i) {
      out = combine(out, p[i]);
      any_nan = any_nan || p[i] != p[i];
    }
    return any_nan ? std::numeric_limits<acc_t>::quiet_NaN() : out;
  }
};

template <class T, bool IsAll>
struct LogicalOp {
  using acc_t = bool;
  static constexpr bool pairwise = false;
  static acc_t identity() { return IsAll; }
  static acc_t load(T x) { return detail::convert<bool>(x); }
  static acc_t combine(acc_t a, acc_t b) { return IsAll ? (a && b) : (a || b); }
};

// One run of n elements at stride s, eight independent accumulators (which the
// compiler keeps in vector registers when s == 1).
template <class Op, class T, bool Unit>
typename Op::acc_t run_blocked(const T* p, std::int64_t n, std::int64_t s) {
  using A = typename Op::acc_t;
  A r[8];
  for (auto& v : r) v = Op::identity();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) r[k] = Op::combine(r[k], Op::load(p[(Unit ? i + k : (i + k) * s)]));
  }
  for (; i < n; ++i) r[0] = Op::combine(r[0], Op::load(p[Unit ? i : i * s]));
  return Op::combine(Op::combine(Op::combine(r[0], r[1]), Op::combine(r[2], r[3])),
                     Op::combine(Op::combine(r[4], r[5]), Op::combine(r[6], r[7])));
}

// NumPy's pairwise summation (blocks of 128 with 8 accumulators, halves above), so a
// contiguous f32 sum has O(eps log n) error and matches NumPy's rounding closely.
template <class Op, class T, bool Unit>
typename Op::acc_t run_pairwise(const T* p, std::int64_t n, std::int64_t s) {
  using A = typename Op::acc_t;
  if (n < 8) {
    if (n == 0) return Op::identity();
    A r = Op::load(p[0]);
    for (std::int64_t i = 1; i < n; ++i) r = Op::combine(r, Op::load(p[Unit ? i : i * s]));
    return r;
  }
  if (n <= 128) {
    A r[8];
    for (int k = 0; k < 8; ++k) r[k] = Op::load(p[Unit ? k : k * s]);
    std::int64_t i = 8;
    for (; i < n - n % 8; i += 8) {
      for (int k = 0; k < 8; ++k) r[k] = Op::combine(r[k], Op::load(p[Unit ? i + k : (i + k) * s]));
    }
    A res = Op::combine(Op::combine(Op::combine(r[0], r[1]), Op::combine(r[2], r[3])),
                        Op::combine(Op::combine(r[4], r[5]), Op::combine(r[6], r[7])));
    for (; i < n; ++i) res = Op::combine(res, Op::load(p[Unit ? i : i * s]));
    return res;
  }
  std::int64_t half = n / 2;
  half -= half % 8;
  // The left half first (function arguments may be evaluated right to left), so memory
  // is read front to back and the hardware prefetcher keeps up.
  A left = run_pairwise<Op, T, Unit>(p, half, s);
  return Op::combine(left, run_pairwise<Op, T, Unit>(p + (Unit ? half : half * s), n - half, s));
}

template <class Op, class T>
typename Op::acc_t run(const T* p, std::int64_t n, std::int64_t s) {
  if (s < 0) {  // walk a reversed view forwards (only the rounding order changes)
    p += (n - 1) * s;
    s = -s;
  }
  if constexpr (requires { Op::run_unit(p, n); }) {
    if (s == 1) return Op::run_unit(p, n);
  }
  if constexpr (Op::pairwise) {
    return s == 1 ? run_pairwise<Op, T, true>(p, n, s) : run_pairwise<Op, T, false>(p, n, s);
  } else {
    return s == 1 ? run_blocked<Op, T, true>(p, n, s) : run_blocked<Op, T, false>(p, n, s);
  }
}

// ---- the loops ----------------------------------------------------------------------

// The kept axis with the smallest input stride when it beats every reduced axis (loop
// order B), else -1 (loop order A).
int rows_axis(const std::vector<Dim>& kept, const std::vector<Dim>& red) {
  int v = -1;
  for (int k = 0; k < static_cast<int>(kept.size()); ++k) {
    if (v < 0 || std::llabs(kept[k].xs) < std::llabs(kept[v].xs)) v = k;
  }
  if (v >= 0 && !red.empty() && std::llabs(kept[v].xs) < std::llabs(red.back().xs)) return v;
  return -1;
}

// Loop order A splits the outputs into tasks of about kParallelGrain elements.
std::int64_t outputs_per_task(std::int64_t n) {
  return std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(n, 1));
}

std::int64_t natural_tasks(const Geometry& g) {
  const std::int64_t M = count(g.kept);
  int v = rows_axis(g.kept, g.red);
  if (v < 0) return (M + outputs_per_task(count(g.red)) - 1) / outputs_per_task(count(g.red));
  return M / g.kept[v].n * ((g.kept[v].n + kBlock - 1) / kBlock);
}

// Accumulates reduced positions [lo, hi) (flat, over g.red) for every output element
// and hands each accumulator to sink(output offset, acc).
template <class Op, class T, class Sink>
void reduce_range(const Geometry& g, const T* x, std::int64_t lo, std::int64_t hi, bool parallel,
                  Sink&& sink) {
  using A = typename Op::acc_t;
  const std::int64_t M = count(g.kept);
  const std::int64_t N = hi - lo;
  const int v = rows_axis(g.kept, g.red);

  if (v < 0) {
    // Loop order A: one output at a time; the innermost reduced axis is the run.
    const Dim last = g.red.empty() ? Dim{1, 1, 0} : g.red.back();
    const std::vector<Dim> outer_red(g.red.begin(), g.red.end() - (g.red.empty() ? 0 : 1));
    const std::int64_t per_task = outputs_per_task(N);
    const std::int64_t tasks = (M + per_task - 1) / per_task;
    auto task = [&](std::int64_t t) {
      std::int64_t m0 = t * per_task, m1 = std::min(M, m0 + per_task);
      Odometer out(g.kept, m0);
      const Odometer red0(outer_red, lo / last.n);
      Odometer red = red0;
      for (std::int64_t m = m0; m < m1; ++m, out.next()) {
        red = red0;
        A acc = Op::identity();
        std::int64_t f = lo, j = lo % last.n;
        while (f < hi) {
          std::int64_t len = std::min(last.n - j, hi - f);
          acc = Op::combine(acc, run<Op>(x + out.xoff + red.xoff + j * last.xs, len, last.xs));
          f += len;
          j = 0;
          red.next();
        }
        sink(out.yoff, acc);
      }
    };
    if (parallel && tasks > 1 && M * N >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
      for (std::int64_t t = 0; t < tasks; ++t) task(t);
    } else {
      for (std::int64_t t = 0; t < tasks; ++t) task(t);
    }
    return;
  }

  // Loop order B: blocks of the kept axis v accumulate whole rows.
  const Dim vec = g.kept[v];
  std::vector<Dim> outer_kept = g.kept;
  outer_kept.erase(outer_kept.begin() + v);
  const std::int64_t outer_m = count(outer_kept);
  const std::int64_t chunks = (vec.n + kBlock - 1) / kBlock;
  const std::int64_t tasks = outer_m * chunks;
  auto task = [&](std::int64_t t) {
    const std::int64_t c = t % chunks;
    const Odometer out(outer_kept, t / chunks);
    const std::int64_t j0 = c * kBlock, len = std::min(kBlock, vec.n - j0);
    A acc[kBlock];
    for (std::int64_t j = 0; j < len; ++j) acc[j] = Op::identity();
    Odometer red(g.red, lo);
    for (std::int64_t f = lo; f < hi; ++f, red.next()) {
      const T* p = x + out.xoff + red.xoff + j0 * vec.xs;
      if (vec.xs == 1) {
        for (std::int64_t j = 0; j < len; ++j) acc[j] = Op::combine(acc[j], Op::load(p[j]));
      } else {
        for (std::int64_t j = 0; j < len; ++j)
          acc[j] = Op::combine(acc[j], Op::load(p[j * vec.xs]));
      }
    }
    for (std::int64_t j = 0; j < len; ++j) sink(out.yoff + (j0 + j) * vec.ys, acc[j]);
  };
  if (parallel && tasks > 1 && M * N >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  }
}

template <class Op, class T, class Out>
void reduce_kernel(const Tensor& xt, Tensor& yt, const std::vector<int>& axes) {
  using A = typename Op::acc_t;
  Out* y = yt.data<Out>();
  const std::int64_t M = yt.size();
  Geometry g = geometry(xt, yt, axes);
  const std::int64_t N = count(g.red);
  if (N == 0) {
    for (std::int64_t m = 0; m < M; ++m) y[m] = detail::convert<Out>(Op::identity());
    return;
  }
  const T* x = xt.data<T>();

  // Parts of at least kSplitGrain elements of work and 16 reduced positions, and at
  // most 2^22 partial accumulators in all.
  std::int64_t parts =
      std::min({kMaxParts, M * N / kSplitGrain, N / 16, std::max<std::int64_t>(1, (1 << 22) / M)});
  if (natural_tasks(g) >= kFewTasks || parts < 2) {
    reduce_range<Op>(g, x, 0, N, true,
                     [&](std::int64_t off, A a) { y[off] = detail::convert<Out>(a); });
    return;
  }
  // Few outputs, many elements: each part reduces a slice of the reduced range.
  // (Not std::vector: A may be bool.)
  std::unique_ptr<A[]> partial(new A[static_cast<std::size_t>(parts * M)]);
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
  for (std::int64_t p = 0; p < parts; ++p) {
    std::int64_t lo = N * p / parts, hi = N * (p + 1) / parts;
    A* buf = partial.get() + p * M;
    reduce_range<Op>(g, x, lo, hi, false, [&](std::int64_t off, A a) { buf[off] = a; });
  }
  for (std::int64_t m = 0; m < M; ++m) {
    A acc = partial[m];
    for (std::int64_t p = 1; p < parts; ++p) acc = Op::combine(acc, partial[p * M + m]);
    y[m] = detail::convert<Out>(acc);
  }
}

template <class T>
using sum_out_t =
    std::conditional_t<std::is_same_v<T, bool> || (std::is_integral_v<T> && std::is_signed_v<T>),
                       std::int64_t, std::conditional_t<std::is_integral_v<T>, std::uint64_t, T>>;

// Sum and product: bool and signed integers give s64, unsigned u64, the rest keep their
// type. f16/bf16 may also be stored as f32 (mean asks for that to round only once).
template <template <class> class Op>
void arithmetic_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                       Stream) {
  const auto& axes = std::get<AxesAttr>(attr).axes;
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (detail::is_half_v<T>) {
      if (out[0].dtype() == DType::f32) {
        reduce_kernel<Op<T>, T, float>(in[0], out[0], axes);
        return;
      }
    }
    reduce_kernel<Op<T>, T, sum_out_t<T>>(in[0], out[0], axes);
  });
}

template <bool IsMax>
void extremum_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& axes = std::get<AxesAttr>(attr).axes;
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (!detail::is_complex_v<T>) {  // the op layer rejects complex
      reduce_kernel<ExtremumOp<T, IsMax>, T, T>(in[0], out[0], axes);
    }
  });
}

template <bool IsAll>
void logical_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& axes = std::get<AxesAttr>(attr).axes;
  visit_dtype(in[0].dtype(),
              [&]<class T>() { reduce_kernel<LogicalOp<T, IsAll>, T, bool>(in[0], out[0], axes); });
}

// ---- argmax / argmin ----------------------------------------------------------------
// The first extreme wins; a NaN beats everything and the first NaN wins, as in NumPy.

template <class T, bool IsMax>
struct Arg {
  using C = compute_t<T>;
  C value;
  std::int64_t index;
  static bool better(C v, C best) { return IsMax ? v > best : v < best; }
  static bool is_nan(C v) { return v != v; }
  // Folds element i (value v) into this; returns true once a NaN has been taken.
  bool take(C v, std::int64_t i) {
    if (better(v, value)) {
      value = v;
      index = i;
    } else if (is_nan(v)) {
      value = v;
      index = i;
      return true;
    }
    return false;
  }
};

// The first i in [lo, hi) with p[i] == target (or NaN when target is NaN), in blocks
// whose test vectorizes. The caller guarantees a hit.
template <class T, class C>
std::int64_t find_first(const T* p, std::int64_t lo, std::int64_t hi, C target) {
  const bool nan = target != target;
  for (std::int64_t i0 = lo; i0 < hi; i0 += 64) {
    const std::int64_t i1 = std::min(hi, i0 + 64);
    std::int32_t hit = 0;
    if (nan) {
      for (std::int64_t i = i0; i < i1; ++i) hit |= static_cast<C>(p[i]) != static_cast<C>(p[i]);
    } else {
      for (std::int64_t i = i0; i < i1; ++i) hit |= static_cast<C>(p[i]) == target;
    }
    if (!hit) continue;
    for (std::int64_t i = i0; i < i1; ++i) {
      C v = static_cast<C>(p[i]);
      if (nan ? v != v : v == target) return i;
    }
  }
  return hi - 1;  // unreachable
}

template <class T, bool IsMax>
Arg<T, IsMax> scan(const T* p, std::int64_t lo, std::int64_t hi, std::int64_t s) {
  using C = compute_t<T>;
  if (s == 1 && hi - lo >= 64) {
    // Contiguous: a vectorized max/min, then the first position holding it.
    C m = run<ExtremumOp<T, IsMax>>(p + lo, hi - lo, 1);
    return {m, find_first(p, lo, hi, m)};
  }
  Arg<T, IsMax> a{static_cast<C>(p[lo * s]), lo};
  if (a.is_nan(a.value)) return a;
  for (std::int64_t i = lo + 1; i < hi; ++i)
    if (a.take(static_cast<C>(p[i * s]), i)) break;
  return a;
}

// Loop order B for argmax/argmin: row r of `len` elements (stride xs) at base + r*s
// updates best/idx; branch-free so it vectorizes, and a NaN best is settled.
template <class A, class T, bool Unit, class C, class Idx>
void arg_rows(const T* base, std::int64_t len, std::int64_t xs, std::int64_t n, std::int64_t s,
              C* best, Idx* idx) {
  for (std::int64_t j = 0; j < len; ++j) {
    best[j] = static_cast<C>(base[Unit ? j : j * xs]);
    idx[j] = 0;
  }
  for (std::int64_t r = 1; r < n; ++r) {
    const T* p = base + r * s;
    const Idx ri = static_cast<Idx>(r);
    for (std::int64_t j = 0; j < len; ++j) {
      C val = static_cast<C>(p[Unit ? j : j * xs]);
      bool take = (best[j] == best[j]) & (A::better(val, best[j]) | (val != val));
      best[j] = take ? val : best[j];
      idx[j] = take ? ri : idx[j];
    }
  }
}

template <class T, bool IsMax>
void arg_kernel_typed(const Tensor& xt, Tensor& yt, int axis) {
  using C = compute_t<T>;
  using A = Arg<T, IsMax>;
  const T* x = xt.data<T>();
  std::int64_t* y = yt.data<std::int64_t>();
  const std::int64_t n = xt.shape()[axis], s = xt.strides()[axis];
  std::vector<Dim> kept;
  for (int i = 0; i < xt.ndim(); ++i)
    if (i != axis && xt.shape()[i] != 1)
      kept.push_back({xt.shape()[i], xt.strides()[i], yt.strides()[i]});
  collapse(kept);
  const std::int64_t M = count(kept);

  const int v = n > 1 ? rows_axis(kept, {Dim{n, s, 0}}) : -1;
  if (v >= 0) {
    // Rows: a block of the kept axis v scans the reduced axis row by row.
    const Dim vec = kept[v];
    std::vector<Dim> outer = kept;
    outer.erase(outer.begin() + v);
    const std::int64_t chunks = (vec.n + kBlock - 1) / kBlock;
    const std::int64_t tasks = count(outer) * chunks;
    auto task = [&](std::int64_t t) {
      const std::int64_t c = t % chunks;
      const Odometer out(outer, t / chunks);
      const std::int64_t j0 = c * kBlock, len = std::min(kBlock, vec.n - j0);
      const T* base = x + out.xoff + j0 * vec.xs;
      C best[kBlock];
      // 32-bit row indices beside 32-bit values keep the select in one vector width.
      if (sizeof(C) <= 4 && n <= std::numeric_limits<std::int32_t>::max()) {
        std::int32_t idx[kBlock];
        if (vec.xs == 1) {
          arg_rows<A, T, true>(base, len, vec.xs, n, s, best, idx);
        } else {
          arg_rows<A, T, false>(base, len, vec.xs, n, s, best, idx);
        }
        for (std::int64_t j = 0; j < len; ++j) y[out.yoff + (j0 + j) * vec.ys] = idx[j];
      } else {
        std::int64_t idx[kBlock];
        arg_rows<A, T, false>(base, len, vec.xs, n, s, best, idx);
        for (std::int64_t j = 0; j < len; ++j) y[out.yoff + (j0 + j) * vec.ys] = idx[j];
      }
    };
    if (tasks > 1 && M * n >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
      for (std::int64_t t = 0; t < tasks; ++t) task(t);
    } else {
      for (std::int64_t t = 0; t < tasks; ++t) task(t);
    }
    return;
  }

  std::int64_t parts = std::min(kMaxParts, n / kSplitGrain);
  if (M < kFewTasks && parts >= 2) {
    // Few long scans (argmax over a vocabulary): split each scan, then merge in order.
    std::vector<A> partial(static_cast<std::size_t>(parts * M));
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t p = 0; p < parts; ++p) {
      Odometer out(kept, 0);
      for (std::int64_t m = 0; m < M; ++m, out.next())
        partial[p * M + m] = scan<T, IsMax>(x + out.xoff, n * p / parts, n * (p + 1) / parts, s);
    }
    Odometer out(kept, 0);
    for (std::int64_t m = 0; m < M; ++m, out.next()) {
      A a = partial[m];
      for (std::int64_t p = 1; p < parts && !a.is_nan(a.value); ++p) {
        const A& b = partial[p * M + m];
        if (A::better(b.value, a.value) || b.is_nan(b.value)) a = b;
      }
      y[out.yoff] = a.index;
    }
    return;
  }

  const std::int64_t per_task = outputs_per_task(n);
  const std::int64_t tasks = (M + per_task - 1) / per_task;
  auto task = [&](std::int64_t t) {
    std::int64_t m0 = t * per_task, m1 = std::min(M, m0 + per_task);
    Odometer out(kept, m0);
    for (std::int64_t m = m0; m < m1; ++m, out.next())
      y[out.yoff] = scan<T, IsMax>(x + out.xoff, 0, n, s).index;
  };
  if (tasks > 1 && M * n >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    for (std::int64_t t = 0; t < tasks; ++t) task(t);
  }
}

template <bool IsMax>
void arg_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const int axis = std::get<AxisAttr>(attr).axis;
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (!detail::is_complex_v<T>) arg_kernel_typed<T, IsMax>(in[0], out[0], axis);
  });
}

}  // namespace

void register_reduction(KernelTable& t) {
  t.set(Primitive::sum, arithmetic_kernel<SumOp>);
  t.set(Primitive::product, arithmetic_kernel<ProductOp>);
  t.set(Primitive::max, extremum_kernel<true>);
  t.set(Primitive::min, extremum_kernel<false>);
  t.set(Primitive::all, logical_kernel<true>);
  t.set(Primitive::any, logical_kernel<false>);
  t.set(Primitive::argmax, arg_kernel<true>);
  t.set(Primitive::argmin, arg_kernel<false>);
}

}  // namespace emily::cpu
