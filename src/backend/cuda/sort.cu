// sort, argsort and top_k on CUDA. The input arrives contiguous, seen as (outer, n, inner)
// around the sorted axis: lines = outer * inner lines of n elements.
//
// Every line is sorted stably by an unsigned key whose order is the CPU's order
// (cpu/sort.cpp): floats by value with -0.0 folded onto 0.0 and every NaN above +inf,
// signed integers with the sign bit flipped; descending sorts complement the key, so that
// NaN comes first and equal values still keep their index order. top_k is the first k of
// the stable descending order: largest first, NaN above all, ties by index, which is the
// CPU's answer. The key has the element's own width (f16 sorts 16-bit keys), so a radix
// sort makes as few passes as the dtype allows. Values are then read back from the input
// by index (never decoded from keys: -0.0 and NaN payloads survive).
//  - Lines up to kBlockSortMax: one block per line, cub::BlockRadixSort in shared memory,
//    keys made and results written by the same kernel.
//  - Longer lines: keys and indices in scratch, one cub::DeviceRadixSort over all lines
//    at once with the line number above the key bits (stable, so lines stay apart and
//    ties keep their order), or cub::DeviceSegmentedRadixSort where 64-bit keys leave no
//    room for the line; a last kernel gathers the results.
#include <cub/block/block_radix_sort.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/ordering.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

template <std::size_t W>
using uint_of = std::conditional_t<
    W == 1, std::uint8_t,
    std::conditional_t<W == 2, std::uint16_t,
                       std::conditional_t<W == 4, std::uint32_t, std::uint64_t>>>;

template <class T>
using key_t = uint_of<sizeof(S<T>)>;

template <class T>
__device__ key_t<T> order_key(S<T> v, bool descending) {
  using K = key_t<T>;
  constexpr K top = K(1) << (sizeof(K) * 8 - 1);
  K key;
  if constexpr (std::is_floating_point_v<typename Compute<S<T>>::type>) {
    const auto f = load(v);
    if (f != f) {
      key = ~K(0);
    } else if (f == 0) {
      key = top;  // +0.0 and -0.0 alike
    } else {
      K bits;
      memcpy(&bits, &v, sizeof(K));
      key = (bits & top) ? K(~bits) : K(bits | top);
    }
  } else if constexpr (std::is_signed_v<T>) {
    key = static_cast<K>(v) ^ top;
  } else {
    key = static_cast<K>(v);
  }
  return descending ? K(~key) : key;
}

// Lines of n in the input and of len (n, or k for top_k) in the outputs.
struct Lines {
  std::int64_t n, len, inner, lines;
  __device__ std::int64_t in_base(std::int64_t l) const {
    return (l / inner) * n * inner + l % inner;
  }
  __device__ std::int64_t out_base(std::int64_t l) const {
    return (l / inner) * len * inner + l % inner;
  }
};

// Where the results go: values (sort, top_k) and indices (argsort, top_k), either null.
template <class St>
struct Results {
  St* values;
  std::int64_t* indices;
};

template <class T, int Threads, int Items>
__global__ void __launch_bounds__(Threads)
    sort_in_blocks(Lines L, bool descending, const S<T>* x, Results<S<T>> out) {
  using K = key_t<T>;
  using Sort = cub::BlockRadixSort<K, Threads, Items, int>;
  __shared__ typename Sort::TempStorage temp;
  for (std::int64_t l = blockIdx.x; l < L.lines; l += gridDim.x) {
    const std::int64_t in0 = L.in_base(l), out0 = L.out_base(l);
    // Blocked: thread t holds positions t * Items + i, the order stability refers to.
    // Positions past the end take the largest key and so stay behind every element.
    K keys[Items];
    int index[Items];
    for (int i = 0; i < Items; ++i) {
      const int p = threadIdx.x * Items + i;
      index[i] = p;
      keys[i] = p < L.n ? order_key<T>(x[in0 + p * L.inner], descending) : K(~K(0));
    }
    Sort(temp).SortBlockedToStriped(keys, index);
    // Striped: rank r = i * Threads + t, so neighbouring threads write neighbours.
    for (int i = 0; i < Items; ++i) {
      const std::int64_t r = std::int64_t{i} * Threads + threadIdx.x;
      if (r >= L.len) continue;
      const std::int64_t at = out0 + r * L.inner;
      if (out.values) out.values[at] = x[in0 + index[i] * L.inner];
      if (out.indices) out.indices[at] = index[i];
    }
    __syncthreads();  // temp is reused by the next line
  }
}

