// Kernels that move elements without looking at them: concatenate (each input copied
// into its slab of the output through a strided view) and take / take_along_axis (one
// gather: every output element reads x at its own position on the other axes plus a
// clamped index on the gathered axis, as the CPU's indexing.cpp). They dispatch on the
// element width only.
#include <type_traits>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/gather.h"

namespace emily::cuda {

namespace {

template <class W>
struct MoveStep {
  W* y;
  const W* x;
  __device__ void operator()(std::int64_t, const std::int64_t (&o)[2]) const { y[o[0]] = x[o[1]]; }
};

void concatenate_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                        Stream s) {
  const int axis = std::get<AxisAttr>(attr).axis;
  Tensor& y = out[0];
  // Lay every input out first, so that none is copied when one must go to the CPU.
  std::vector<Layout<2>> layouts(in.size());
  for (std::size_t k = 0; k < in.size(); ++k) {
    if (!make_layout<2>(in[k].shape(), {&y.strides(), &in[k].strides()}, layouts[k]))
      return run_on_cpu(Primitive::concatenate, in, out, attr);
  }
  std::int64_t at = 0;  // where along `axis` the next input starts
  for (std::size_t k = 0; k < in.size(); ++k) {
    visit_word(y.itemsize(), [&]<std::size_t W>() {
      auto* dst = static_cast<Word<W>*>(y.raw_data()) + at * y.strides()[axis];
      launch<2>(layouts[k], s, "concatenate",
                MoveStep<Word<W>>{dst, static_cast<const Word<W>*>(in[k].raw_data())});
    });
    at += in[k].shape()[axis];
  }
}

template <class I, class W>
struct GatherStep {
  const W* x;
  const I* idx;
  W* y;
  std::int64_t axis_stride, n;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[2]) const {
    y[i] = x[o[0] + resolve_index(idx[o[1]], n) * axis_stride];
  }
};

// out[o] = x[xoff(o) + resolve_index(idx[ioff(o)]) * axis_stride], xs/is in the output's index
// space (x's gathered axis has stride 0 there).
void gather(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
            const Strides& xs, const Strides& is, Stream s) {
  const Tensor &x = in[0], &idx = in[1];
  const int axis = std::get<AxisAttr>(attr).axis;
  Layout<2> L;
  bool done = false;
  if (make_layout<2>(out[0].shape(), {&xs, &is}, L)) {
    visit_dtype(idx.dtype(), [&]<class I>() {
      if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
        visit_word(x.itemsize(), [&]<std::size_t W>() {
          launch<2>(L, s, "take",
                    GatherStep<I, Word<W>>{static_cast<const Word<W>*>(x.raw_data()),
                                           static_cast<const I*>(idx.raw_data()),
                                           static_cast<Word<W>*>(out[0].raw_data()),
                                           x.strides()[axis], x.shape()[axis]});
        });
        done = true;
      }
    });
  }
  if (!done) run_on_cpu(p, in, out, attr);
}

void take_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const int axis = std::get<AxisAttr>(attr).axis;
  const Tensor &x = in[0], &idx = in[1];
  Strides xs, is;
  take_strides(x, idx, axis, xs, is);
  gather(Primitive::take, in, out, attr, xs, is, s);
}

void take_along_axis_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                            Stream s) {
  const int axis = std::get<AxisAttr>(attr).axis;
  // x arrives broadcast to the output on every axis but `axis`; idx to the output.
  Strides xs = in[0].strides();
  xs[axis] = 0;
  gather(Primitive::take_along_axis, in, out, attr, xs, in[1].strides(), s);
}

}  // namespace

void register_indexing(KernelTable& t) {
  t.set(Primitive::concatenate, concatenate_kernel);
  t.set(Primitive::take, take_kernel);
  t.set(Primitive::take_along_axis, take_along_axis_kernel);
}

}  // namespace emily::cuda
