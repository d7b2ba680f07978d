// The fused transformer kernels: rms_norm, layer_norm, swiglu, rope and sdpa. Rows run in
// parallel; half inputs compute in f32 and round once on store. The op layer hands the
// norm, swiglu and rope kernels dense operands; sdpa reads q, k, v and the mask through
// their strides (heads-major views of {B, T, N, D} tensors and broadcast masks are
// common, and copying them would cost more than the strided reads).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "backend/cpu/elementwise_ops.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "backend/visit_floating.h"
#include "core/convert.h"
#include "core/rope_frequencies.h"

namespace emily::cpu {

namespace {

using detail::compute_t;

std::int64_t rows_of(const Tensor& t) {
  const std::int64_t d = t.shape(-1);
  return d == 0 ? 0 : t.size() / d;
}

// Sum over j < n of f(j) in double, in kLanes interleaved partial sums added at the end:
// a fixed order (the same result on any thread count), and independent chains the
// compiler vectorizes, where one running sum waits an add latency per element (the
// rms_norm of SmolLM2's 576-wide rows ran slower than its decomposition).
template <class F>
double row_sum(std::int64_t n, F f) {
  constexpr int kLanes = 8;
  double lane[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += f(j + l);
  for (; j < n; ++j) lane[0] += f(j);
  double total = 0;
  for (double v : lane) total += v;
  return total;
}

// One row of rms_norm or layer_norm (and of rope's norm prologue).
template <bool kLayer, class T>
void norm_row(const T* xr, T* orow, std::int64_t d, const T* w, const T* bias, double eps) {
  using C = compute_t<T>;
  // Row sums in double: a long row's f32 sum would carry error into every output.
  C mean = 0;
  if constexpr (kLayer) {
    const double total = row_sum(d, [&](std::int64_t j) { return double(C(xr[j])); });
    mean = C(total / double(d));
  }
  // Layer norm's variance is of centred values (a second pass), not E[x^2] - E[x]^2,
  // which cancels badly when the mean is large.
  const double squares = row_sum(d, [&](std::int64_t j) {
    const double centred = double(C(xr[j]) - mean);
    return centred * centred;
  });
  const C inv = C(1) / std::sqrt(C(squares / double(d)) + C(eps));
  for (std::int64_t j = 0; j < d; ++j) {
    C y = (C(xr[j]) - mean) * inv;
    if (w) y *= C(w[j]);
    if (bias) y += C(bias[j]);
    orow[j] = T(y);
  }
}

// rms_norm and layer_norm, one row per iteration. With a residual operand out[0] takes
// the rounded sum x + residual and the norm, written to out[1], reads that sum back.
template <bool kLayer>
void norm_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<NormAttr>(attr);
  visit_floating(in[0].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    std::size_t next = a.has_residual ? 2 : 1;
    const T* x = in[0].data<T>();
    const T* residual = a.has_residual ? in[1].data<T>() : nullptr;
    const T* w = a.has_weight ? in[next++].data<T>() : nullptr;
    const T* bias = a.has_bias ? in[next].data<T>() : nullptr;
    T* sum = a.has_residual ? out[0].data<T>() : nullptr;
    T* o = out[a.has_residual ? 1 : 0].data<T>();
    const std::int64_t d = in[0].shape(-1), rows = rows_of(in[0]);
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (rows * d >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * d;
      if (residual) {
        T* srow = sum + r * d;
        const T* rrow = residual + r * d;
        for (std::int64_t j = 0; j < d; ++j) srow[j] = T(C(xr[j]) + C(rrow[j]));
        xr = srow;
      }
      norm_row<kLayer>(xr, o + r * d, d, w, bias, a.eps);
    }
  });
}

// e^x: the vectorizable f32 exp of the elementwise ops (within 1 ULP) for f32.
template <class C>
C exp_of(C x) {
  if constexpr (std::is_same_v<C, float>)
    return ew::exp_f32(x);  // vectorizes, within 1 ULP (elementwise_ops.h)
  else
    return std::exp(x);
}

template <class T>
T swiglu_of(T gate, T up) {
  using C = compute_t<T>;
  const C x = C(gate);
  return T(x * (C(1) / (C(1) + exp_of(-x))) * C(up));
}

// o[r, i] = swiglu(g[r * ld + i], u[r * ld + i]) over `rows` rows of n.
template <class T>
void swiglu_rows(const T* g, const T* u, std::int64_t ld, T* o, std::int64_t rows, std::int64_t n) {
  const std::int64_t total = rows * n;
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (total >= kParallelGrain)
  for (std::int64_t i = 0; i < total; ++i) {
    const std::int64_t r = i / n, j = i % n;
    o[i] = swiglu_of(g[r * ld + j], u[r * ld + j]);
  }
}

void swiglu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  visit_floating(in[0].dtype(), [&]<class T>() {
    const std::int64_t n = out[0].size();
    swiglu_rows(in[0].data<T>(), in[1].data<T>(), n, out[0].data<T>(), 1, n);
  });
}

