// cumulative_sum/product/max/min on CUDA. The input arrives contiguous in the output's
// dtype (the op layer widens integer sums and products to 64 bits), seen as
// (outer, n, inner) around the scanned axis: lines = outer * inner lines of n elements,
// element k of line l at (l / inner) * n * inner + l % inner + k * inner.
//
// Accumulators are the CPU's (cpu/scan.cpp): integers wrap (in unsigned arithmetic),
// f16/bf16 accumulate in f32 and round each output once, max/min keep a NaN once seen
// and keep the earlier of equal values. Two designs:
//  - serial: a thread walks a line in order (neighbouring threads take neighbouring
//    lines, so with inner > 1 every step reads a coalesced row); this is the CPU's order
//    exactly. Used for short lines and for many lines across a leading axis.
//  - tiles: a block scans a line in tiles of kBlock * items (cub::BlockScan, a running
//    prefix carried from tile to tile), loading and storing striped (coalesced) through
//    cub::BlockExchange. When lines are too few to fill the GPU, each line is cut into
//    chunks: one pass reduces the chunks, one scans the chunk totals, one scans the chunks
//    from their carries. Float sums and products then add in a tree, not in sequence, so
//    they may differ from the CPU by rounding; max/min and integers are exact.
#include <cub/block/block_exchange.cuh>
#include <cub/block/block_scan.cuh>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/ordering.h"
#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

template <class T, class = void>
struct arith_acc {
  using type = typename Compute<S<T>>::type;
};
template <class T>
struct arith_acc<T, std::enable_if_t<std::is_integral_v<T>>> {
  using type = wrap_t<T>;  // unsigned: wrapping is defined
};

template <class T>
struct SumOp {
  using St = S<T>;
  using A = typename arith_acc<T>::type;
  __device__ static A identity() { return A(0); }
  __device__ A operator()(A a, A b) const { return a + b; }
};
template <class T>
struct ProductOp {
  using St = S<T>;
  using A = typename arith_acc<T>::type;
  __device__ static A identity() { return A(1); }
  __device__ A operator()(A a, A b) const { return a * b; }
};
template <class T, bool IsMax>
struct ExtremeOp {
  using St = S<T>;
  using A = std::conditional_t<std::is_same_v<T, bool>, bool, typename Compute<St>::type>;
  __device__ static A identity() {
    if constexpr (std::numeric_limits<A>::has_infinity)
      return IsMax ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
    else
      return IsMax ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
  // a comes first in the walk: it stays unless b is a NaN or strictly beyond it, which
  // keeps the operation associative (a tree of them picks what the sequence picks).
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>)
      return IsMax ? (a || b) : (a && b);
    else
      return (b != b || (IsMax ? b > a : b < a)) ? b : a;
  }
};

struct Lines {
  std::int64_t n, inner, lines;
  bool reverse;
  __device__ std::int64_t base(std::int64_t l) const { return (l / inner) * n * inner + l % inner; }
  // Offset within its line of walk position p.
  __device__ std::int64_t at(std::int64_t p) const { return (reverse ? n - 1 - p : p) * inner; }
};

template <class Op>
__global__ void scan_serial(Lines L, bool inclusive, const typename Op::St* x, typename Op::St* y) {
  using A = typename Op::A;
  const Op op;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t l = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       l < L.lines; l += step) {
    const std::int64_t base = L.base(l);
    A acc = Op::identity();
    // Loads go out kAhead at a time: the walk is a chain of dependent steps, and one
    // load in flight per thread would leave it waiting on memory at every step.
    constexpr int kAhead = 8;
    for (std::int64_t p0 = 0; p0 < L.n; p0 += kAhead) {
      A v[kAhead];
      for (int u = 0; u < kAhead; ++u)
        if (p0 + u < L.n) v[u] = static_cast<A>(load(x[base + L.at(p0 + u)]));
      for (int u = 0; u < kAhead && p0 + u < L.n; ++u) {
        if (inclusive) acc = op(acc, v[u]);
        y[base + L.at(p0 + u)] = store<typename Op::St>(acc);
        if (!inclusive) acc = op(acc, v[u]);
      }
    }
  }
}

