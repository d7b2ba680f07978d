// Reductions on CUDA: sum product max min all any. The output arrives in keep-dims form;
// one block reduces one output element (a grid-stride loop over outputs): its threads
// walk the reduced index range (axes merged where memory allows, so a last-axis
// reduction reads contiguously), then combine through warp shuffles and shared memory.
// Accumulators follow the CPU kernels: integer sums and products wrap in 64 bits,
// f16/bf16 accumulate in f32, max/min propagate NaN. Complex runs on the CPU.
#include <algorithm>
#include <vector>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/runtime.h"
#include "emily/tensor.h"

namespace emily::cuda {

namespace {

constexpr int kMaxDims = 8;

struct Axes {
  int ndim = 0;
  std::int64_t shape[kMaxDims];
  std::int64_t stride[kMaxDims];
  std::int64_t count = 1;
};

__device__ std::int64_t offset_of(const Axes& a, std::int64_t i) {
  std::int64_t off = 0;
  for (int d = a.ndim - 1; d >= 0; --d) {
    off += (i % a.shape[d]) * a.stride[d];
    i /= a.shape[d];
  }
  return off;
}

// Axes in order, size-1 axes dropped, neighbours merged where one stride continues the
// other. False when more than kMaxDims remain.
bool collect(const std::vector<std::pair<std::int64_t, std::int64_t>>& axes, Axes& out) {
  std::vector<std::pair<std::int64_t, std::int64_t>> merged;
  for (auto [n, s] : axes) {
    if (n == 1) continue;
    if (!merged.empty() && merged.back().second == s * n) {
      merged.back().first *= n;
      merged.back().second = s;
    } else {
      merged.emplace_back(n, s);
    }
  }
  if (merged.size() > static_cast<std::size_t>(kMaxDims)) return false;
  out.ndim = static_cast<int>(merged.size());
  out.count = 1;
  for (int d = 0; d < out.ndim; ++d) {
    out.shape[d] = merged[d].first;
    out.stride[d] = merged[d].second;
    out.count *= merged[d].first;
  }
  return true;
}

template <class T>
using sum_acc_t =
    std::conditional_t<std::is_integral_v<T>, unsigned long long, typename Compute<S<T>>::type>;

template <class T>
struct SumOp {
  using acc = sum_acc_t<T>;
  __device__ static acc identity() { return acc(0); }
  __device__ static acc enter(S<T> x) {
    if constexpr (std::is_same_v<T, bool>)
      return x ? 1ull : 0ull;
    else if constexpr (std::is_integral_v<T>)  // sign-extend, then wrap mod 2^64
      return static_cast<unsigned long long>(static_cast<long long>(x));
    else
      return load(x);
  }
  __device__ static acc combine(acc a, acc b) { return a + b; }
};
template <class T>
struct ProductOp : SumOp<T> {
  using acc = sum_acc_t<T>;
  __device__ static acc identity() { return acc(1); }
  __device__ static acc combine(acc a, acc b) { return a * b; }
};
template <class T, bool IsMax>
struct ExtremumOp {
  using acc = std::conditional_t<std::is_same_v<T, bool>, bool, typename Compute<S<T>>::type>;
  __device__ static acc identity() {
    if constexpr (std::is_same_v<T, bool>)
      return !IsMax;
    else if constexpr (std::numeric_limits<acc>::has_infinity)
      return IsMax ? -std::numeric_limits<acc>::infinity() : std::numeric_limits<acc>::infinity();
    else
      return IsMax ? std::numeric_limits<acc>::lowest() : std::numeric_limits<acc>::max();
  }
  __device__ static acc enter(S<T> x) { return load(x); }
  // NaN wins from either side.
  __device__ static acc combine(acc a, acc b) {
    if constexpr (IsMax)
      return (b > a || b != b) ? b : a;
    else
      return (b < a || b != b) ? b : a;
  }
};
template <class T, bool IsAll>
struct LogicalOp {
  using acc = bool;
  __device__ static acc identity() { return IsAll; }
  __device__ static acc enter(S<T> x) { return load(x) != decltype(load(x))(0); }
  __device__ static acc combine(acc a, acc b) { return IsAll ? (a && b) : (a || b); }
};

template <class A>
__device__ A shuffle_down(A v, int offset) {
  if constexpr (std::is_same_v<A, bool>)
    return __shfl_down_sync(0xffffffffu, static_cast<int>(v), offset) != 0;
  else
    return __shfl_down_sync(0xffffffffu, v, offset);
}

template <class Op, class In, class Out>
__global__ void reduce_kernel(Axes kept, Axes reduced, const In* x, Out* y) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  using A = typename Op::acc;
  __shared__ A partial[32];
  for (std::int64_t o = blockIdx.x; o < kept.count; o += gridDim.x) {
    const std::int64_t base = offset_of(kept, o);
    A acc = Op::identity();
    if (reduced.ndim <= 1) {
      // One reduced axis (the common case): no index division per element.
      // Four independent accumulators keep four loads in flight per thread (one chain
      // of dependent adds would leave the loop waiting on memory latency).
      const std::int64_t step = reduced.ndim ? reduced.stride[0] : 0, bd = blockDim.x;
      A a1 = Op::identity(), a2 = Op::identity(), a3 = Op::identity();
      std::int64_t r = threadIdx.x;
      for (; r + 3 * bd < reduced.count; r += 4 * bd) {
        acc = Op::combine(acc, Op::enter(x[base + r * step]));
        a1 = Op::combine(a1, Op::enter(x[base + (r + bd) * step]));
        a2 = Op::combine(a2, Op::enter(x[base + (r + 2 * bd) * step]));
        a3 = Op::combine(a3, Op::enter(x[base + (r + 3 * bd) * step]));
      }
      for (; r < reduced.count; r += bd) acc = Op::combine(acc, Op::enter(x[base + r * step]));
      acc = Op::combine(Op::combine(acc, a1), Op::combine(a2, a3));
    } else {
      for (std::int64_t r = threadIdx.x; r < reduced.count; r += blockDim.x)
        acc = Op::combine(acc, Op::enter(x[base + offset_of(reduced, r)]));
    }
    for (int off = 16; off > 0; off /= 2) acc = Op::combine(acc, shuffle_down(acc, off));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : Op::identity();
      for (int off = 16; off > 0; off /= 2) acc = Op::combine(acc, shuffle_down(acc, off));
      if (lane == 0) y[o] = store<Out>(acc);
    }
    __syncthreads();  // partial[] is reused by the next output
  }
}