// The product by the matmul kernel (x's rows against gate_up^T, a strided view), then
// swiglu of its two halves: what the decomposition computes, bit for bit.
void linear_swiglu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                          Stream s) {
  const Tensor &x = in[0], &w = in[1];
  const std::int64_t k = w.shape(1), both = w.shape(0), inter = both / 2;
  const std::int64_t rows = rows_of(out[0]);
  if (rows == 0 || inter == 0) return;
  Tensor y = Tensor::empty({rows, both}, x.dtype(), x.device());
  const Tensor operands[] = {x.with_layout(x.dtype(), {rows, k}, {k, 1}, x.offset()),
                             w.with_layout(w.dtype(), {k, both}, {1, k}, w.offset())};
  Tensor products[] = {y};
  const Kernel matmul = kernels(Device::Type::cpu).get(Primitive::matmul);
  matmul(std::span<const Tensor>(operands), std::span<Tensor>(products), attr, s);
  visit_floating(x.dtype(), [&]<class T>() {
    const T* p = y.data<T>();
    swiglu_rows(p, p + inter, both, out[0].data<T>(), rows, inter);
  });
}

// Each row's position, as the compute type C, from the rope operands.
template <class C>
std::vector<C> rope_row_positions(std::span<const Tensor> in, const RopeAttr& a) {
  const Tensor& x = in[0];
  const std::int64_t rows = rows_of(x), t = x.shape(-2);
  std::vector<C> given;
  if (a.positions != RopePositions::scalar) {
    given.resize(static_cast<std::size_t>(in[1].size()));
    visit_dtype(in[1].dtype(), [&]<class P>() {
      if constexpr (!detail::is_complex_v<P>) {
        const P* p = in[1].data<P>();
        for (std::size_t i = 0; i < given.size(); ++i) given[i] = detail::convert<C>(p[i]);
      }
    });
  }
  std::vector<C> pos(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const C step = C(static_cast<double>(a.offset + r % t));
    switch (a.positions) {
      case RopePositions::scalar:
        pos[r] = step;
        break;
      case RopePositions::batch: {
        const std::int64_t b = given.size() == 1 ? 0 : r / (rows / x.shape(0));
        pos[r] = given[b] + step;
        break;
      }
      case RopePositions::tokens:
        pos[r] = given[r / (rows / (x.shape(0) * x.shape(1)))];
        break;
    }
  }
  return pos;
}

