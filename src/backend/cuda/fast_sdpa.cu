// Attention for decoding (a few query rows against a long cache), split over the keys.
// Reading K and V once is the whole cost, so the work is cut along the keys: a block takes
// one chunk of keys of one (batch, kv head) for every query row that reads that head (the
// group's query heads times the query rows, up to 8 of them per block), keeps a
// streaming softmax per row (running max, sum of exponentials, weighted values) and
// writes it unnormalized; a second kernel, launched while the first drains
// (dependent_launch.cuh), merges the chunks of each row. Enough chunks are
// made to fill the GPU, so one decode step with a few heads still uses every SM.
//
// Within a block each warp takes kUnroll keys at a time (the warps interleaved), loading
// all their K and V rows before the first use so several rows are in flight per warp,
// then reducing their scores together and updating the softmax once for all of them; a
// lane holds L consecutive features of the query, key and value rows, so a warp reads
// each key row as one coalesced run, and a score is the lanes' partial dot products
// summed by shuffles. Per-row state lives in registers, so the rows per block (R) is a
// template parameter: a decode step of one query row per head keeps R small and more
// blocks resident.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_types.cuh"
#include "backend/cuda/fast_mask.cuh"
#include "backend/cuda/fast_sdpa.h"
#include "backend/cuda/runtime.h"
#include "backend/cuda/sm_count.h"

namespace emily::cuda {

namespace {

constexpr int kWarps = 4;
// Keys a warp loads before using them: enough rows in flight to cover memory latency,
// within the registers a lane has.
template <int L>
constexpr int kUnroll = L <= 4 ? 8 : 4;

struct DecodeArgs {
  const void *q, *k, *v;
  std::int64_t qs[4], ks[4], vs[4];
  std::int64_t nq, tq, d, dv, groups, tkv;
  std::int64_t rows;   // query rows per kv head: groups * tq
  std::int64_t last;   // keys [0, last) are all any row may see
  std::int64_t chunk;  // keys per chunk
  int chunks;
  float scale;  // softmax scale times log2(e)
  bool dense;   // K and V rows allow one L-element load per lane
  MaskArgs mask;
  void* out;                        // {B, Nq, Tq, Dv}, when chunks == 1
  float *part_o, *part_m, *part_l;  // per (row, chunk), when chunks > 1
};

template <class T, int L>
struct alignas(L * sizeof(T)) Run {
  T v[L];
};

// A lane's L features of a key or value row (`n` features, `stride` apart) as floats.
template <class T, int L>
__device__ void load_features(const T* row, std::int64_t stride, std::int64_t n, bool dense,
                              int lane, float (&out)[L]) {
  const std::int64_t f0 = std::int64_t(lane) * L;
  if (dense && f0 + L <= n) {
    const Run<T, L> r = *reinterpret_cast<const Run<T, L>*>(row + f0);
#pragma unroll
    for (int e = 0; e < L; ++e) out[e] = static_cast<float>(load(r.v[e]));
    return;
  }
#pragma unroll
  for (int e = 0; e < L; ++e)
    out[e] = f0 + e < n ? static_cast<float>(load(row[(f0 + e) * stride])) : 0.0f;
}

// Feature f of query row `row` (of kv head kvh's rows) from one chunk of keys: its
// unnormalized output o, max m and sum of exponentials `total`. A chunk that is the whole
// cache writes the output; otherwise the state goes to decode_merge.
template <class T>
__device__ void write_chunk_result(const DecodeArgs& a, std::int64_t b, std::int64_t kvh,
                                   std::int64_t row, int chunk, std::int64_t f, float o, float m,
                                   float total) {
  const std::int64_t h = kvh * a.groups + row / a.tq, i = row % a.tq;
  const std::int64_t out_row = (b * a.nq + h) * a.tq + i;
  if (a.chunks == 1) {
    // A sink is one more logit that attends to nothing: it joins only the denominator.
    if (a.mask.sinks) {
      const float sink = a.mask.sinks[h] * kLog2e;
      const float mn = fmaxf(m, sink);
      const float c = m == -INFINITY ? 0.0f : exp2f(m - mn);
      total = total * c + exp2f(sink - mn);
      o *= c;
    }
    static_cast<T*>(a.out)[out_row * a.dv + f] = store<T>(total > 0.0f ? o / total : 0.0f);
  } else {
    const std::int64_t at = out_row * a.chunks + chunk;
    a.part_o[at * a.dv + f] = o;
    if (f == 0) {
      a.part_m[at] = m;
      a.part_l[at] = total;
    }
  }
}

template <class T, int L, int kRows>
__global__ void __launch_bounds__(kWarps * 32) decode_chunks(DecodeArgs a) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int chunk = blockIdx.x;
  const std::int64_t bk = blockIdx.z, b = bk / (a.nq / a.groups), kvh = bk % (a.nq / a.groups);
  const std::int64_t row0 = std::int64_t(blockIdx.y) * kRows;
  const int nrows = static_cast<int>(std::min<std::int64_t>(kRows, a.rows - row0));
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k) + b * a.ks[0] + kvh * a.ks[1];
  const T* v = static_cast<const T*>(a.v) + b * a.vs[0] + kvh * a.vs[1];

