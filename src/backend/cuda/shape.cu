// pad and slice_update on CUDA: kernels that only move elements, so they dispatch on the
// element width (c64 included). pad writes every output element once, either the input
// element that lands there or the pad value (no fill pass first); slice_update copies x,
// then writes the update's region through a strided view of the output.
#include <cstdint>
#include <limits>
#include <vector>

#include "backend/cuda/flat.cuh"
#include "backend/cuda/kernels.h"
#include "backend/in_place.h"

namespace emily::cuda {

namespace {

// pad's geometry per (merged) output axis: output element c reads input element
// (c - low) / step when that division is exact and lands in [0, n); step = interior + 1.
struct PadAxes {
  int ndim = 0;
  std::int64_t out[kMaxDims], low[kMaxDims], step[kMaxDims], n[kMaxDims], xs[kMaxDims];
};

// Axes without padding are the identity; neighbours of that kind merge when x walks them
// as one, and those of size 1 drop out. False when more than kMaxDims axes remain.
bool pad_axes(const Tensor& x, const Tensor& y, const PadAttr& p, PadAxes& A) {
  struct Axis {
    std::int64_t out, low, step, n, xs;
    bool plain;
  };
  std::vector<Axis> axes;
  for (int d = 0; d < x.ndim(); ++d) {
    Axis a{y.shape()[d], p.low[d],       p.interior[d] + 1,
           x.shape()[d], x.strides()[d], p.low[d] == 0 && p.high[d] == 0 && p.interior[d] == 0};
    if (a.plain && a.n == 1) continue;
    if (a.plain && !axes.empty() && axes.back().plain && axes.back().xs == a.xs * a.n) {
      axes.back().out *= a.out;
      axes.back().n *= a.n;
      axes.back().xs = a.xs;
      continue;
    }
    axes.push_back(a);
  }
  if (axes.size() > static_cast<std::size_t>(kMaxDims)) return false;
  A.ndim = static_cast<int>(axes.size());
  for (int d = 0; d < A.ndim; ++d) {
    A.out[d] = axes[d].out;
    A.low[d] = axes[d].low;
    A.step[d] = axes[d].step;
    A.n[d] = axes[d].n;
    A.xs[d] = axes[d].xs;
  }
  return true;
}

// Ix: the index arithmetic's type. 32-bit division costs a fraction of 64-bit division,
// which would otherwise bound this kernel rather than memory.
template <class W, class Ix>
struct PadStep {
  W* y;
  const W* x;
  const W* value;
  PadAxes A;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    Ix rest = static_cast<Ix>(i);
    std::int64_t off = 0;
    bool inside = true;
    for (int d = A.ndim - 1; d >= 0 && inside; --d) {
      const auto out = static_cast<Ix>(A.out[d]), step = static_cast<Ix>(A.step[d]);
      const Ix c = rest % out - static_cast<Ix>(A.low[d]);
      rest /= out;
      const Ix q = c / step;
      inside = c >= 0 && q * step == c && q < static_cast<Ix>(A.n[d]);
      off += static_cast<std::int64_t>(q) * A.xs[d];
    }
    y[i] = inside ? x[off] : *value;
  }
};

// Whether every quantity PadStep divides or compares fits in 32 signed bits.
bool fits_32(const PadAxes& A, std::int64_t elements) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
  bool ok = elements <= kMax;
  for (int d = 0; d < A.ndim; ++d) {
    const std::int64_t low = A.low[d] < 0 ? -A.low[d] : A.low[d];
    ok = ok && A.out[d] + low <= kMax && A.step[d] <= kMax && A.n[d] <= kMax;
  }
  return ok;
}

void pad_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const Tensor &x = in[0], &value = in[1];
  Tensor& y = out[0];
  PadAxes A;
  if (!pad_axes(x, y, std::get<PadAttr>(attr), A)) return run_on_cpu(Primitive::pad, in, out, attr);
  const bool narrow = fits_32(A, y.size());
  visit_word(y.itemsize(), [&]<std::size_t W>() {
    auto* py = static_cast<Word<W>*>(y.raw_data());
    const auto* px = static_cast<const Word<W>*>(x.raw_data());
    const auto* pv = static_cast<const Word<W>*>(value.raw_data());
    if (narrow)
      launch<1>(flat(y.size()), s, "pad", PadStep<Word<W>, std::int32_t>{py, px, pv, A});
    else
      launch<1>(flat(y.size()), s, "pad", PadStep<Word<W>, std::int64_t>{py, px, pv, A});
  });
}

template <class W>
struct MoveStep {
  W* y;
  const W* x;
  __device__ void operator()(std::int64_t, const std::int64_t (&o)[2]) const { y[o[0]] = x[o[1]]; }
};

void slice_update_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                         Stream s) {
  const auto& a = std::get<SliceAttr>(attr);
  const Tensor &x = in[0], &u = in[1];
  Tensor& y = out[0];
  // The region: u's shape over y's strides scaled by the steps, from y's element `at`.
  std::int64_t at = 0;
  Strides region(y.ndim());
  for (int d = 0; d < y.ndim(); ++d) {
    at += a.start[d] * y.strides()[d];
    region[d] = y.strides()[d] * a.step[d];
  }
  Layout<2> copy_layout, update_layout;
  const bool dense = x.is_contiguous(), in_place = same_storage(y, x);
  if ((!dense && !make_layout<2>(y.shape(), {&y.strides(), &x.strides()}, copy_layout)) ||
      !make_layout<2>(u.shape(), {&region, &u.strides()}, update_layout)) {
    return run_on_cpu(Primitive::slice_update, in, out, attr);
  }
  // The copy and the update run in this order on one stream, so the update wins.
  if (dense && !in_place) {
    check(cudaMemcpyAsync(y.raw_data(), x.raw_data(), y.nbytes(), cudaMemcpyDeviceToDevice,
                          stream(s)),
          "slice_update", "cudaMemcpyAsync");
  }
  visit_word(y.itemsize(), [&]<std::size_t W>() {
    using T = Word<W>;
    auto* dst = static_cast<T*>(y.raw_data());
    if (!dense && !in_place)
      launch<2>(copy_layout, s, "slice_update",
                MoveStep<T>{dst, static_cast<const T*>(x.raw_data())});
    // An empty region may start past the end: launch() does nothing for it.
    launch<2>(update_layout, s, "slice_update",
              MoveStep<T>{dst + (u.size() ? at : 0), static_cast<const T*>(u.raw_data())});
  });
}

}  // namespace

void register_shape(KernelTable& t) {
  t.set(Primitive::pad, pad_kernel);
  t.set(Primitive::slice_update, slice_update_kernel);
}

}  // namespace emily::cuda
