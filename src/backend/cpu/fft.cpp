// fft, ifft, rfft and irfft through FFTW 3 in single precision.
//
// One kernel call is one FFTW guru plan: the transform axes become FFTW's `dims` and every
// other axis a `howmany` (batch) axis, each with the tensor's own strides, so a strided
// input needs no copy and 3000 Whisper frames are one plan, not 3000. Plans are cached by
// problem (kind, lengths, strides, pointer alignment) and run with the new-array execute
// functions, which FFTW allows from several threads at once; only planning and plan
// destruction go through FFTW's planner, which is not thread-safe and so runs under one
// mutex. FFTW_ESTIMATE keeps planning cheap and deterministic (no timing runs) and never
// touches the arrays, so plans are made on the caller's arrays directly.
//
// Large batches are split along their longest batch axis into one chunk per thread;
// chunk pointers can differ in alignment from the first chunk's, which is why alignment
// is part of the plan key (FFTW's rule for new-array execution).
#include <fftw3.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"

namespace emily::cpu {

namespace {

enum class Kind : std::int64_t { forward, backward, r2c, c2r };

using Dims = std::vector<fftwf_iodim64>;
using PlanHandle = std::shared_ptr<std::remove_pointer_t<fftwf_plan>>;

std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

// Destroys a plan under the planner lock; runs when the last user lets go of it, which
// may be after the cache has dropped it.
struct PlanDeleter {
  void operator()(fftwf_plan p) const {
    std::lock_guard lock(planner_mutex());
    fftwf_destroy_plan(p);
  }
};

// Enough for every shape a model uses at once; past it the cache starts over (plans in
// use stay alive through their handles).
constexpr std::size_t kMaxPlans = 256;

std::map<std::vector<std::int64_t>, PlanHandle>& plan_cache() {
  static std::map<std::vector<std::int64_t>, PlanHandle> cache;
  return cache;
}

int alignment(const void* p) {
  return fftwf_alignment_of(static_cast<float*>(const_cast<void*>(p)));
}

PlanHandle plan_for(const char* op, Kind kind, const Dims& dims, const Dims& batch, void* in,
                    void* out) {
  std::vector<std::int64_t> key = {static_cast<std::int64_t>(kind),
                                   static_cast<std::int64_t>(dims.size()), alignment(in),
                                   alignment(out)};
  for (const Dims* ds : {&dims, &batch})
    for (const auto& d : *ds) key.insert(key.end(), {d.n, d.is, d.os});

  std::map<std::vector<std::int64_t>, PlanHandle> evicted;  // destroyed after unlocking
  std::unique_lock lock(planner_mutex());
  auto& cache = plan_cache();
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const int rank = static_cast<int>(dims.size()), howmany = static_cast<int>(batch.size());
  const fftwf_iodim64* b = batch.empty() ? nullptr : batch.data();
  auto* cin = static_cast<fftwf_complex*>(in);
  auto* cout = static_cast<fftwf_complex*>(out);
  fftwf_plan p = nullptr;
  switch (kind) {
    case Kind::forward:
    case Kind::backward:
      p = fftwf_plan_guru64_dft(rank, dims.data(), howmany, b, cin, cout,
                                kind == Kind::forward ? FFTW_FORWARD : FFTW_BACKWARD,
                                FFTW_ESTIMATE);
      break;
    case Kind::r2c:
      p = fftwf_plan_guru64_dft_r2c(rank, dims.data(), howmany, b, static_cast<float*>(in), cout,
                                    FFTW_ESTIMATE);
      break;
    case Kind::c2r:
      p = fftwf_plan_guru64_dft_c2r(rank, dims.data(), howmany, b, cin, static_cast<float*>(out),
                                    FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
      break;
  }
  if (p == nullptr) {
    lock.unlock();
    EMILY_THROW(Unsupported, op, "FFTW could not plan this transform");
  }
  PlanHandle plan(p, PlanDeleter{});
  if (cache.size() >= kMaxPlans) evicted.swap(cache);
  cache.emplace(std::move(key), plan);
  lock.unlock();
  return plan;
}

void execute(Kind kind, const PlanHandle& plan, void* in, void* out) {
  auto* cin = static_cast<fftwf_complex*>(in);
  auto* cout = static_cast<fftwf_complex*>(out);
  switch (kind) {
    case Kind::forward:
    case Kind::backward:
      fftwf_execute_dft(plan.get(), cin, cout);
      break;
    case Kind::r2c:
      fftwf_execute_dft_r2c(plan.get(), static_cast<float*>(in), cout);
      break;
    case Kind::c2r:
      fftwf_execute_dft_c2r(plan.get(), cin, static_cast<float*>(out));
      break;
  }
}

// Runs the transform over `dims` for every index of the `batch` axes. Strides are in
// elements of the input and output types (itemsizes `isz`, `osz`). Batches of at least
// kParallelGrain output elements are cut along their longest batch axis, one chunk per
// thread; plans are fetched before the parallel region so that errors surface here.
void transform(const char* op, Kind kind, const Dims& dims, const Dims& batch, char* in,
               std::size_t isz, char* out, std::size_t osz, std::int64_t out_elems) {
  int split = -1;
  for (int i = 0; i < static_cast<int>(batch.size()); ++i)
    if (split < 0 || batch[i].n > batch[split].n) split = i;
  std::int64_t chunks = 1;
  if (split >= 0 && out_elems >= kParallelGrain)
    chunks = std::min<std::int64_t>(threads(), batch[split].n);
  if (chunks <= 1) {
    execute(kind, plan_for(op, kind, dims, batch, in, out), in, out);
    return;
  }
  struct Chunk {
    PlanHandle plan;
    char *in, *out;
  };
  std::vector<Chunk> work;
  const std::int64_t n = batch[split].n;
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t begin = c * n / chunks, end = (c + 1) * n / chunks;
    Dims part = batch;
    part[split].n = end - begin;
    char* i = in + begin * batch[split].is * static_cast<std::int64_t>(isz);
    char* o = out + begin * batch[split].os * static_cast<std::int64_t>(osz);
    work.push_back({plan_for(op, kind, dims, part, i, o), i, o});
  }
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
  for (std::int64_t c = 0; c < chunks; ++c) execute(kind, work[c].plan, work[c].in, work[c].out);
}

// Multiplies every element of a contiguous output by `s` (the inverse transforms' 1/n).
template <class T>
void scale(Tensor& out, float s) {
  T* p = out.data<T>();
  const std::int64_t n = out.size();
  if (n >= 2 * kParallelGrain) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) p[i] *= s;
  } else {
    for (std::int64_t i = 0; i < n; ++i) p[i] *= s;
  }
}