  float qr[kRows][L], acc[kRows][L], m[kRows], l[kRows];
  std::int64_t head[kRows], query[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const std::int64_t row = row0 + (r < nrows ? r : 0);
    head[r] = kvh * a.groups + row / a.tq;
    query[r] = row % a.tq;
    const T* qrow = q + b * a.qs[0] + head[r] * a.qs[1] + query[r] * a.qs[2];
#pragma unroll
    for (int e = 0; e < L; ++e) {
      const std::int64_t f = lane * L + e;
      qr[r][e] = f < a.d ? static_cast<float>(load(qrow[f * a.qs[3]])) * a.scale : 0.0f;
      acc[r][e] = 0.0f;
    }
    m[r] = -INFINITY;
    l[r] = 0.0f;
  }

  constexpr int U = kUnroll<L>;
  const std::int64_t begin = chunk * a.chunk, end = std::min(a.last, begin + a.chunk);
  for (std::int64_t j0 = begin + warp * U; j0 < end; j0 += kWarps * U) {
    float kr[U][L], vr[U][L];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const std::int64_t j = j0 + u < end ? j0 + u : j0;
      load_features<T, L>(k + j * a.ks[2], a.ks[3], a.d, a.dense, lane, kr[u]);
      load_features<T, L>(v + j * a.vs[2], a.vs[3], a.dv, a.dense, lane, vr[u]);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= nrows) break;
      // The U scores first: their shuffle reductions are independent and overlap, and the
      // running state is updated once for all of them.
      float s[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < L; ++e) dot += qr[r][e] * kr[u][e];
        s[u] = dot;
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
        for (int u = 0; u < U; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
      }
      float mx = m[r];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        s[u] = j0 + u < end ? apply_mask(a.mask, s[u], b, head[r], query[r], j0 + u) : -INFINITY;
        mx = fmaxf(mx, s[u]);
      }
      if (mx == -INFINITY) continue;  // nothing seen yet (the same for every lane)
      const float corr = exp2f(m[r] - mx);
      float p[U], sum = 0.0f;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        p[u] = exp2f(s[u] - mx);  // hidden keys: exp2(-inf) = 0
        sum += p[u];
      }
      l[r] = l[r] * corr + sum;
#pragma unroll
      for (int e = 0; e < L; ++e) {
        float x = acc[r][e] * corr;
#pragma unroll
        for (int u = 0; u < U; ++u) x += p[u] * vr[u][e];
        acc[r][e] = x;
      }
      m[r] = mx;
    }
  }

  // The four warps' states merged through shared memory.
  __shared__ float sm_acc[kWarps][kRows][32 * L];
  __shared__ float sm_m[kWarps][kRows], sm_l[kWarps][kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int e = 0; e < L; ++e) sm_acc[warp][r][lane * L + e] = acc[r][e];
    if (lane == 0) {
      sm_m[warp][r] = m[r];
      sm_l[warp][r] = l[r];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nrows * a.dv; idx += blockDim.x) {
    const int r = idx / static_cast<int>(a.dv), f = idx % static_cast<int>(a.dv);
    float mx = -INFINITY;
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w][r]);
    float total = 0.0f, o = 0.0f;
    if (mx != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        const float c = exp2f(sm_m[w][r] - mx);
        total += sm_l[w][r] * c;
        o += sm_acc[w][r][f] * c;
      }
    }
    write_chunk_result<T>(a, b, kvh, row0 + r, chunk, f, o, mx, total);
  }
}

