// argmax and argmin on CUDA, and the registration of the ordering family (the scans live
// in scan.cu, sort/argsort/top_k in sort.cu).
//
// The rule is the CPU's (cpu/reduction.cpp): the first extreme wins, a NaN beats every
// number and the first NaN wins. Written as "(value, index) a comes before b" it is a
// total order, so partial results merge in any grouping and the answer never depends on
// how the work was split. Two layouts:
//  - rows: a block per output walks the reduced axis (contiguous when its stride is 1);
//  - columns: 32 adjacent outputs per block, their threads side by side (coalesced when
//    the outputs are adjacent in memory), the reduced axis split over the block's rows.
// When there are too few outputs to fill the GPU, each row is cut into parts reduced by
// separate blocks and a second kernel merges the parts.
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/ordering.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

constexpr int kMaxAxes = 8;
constexpr std::int64_t kNone = -1;  // the index of "no element seen yet"

// The kept axes of x (merged where one stride continues the other): output o reads its
// row at offset_of(o).
struct Kept {
  int ndim = 0;
  std::int64_t shape[kMaxAxes];
  std::int64_t stride[kMaxAxes];
  std::int64_t count = 1;

  __device__ std::int64_t offset_of(std::int64_t o) const {
    std::int64_t off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      off += (o % shape[d]) * stride[d];
      o /= shape[d];
    }
    return off;
  }
};

bool collect_kept(const Tensor& x, int axis, Kept& k) {
  std::vector<std::pair<std::int64_t, std::int64_t>> merged;
  for (int d = 0; d < x.ndim(); ++d) {
    const std::int64_t n = x.shape()[d], s = x.strides()[d];
    if (d == axis || n == 1) continue;
    if (!merged.empty() && merged.back().second == s * n) {
      merged.back() = {merged.back().first * n, s};
    } else {
      merged.emplace_back(n, s);
    }
  }
  if (merged.size() > static_cast<std::size_t>(kMaxAxes)) return false;
  k.ndim = static_cast<int>(merged.size());
  for (int d = 0; d < k.ndim; ++d) {
    k.shape[d] = merged[d].first;
    k.stride[d] = merged[d].second;
    k.count *= merged[d].first;
  }
  return true;
}

template <class C>
__device__ bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>)
    return v != v;
  else
    return false;
}

// __shfl_down_sync knows 32- and 64-bit words; narrower values travel widened.
template <class V>
__device__ V shuffle_down(V v, int offset) {
  if constexpr (sizeof(V) < 4)
    return static_cast<V>(__shfl_down_sync(0xffffffffu, static_cast<int>(v), offset));
  else if constexpr (std::is_integral_v<V> && sizeof(V) == 8)
    return static_cast<V>(__shfl_down_sync(0xffffffffu, static_cast<long long>(v), offset));
  else
    return __shfl_down_sync(0xffffffffu, v, offset);
}

template <class C, bool IsMax>
struct Best {
  C value{};
  std::int64_t index = kNone;

  // Folds in element i; a thread sees its elements in increasing index order, so an
  // equal value never replaces the one held.
  __device__ void take(C v, std::int64_t i) {
    if (index == kNone || (!is_nan(value) && (is_nan(v) || (IsMax ? v > value : v < value)))) {
      value = v;
      index = i;
    }
  }
  // Whether this comes before o in the total order described at the top.
  __device__ bool before(const Best& o) const {
    if (index == kNone || o.index == kNone) return o.index == kNone && index != kNone;
    const bool a = is_nan(value), b = is_nan(o.value);
    if (a || b) return a && (!b || index < o.index);
    if (IsMax ? value > o.value : value < o.value) return true;
    return value == o.value && index < o.index;
  }
  __device__ void merge(const Best& o) {
    if (o.before(*this)) *this = o;
  }
  __device__ void merge_down(int offset) {
    merge({shuffle_down(value, offset), shuffle_down(index, offset)});
  }
};

// Where a block's result goes: the output when one block covers the row, else its
// part's slot (o * parts + part) for the merge kernel.
template <class C>
struct Sink {
  std::int64_t* y;
  C* part_value;
  std::int64_t* part_index;
  int parts;