template <template <class> class OpOf>
void reduce(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
            Stream s) {
  const Tensor& x = in[0];
  const auto& axes = std::get<AxesAttr>(attr).axes;
  std::vector<std::pair<std::int64_t, std::int64_t>> kept_axes, reduced_axes;
  for (int d = 0; d < x.ndim(); ++d) {
    const bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
    (r ? reduced_axes : kept_axes).emplace_back(x.shape()[d], x.strides()[d]);
  }
  Axes kept, reduced;
  const bool ok = collect(kept_axes, kept) && collect(reduced_axes, reduced);
  bool done = false;
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, c64>) {
      if (!ok) return;
      using Op = typename OpOf<T>::type;
      auto launch = [&]<class R>() {
        const int threads = reduced.count >= 256 ? 256 : reduced.count > 64 ? 128 : 32;
        const auto blocks = static_cast<unsigned>(std::min<std::int64_t>(kept.count, 65535));
        launch_dependent(name(p).data(), reduce_kernel<Op, S<T>, S<R>>, dim3(blocks), dim3(threads),
                         0, stream(s), kept, reduced, static_cast<const S<T>*>(x.raw_data()),
                         static_cast<S<R>*>(out[0].raw_data()));
        done = true;
      };
      using R = typename OpOf<T>::result;
      if (out[0].dtype() == dtype_v<R>) {
        launch.template operator()<R>();
      } else if constexpr (std::is_same_v<R, f16> || std::is_same_v<R, bf16>) {
        // mean keeps an f16/bf16 sum in f32 (the accumulator, unrounded).
        if (out[0].dtype() == DType::f32) launch.template operator()<float>();
      }
    }
  });
  if (!done) run_on_cpu(p, in, out, attr);
}

// The result dtype of each reduction (as the op layer chooses it): integer sums and
// products widen to 64 bits, everything else keeps its dtype, all/any give bool.
template <class T>
using wide_t =
    std::conditional_t<std::is_integral_v<T>,
                       std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>,
                                          std::uint64_t, std::int64_t>,
                       T>;

template <class T>
struct Sum {
  using type = SumOp<T>;
  using result = wide_t<T>;
};
template <class T>
struct Product {
  using type = ProductOp<T>;
  using result = wide_t<T>;
};
template <class T>
struct Max {
  using type = ExtremumOp<T, true>;
  using result = T;
};
template <class T>
struct Min {
  using type = ExtremumOp<T, false>;
  using result = T;
};
template <class T>
struct All {
  using type = LogicalOp<T, true>;
  using result = bool;
};
template <class T>
struct Any {
  using type = LogicalOp<T, false>;
  using result = bool;
};

}  // namespace

void register_reduction(KernelTable& t) {
#define EMILY_REDUCE(prim, Op)                                                                \
  t.set(Primitive::prim, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, \
                            Stream s) { reduce<Op>(Primitive::prim, in, out, a, s); });
  EMILY_REDUCE(sum, Sum)
  EMILY_REDUCE(product, Product)
  EMILY_REDUCE(max, Max)
  EMILY_REDUCE(min, Min)
  EMILY_REDUCE(all, All)
  EMILY_REDUCE(any, Any)
#undef EMILY_REDUCE
}

}  // namespace emily::cuda