// The merge: a block per (output row, 32 features). Each warp takes every 8th chunk with
// a lane per feature and folds its chunks into a running state of its own, kBatch chunks
// at a time whose loads are all issued before the first is used: the partial states of a
// short cache arrive in one memory round trip, not one per reduction step. The warps'
// states then meet in shared memory.
constexpr int kMergeWarps = 8;
constexpr int kBatch = 8;

template <class T>
__global__ void __launch_bounds__(kMergeWarps * 32) decode_merge(DecodeArgs a) {
  __shared__ float warp_m[kMergeWarps], warp_l[kMergeWarps];
  __shared__ float partial[kMergeWarps][32];
  const std::int64_t out_row = blockIdx.x;
  const std::int64_t h = (out_row / a.tq) % a.nq;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t f = std::int64_t(blockIdx.y) * 32 + lane;
  const bool feature = f < a.dv;
  wait_for_previous_grid();  // the chunk kernel's partial states
  const float* pm = a.part_m + out_row * a.chunks;
  const float* pl = a.part_l + out_row * a.chunks;
  const float* po = a.part_o + out_row * a.chunks * a.dv + f;
  float m = -INFINITY, l = 0.0f, o = 0.0f;  // the same m and l in every lane of a warp
  for (int c0 = warp; c0 < a.chunks; c0 += kMergeWarps * kBatch) {
    float bm[kBatch], bl[kBatch], bo[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int c = c0 + i * kMergeWarps;
      const bool in = c < a.chunks;
      bm[i] = in ? pm[c] : -INFINITY;
      bl[i] = in ? pl[c] : 0.0f;
      bo[i] = in && feature ? po[std::int64_t(c) * a.dv] : 0.0f;
    }
    float mx = m;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) mx = fmaxf(mx, bm[i]);
    if (mx == -INFINITY) continue;  // nothing seen yet: a chunk that saw nothing weighs 0
    const float c = exp2f(m - mx);  // 0 while m = -inf
    l *= c;
    o *= c;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const float w = bm[i] == -INFINITY ? 0.0f : exp2f(bm[i] - mx);
      l = fmaf(bl[i], w, l);
      o = fmaf(bo[i], w, o);
    }
    m = mx;
  }
  if (lane == 0) warp_m[warp] = m;
  __syncthreads();
  float mn = a.mask.sinks ? a.mask.sinks[h] * kLog2e : -INFINITY;
#pragma unroll
  for (int w = 0; w < kMergeWarps; ++w) mn = fmaxf(mn, warp_m[w]);
  // A row that saw nothing at all (mn = -inf) gets zeros below.
  const float c = m == -INFINITY ? 0.0f : exp2f(m - mn);
  partial[warp][lane] = o * c;
  if (lane == 0) warp_l[warp] = l * c;
  __syncthreads();
  if (warp == 0 && feature) {
    float r = 0.0f,
          total = a.mask.sinks && mn != -INFINITY ? exp2f(a.mask.sinks[h] * kLog2e - mn) : 0.0f;
#pragma unroll
    for (int w = 0; w < kMergeWarps; ++w) {
      r += partial[w][lane];
      total += warp_l[w];
    }
    static_cast<T*>(a.out)[out_row * a.dv + f] = store<T>(total > 0.0f ? r / total : 0.0f);
  }
}