void rope_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const auto& a = std::get<RopeAttr>(attr);
  if (a.pair) {  // q's operands, then k's with the same positions: the single form twice
    RopeAttr single = a;
    single.pair = false;
    const Tensor q_in[] = {in[0], in[1], in[2]}, k_in[] = {in[3], in[1], in[4]};
    rope_kernel(std::span<const Tensor>(q_in), out.subspan(0, 1), single, s);
    rope_kernel(std::span<const Tensor>(k_in), out.subspan(1, 1), single, s);
    return;
  }
  visit_floating(in[0].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    std::vector<float> step;
    if (a.has_freqs) {
      const Tensor& f = in[in.size() - (a.has_norm ? 2 : 1)];
      step.resize(static_cast<std::size_t>(f.size()));
      visit_floating(f.dtype(), [&]<class F>() {
        const F* p = f.data<F>();
        for (std::size_t i = 0; i < step.size(); ++i)
          step[i] = static_cast<float>(p[i]) * static_cast<float>(a.scale);
      });
    } else {
      step = detail::rope_inverse_frequencies(a.dims, a.base, a.scale);
    }
    const std::vector<C> pos = rope_row_positions<C>(in, a);
    const T* x = in[0].data<T>();
    T* o = out[0].data<T>();
    const std::int64_t d = in[0].shape(-1), rows = rows_of(in[0]), half = a.dims / 2;
    // cos and sin once per distinct position, not once per row: the heads of a token
    // (and a batch's rows) share positions, and the libm calls were the kernel's cost.
    std::vector<C> distinct = pos;
    std::erase_if(distinct, [](C v) { return std::isnan(v); });  // no order for sort
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const auto count = static_cast<std::int64_t>(distinct.size());
    std::vector<C> cosines(static_cast<std::size_t>(count * half)), sines(cosines.size());
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (count * half >= 4096)
    for (std::int64_t u = 0; u < count; ++u)
      for (std::int64_t i = 0; i < half; ++i) {
        const C angle = distinct[u] * C(step[i]);
        cosines[u * half + i] = std::cos(angle);
        sines[u * half + i] = std::sin(angle);
      }
    // Pair i is (first + i * stride, that + second): split-half or interleaved.
    const std::int64_t stride = a.traditional ? 2 : 1, second = a.traditional ? 1 : half;
    const T* norm_weight = a.has_norm ? in.back().data<T>() : nullptr;
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (rows * d >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * d;
      T* orow = o + r * d;
      thread_local std::vector<T> normed;
      if (norm_weight) {  // the row rms-normed as norm_kernel would leave it
        normed.resize(static_cast<std::size_t>(d));
        norm_row<false>(xr, normed.data(), d, norm_weight, static_cast<const T*>(nullptr),
                        a.norm_eps);
        xr = normed.data();
      }
      // A NaN position is not in the table: computed as before.
      const auto at = std::lower_bound(distinct.begin(), distinct.end(), pos[r]) - distinct.begin();
      const bool tabled = at < count && distinct[at] == pos[r];
      for (std::int64_t i = 0; i < half; ++i) {
        const C c = tabled ? cosines[at * half + i] : std::cos(pos[r] * C(step[i]));
        const C s = tabled ? sines[at * half + i] : std::sin(pos[r] * C(step[i]));
        const std::int64_t j = i * stride;
        const C x1 = C(xr[j]), x2 = C(xr[j + second]);
        orow[j] = T(x1 * c - x2 * s);
        orow[j + second] = T(x1 * s + x2 * c);
      }
      for (std::int64_t j = a.dims; j < d; ++j) orow[j] = xr[j];
    }
  });
}

// Attention, flash style: a task is a block of query rows that read one (batch, kv head);
// it walks the keys its rows may see in blocks of kKeyBlock (scores S = scale Q K^T and
// O += P V of a block by BLAS, key and value rows converted once per block where they are
// not already f32/f64 rows), and keeps per row a streaming (online) softmax: the running
// max, the sum of exponentials below it and the weighted values, rescaled when the max
// grows, so no row of scores is ever stored whole. The rows of a task are positions of
// every query head of the kv head's group when that still leaves a task per thread (the
// heads then share each key block: SmolLM2's 9 heads over 3 read K and V a third as
// often), else positions of one head. When there are still too few tasks for the threads
// (a decode step: one per kv head), the keys are split into parts, each with its own
// softmax state, merged at the end.
constexpr std::int64_t kQueryBlock = 16, kKeyBlock = 64;

