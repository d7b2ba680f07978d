// Creation kernels on CUDA: arange, eye, full. Values follow the CPU's creation.cpp:
// arange forms start + i * step in double with the same two roundings (no fused
// multiply-add) and converts by detail::convert's rules; full only moves bytes, 16 at a
// time where the output's alignment allows.
#include <cstdint>

#include "backend/cuda/c64_values.cuh"
#include "backend/cuda/flat.cuh"
#include "backend/cuda/kernels.h"

namespace emily::cuda {

namespace {

template <class T>
struct ArangeStep {
  Elem<T>* y;
  double start, step;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    y[i] = from_double<T>(__dadd_rn(start, __dmul_rn(static_cast<double>(i), step)));
  }
};

void arange_kernel(std::span<const Tensor>, std::span<Tensor> out, const Attr& attr, Stream s) {
  const auto& a = std::get<ArangeAttr>(attr);
  visit_dtype(out[0].dtype(), [&]<class T>() {
    launch<1>(flat(out[0].size()), s, "arange",
              ArangeStep<T>{static_cast<Elem<T>*>(out[0].raw_data()), a.start, a.step});
  });
}

// Every element written once (no memset first): one on the k-th diagonal, zero elsewhere.
template <class T>
struct EyeStep {
  Elem<T>* y;
  std::int64_t cols, k;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    y[i] = from_double<T>(i % cols == i / cols + k ? 1.0 : 0.0);
  }
};

void eye_kernel(std::span<const Tensor>, std::span<Tensor> out, const Attr& attr, Stream s) {
  const std::int64_t k = std::get<EyeAttr>(attr).k;
  visit_dtype(out[0].dtype(), [&]<class T>() {
    launch<1>(flat(out[0].size()), s, "eye",
              EyeStep<T>{static_cast<Elem<T>*>(out[0].raw_data()), out[0].shape()[1], k});
  });
}

// Index i < chunks writes 16 bytes (16 / W copies of the value); the rest write the
// elements past the last whole chunk one at a time.
template <std::size_t W>
struct FillStep {
  Word<W>* y;
  const Word<W>* value;  // on the device: read by every thread, served from cache
  std::int64_t chunks;
  __device__ void operator()(std::int64_t i, const std::int64_t (&)[1]) const {
    const Word<W> v = *value;
    if constexpr (W < 16) {
      if (i < chunks) {
        Word<16> c;
        for (std::size_t b = 0; b < 16; ++b) c.b[b] = v.b[b % W];
        reinterpret_cast<Word<16>*>(y)[i] = c;
        return;
      }
      y[chunks * (16 / W) + (i - chunks)] = v;
    } else {
      y[i] = v;
    }
  }
};

void full_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream s) {
  Tensor& y = out[0];
  visit_word(y.itemsize(), [&]<std::size_t W>() {
    const bool aligned = reinterpret_cast<std::uintptr_t>(y.raw_data()) % 16 == 0;
    const std::int64_t per_chunk = 16 / W, n = y.size();
    const std::int64_t chunks = aligned ? n / per_chunk : 0;
    launch<1>(flat(chunks + (n - chunks * per_chunk)), s, "full",
              FillStep<W>{static_cast<Word<W>*>(y.raw_data()),
                          static_cast<const Word<W>*>(in[0].raw_data()), chunks});
  });
}

}  // namespace

void register_creation(KernelTable& t) {
  t.set(Primitive::arange, arange_kernel);
  t.set(Primitive::eye, eye_kernel);
  t.set(Primitive::full, full_kernel);
}

}  // namespace emily::cuda