constexpr std::int64_t kBlockSortMax = 4096;

// Key and position of every element, line after line; with line_shift > 0 the line
// number sits above the key bits.
template <class T, class K>
__global__ void make_keys(Lines L, bool descending, int line_shift, const S<T>* x, K* keys,
                          int* index) {
  const std::int64_t total = L.lines * L.n;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += step) {
    const std::int64_t l = i / L.n, p = i % L.n;
    K key = order_key<T>(x[L.in_base(l) + p * L.inner], descending);
    if (line_shift) key |= static_cast<K>(l) << line_shift;
    keys[i] = key;
    index[i] = static_cast<int>(p);
  }
}

// Output element (line l, rank r) takes the element at sorted position l * n + r.
template <std::size_t W>
__global__ void gather_sorted(Lines L, const Word<W>* x, const int* order, Word<W>* values,
                              std::int64_t* indices) {
  const std::int64_t total = L.lines * L.len;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += step) {
    // i runs over the output row-major: (o, r, j) with l = o * inner + j.
    const std::int64_t j = i % L.inner, q = i / L.inner;
    const std::int64_t r = q % L.len, o = q / L.len;
    const std::int64_t l = o * L.inner + j;
    const int src = order[l * L.n + r];
    if (values) values[i] = x[o * L.n * L.inner + src * L.inner + j];
    if (indices) indices[i] = src;
  }
}

__global__ void line_offsets(std::int64_t lines, std::int64_t n, int* offsets) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t l = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       l <= lines; l += step)
    offsets[l] = static_cast<int>(l * n);
}

unsigned blocks_for(std::int64_t items, int threads) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((items + threads - 1) / threads, 1, 65535));
}

Tensor scratch(std::int64_t bytes, Device device) {
  return Tensor::empty({std::max<std::int64_t>(bytes, 1)}, DType::u8, device);
}