constexpr int kBlock = 256;

// The prefix callback of cub::BlockScan: hands each tile the total before it.
template <class Op>
struct Running {
  typename Op::A total;
  __device__ typename Op::A operator()(typename Op::A tile) {
    const typename Op::A before = total;
    total = Op()(total, tile);
    return before;
  }
};

// Scans (or, with ReduceOnly, totals) chunk blockIdx.y of each line: walk positions
// [c * chunk, min(n, (c + 1) * chunk)), starting from carry[l * chunks + c] when given.
template <class Op, int Items, bool ReduceOnly>
__global__ void __launch_bounds__(kBlock)
    scan_tiles(Lines L, bool inclusive, std::int64_t chunk, const typename Op::St* x,
               typename Op::St* y, typename Op::A* carry) {
  using A = typename Op::A;
  using Scan = cub::BlockScan<A, kBlock>;
  using Exchange = cub::BlockExchange<A, kBlock, Items>;
  __shared__ union {
    typename Scan::TempStorage scan;
    typename Exchange::TempStorage exchange;
  } temp;
  constexpr std::int64_t kTile = std::int64_t{kBlock} * Items;
  const Op op;
  const std::int64_t chunks = gridDim.y, c = blockIdx.y;
  const std::int64_t lo = c * chunk, hi = std::min(L.n, lo + chunk);
  for (std::int64_t l = blockIdx.x; l < L.lines; l += gridDim.x) {
    const std::int64_t base = L.base(l);
    Running<Op> running{carry && !ReduceOnly ? carry[l * chunks + c] : Op::identity()};
    for (std::int64_t t0 = lo; t0 < hi; t0 += kTile) {
      A items[Items];
      for (int i = 0; i < Items; ++i) {
        const std::int64_t p = t0 + i * kBlock + threadIdx.x;
        // Past the end: the identity, which changes no earlier result.
        items[i] = p < hi ? static_cast<A>(load(x[base + L.at(p)])) : Op::identity();
      }
      Exchange(temp.exchange).StripedToBlocked(items, items);
      __syncthreads();
      if constexpr (ReduceOnly) {
        A tile;
        Scan(temp.scan).InclusiveScan(items, items, op, tile);
        running.total = op(running.total, tile);
      } else if (inclusive) {
        Scan(temp.scan).InclusiveScan(items, items, op, running);
      } else {
        Scan(temp.scan).ExclusiveScan(items, items, op, running);
      }
      __syncthreads();
      if constexpr (!ReduceOnly) {
        Exchange(temp.exchange).BlockedToStriped(items, items);
        for (int i = 0; i < Items; ++i) {
          const std::int64_t p = t0 + i * kBlock + threadIdx.x;
          if (p < hi) y[base + L.at(p)] = store<typename Op::St>(items[i]);
        }
        __syncthreads();
      }
    }
    if (ReduceOnly && threadIdx.x == 0) carry[l * chunks + c] = running.total;
  }
}

// Chunk totals to the exclusive prefix each chunk starts from, line by line.
template <class Op>
__global__ void scan_carries(std::int64_t lines, std::int64_t chunks, typename Op::A* carry) {
  const Op op;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t l = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; l < lines;
       l += step) {
    typename Op::A run = Op::identity();
    for (std::int64_t c = 0; c < chunks; ++c) {
      const typename Op::A total = carry[l * chunks + c];
      carry[l * chunks + c] = run;
      run = op(run, total);
    }
  }
}

unsigned blocks_for(std::int64_t items, int threads) {
  return static_cast<unsigned>(std::min<std::int64_t>((items + threads - 1) / threads, 65535));
}

constexpr std::int64_t kWantBlocks = 1024;  // enough to keep every SM busy

