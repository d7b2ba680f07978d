// gather and scatter/scatter_add/scatter_max/scatter_min. The op layer hands over
// contiguous x, indices (batch..., m) and, for scatters, updates (batch..., window...).
// Both directions walk one window per index row, a contiguous run of the window's last
// axis at a time (one memcpy for gather and plain scatter).
//
// Scatters apply index rows strictly in order on one thread: windows of different rows
// may overlap, and in-order application is what makes duplicate indices deterministic
// (last write wins; sums are added in index order).
#include <omp.h>

#include <cstring>
#include <type_traits>

#include "backend/cpu/bytes.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "backend/in_place.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

// One index row's window: where it starts in x (element offset) for each batch row.
struct WindowPlan {
  Shape window;                      // the window's shape (rank x.ndim, at least 1)
  Strides x_strides;                 // x's row-major strides (rank as window)
  std::int64_t rows = 1;             // windows rows: product of window[:-1]
  std::int64_t row_len = 1;          // window.back()
  std::vector<std::int64_t> starts;  // per batch row, the x offset of the window start
};

template <class I>
std::int64_t resolve(I v, std::int64_t n, std::int64_t w) {
  std::int64_t s;
  if constexpr (std::is_signed_v<I>) {
    s = static_cast<std::int64_t>(v);
    s = s < -n ? -n : (s > n - 1 ? n - 1 : s);
    if (s < 0) s += n;
  } else {
    auto u = static_cast<std::uint64_t>(v);
    s = u > static_cast<std::uint64_t>(n - 1) ? n - 1 : static_cast<std::int64_t>(u);
  }
  return s > n - w ? n - w : s;  // the whole window must fit (XLA's clamp)
}

WindowPlan plan(const Tensor& x, const Tensor& indices, const std::vector<int>& axes,
                const Shape& window) {
  WindowPlan p;
  p.window = window.empty() ? Shape{1} : window;
  Shape xshape = x.ndim() == 0 ? Shape{1} : x.shape();
  p.x_strides = row_major_strides(xshape);
  p.row_len = p.window.back();
  for (std::size_t d = 0; d + 1 < p.window.size(); ++d) p.rows *= p.window[d];
  const auto m = static_cast<std::int64_t>(axes.size());
  std::int64_t batch = 1;
  for (int d = 0; d + 1 < indices.ndim(); ++d) batch *= indices.shape()[d];
  // With no indexed axes (indices of shape (..., 0)) every window starts at the origin.
  p.starts.assign(static_cast<std::size_t>(batch), 0);
  if (m == 0) return p;
  visit_dtype(indices.dtype(), [&]<class I>() {
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      const I* idx = indices.data<I>();
      for (std::int64_t b = 0; b < batch; ++b) {
        std::int64_t off = 0;
        for (std::int64_t k = 0; k < m; ++k) {
          const int a = axes[static_cast<std::size_t>(k)];
          off += resolve(idx[b * m + k], xshape[a], p.window[a]) * p.x_strides[a];
        }
        p.starts[static_cast<std::size_t>(b)] = off;
      }
    }
  });
  return p;
}

// Calls fn(row, x_offset_of_row) for every row of the window, in order.
template <class Fn>
void for_each_window_row(const WindowPlan& p, std::int64_t start, Fn&& fn) {
  const int nd = static_cast<int>(p.window.size());
  std::vector<std::int64_t> idx(static_cast<std::size_t>(nd), 0);
  std::int64_t off = start;
  for (std::int64_t r = 0; r < p.rows; ++r) {
    fn(r, off);
    for (int d = nd - 2; d >= 0; --d) {
      if (++idx[d] < p.window[d]) {
        off += p.x_strides[d];
        break;
      }
      off -= (p.window[d] - 1) * p.x_strides[d];
      idx[d] = 0;
    }
  }
}

Shape window_of(const Tensor& full, std::int64_t batch_rank) {
  return Shape(full.shape().begin() + batch_rank, full.shape().end());
}