// ---- the streamed decode kernel ------------------------------------------------------
//
// For half-precision K and V with dense rows of 64 or 128 features, the common decode
// case. Reading K and V at the copy rate takes tens of kilobytes of loads in flight per
// SM; a kernel that loads into registers and uses them at once has about one round trip
// in flight per warp (ncu on the tiled kernel this replaced: 4 blocks of 128 threads per
// SM by registers, DRAM at 48% of peak). Here each warp streams its own keys through a
// ring of kStages shared-memory tiles filled by cp.async, kStages - 1 tiles ahead of its
// arithmetic, with no registers held for the loads in flight.
//
// A lane reads back exactly the 16-byte pieces it copied, so the warps never wait for
// each other until the end: each keeps its own streaming softmax over the keys it takes
// (every kStreamWarps-th tile of the chunk), and the states are merged through shared
// memory. A key row is read by D/8 lanes, so a score needs log2(D/8) shuffles; the lanes
// holding a key's features of K hold the same features of V, so the weights p stay in
// the registers they were computed in.
// kWarps warps per block, each with a ring of kStages tiles of kSteps loads per lane.
template <int D, int R, int kWarps_ = 4, int kStages_ = 4, int kSteps_ = (R <= 4 ? 4 : 2)>
struct StreamShape {
  static constexpr int kWarps = kWarps_;
  static constexpr int kStages = kStages_;
  static constexpr int kLanes = D / 8;              // lanes per row, 16 bytes each
  static constexpr int kRowsPerStep = 32 / kLanes;  // rows a warp reads per load
  // Loads per lane per tile, each of K and V: fewer for many query rows, whose scores and
  // accumulators take the registers.
  static constexpr int kSteps = kSteps_;
  static constexpr int kKeys = kRowsPerStep * kSteps;   // keys per warp tile
  static constexpr int kRound = kWarps * kKeys;         // keys per block tile
  static constexpr int kTileBytes = 2 * kKeys * D * 2;  // K and V, 16-bit values
  static constexpr int kSharedBytes = kWarps * kStages * kTileBytes;
};

// One past the last of keys [begin, begin + n) that some row of the block sees (0 if
// none), for every thread of the block. The loads are independent (no early exit), so a
// thread's share of the mask arrives in one round trip.
template <int R>
__device__ int visible_end(const DecodeArgs& a, std::int64_t b, const int (&head)[R],
                           const int (&query)[R], int nrows, std::int64_t begin, int n) {
  __shared__ int end;
  if (threadIdx.x == 0) end = 0;
  __syncthreads();
  int mine = 0;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r >= nrows) break;
#pragma unroll 4
    for (int j = threadIdx.x; j < n; j += blockDim.x)
      if (apply_mask(a.mask, 0.0f, b, head[r], query[r], begin + j) != -INFINITY)
        mine = max(mine, j + 1);
  }
  if (mine > 0) atomicMax(&end, mine);
  __syncthreads();
  return end;
}

