// take and take_along_axis. Both are one gather: every output element reads x at
// (its own position on the other axes) + (a clamped index on the gathered axis). The
// op layer lays both operands out in the output's index space, so one strided walk
// over the output serves both primitives and any input layout.
#include <cstring>
#include <type_traits>

#include "backend/cpu/bytes.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"

namespace emily::cpu {

namespace {

// Indices outside [-n, n) clamp to the nearest end, then negatives count from the end
// (docs/OPS.md); n >= 1 here (the op layer rejects gathering from an empty axis).
template <class I>
std::int64_t resolve(I v, std::int64_t n) {
  if constexpr (std::is_signed_v<I>) {
    auto w = static_cast<std::int64_t>(v);
    w = w < -n ? -n : (w > n - 1 ? n - 1 : w);
    return w < 0 ? w + n : w;
  } else {
    auto u = static_cast<std::uint64_t>(v);
    return u > static_cast<std::uint64_t>(n - 1) ? n - 1 : static_cast<std::int64_t>(u);
  }
}

// out[o] = x[xoff(o) + resolve(idx[ioff(o)]) * axis_stride], with xoff/ioff given by
// strides in the output's index space (x's gathered axis has stride 0 there).
void gather(const Tensor& x, const Strides& xs, std::int64_t axis_stride, std::int64_t n,
            const Tensor& idx, const Strides& is, Tensor& out) {
  visit_dtype(idx.dtype(), [&]<class I>() {
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      auto run = [&]<std::size_t W>() {
        using T = Bytes<W>;
        const T* px = static_cast<const T*>(x.raw_data());
        const I* pi = idx.data<I>();
        T* po = static_cast<T*>(out.raw_data());
        for_each_run<3>(out.shape(), {&out.strides(), &xs, &is},
                        [&](const auto& off, std::int64_t len, const auto& st) {
                          T* o = po + off[0];
                          if (st[2] == 0) {  // one index for the whole run (the common case)
                            const T* s = px + off[1] + resolve(pi[off[2]], n) * axis_stride;
                            if (st[1] == 1) {
                              std::memcpy(o, s, static_cast<std::size_t>(len) * W);
                            } else {
                              for (std::int64_t i = 0; i < len; ++i) o[i] = s[i * st[1]];
                            }
                            return;
                          }
                          for (std::int64_t i = 0; i < len; ++i) {
                            std::int64_t k = resolve(pi[off[2] + i * st[2]], n);
                            o[i] = px[off[1] + i * st[1] + k * axis_stride];
                          }
                        });
      };
      visit_width(x.itemsize(), run);
    }
  });
}

void take_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const int axis = std::get<AxisAttr>(attr).axis;
  const Tensor &x = in[0], &idx = in[1];
  // Output axes: x's axes before `axis`, then the index axes, then x's axes after it.
  Strides xs, is;
  for (int d = 0; d < axis; ++d) {
    xs.push_back(x.strides()[d]);
    is.push_back(0);
  }
  for (int d = 0; d < idx.ndim(); ++d) {
    xs.push_back(0);
    is.push_back(idx.strides()[d]);
  }
  for (int d = axis + 1; d < x.ndim(); ++d) {
    xs.push_back(x.strides()[d]);
    is.push_back(0);
  }
  gather(x, xs, x.strides()[axis], x.shape()[axis], idx, is, out[0]);
}

void take_along_axis_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                            Stream) {
  const int axis = std::get<AxisAttr>(attr).axis;
  const Tensor &x = in[0], &idx = in[1];
  // x arrives broadcast to the output on every axis but `axis`; idx to the output.
  Strides xs = x.strides();
  xs[axis] = 0;
  gather(x, xs, x.strides()[axis], x.shape()[axis], idx, idx.strides(), out[0]);
}

}  // namespace

void register_indexing(KernelTable& t) {
  t.set(Primitive::take, take_kernel);
  t.set(Primitive::take_along_axis, take_along_axis_kernel);
}

}  // namespace emily::cpu
