#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

void arange_kernel(std::span<const Tensor>, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<ArangeAttr>(attr);
  visit_dtype(out[0].dtype(), [&]<class T>() {
    T* o = out[0].data<T>();
    const std::int64_t n = out[0].size();
    for (std::int64_t i = 0; i < n; ++i)
      o[i] = detail::convert<T>(a.start + static_cast<double>(i) * a.step);
  });
}

void eye_kernel(std::span<const Tensor>, std::span<Tensor> out, const Attr& attr, Stream) {
  const std::int64_t k = std::get<EyeAttr>(attr).k;
  const std::int64_t rows = out[0].shape()[0], cols = out[0].shape()[1];
  std::memset(out[0].raw_data(), 0, out[0].nbytes());
  visit_dtype(out[0].dtype(), [&]<class T>() {
    T* o = out[0].data<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      std::int64_t c = r + k;
      if (c >= 0 && c < cols) o[r * cols + c] = detail::convert<T>(1);
    }
  });
}

void full_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  visit_dtype(out[0].dtype(), [&]<class T>() {
    const T v = *in[0].data<T>();
    T* o = out[0].data<T>();
    const std::int64_t n = out[0].size();
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (n >= 4 * kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) o[i] = v;
  });
}

}  // namespace

void register_creation(KernelTable& t) {
  t.set(Primitive::arange, arange_kernel);
  t.set(Primitive::eye, eye_kernel);
  t.set(Primitive::full, full_kernel);
}

}  // namespace emily::cpu