// kMasked: a mask operand, or the causal rule with several query rows (one row's causal
// limit is a.last); without it a score is only bounded by the chunk.
template <class T, int D, int R, class S, bool kMasked>
__global__ void __launch_bounds__(S::kWarps * 32) decode_streamed(DecodeArgs a) {
  wait_for_previous_grid();  // launched dependent: before any read or write
  constexpr int kStreamWarps = S::kWarps, kStages = S::kStages;
  extern __shared__ uint4 shared[];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int chunk = blockIdx.x;
  const std::int64_t bk = blockIdx.z, b = bk / (a.nq / a.groups), kvh = bk % (a.nq / a.groups);
  const std::int64_t row0 = std::int64_t(blockIdx.y) * R;
  const int nrows = static_cast<int>(a.rows - row0 < R ? a.rows - row0 : R);
  const std::int64_t begin = chunk * a.chunk;
  const std::int64_t end = begin + a.chunk < a.last ? begin + a.chunk : a.last;
  int n = static_cast<int>(end > begin ? end - begin : 0);
  const T* k = static_cast<const T*>(a.k) + b * a.ks[0] + kvh * a.ks[1];
  const T* v = static_cast<const T*>(a.v) + b * a.vs[0] + kvh * a.vs[1];
  // This lane's 8 features from f0, of row `sub` of each load step.
  const int f0 = (lane % S::kLanes) * 8, sub = lane / S::kLanes;

  int head[R], query[R];  // (ints: fewer registers)
  float q[R][8];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::int64_t row = row0 + (r < nrows ? r : 0);
    head[r] = static_cast<int>(kvh * a.groups + row / a.tq);
    query[r] = static_cast<int>(row % a.tq);
    const T* qrow =
        static_cast<const T*>(a.q) + b * a.qs[0] + head[r] * a.qs[1] + query[r] * a.qs[2];
#pragma unroll
    for (int e = 0; e < 8; ++e)
      q[r][e] = static_cast<float>(load(qrow[(f0 + e) * a.qs[3]])) * a.scale;
  }

  // Warp tile t holds keys first(t) + [0, kKeys) of the chunk, K then V.
  T* ring = reinterpret_cast<T*>(shared) + warp * kStages * (S::kTileBytes / 2);
  int tiles = (n + S::kRound - 1) / S::kRound;
  auto first = [&](int t) { return (t * kStreamWarps + warp) * S::kKeys; };
  auto fill = [&](int t) {
    if (t < tiles) {
      T* ks = ring + (t % kStages) * (S::kTileBytes / 2);
      T* vs = ks + S::kKeys * D;
#pragma unroll
      for (int step = 0; step < S::kSteps; ++step) {
        const int at = step * S::kRowsPerStep + sub, j = first(t) + at;
        const std::int64_t key = begin + (j < n ? j : 0);  // a valid address when zero-filled
        copy_async(ks + at * D + f0, k + key * a.ks[2] + f0, j < n ? 16 : 0);
        copy_async(vs + at * D + f0, v + key * a.vs[2] + f0, j < n ? 16 : 0);
      }
    }
    copies_commit();  // empty groups too: the wait below counts groups
  };

  float acc[R][8] = {}, m[R], l[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
  }
  // Keys past the last one a row of the block sees are not read: a decode step's mask
  // hides the cache's unwritten tail, whose chunks then cost only the scan of their mask
  // and their first tiles' copies (issued before it is known). Whether the chunk's last
  // key is seen is asked first, by every thread alike, so the branch below is the
  // block's: a chunk whose last key is seen, the common case, pays no scan and no barrier,
  // only this check (H100, session 27: 8.3 against 7.9 us at 1k keys, all seen; 42
  // against 63 us at 32k keys with the first 1k seen; bench/results/fast-quant.md).
  bool last_seen = true;
  if constexpr (kMasked) {
    last_seen = n == 0;
#pragma unroll
    for (int r = 0; r < R; ++r)
      last_seen |= r < nrows && n > 0 &&
                   apply_mask(a.mask, 0.0f, b, head[r], query[r], begin + n - 1) != -INFINITY;
  }
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) fill(t);
  if (!last_seen) {
    n = visible_end<R>(a, b, head, query, nrows, begin, n);
    tiles = (n + S::kRound - 1) / S::kRound;
  }
  for (int t = 0; t < tiles; ++t) {
    copies_wait<kStages - 2>();  // tile t has landed (this lane's pieces of it)
    const T* ks = ring + (t % kStages) * (S::kTileBytes / 2);
    const T* vs = ks + S::kKeys * D;
    float p[S::kSteps][R];
#pragma unroll
    for (int step = 0; step < S::kSteps; ++step) {
      float kf[8];
      halves_to_floats<T>(
          *reinterpret_cast<const uint4*>(ks + (step * S::kRowsPerStep + sub) * D + f0), kf);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) dot = fmaf(q[r][e], kf[e], dot);
        p[step][r] = dot;
      }
    }
    // Scores: the row's lanes summed (independent chains, one per step and row), then
    // masked; keys past the chunk are hidden.
#pragma unroll
    for (int o = S::kLanes / 2; o > 0; o >>= 1)
#pragma unroll
      for (int step = 0; step < S::kSteps; ++step)
#pragma unroll
        for (int r = 0; r < R; ++r) p[step][r] += __shfl_xor_sync(0xffffffffu, p[step][r], o);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int step = 0; step < S::kSteps; ++step) {
        const int j = first(t) + step * S::kRowsPerStep + sub;
        if (j >= n || r >= nrows)
          p[step][r] = -INFINITY;
        else if constexpr (kMasked)
          p[step][r] = apply_mask(a.mask, p[step][r], b, head[r], query[r], begin + j);
        mx = fmaxf(mx, p[step][r]);
      }
#pragma unroll
      for (int o = S::kLanes; o < 32; o <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float mn = fmaxf(m[r], mx);  // the same in every lane
      // Nothing seen yet: p stays 0 (exp2(-inf - -inf) would be NaN).
      const float shift = mn == -INFINITY ? 0.0f : mn;
      const float corr = exp2_approx(m[r] - shift);
      float sum = 0.0f;
#pragma unroll
      for (int step = 0; step < S::kSteps; ++step) {
        p[step][r] = exp2_approx(p[step][r] - shift);
        sum += p[step][r];
      }
      m[r] = mn;
      l[r] = l[r] * corr + sum;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[r][e] *= corr;
    }
