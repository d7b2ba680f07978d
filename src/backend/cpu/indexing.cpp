// take and take_along_axis. Both are one gather: every output element reads x at
// (its own position on the other axes) + (a clamped index on the gathered axis). The
// op layer lays both operands out in the output's index space, so one strided walk
// over the output serves both primitives and any input layout.
#include <cstring>
#include <type_traits>

#include "backend/cpu/bytes.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/gather.h"

namespace emily::cpu {

namespace {

// out[o] = x[xoff(o) + resolve_index(idx[ioff(o)]) * axis_stride], with xoff/ioff given by
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
                            const T* s = px + off[1] + resolve_index(pi[off[2]], n) * axis_stride;
                            if (st[1] == 1) {
                              std::memcpy(o, s, static_cast<std::size_t>(len) * W);
                            } else {
                              for (std::int64_t i = 0; i < len; ++i) o[i] = s[i * st[1]];
                            }
                            return;
                          }
                          for (std::int64_t i = 0; i < len; ++i) {
                            std::int64_t k = resolve_index(pi[off[2] + i * st[2]], n);
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
  Strides xs, is;
  take_strides(x, idx, axis, xs, is);
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