// FFTW dims for `axes` (transform) and the remaining axes (batch), taking lengths from
// `shape` and strides from `is` (input) and `os` (output). A length taken from the
// output differs from the input's on the real transforms' halved axis, which the caller
// patches.
void split_axes(const Shape& shape, const Strides& is, const Strides& os,
                const std::vector<int>& axes, Dims& dims, Dims& batch) {
  for (int a : axes) dims.push_back({shape[a], is[a], os[a]});
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (std::find(axes.begin(), axes.end(), d) != axes.end() || shape[d] == 1) continue;
    batch.push_back({shape[d], is[d], os[d]});
  }
}

char* bytes(const Tensor& t) {
  return static_cast<char*>(t.raw_data());
}

void c2c_kernel(Kind kind, const char* op, const Tensor& x, Tensor& y,
                const std::vector<int>& axes) {
  Dims dims, batch;
  split_axes(y.shape(), x.strides(), y.strides(), axes, dims, batch);
  transform(op, kind, dims, batch, bytes(x), sizeof(c64), bytes(y), sizeof(c64), y.size());
  if (kind == Kind::backward) {
    std::int64_t n = 1;
    for (int a : axes) n *= y.shape()[a];
    scale<c64>(y, static_cast<float>(1.0 / static_cast<double>(n)));
  }
}

void fft_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  c2c_kernel(Kind::forward, "fft", in[0], out[0], std::get<FftAttr>(attr).axes);
}

void ifft_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  c2c_kernel(Kind::backward, "ifft", in[0], out[0], std::get<FftAttr>(attr).axes);
}

// f32 input of length n on the axis, c64 output of n/2 + 1 bins.
void rfft_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  const auto& axes = std::get<FftAttr>(attr).axes;
  Dims dims, batch;
  split_axes(y.shape(), x.strides(), y.strides(), axes, dims, batch);
  dims.back().n = x.shape()[axes.back()];  // the real length, not the bins
  transform("rfft", Kind::r2c, dims, batch, bytes(x), sizeof(float), bytes(y), sizeof(c64),
            y.size());
}

// c64 input of n/2 + 1 bins on the axis, f32 output of length n. FFTW's complex-to-real
// transforms overwrite their input, so the input is first copied into a row-major
// scratch tensor (which also takes care of any input layout).
void irfft_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  const auto& axes = std::get<FftAttr>(attr).axes;
  Tensor scratch = Tensor::empty(x.shape(), DType::c64, Device::cpu());
  if (x.size() > 0) {
    c64* dst = scratch.data<c64>();
    const c64* src = x.data<c64>();
    for_each_run<2>(x.shape(), {&scratch.strides(), &x.strides()},
                    [&](const auto& off, std::int64_t len, const auto& st) {
                      for (std::int64_t i = 0; i < len; ++i)
                        dst[off[0] + i * st[0]] = src[off[1] + i * st[1]];
                    });
  }
  Dims dims, batch;
  split_axes(y.shape(), scratch.strides(), y.strides(), axes, dims, batch);
  transform("irfft", Kind::c2r, dims, batch, bytes(scratch), sizeof(c64), bytes(y), sizeof(float),
            y.size());
  scale<float>(y, static_cast<float>(1.0 / static_cast<double>(y.shape()[axes.back()])));
}

}  // namespace

void register_fft(KernelTable& t) {
  t.set(Primitive::fft, fft_kernel);
  t.set(Primitive::ifft, ifft_kernel);
  t.set(Primitive::rfft, rfft_kernel);
  t.set(Primitive::irfft, irfft_kernel);
}

}  // namespace emily::cpu