#pragma unroll
    for (int step = 0; step < S::kSteps; ++step) {
      float vf[8];
      halves_to_floats<T>(
          *reinterpret_cast<const uint4*>(vs + (step * S::kRowsPerStep + sub) * D + f0), vf);
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[r][e] = fmaf(p[step][r], vf[e], acc[r][e]);
    }
    // The stage read above is refilled only after its values were used (in-order issue
    // waits for the loads), and only by this lane.
    fill(t + kStages - 1);
  }
  copies_wait<0>();
  allow_dependent_launch();  // the merge may take the SM slots of blocks that finish

  // Lanes holding the same features for other keys are summed; then the warps' states
  // meet in shared memory, which the rings no longer use.
#pragma unroll
  for (int o = S::kLanes; o < 32; o <<= 1)
#pragma unroll
    for (int r = 0; r < R; ++r) {
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], o);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[r][e] += __shfl_xor_sync(0xffffffffu, acc[r][e], o);
    }
  __syncthreads();
  float* partial = reinterpret_cast<float*>(shared);  // [warp][row][feature]
  float* warp_m = partial + kStreamWarps * R * D;     // [warp][row]
  float* warp_l = warp_m + kStreamWarps * R;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (sub == 0)
#pragma unroll
      for (int e = 0; e < 8; ++e) partial[(warp * R + r) * D + f0 + e] = acc[r][e];
    if (lane == 0) {
      warp_m[warp * R + r] = m[r];
      warp_l[warp * R + r] = l[r];
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nrows * D; idx += blockDim.x) {
    const int r = idx / D, f = idx % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kStreamWarps; ++w) mx = fmaxf(mx, warp_m[w * R + r]);
    float total = 0.0f, o = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kStreamWarps; ++w) {
        const float c = exp2_approx(warp_m[w * R + r] - mx);
        total += warp_l[w * R + r] * c;
        o += partial[(w * R + r) * D + f] * c;
      }
    }
    write_chunk_result<T>(a, b, kvh, row0 + r, chunk, f, o, mx, total);
  }
}

// Whether every row of `t` ({B, H, T, D}) starts on an L-element boundary with its
// features adjacent, so a lane may read L of them as one load.
template <class T>
bool rows_in_runs(const Tensor& t, int L) {
  if (t.strides()[3] != 1 && t.shape(3) != 1) return false;
  for (int i = 0; i < 3; ++i)
    if (t.shape(i) != 1 && t.strides()[i] % L != 0) return false;
  return reinterpret_cast<std::uintptr_t>(t.raw_data()) % (L * sizeof(T)) == 0;
}

// Launches the chunk kernel (`chunks(grid)`) for a.chunks chunks of kRows query rows, then
// the merge when there are several chunks.
template <class T, int kRows, class Chunks>
void decode_with(DecodeArgs& a, const Tensor& k, Device device, Stream s, Chunks chunks) {
  const std::int64_t batch = k.shape(0), kv_heads = k.shape(1);
  const std::int64_t row_groups = (a.rows + kRows - 1) / kRows;  // grid.y
  const dim3 grid(static_cast<unsigned>(a.chunks), static_cast<unsigned>(row_groups),
                  static_cast<unsigned>(batch * kv_heads));
  Tensor scratch;  // one allocation for the three partial arrays: each costs host time
  if (a.chunks > 1) {
    const std::int64_t parts = batch * a.nq * a.tq * a.chunks;
    scratch = Tensor::empty({parts * (a.dv + 2)}, DType::f32, device);
    a.part_o = scratch.data<float>();
    a.part_m = a.part_o + parts * a.dv;
    a.part_l = a.part_m + parts;
  }
  chunks(grid);
  check_launch("fast_sdpa");
  if (a.chunks > 1) {
    const dim3 merge(static_cast<unsigned>(batch * a.nq * a.tq),
                     static_cast<unsigned>((a.dv + 31) / 32));
    launch_dependent("fast_sdpa", decode_merge<T>, merge, dim3(kMergeWarps * 32), 0, stream(s), a);
  }
  // The scratch is freed on the stream, after the kernels that read it.
}