void gather_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& axes = std::get<AxesAttr>(attr).axes;
  const Tensor &x = in[0], &indices = in[1];
  Tensor& y = out[0];
  WindowPlan p = plan(x, indices, axes, window_of(y, indices.ndim() - 1));
  const std::int64_t batch = static_cast<std::int64_t>(p.starts.size());
  const std::size_t width = x.itemsize();
  const std::size_t row_bytes = static_cast<std::size_t>(p.row_len) * width;
  const auto* src = static_cast<const unsigned char*>(x.raw_data());
  auto* dst = static_cast<unsigned char*>(y.raw_data());
  const std::int64_t window_size = p.rows * p.row_len;
  auto one = [&](std::int64_t b) {
    unsigned char* o = dst + static_cast<std::size_t>(b * window_size) * width;
    for_each_window_row(p, p.starts[static_cast<std::size_t>(b)],
                        [&](std::int64_t r, std::int64_t off) {
                          std::memcpy(o + static_cast<std::size_t>(r) * row_bytes,
                                      src + static_cast<std::size_t>(off) * width, row_bytes);
                        });
  };
  if (batch * window_size >= 2 * kParallelGrain && batch > 1) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t b = 0; b < batch; ++b) one(b);
  } else {
    for (std::int64_t b = 0; b < batch; ++b) one(b);
  }
}

enum class Combine { assign, add, max, min };

template <Combine C, class T>
void combine_row(T* o, const T* u, std::int64_t n) {
  using A = compute_t<T>;
  for (std::int64_t i = 0; i < n; ++i) {
    if constexpr (C == Combine::assign) {
      o[i] = u[i];
    } else if constexpr (C == Combine::add) {
      o[i] = detail::convert<T>(static_cast<A>(o[i]) + static_cast<A>(u[i]));
    } else {
      const A a = static_cast<A>(o[i]), b = static_cast<A>(u[i]);
      if constexpr (std::is_floating_point_v<A>) {
        if (a != a) continue;  // NaN already there stays (NaN propagates)
        if (b != b) {
          o[i] = u[i];
          continue;
        }
      }
      if (C == Combine::max ? b > a : b < a) o[i] = u[i];
    }
  }
}

template <Combine C>
void scatter_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& axes = std::get<AxesAttr>(attr).axes;
  const Tensor &x = in[0], &indices = in[1], &updates = in[2];
  Tensor& y = out[0];
  if (!same_storage(y, x))
    std::memcpy(y.raw_data(), x.raw_data(), static_cast<std::size_t>(x.size()) * x.itemsize());
  WindowPlan p = plan(x, indices, axes, window_of(updates, indices.ndim() - 1));
  const std::int64_t window_size = p.rows * p.row_len;
  auto apply = [&]<class T>() {
    T* o = static_cast<T*>(y.raw_data());
    const T* u = static_cast<const T*>(updates.raw_data());
    for (std::size_t b = 0; b < p.starts.size(); ++b) {
      const T* ub = u + static_cast<std::int64_t>(b) * window_size;
      for_each_window_row(p, p.starts[b], [&](std::int64_t r, std::int64_t off) {
        combine_row<C>(o + off, ub + r * p.row_len, p.row_len);
      });
    }
  };
  if constexpr (C == Combine::assign) {
    visit_width(x.itemsize(), [&]<std::size_t W>() { apply.template operator()<Bytes<W>>(); });
  } else {
    visit_dtype(x.dtype(), [&]<class T>() {
      if constexpr (C == Combine::add || !detail::is_complex_v<T>) apply.template operator()<T>();
    });
  }
}

}  // namespace

void register_scatter(KernelTable& t) {
  t.set(Primitive::gather, gather_kernel);
  t.set(Primitive::scatter, scatter_kernel<Combine::assign>);
  t.set(Primitive::scatter_add, scatter_kernel<Combine::add>);
  t.set(Primitive::scatter_max, scatter_kernel<Combine::max>);
  t.set(Primitive::scatter_min, scatter_kernel<Combine::min>);
}

}  // namespace emily::cpu