// C (m x n) = alpha A op(B) + beta C, row-major, through BLAS on this thread (the
// kernel runs inside its own parallel region). The block products are where the time
// goes, and OpenBLAS picks AVX2/AVX-512 kernels at run time where this build's own loops
// are limited to the baseline instruction set (bench/results/fast-quant.md, "CPU fused
// kernels": prefill 1.8x faster than the loops it replaced).
template <class C>
void block_gemm(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, C alpha, const C* a,
                std::int64_t lda, const C* b, std::int64_t ldb, C beta, C* c, std::int64_t ldc) {
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  if constexpr (std::is_same_v<C, float>)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b,
                static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
  else
    cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b,
                static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

// `n` rows of `d` features (row j at rows + j * row_stride, features feature_stride
// apart) as a row-major matrix of C for BLAS: the tensor's own memory when it already is
// one, else converted into `buffer`. Returns the data and its leading dimension.
template <class T, class C>
std::pair<const C*, std::int64_t> block_rows(const T* rows, std::int64_t row_stride,
                                             std::int64_t feature_stride, std::int64_t n,
                                             std::int64_t d, std::vector<C>& buffer) {
  if constexpr (std::is_same_v<T, C>) {
    if ((feature_stride == 1 || d <= 1) && (row_stride >= d || n <= 1) && d > 0)
      return {rows, std::max<std::int64_t>(row_stride, d)};
  }
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t f = 0; f < d; ++f)
      buffer[j * d + f] = C(rows[j * row_stride + f * feature_stride]);
  return {buffer.data(), std::max<std::int64_t>(d, 1)};
}

