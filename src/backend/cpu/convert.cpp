// astype, copy and where: elementwise kernels whose inputs arrive broadcast to the
// output's shape (stride-0 views where an input was smaller).
#include <cstring>

#include "backend/cpu/bytes.h"
#include "backend/cpu/fused.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

void astype_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  visit_dtype(x.dtype(), [&]<class From>() {
    visit_dtype(y.dtype(), [&]<class To>() {
      const From* src = x.data<From>();
      To* dst = y.data<To>();
      for_each_run<2>(y.shape(), {&y.strides(), &x.strides()},
                      [&](const auto& off, std::int64_t n, const auto& st) {
                        To* d = dst + off[0];
                        const From* s = src + off[1];
                        for (std::int64_t i = 0; i < n; ++i)
                          d[i] = detail::convert<To>(s[i * st[1]]);
                      });
    });
  });
}

void copy_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  const std::size_t size = x.itemsize();
  // A copy moves bytes, so dispatch on width only: 4 instantiations, not 14.
  auto run = [&]<std::size_t W>() {
    using T = Bytes<W>;
    const T* src = static_cast<const T*>(x.raw_data());
    T* dst = static_cast<T*>(y.raw_data());
    for_each_run<2>(y.shape(), {&y.strides(), &x.strides()},
                    [&](const auto& off, std::int64_t n, const auto& st) {
                      if (st[1] == 1) {
                        std::memcpy(dst + off[0], src + off[1], static_cast<std::size_t>(n) * W);
                      } else {
                        for (std::int64_t i = 0; i < n; ++i)
                          dst[off[0] + i] = src[off[1] + i * st[1]];
                      }
                    });
  };
  visit_width(size, run);
}

void where_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor &c = in[0], &a = in[1], &b = in[2];
  Tensor& y = out[0];
  visit_dtype(y.dtype(), [&]<class T>() {
    const bool* pc = c.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    for_each_run<4>(y.shape(), {&y.strides(), &c.strides(), &a.strides(), &b.strides()},
                    [&](const auto& off, std::int64_t n, const auto& st) {
                      for (std::int64_t i = 0; i < n; ++i) {
                        py[off[0] + i] = pc[off[1] + i * st[1]] ? pa[off[2] + i * st[2]]
                                                                : pb[off[3] + i * st[3]];
                      }
                    });
  });
}

// Steps of fused chains (fused.h).
template <class From, class To>
void cast_block(const void* const* args, const std::int64_t* strides, void* out, std::int64_t n) {
  const From* __restrict x = static_cast<const From*>(args[0]);
  To* __restrict y = static_cast<To*>(out);
  if (strides[0] == 1) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = detail::convert<To>(x[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) y[i] = detail::convert<To>(x[i * strides[0]]);
  }
}

template <class T>
void where_block(const void* const* args, const std::int64_t* s, void* out, std::int64_t n) {
  const bool* c = static_cast<const bool*>(args[0]);
  const T* a = static_cast<const T*>(args[1]);
  const T* b = static_cast<const T*>(args[2]);
  T* __restrict y = static_cast<T*>(out);
  if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = c[i] ? a[i] : b[i];
  } else {
    for (std::int64_t i = 0; i < n; ++i) y[i] = c[i * s[0]] ? a[i * s[1]] : b[i * s[2]];
  }
}

}  // namespace

void register_convert(KernelTable& t) {
  t.set(Primitive::astype, astype_kernel);
  t.set(Primitive::copy, copy_kernel);
  t.set(Primitive::where, where_kernel);
  for (DType d : kAllDTypes) {
    visit_dtype(d, [&]<class T>() {
      set_block(Primitive::where, d, d, where_block<T>);
      for (DType r : kAllDTypes)
        visit_dtype(r, [&]<class To>() { set_block(Primitive::astype, d, r, cast_block<T, To>); });
    });
  }
}

}  // namespace emily::cpu