template <class Op>
void scan_typed(const Tensor& x, Tensor& y, const ScanAttr& a, Stream s, const char* op) {
  using A = typename Op::A;
  using St = typename Op::St;
  constexpr int kItems = sizeof(A) >= 8 ? 4 : 8;
  constexpr std::int64_t kTile = std::int64_t{kBlock} * kItems;
  const Shape& shape = x.shape();
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < a.axis; ++d) outer *= shape[d];
  for (int d = a.axis + 1; d < x.ndim(); ++d) inner *= shape[d];
  const Lines L{shape[a.axis], inner, outer * inner, a.reverse};
  const auto* px = static_cast<const St*>(x.raw_data());
  auto* py = static_cast<St*>(y.raw_data());
  cudaStream_t cs = stream(s);
  if (L.n <= 64 || (inner > 1 && L.lines >= 4096)) {
    scan_serial<Op><<<blocks_for(L.lines, kBlock), kBlock, 0, cs>>>(L, a.inclusive, px, py);
    return check_launch(op);
  }
  std::int64_t chunk = L.n;
  if (L.lines < kWantBlocks && L.n > 4 * kTile) {
    const std::int64_t want = (kWantBlocks + L.lines - 1) / L.lines;
    chunk = std::max(4 * kTile, ((L.n + want - 1) / want + kTile - 1) / kTile * kTile);
  }
  const std::int64_t chunks = (L.n + chunk - 1) / chunk;
  const dim3 grid(static_cast<unsigned>(std::min<std::int64_t>(L.lines, 65535)),
                  static_cast<unsigned>(chunks));
  if (chunks == 1) {
    scan_tiles<Op, kItems, false><<<grid, kBlock, 0, cs>>>(L, a.inclusive, chunk, px, py, nullptr);
    return check_launch(op);
  }
  Tensor scratch = Tensor::empty({L.lines * chunks * static_cast<std::int64_t>(sizeof(A))},
                                 DType::u8, y.device());
  auto* carry = static_cast<A*>(scratch.raw_data());
  scan_tiles<Op, kItems, true><<<grid, kBlock, 0, cs>>>(L, a.inclusive, chunk, px, py, carry);
  check_launch(op);
  scan_carries<Op><<<blocks_for(L.lines, kBlock), kBlock, 0, cs>>>(L.lines, chunks, carry);
  check_launch(op);
  scan_tiles<Op, kItems, false><<<grid, kBlock, 0, cs>>>(L, a.inclusive, chunk, px, py, carry);
  check_launch(op);
}

// Sums and products see only the dtypes the op layer leaves them (64-bit integers and
// floats); max and min see every real dtype.
template <class T>
constexpr bool kArithmetic =
    std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::uint64_t> ||
    std::is_floating_point_v<T> || std::is_same_v<T, f16> || std::is_same_v<T, bf16>;

template <class T>
struct Sum {
  static constexpr bool covers = kArithmetic<T>;
  using type = SumOp<T>;
};
template <class T>
struct Product {
  static constexpr bool covers = kArithmetic<T>;
  using type = ProductOp<T>;
};
template <class T>
struct Max {
  static constexpr bool covers = !std::is_same_v<T, c64>;
  using type = ExtremeOp<T, true>;
};
template <class T>
struct Min {
  static constexpr bool covers = !std::is_same_v<T, c64>;
  using type = ExtremeOp<T, false>;
};

template <template <class> class OpOf>
void scan_kernel(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                 Stream s) {
  const auto& a = std::get<ScanAttr>(attr);
  if (in[0].size() == 0) return;
  bool done = false;
  // The op layer hands a contiguous input; anything else goes to the CPU rather than
  // being read wrongly.
  if (in[0].is_contiguous() && in[0].dtype() == out[0].dtype()) {
    visit_dtype(in[0].dtype(), [&]<class T>() {
      if constexpr (OpOf<T>::covers) {
        scan_typed<typename OpOf<T>::type>(in[0], out[0], a, s, name(p).data());
        done = true;
      }
    });
  }
  if (!done) run_on_cpu(p, in, out, attr);
}

}  // namespace

void register_scans(KernelTable& t) {
#define EMILY_SCAN(prim, Op)                                                                  \
  t.set(Primitive::prim, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, \
                            Stream s) { scan_kernel<Op>(Primitive::prim, in, out, a, s); });
  EMILY_SCAN(cumulative_sum, Sum)
  EMILY_SCAN(cumulative_product, Product)
  EMILY_SCAN(cumulative_max, Max)
  EMILY_SCAN(cumulative_min, Min)
#undef EMILY_SCAN
}

}  // namespace emily::cuda