void sdpa_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<SdpaAttr>(attr);
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  const std::int64_t batch = q.shape(0), nq = q.shape(1), tq = q.shape(2), dh = q.shape(3);
  const std::int64_t nkv = k.shape(1), tkv = k.shape(2), dv = v.shape(3);
  const std::int64_t groups = nkv == 0 ? 1 : nq / nkv;
  const Tensor* mask = a.mask == SdpaMask::none ? nullptr : &in[3];
  const float* sinks = a.has_sinks ? in.back().data<float>() : nullptr;
  // hg heads per task (1 or the whole group), `positions` query positions of each.
  auto blocks_of = [&](std::int64_t heads) {
    const std::int64_t positions = std::max<std::int64_t>(1, kQueryBlock / heads);
    return std::pair{positions, (tq + positions - 1) / positions};
  };
  const std::int64_t hg =
      batch * nkv * blocks_of(groups).second >= ::emily::cpu::threads() ? groups : 1;
  const auto [positions, query_blocks] = blocks_of(hg);
  const std::int64_t head_sets = nq / hg, row_cap = positions * hg;
  const std::int64_t units = batch * head_sets * query_blocks;
  // Too few units for the threads (a decode step: one per kv head) split the keys, about
  // eight parts per thread in all, each at least 256 keys; each part keeps its own
  // softmax state, merged after. Otherwise threads would wait on the last units.
  const std::int64_t threads = ::emily::cpu::threads();
  const std::int64_t splits =
      units >= 2 * threads
          ? 1
          : std::clamp<std::int64_t>((8 * threads + units - 1) / std::max<std::int64_t>(units, 1),
                                     1, std::max<std::int64_t>(tkv / 256, 1));
  const std::int64_t span = (tkv + splits - 1) / splits;
  const std::int64_t split_keys = (span + kKeyBlock - 1) / kKeyBlock * kKeyBlock;
  const std::int64_t tasks = units * splits;
  visit_floating(q.dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* qp = q.data<T>();
    const T* kp = k.data<T>();
    const T* vp = v.data<T>();
    T* o = out[0].data<T>();
    const auto &qs = q.strides(), &ks = k.strides(), &vs = v.strides();
    const C scale = C(a.scale), neg_inf = -std::numeric_limits<C>::infinity();
    std::vector<C> part_max, part_total, part_acc;  // per (task, row) when the keys are split
    if (splits > 1) {
      part_max.assign(tasks * row_cap, neg_inf);
      part_total.assign(tasks * row_cap, C(0));
      part_acc.assign(tasks * row_cap * dv, C(0));
    }
#pragma omp parallel num_threads(threads) if (batch * nq * tq * tkv * dh >= kParallelGrain)
    {
      std::vector<C> qbuf(row_cap * dh), acc(row_cap * dv), p(row_cap * kKeyBlock);
      std::vector<C> kblock(dh * kKeyBlock), vblock(dv * kKeyBlock);
      std::vector<C> running_max(row_cap), total(row_cap);
      std::vector<std::int64_t> row_head(row_cap), row_pos(row_cap);
      // Where unit u's query rows are: i0 its first position, h0 its first head.
      auto locate = [&](std::int64_t u) {
        const std::int64_t i0 = (u % query_blocks) * positions;
        const std::int64_t h0 = (u / query_blocks) % head_sets * hg;
        const std::int64_t b = u / (query_blocks * head_sets);
        return std::tuple{i0, h0, b, std::min(positions, tq - i0) * hg};
      };
#pragma omp for schedule(dynamic)
      for (std::int64_t task = 0; task < tasks; ++task) {
        const std::int64_t unit = task / splits, split = task % splits;
        const auto [i0, h0, b, rows] = locate(unit);
        const std::int64_t kvh = h0 / groups;
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t h = h0 + r % hg, i = i0 + r / hg;
          row_head[r] = h;
          row_pos[r] = i;
          const T* qr = qp + b * qs[0] + h * qs[1] + i * qs[2];
          for (std::int64_t d = 0; d < dh; ++d) qbuf[r * dh + d] = C(qr[d * qs[3]]);
          // A sink is one more logit whose value is zero: it starts the row's sums (in the
          // first part of the keys only, so the merge counts it once).
          running_max[r] = sinks && split == 0 ? C(sinks[h]) : neg_inf;
          total[r] = sinks && split == 0 ? C(1) : C(0);
        }
        std::fill(acc.begin(), acc.end(), C(0));
        // Keys [0, last) are all that any row of the block may see.
        std::int64_t last = tkv;
        if (a.causal) last = std::clamp<std::int64_t>(i0 + rows / hg + a.causal_offset, 0, tkv);
        const T* kh = kp + b * ks[0] + kvh * ks[1];
        const T* vh = vp + b * vs[0] + kvh * vs[1];
        const std::int64_t end = std::min(last, (split + 1) * split_keys);
        for (std::int64_t j0 = split * split_keys; j0 < end; j0 += kKeyBlock) {
          const std::int64_t n = std::min(kKeyBlock, end - j0);
          // The masks first, as each score's start: a hidden key's is -inf, a seen key's its
          // additive bias (a row's mask read along one pointer). A block no row sees adds
          // nothing, so its products are skipped: a decode step's mask over a cache hides
          // the unwritten tail, which then costs only this pass.
          bool any_seen = false;
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t i = row_pos[r], h = row_head[r];
            // Keys from `limit` on are past the causal rule; the rest read the mask's row.
            const std::int64_t limit =
                a.causal ? std::clamp<std::int64_t>(i + a.causal_offset + 1 - j0, 0, n) : n;
            C* pr = &p[r * kKeyBlock];
            auto fill = [&](auto start) {
              bool any = false;  // or-ed without a branch, so the loop vectorizes
              for (std::int64_t jj = 0; jj < n; ++jj) {
                pr[jj] = jj < limit ? start(jj) : neg_inf;
                any |= pr[jj] != neg_inf;
              }
              any_seen = any_seen || any;
            };
            const std::int64_t* ms = mask ? mask->strides().data() : nullptr;
            if (!mask) {
              fill([](std::int64_t) { return C(0); });
            } else if (a.mask == SdpaMask::keys) {
              const bool* m = mask->data<bool>() + b * ms[0] + j0 * ms[1];
              fill([&](std::int64_t jj) { return m[jj * ms[1]] ? C(0) : neg_inf; });
            } else if (a.mask == SdpaMask::boolean) {
              const bool* m = mask->data<bool>() + b * ms[0] + h * ms[1] + i * ms[2] + j0 * ms[3];
              fill([&](std::int64_t jj) { return m[jj * ms[3]] ? C(0) : neg_inf; });
            } else {
              const float* m = mask->data<float>() + b * ms[0] + h * ms[1] + i * ms[2] + j0 * ms[3];
              fill([&](std::int64_t jj) { return C(m[jj * ms[3]]); });
            }
          }
          if (!any_seen) continue;
          // Scaled scores added, S = scale Q K^T + S, by BLAS (-inf stays -inf).
          const auto [kb, ldk] = block_rows<T, C>(kh + j0 * ks[2], ks[2], ks[3], n, dh, kblock);
          block_gemm<C>(true, rows, n, dh, scale, qbuf.data(), std::max<std::int64_t>(dh, 1), kb,
                        ldk, C(1), p.data(), kKeyBlock);
          // Scores to weights, rescaling what the rows gathered so far.
          for (std::int64_t r = 0; r < rows; ++r) {
            C* pr = &p[r * kKeyBlock];
            C block_max = neg_inf;
            for (std::int64_t jj = 0; jj < n; ++jj) block_max = std::max(block_max, pr[jj]);
            const C new_max = std::max(running_max[r], block_max);
            if (new_max == neg_inf) {  // nothing seen yet
              std::fill(pr, pr + n, C(0));
              continue;
            }
            if (new_max > running_max[r]) {
              const C rescale = std::exp(running_max[r] - new_max);
              total[r] *= rescale;
              for (std::int64_t d = 0; d < dv; ++d) acc[r * dv + d] *= rescale;
              running_max[r] = new_max;
            }
            // Without calls or branches the loop vectorizes; hidden keys select 0.
            for (std::int64_t jj = 0; jj < n; ++jj) {
              const C e = exp_of(std::max(pr[jj] - new_max, C(-100)));
              pr[jj] = pr[jj] == neg_inf ? C(0) : e;
            }
            for (std::int64_t jj = 0; jj < n; ++jj) total[r] += pr[jj];
          }
          // acc += P V, by BLAS.
          const auto [vb, ldv] = block_rows<T, C>(vh + j0 * vs[2], vs[2], vs[3], n, dv, vblock);
          block_gemm<C>(false, rows, dv, n, C(1), p.data(), kKeyBlock, vb, ldv, C(1), acc.data(),
                        std::max<std::int64_t>(dv, 1));
        }
        if (splits > 1) {
          const std::int64_t at = task * row_cap;
          std::copy(running_max.begin(), running_max.begin() + rows, part_max.begin() + at);
          std::copy(total.begin(), total.begin() + rows, part_total.begin() + at);
          std::copy(acc.begin(), acc.begin() + rows * dv, part_acc.begin() + at * dv);
          continue;
        }
        for (std::int64_t r = 0; r < rows; ++r) {
          T* orow = o + ((b * nq + row_head[r]) * tq + row_pos[r]) * dv;
          for (std::int64_t d = 0; d < dv; ++d)
            orow[d] = T(total[r] > 0 ? acc[r * dv + d] / total[r] : C(0));
        }
      }
      if (splits > 1) {
        // The parts of each row merged: weights exp(max_s - max) (0 for a part that saw
        // nothing). The loop above ends with a barrier, so every part is written.
#pragma omp for schedule(static)
        for (std::int64_t unit = 0; unit < units; ++unit) {
          const auto [i0, h0, b, rows] = locate(unit);
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t at = unit * splits * row_cap + r;
            C mx = neg_inf;
            for (std::int64_t sp = 0; sp < splits; ++sp)
              mx = std::max(mx, part_max[at + sp * row_cap]);
            std::fill(acc.begin(), acc.begin() + dv, C(0));
            C sum = 0;
            for (std::int64_t sp = 0; sp < splits && mx != neg_inf; ++sp) {
              const std::int64_t part = at + sp * row_cap;
              if (part_max[part] == neg_inf) continue;
              const C w = std::exp(part_max[part] - mx);
              sum += w * part_total[part];
              for (std::int64_t d = 0; d < dv; ++d) acc[d] += w * part_acc[part * dv + d];
            }
            const std::int64_t h = h0 + r % hg, i = i0 + r / hg;
            T* orow = o + ((b * nq + h) * tq + i) * dv;
            for (std::int64_t d = 0; d < dv; ++d) orow[d] = T(sum > 0 ? acc[d] / sum : C(0));
          }
        }
      }
    }
  });
}

}  // namespace

void register_fast(KernelTable& t) {
  t.set(Primitive::fast_rms_norm, norm_kernel<false>);
  t.set(Primitive::fast_layer_norm, norm_kernel<true>);
  t.set(Primitive::fast_swiglu, swiglu_kernel);
  t.set(Primitive::fast_linear_swiglu, linear_swiglu_kernel);
  t.set(Primitive::fast_rope, rope_kernel);
  t.set(Primitive::fast_sdpa, sdpa_kernel);
}

}  // namespace emily::cpu
