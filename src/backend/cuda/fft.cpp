// fft, ifft, rfft and irfft on CUDA through cuFFT, with the CPU's conventions
// (src/backend/cpu/fft.cpp): unnormalised forward transforms, inverse transforms scaled
// by 1/n in f32 afterwards, complex-to-real reading only the n/2 + 1 bins.
//
// One kernel call is one cuFFT plan per pass: the transform axes become cuFFT's `n`
// (cuFFT plans at most three axes, so more axes run as several passes over the output)
// and every other axis the batch. cuFFT's advanced layout addresses element (b, i, j, k)
// of a side at b * dist + ((i * embed[1] + j) * embed[2] + k) * stride, so a side whose
// transform axes nest that way and whose batch axes collapse to one stride is read or
// written in place: the last axis of a contiguous tensor, a column of a matrix, a
// crop's view. Any other side goes through a scratch copy laid out batch-major with the
// transform axes last. cuFFT's complex-to-real transforms overwrite their input, so
// irfft always reads a scratch copy.
//
// Plans are cached by device and problem (kind, lengths, both layouts, batch) and made
// without cuFFT's own work area: each call takes one from the stream-ordered pool and
// binds it, with the stream, under the plan's lock just before the (asynchronous)
// execution, so one plan serves several streams and threads.
#include <cufft.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/cuda/kernels.h"
#include "backend/cuda/math_helpers.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

enum class Kind { forward, inverse, r2c, c2r };

void check_fft(cufftResult status, const char* op, const char* what) {
  if (status != CUFFT_SUCCESS)
    EMILY_THROW(Error, op, what, " failed with cuFFT status ", static_cast<int>(status));
}

// One side of a transform as cuFFT's advanced layout describes it.
struct Side {
  long long embed[3] = {1, 1, 1};
  long long stride = 1, dist = 1;
};

// `t`'s layout over transform axes `axes` (its own lengths) and the remaining batch
// axes, or false when cuFFT cannot address it directly.
bool describe(const Tensor& t, const std::vector<int>& axes, Side& side) {
  const int r = static_cast<int>(axes.size());
  long long v[3];  // the stride each transform axis is read with (free for length 1)
  for (int j = r - 1; j >= 0; --j) {
    const long long len = t.shape()[axes[j]];
    const long long inner = j == r - 1 ? 1 : v[j + 1] * t.shape()[axes[j + 1]];
    v[j] = len == 1 ? inner : t.strides()[axes[j]];
    if (v[j] <= 0) return false;
  }
  for (int j = 0; j + 1 < r; ++j) {
    if (v[j] % v[j + 1] != 0 || v[j] / v[j + 1] < t.shape()[axes[j + 1]]) return false;
    side.embed[j + 1] = v[j] / v[j + 1];
  }
  side.embed[0] = t.shape()[axes[0]];
  side.stride = v[r - 1];
  // Batch axes, outer to inner, merged where one continues the other: at most one may
  // remain (cuFFT's dist), and it must move forward.
  std::vector<std::pair<long long, long long>> batch;  // (length, stride)
  for (int d = 0; d < t.ndim(); ++d) {
    if (t.shape()[d] == 1 || std::find(axes.begin(), axes.end(), d) != axes.end()) continue;
    const long long n = t.shape()[d], s = t.strides()[d];
    if (!batch.empty() && batch.back().second == s * n) {
      batch.back() = {batch.back().first * n, s};
    } else {
      batch.emplace_back(n, s);
    }
  }
  if (batch.size() > 1 || (batch.size() == 1 && batch[0].second <= 0)) return false;
  side.dist = batch.empty() ? side.embed[0] * v[0] : batch[0].second;
  return true;
}