  template <class B>
  __device__ void put(std::int64_t o, int part, const B& b) const {
    if (parts == 1) {
      y[o] = b.index;
    } else {
      part_value[o * parts + part] = b.value;
      part_index[o * parts + part] = b.index;
    }
  }
};

// A part's half-open range of the reduced axis.
__device__ void part_range(std::int64_t n, int part, int parts, std::int64_t& lo,
                           std::int64_t& hi) {
  lo = n * part / parts;
  hi = n * (part + 1) / parts;
}

template <class T, bool IsMax>
__global__ void arg_rows(Kept kept, std::int64_t n, std::int64_t step, const S<T>* x,
                         Sink<typename Compute<S<T>>::type> sink) {
  using C = typename Compute<S<T>>::type;
  using B = Best<C, IsMax>;
  __shared__ C warp_value[32];
  __shared__ std::int64_t warp_index[32];
  std::int64_t lo, hi;
  part_range(n, blockIdx.y, sink.parts, lo, hi);
  const std::int64_t bd = blockDim.x;
  for (std::int64_t o = blockIdx.x; o < kept.count; o += gridDim.x) {
    const S<T>* row = x + kept.offset_of(o);
    B b;
    std::int64_t i = lo + threadIdx.x;
    // Four loads in flight per thread, folded in index order.
    for (; i + 3 * bd < hi; i += 4 * bd) {
      const C v0 = load(row[i * step]), v1 = load(row[(i + bd) * step]);
      const C v2 = load(row[(i + 2 * bd) * step]), v3 = load(row[(i + 3 * bd) * step]);
      b.take(v0, i);
      b.take(v1, i + bd);
      b.take(v2, i + 2 * bd);
      b.take(v3, i + 3 * bd);
    }
    for (; i < hi; i += bd) b.take(load(row[i * step]), i);
    for (int off = 16; off > 0; off /= 2) b.merge_down(off);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
      warp_value[warp] = b.value;
      warp_index[warp] = b.index;
    }
    __syncthreads();
    if (warp == 0) {
      b = lane < static_cast<int>(blockDim.x / 32) ? B{warp_value[lane], warp_index[lane]} : B{};
      for (int off = 16; off > 0; off /= 2) b.merge_down(off);
      if (lane == 0) sink.put(o, blockIdx.y, b);
    }
    __syncthreads();  // the shared slots are reused by the next output
  }
}

constexpr int kColRows = 8;  // blockDim.y of arg_cols

template <class T, bool IsMax>
__global__ void arg_cols(Kept kept, std::int64_t n, std::int64_t step, const S<T>* x,
                         Sink<typename Compute<S<T>>::type> sink) {
  using C = typename Compute<S<T>>::type;
  using B = Best<C, IsMax>;
  __shared__ C shared_value[kColRows][32];
  __shared__ std::int64_t shared_index[kColRows][32];
  std::int64_t lo, hi;
  part_range(n, blockIdx.y, sink.parts, lo, hi);
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (std::int64_t tile = blockIdx.x; tile * 32 < kept.count; tile += gridDim.x) {
    const std::int64_t o = tile * 32 + tx;
    B b;
    if (o < kept.count) {
      const S<T>* row = x + kept.offset_of(o);
      const std::int64_t by = blockDim.y;
      std::int64_t i = lo + ty;
      for (; i + 3 * by < hi; i += 4 * by) {
        const C v0 = load(row[i * step]), v1 = load(row[(i + by) * step]);
        const C v2 = load(row[(i + 2 * by) * step]), v3 = load(row[(i + 3 * by) * step]);
        b.take(v0, i);
        b.take(v1, i + by);
        b.take(v2, i + 2 * by);
        b.take(v3, i + 3 * by);
      }
      for (; i < hi; i += by) b.take(load(row[i * step]), i);
    }
    shared_value[ty][tx] = b.value;
    shared_index[ty][tx] = b.index;
    __syncthreads();
    if (ty == 0 && o < kept.count) {
      for (int r = 1; r < static_cast<int>(blockDim.y); ++r)
        b.merge({shared_value[r][tx], shared_index[r][tx]});
      sink.put(o, blockIdx.y, b);
    }
    __syncthreads();
  }
}