template <class T, int L, int kRows>
void decode(DecodeArgs& a, const Tensor& k, const Tensor& v, Device device, Stream s) {
  a.dense = rows_in_runs<T>(k, L) && rows_in_runs<T>(v, L);
  decode_with<T, kRows>(a, k, device, s, [&](dim3 grid) {
    launch_dependent("fast_sdpa", decode_chunks<T, L, kRows>, grid, dim3(kWarps * 32), 0, stream(s),
                     a);
  });
}

// Powers of two, so few kernels cover every case: L features per lane (head sizes up to
// 64, 128, 256) and R rows per block.
int lanes_per_row(std::int64_t features) {
  const std::int64_t l = (features + 31) / 32;
  return l <= 2 ? 2 : l <= 4 ? 4 : 8;
}

int rows_per_block(std::int64_t rows) {
  return rows <= 2 ? 2 : rows <= 4 ? 4 : 8;
}

// The streamed kernel's cases: half-precision K and V with dense rows of 64 or 128
// features (as many as the queries').
bool decode_streamed_fits(const Tensor& q, const Tensor& k, const Tensor& v, const DecodeArgs& a) {
  const DType t = q.dtype();
  if ((t != DType::bf16 && t != DType::f16) || a.d != a.dv || (a.d != 64 && a.d != 128))
    return false;
  return t == DType::bf16 ? rows_in_runs<__nv_bfloat16>(k, 8) && rows_in_runs<__nv_bfloat16>(v, 8)
                          : rows_in_runs<__half>(k, 8) && rows_in_runs<__half>(v, 8);
}

// Blocks of a kernel that fit an SM at once, asked once per kernel (which also raises its
// shared-memory limit past the default 48 KiB).
template <class Kernel>
int blocks_per_sm(Kernel kernel, int threads, int bytes) {
  int n = 1;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) !=
          cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads, bytes) != cudaSuccess)
    (void)cudaGetLastError();  // the launch reports the error
  return std::max(n, 1);
}

template <class T, int D, int R, class S, bool kMasked>
void decode_streamed_with(DecodeArgs& a, const Tensor& k, Device device, Stream s) {
  constexpr auto kernel = decode_streamed<T, D, R, S, kMasked>;
  static const int per_sm = blocks_per_sm(kernel, S::kWarps * 32, S::kSharedBytes);
  // One wave: every resident block slot gets one chunk of whole block tiles. Chunks of
  // equal length finish together, and the merge reads one partial per chunk.
  const std::int64_t units = k.shape(0) * k.shape(1) * ((a.rows + R - 1) / R);
  const std::int64_t slots = std::int64_t(per_sm) * sm_count();
  const std::int64_t rounds = std::max<std::int64_t>((a.last + S::kRound - 1) / S::kRound, 1);
  const std::int64_t chunks =
      std::clamp<std::int64_t>((slots + units - 1) / std::max<std::int64_t>(units, 1), 1,
                               std::min<std::int64_t>(rounds, 1024));
  a.chunk = (rounds + chunks - 1) / chunks * S::kRound;
  a.chunks = std::max(static_cast<int>((a.last + a.chunk - 1) / a.chunk), 1);
  decode_with<T, R>(a, k, device, s, [&](dim3 grid) {
    launch_dependent("fast_sdpa", kernel, grid, dim3(S::kWarps * 32), S::kSharedBytes, stream(s),
                     a);
  });
}

void decode_streamed_launch(DecodeArgs& a, DType t, int rows, const Tensor& k, Device device,
                            Stream s) {
  const bool masked = a.mask.kind != SdpaMask::none || (a.mask.causal && a.tq > 1);
  auto with_rows = [&]<class T, int D>() {
    auto go = [&]<int R>() {
      if (masked) return decode_streamed_with<T, D, R, StreamShape<D, R>, true>(a, k, device, s);
      return decode_streamed_with<T, D, R, StreamShape<D, R>, false>(a, k, device, s);
    };
    switch (rows) {
      case 2:
        return go.template operator()<2>();
      case 4:
        return go.template operator()<4>();
      default:
        return go.template operator()<8>();
    }
  };
  auto with_d = [&]<class T>() {
    if (a.d == 64) return with_rows.template operator()<T, 64>();
    return with_rows.template operator()<T, 128>();
  };
  if (t == DType::bf16) return with_d.template operator()<__nv_bfloat16>();
  return with_d.template operator()<__half>();
}