// A fresh tensor with `t`'s shape stored batch-major with `axes` innermost (in order),
// a layout describe() always accepts; `t`'s values copied in when `fill`.
Tensor canonical(const Tensor& t, const std::vector<int>& axes, bool fill, Stream s,
                 const char* op) {
  std::vector<int> order;
  for (int d = 0; d < t.ndim(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) order.push_back(d);
  order.insert(order.end(), axes.begin(), axes.end());
  Shape stored;
  for (int d : order) stored.push_back(t.shape()[d]);
  Tensor buf = Tensor::empty(stored, t.dtype(), t.device());
  Strides st(t.ndim());
  for (std::size_t j = 0; j < order.size(); ++j) st[order[j]] = buf.strides()[j];
  Tensor view = buf.with_layout(t.dtype(), t.shape(), st, 0);
  if (fill) copy_strided(view, t, s, op);
  return view;
}

struct Plan {
  cufftHandle handle = 0;
  std::size_t work = 0;
  std::mutex mutex;
  ~Plan() { cufftDestroy(handle); }
};

// Enough for every shape a model uses at once; past it the cache starts over (plans in
// use stay alive through their handles).
constexpr std::size_t kMaxPlans = 256;

std::shared_ptr<Plan> plan_for(const char* op, int device, Kind kind, int rank, long long* n,
                               Side& is, Side& os, long long batch) {
  std::vector<long long> key = {device, static_cast<long long>(kind), rank, batch};
  for (int j = 0; j < rank; ++j) key.push_back(n[j]);
  for (const Side* side : {&is, &os}) {
    key.insert(key.end(), {side->stride, side->dist});
    for (int j = 1; j < rank; ++j) key.push_back(side->embed[j]);
  }
  // Never destroyed: plans must not outlive CUDA at exit.
  static std::mutex m;
  static auto& cache = *new std::map<std::vector<long long>, std::shared_ptr<Plan>>();
  std::lock_guard lock(m);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto plan = std::make_shared<Plan>();
  check_fft(cufftCreate(&plan->handle), op, "cufftCreate");
  check_fft(cufftSetAutoAllocation(plan->handle, 0), op, "cufftSetAutoAllocation");
  const cufftType type = kind == Kind::r2c ? CUFFT_R2C : kind == Kind::c2r ? CUFFT_C2R : CUFFT_C2C;
  check_fft(cufftMakePlanMany64(plan->handle, rank, n, is.embed, is.stride, is.dist, os.embed,
                                os.stride, os.dist, type, batch, &plan->work),
            op, "cufftMakePlanMany64");
  if (cache.size() >= kMaxPlans) cache.clear();
  cache.emplace(std::move(key), plan);
  return plan;
}

// One cuFFT execution over `axes` (at most three) from `src` into `dst` (which may be
// the same tensor, for later passes of a c2c transform).
void pass(const char* op, Kind kind, const Tensor& src, const Tensor& dst,
          const std::vector<int>& axes, Stream s) {
  cudaStream_t cs = stream(s);  // also makes the device current for planning
  const int rank = static_cast<int>(axes.size());
  long long n[3];
  const Tensor& real_side = kind == Kind::c2r ? dst : src;  // lengths are the real ones
  for (int j = 0; j < rank; ++j) n[j] = real_side.shape()[axes[j]];
  long long batch = 1;
  for (int d = 0; d < dst.ndim(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) batch *= dst.shape()[d];

  Side is, os;
  Tensor in = src;
  if (kind == Kind::c2r || !describe(in, axes, is)) {
    in = canonical(src, axes, true, s, op);
    describe(in, axes, is);
  }
  Tensor out = dst;
  const bool copy_out = !describe(out, axes, os);
  if (copy_out) {
    out = canonical(dst, axes, false, s, op);
    describe(out, axes, os);
  }

  auto plan = plan_for(op, dst.device().index, kind, rank, n, is, os, batch);
  Tensor work;
  if (plan->work > 0)
    work = Tensor::empty({static_cast<std::int64_t>(plan->work)}, DType::u8, dst.device());
  {
    std::lock_guard lock(plan->mutex);
    check_fft(cufftSetStream(plan->handle, cs), op, "cufftSetStream");
    if (work.defined())
      check_fft(cufftSetWorkArea(plan->handle, work.raw_data()), op, "cufftSetWorkArea");
    void* i = in.raw_data();
    void* o = out.raw_data();
    cufftResult r = CUFFT_SUCCESS;
    switch (kind) {
      case Kind::forward:
      case Kind::inverse:
        r = cufftExecC2C(plan->handle, static_cast<cufftComplex*>(i), static_cast<cufftComplex*>(o),
                         kind == Kind::forward ? CUFFT_FORWARD : CUFFT_INVERSE);
        break;
      case Kind::r2c:
        r = cufftExecR2C(plan->handle, static_cast<cufftReal*>(i), static_cast<cufftComplex*>(o));
        break;
      case Kind::c2r:
        r = cufftExecC2R(plan->handle, static_cast<cufftComplex*>(i), static_cast<cufftReal*>(o));
        break;
    }
    check_fft(r, op, "cufftExec");
  }
  if (copy_out) copy_strided(dst, out, s, op);
}

void transform(const char* op, Kind kind, const Tensor& x, Tensor& y, const std::vector<int>& axes,
               Stream s) {
  // A transform of length 1 is the identity: such axes are left out (cuFFT need not plan
  // them), and a real transform of length 1 is a conversion.
  std::vector<int> live;
  for (int a : axes)
    if (y.shape()[a] > 1 || x.shape()[a] > 1) live.push_back(a);
  if (kind == Kind::r2c || kind == Kind::c2r) {
    if (live.empty()) {
      return kind == Kind::r2c ? real_to_complex(y, x, s, op) : real_part(y, x, s, op);
    }
    live = axes;  // the halved axis must stay last
  } else if (live.empty()) {
    return copy_strided(y, x, s, op);
  }
  // Passes of at most three axes, innermost group first; later passes run in place on y.
  const int r = static_cast<int>(live.size());
  bool first = true;
  for (int end = r; end > 0; end -= 3) {
    const std::vector<int> group(live.begin() + std::max(0, end - 3), live.begin() + end);
    pass(op, kind, first ? x : y, y, group, s);
    first = false;
  }
  if (kind == Kind::inverse || kind == Kind::c2r) {
    std::int64_t n = 1;
    for (int a : axes) n *= y.shape()[a];
    // As on the CPU: the factor rounded to f32 once, then one multiply per float.
    const double factor = static_cast<float>(1.0 / static_cast<double>(n));
    scale(y.raw_data(), kind == Kind::c2r ? y.size() : 2 * y.size(), factor, false, s, op);
  }
}

template <Kind K>
void fft_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr const char* op = K == Kind::forward   ? "fft"
                             : K == Kind::inverse ? "ifft"
                             : K == Kind::r2c     ? "rfft"
                                                  : "irfft";
  const auto& axes = std::get<FftAttr>(attr).axes;
  // rfft and irfft transform one axis; more (which the op layer never sends) would need
  // real passes that cuFFT's complex-to-complex passes cannot follow.
  if ((K == Kind::r2c || K == Kind::c2r) && axes.size() > 3) {
    constexpr Primitive p = K == Kind::r2c ? Primitive::rfft : Primitive::irfft;
    return run_on_cpu(p, in, out, attr);
  }
  transform(op, K, in[0], out[0], axes, s);
}

}  // namespace

void register_fft(KernelTable& t) {
  t.set(Primitive::fft, fft_kernel<Kind::forward>);
  t.set(Primitive::ifft, fft_kernel<Kind::inverse>);
  t.set(Primitive::rfft, fft_kernel<Kind::r2c>);
  t.set(Primitive::irfft, fft_kernel<Kind::c2r>);
}

}  // namespace emily::cuda