template <class T>
void sort_typed(const Tensor& x, const Lines& L, bool descending, Results<S<T>> out, Stream s,
                const char* op) {
  cudaStream_t cs = stream(s);
  const auto* px = static_cast<const S<T>*>(x.raw_data());
  const auto lines = static_cast<unsigned>(std::min<std::int64_t>(L.lines, 65535));
  if (L.n <= 32) {
    sort_in_blocks<T, 32, 1><<<lines, 32, 0, cs>>>(L, descending, px, out);
    return check_launch(op);
  }
  if (L.n <= 128) {
    sort_in_blocks<T, 32, 4><<<lines, 32, 0, cs>>>(L, descending, px, out);
    return check_launch(op);
  }
  if (L.n <= 1024) {
    sort_in_blocks<T, 128, 8><<<lines, 128, 0, cs>>>(L, descending, px, out);
    return check_launch(op);
  }
  if (L.n <= kBlockSortMax) {
    sort_in_blocks<T, 512, 8><<<lines, 512, 0, cs>>>(L, descending, px, out);
    return check_launch(op);
  }
  using K = key_t<T>;
  constexpr int kKeyBits = sizeof(K) * 8;
  const std::int64_t total = L.lines * L.n;
  const int line_bits = L.lines > 1 ? std::bit_width(static_cast<std::uint64_t>(L.lines - 1)) : 0;
  const Device device = x.device();
  Tensor index_in = scratch(total * 4, device), index_out = scratch(total * 4, device);
  auto* iin = static_cast<int*>(index_in.raw_data());
  auto* iout = static_cast<int*>(index_out.raw_data());
  auto sort_keys = [&]<class Key>(bool segmented) {
    Tensor keys_in = scratch(total * sizeof(Key), device);
    Tensor keys_out = scratch(total * sizeof(Key), device);
    auto* kin = static_cast<Key*>(keys_in.raw_data());
    auto* kout = static_cast<Key*>(keys_out.raw_data());
    const int shift = segmented || L.lines == 1 ? 0 : kKeyBits;
    make_keys<T, Key><<<blocks_for(total, 256), 256, 0, cs>>>(L, descending, shift, px, kin, iin);
    check_launch(op);
    const int end_bit = shift ? kKeyBits + line_bits : kKeyBits;
    std::size_t bytes = 0;
    if (!segmented) {
      check(cub::DeviceRadixSort::SortPairs(nullptr, bytes, kin, kout, iin, iout, total, 0, end_bit,
                                            cs),
            op, "radix sort");
      Tensor temp = scratch(static_cast<std::int64_t>(bytes), device);
      check(cub::DeviceRadixSort::SortPairs(temp.raw_data(), bytes, kin, kout, iin, iout, total, 0,
                                            end_bit, cs),
            op, "radix sort");
      return;
    }
    Tensor offsets = scratch((L.lines + 1) * 4, device);
    auto* off = static_cast<int*>(offsets.raw_data());
    line_offsets<<<blocks_for(L.lines + 1, 256), 256, 0, cs>>>(L.lines, L.n, off);
    check_launch(op);
    const int count = static_cast<int>(total), segments = static_cast<int>(L.lines);
    check(cub::DeviceSegmentedRadixSort::SortPairs(nullptr, bytes, kin, kout, iin, iout, count,
                                                   segments, off, off + 1, 0, kKeyBits, cs),
          op, "segmented radix sort");
    Tensor temp = scratch(static_cast<std::int64_t>(bytes), device);
    check(cub::DeviceSegmentedRadixSort::SortPairs(temp.raw_data(), bytes, kin, kout, iin, iout,
                                                   count, segments, off, off + 1, 0, kKeyBits, cs),
          op, "segmented radix sort");
  };
  if (L.lines == 1)
    sort_keys.template operator()<K>(false);
  else if (kKeyBits + line_bits <= 64)
    sort_keys.template operator()<std::uint64_t>(false);
  else
    sort_keys.template operator()<K>(true);
  using W = Word<sizeof(S<T>)>;
  gather_sorted<sizeof(S<T>)><<<blocks_for(L.lines * L.len, 256), 256, 0, cs>>>(
      L, reinterpret_cast<const W*>(px), iout, reinterpret_cast<W*>(out.values), out.indices);
  check_launch(op);
}

enum class Output { values, indices, top_k };

template <Output O>
void order_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  constexpr Primitive p = O == Output::values    ? Primitive::sort
                          : O == Output::indices ? Primitive::argsort
                                                 : Primitive::top_k;
  const Tensor& x = in[0];
  if (out[0].size() == 0) return;  // nothing to sort, or k = 0
  int axis;
  bool descending = true;
  if constexpr (O == Output::top_k) {
    axis = std::get<AxisAttr>(attr).axis;
  } else {
    axis = std::get<SortAttr>(attr).axis;
    descending = std::get<SortAttr>(attr).descending;
  }
  Lines L{x.shape()[axis], out[0].shape()[axis], 1, 1};
  for (int d = axis + 1; d < x.ndim(); ++d) L.inner *= x.shape()[d];
  L.lines = x.size() / L.n;
  // Positions travel as 32-bit ints (and the segmented sort counts in int): longer
  // lines, and inputs not laid out as the op layer promises, go to the CPU.
  const std::int64_t limit = std::numeric_limits<int>::max();
  if (!x.is_contiguous() || L.n > limit || (L.n > kBlockSortMax && x.size() > limit))
    return run_on_cpu(p, in, out, attr);
  bool done = false;
  visit_dtype(x.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, c64>) {  // the op layer rejects complex
      Results<S<T>> r{nullptr, nullptr};
      if (O != Output::indices) r.values = static_cast<S<T>*>(out[0].raw_data());
      if (O == Output::indices) r.indices = out[0].data<std::int64_t>();
      if (O == Output::top_k) r.indices = out[1].data<std::int64_t>();
      sort_typed<T>(x, L, descending, r, s, name(p).data());
      done = true;
    }
  });
  if (!done) run_on_cpu(p, in, out, attr);
}

}  // namespace

void register_sorts(KernelTable& t) {
  t.set(Primitive::sort, order_kernel<Output::values>);
  t.set(Primitive::argsort, order_kernel<Output::indices>);
  t.set(Primitive::top_k, order_kernel<Output::top_k>);
}

}  // namespace emily::cuda