template <class C, bool IsMax>
__global__ void arg_merge_parts(std::int64_t count, int parts, const C* part_value,
                                const std::int64_t* part_index, std::int64_t* y) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t o = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; o < count;
       o += step) {
    Best<C, IsMax> b;
    for (int p = 0; p < parts; ++p) b.merge({part_value[o * parts + p], part_index[o * parts + p]});
    y[o] = b.index;
  }
}

// Blocks enough to keep every SM busy; rows shorter than kMinPart stay whole.
constexpr std::int64_t kWantBlocks = 1024;
constexpr std::int64_t kMinPart = 4096;

template <bool IsMax>
void arg_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const Tensor& x = in[0];
  if (out[0].size() == 0) return;
  const int axis = std::get<AxisAttr>(attr).axis;
  const Primitive p = IsMax ? Primitive::argmax : Primitive::argmin;
  const char* op = IsMax ? "argmax" : "argmin";
  Kept kept;
  if (!collect_kept(x, axis, kept)) return run_on_cpu(p, in, out, attr);
  const std::int64_t n = x.shape()[axis], step = x.strides()[axis];
  // Columns when neighbouring outputs are neighbours in memory and the reduced axis is
  // not (a reduction over a leading axis), or when rows are too short to give a block
  // each; rows otherwise.
  const bool adjacent_outputs = kept.ndim > 0 && kept.stride[kept.ndim - 1] == 1;
  const bool columns = n <= 16 || (step != 1 && adjacent_outputs && kept.count >= 32);
  const std::int64_t base_blocks = columns ? (kept.count + 31) / 32 : kept.count;
  const std::int64_t parts = std::clamp<std::int64_t>(
      std::min(kWantBlocks / std::max<std::int64_t>(base_blocks, 1), n / kMinPart), 1, 1024);
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, c64>) {  // the op layer rejects complex
      using C = typename Compute<S<T>>::type;
      Sink<C> sink{out[0].data<std::int64_t>(), nullptr, nullptr, static_cast<int>(parts)};
      Tensor part_value, part_index;
      if (parts > 1) {
        part_value = Tensor::empty({kept.count * parts * static_cast<std::int64_t>(sizeof(C))},
                                   DType::u8, x.device());
        part_index = Tensor::empty({kept.count * parts}, DType::s64, x.device());
        sink.part_value = static_cast<C*>(part_value.raw_data());
        sink.part_index = part_index.data<std::int64_t>();
      }
      const auto* px = static_cast<const S<T>*>(x.raw_data());
      const dim3 grid(static_cast<unsigned>(std::min<std::int64_t>(base_blocks, 65535)),
                      static_cast<unsigned>(parts));
      if (columns) {
        const dim3 block(32, static_cast<unsigned>(std::min<std::int64_t>(n, kColRows)));
        arg_cols<T, IsMax><<<grid, block, 0, stream(s)>>>(kept, n, step, px, sink);
      } else {
        const std::int64_t len = n / parts;
        const int threads = len >= 256 ? 256 : len > 64 ? 128 : 32;
        arg_rows<T, IsMax><<<grid, threads, 0, stream(s)>>>(kept, n, step, px, sink);
      }
      check_launch(op);
      if (parts > 1) {
        const auto blocks =
            static_cast<unsigned>(std::min<std::int64_t>((kept.count + 255) / 256, 65535));
        arg_merge_parts<C, IsMax><<<blocks, 256, 0, stream(s)>>>(
            kept.count, static_cast<int>(parts), sink.part_value, sink.part_index, sink.y);
        check_launch(op);
      }
    }
  });
}

}  // namespace

void register_ordering(KernelTable& t) {
  t.set(Primitive::argmax, arg_kernel<true>);
  t.set(Primitive::argmin, arg_kernel<false>);
  register_scans(t);
  register_sorts(t);
}

}  // namespace emily::cuda
