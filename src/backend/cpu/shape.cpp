// concatenate, pad and slice_update: kernels that only move elements. They never look
// at values, so they dispatch on the element width (4 instantiations, not 14).
#include <algorithm>
#include <cstring>

#include "backend/cpu/bytes.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "backend/in_place.h"

namespace emily::cpu {

namespace {

// Copies `shape` elements from src (strides ss) to dst (strides ds); both pointers
// address the first element of the region.
void copy_region(void* dst, const Strides& ds, const void* src, const Strides& ss,
                 const Shape& shape, std::size_t width) {
  visit_width(width, [&]<std::size_t W>() {
    using T = Bytes<W>;
    T* d = static_cast<T*>(dst);
    const T* s = static_cast<const T*>(src);
    for_each_run<2>(shape, {&ds, &ss}, [&](const auto& off, std::int64_t n, const auto& st) {
      if (st[0] == 1 && st[1] == 1) {
        std::memcpy(d + off[0], s + off[1], static_cast<std::size_t>(n) * W);
      } else {
        for (std::int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = s[off[1] + i * st[1]];
      }
    });
  });
}

// Fills a fresh contiguous tensor with the single element at `value`.
void fill(Tensor& out, const void* value) {
  visit_width(out.itemsize(), [&]<std::size_t W>() {
    using T = Bytes<W>;
    T v;
    std::memcpy(&v, value, W);
    T* o = static_cast<T*>(out.raw_data());
    const std::int64_t n = out.size();
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (n >= 4 * kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) o[i] = v;
  });
}

unsigned char* element(const Tensor& t, std::int64_t offset) {
  return static_cast<unsigned char*>(t.raw_data()) +
         offset * static_cast<std::int64_t>(t.itemsize());
}

void concatenate_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                        Stream) {
  const int axis = std::get<AxisAttr>(attr).axis;
  Tensor& y = out[0];
  std::int64_t at = 0;  // where along `axis` the next input starts
  for (const Tensor& x : in) {
    if (x.size() > 0) {
      copy_region(element(y, at * y.strides()[axis]), y.strides(), x.raw_data(), x.strides(),
                  x.shape(), y.itemsize());
    }
    at += x.shape()[axis];
  }
}

void pad_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& p = std::get<PadAttr>(attr);
  const Tensor& x = in[0];
  Tensor& y = out[0];
  fill(y, in[1].raw_data());
  // Per axis, the input elements that land inside the output: element i goes to
  // low + i * (interior + 1); negative edges crop those that fall outside.
  const int nd = x.ndim();
  Shape count(nd);
  Strides ds(nd);
  std::int64_t src_off = 0, dst_off = 0;
  for (int a = 0; a < nd; ++a) {
    const std::int64_t n = x.shape()[a], s = p.interior[a] + 1, lo = p.low[a];
    const std::int64_t dim = y.shape()[a];
    std::int64_t first = lo < 0 ? (-lo + s - 1) / s : 0;
    std::int64_t end = dim - lo <= 0 ? 0 : std::min(n, (dim - lo + s - 1) / s);
    count[a] = std::max<std::int64_t>(0, end - first);
    if (count[a] == 0) return;  // nothing of x survives: the fill is the result
    src_off += first * x.strides()[a];
    dst_off += (lo + first * s) * y.strides()[a];
    ds[a] = y.strides()[a] * s;
  }
  copy_region(element(y, dst_off), ds, element(x, src_off), x.strides(), count, y.itemsize());
}

void slice_update_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                         Stream) {
  const auto& a = std::get<SliceAttr>(attr);
  const Tensor &x = in[0], &u = in[1];
  Tensor& y = out[0];
  if (!same_storage(y, x))
    copy_region(y.raw_data(), y.strides(), x.raw_data(), x.strides(), x.shape(), y.itemsize());
  if (u.size() == 0) return;  // an empty region may start past the end: no pointer to it
  std::int64_t off = 0;
  Strides ds(y.ndim());
  for (int i = 0; i < y.ndim(); ++i) {
    off += a.start[i] * y.strides()[i];
    ds[i] = y.strides()[i] * a.step[i];
  }
  copy_region(element(y, off), ds, u.raw_data(), u.strides(), u.shape(), y.itemsize());
}

}  // namespace

void register_shape(KernelTable& t) {
  t.set(Primitive::concatenate, concatenate_kernel);
  t.set(Primitive::pad, pad_kernel);
  t.set(Primitive::slice_update, slice_update_kernel);
}

}  // namespace emily::cpu