void decode_attention(std::span<const Tensor> in, Tensor& out, const SdpaAttr& attr, Stream s) {
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  DecodeArgs a{};
  a.q = q.raw_data();
  a.k = k.raw_data();
  a.v = v.raw_data();
  for (int i = 0; i < 4; ++i) {
    a.qs[i] = q.strides()[i];
    a.ks[i] = k.strides()[i];
    a.vs[i] = v.strides()[i];
  }
  const std::int64_t batch = q.shape(0), kv_heads = k.shape(1);
  a.nq = q.shape(1);
  a.tq = q.shape(2);
  a.d = q.shape(3);
  a.dv = v.shape(3);
  a.tkv = k.shape(2);
  a.groups = kv_heads == 0 ? 1 : a.nq / kv_heads;
  a.rows = a.groups * a.tq;
  a.last = a.tkv;
  if (attr.causal) a.last = std::clamp<std::int64_t>(a.tq + attr.causal_offset, 0, a.tkv);
  a.scale = static_cast<float>(attr.scale) * kLog2e;
  a.mask = mask_args(in, attr);
  a.out = out.raw_data();
  const int rows = rows_per_block(a.rows);
  if (decode_streamed_fits(q, k, v, a))
    return decode_streamed_launch(a, q.dtype(), rows, k, out.device(), s);
  // Chunks of at least 64 keys, enough of them for eight blocks per SM: each warp has only
  // a few key rows in flight, so many warps are needed to cover memory latency.
  const std::int64_t blocks = batch * kv_heads * ((a.rows + rows - 1) / rows);
  const std::int64_t want = (8 * sm_count() + blocks - 1) / std::max<std::int64_t>(blocks, 1);
  a.chunks =
      static_cast<int>(std::clamp<std::int64_t>(std::min(want, (a.last + 63) / 64), 1, 1024));
  a.chunk = std::max<std::int64_t>((a.last + a.chunks - 1) / a.chunks, 1);
  const Device device = out.device();
  auto with_rows = [&]<class T, int L>() {
    switch (rows) {
      case 2:
        return decode<T, L, 2>(a, k, v, device, s);
      case 4:
        return decode<T, L, 4>(a, k, v, device, s);
      default:
        return decode<T, L, 8>(a, k, v, device, s);
    }
  };
  auto run = [&]<class T>() {
    switch (lanes_per_row(std::max(a.d, a.dv))) {
      case 2:
        return with_rows.template operator()<T, 2>();
      case 4:
        return with_rows.template operator()<T, 4>();
      default:
        return with_rows.template operator()<T, 8>();
    }
  };
  switch (q.dtype()) {
    case DType::f16:
      return run.template operator()<__half>();
    case DType::bf16:
      return run.template operator()<__nv_bfloat16>();
    default:
      return run.template operator()<float>();
  }
}

}  // namespace

bool sdpa_accepts(std::span<const Tensor> in, const Attr& attr) {
  const auto& a = std::get<SdpaAttr>(attr);
  const DType t = in[0].dtype();
  if (t != DType::f16 && t != DType::bf16 && t != DType::f32) return false;  // f64: decomposed
  const std::int64_t blocks = in[0].shape(0) * in[1].shape(1);
  if (blocks > 65535) return false;  // the decode grid's z extent
  if (in[0].shape(2) <= kDecodeQueries && in[0].shape(3) <= 256 && in[2].shape(3) <= 256)
    return true;
  return flash_fits(in, a);
}

void sdpa_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const auto& a = std::get<SdpaAttr>(attr);
  if (in[0].shape(2) <= kDecodeQueries && in[0].shape(3) <= 256 && in[2].shape(3) <= 256)
    return decode_attention(in, out[0], a, s);
  flash_attention(in, out[0], a, s);
}

}  // namespace emily::cuda
