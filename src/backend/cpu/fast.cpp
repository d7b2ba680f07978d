// The fused transformer kernels: rms_norm, layer_norm, swiglu, rope and sdpa. Rows run in
// parallel; half inputs compute in f32 and round once on store. The op layer hands the
// norm, swiglu and rope kernels dense operands; sdpa reads q, k, v and the mask through
// their strides (heads-major views of {B, T, N, D} tensors and broadcast masks are
// common, and copying them would cost more than the strided reads).
#include <algorithm>
#include <cmath>
#include <limits>
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

void rms_norm_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<NormAttr>(attr);
  visit_floating(in[0].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* x = in[0].data<T>();
    const T* w = a.has_weight ? in[1].data<T>() : nullptr;
    T* o = out[0].data<T>();
    const std::int64_t d = in[0].shape(-1), rows = rows_of(in[0]);
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (rows * d >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * d;
      T* orow = o + r * d;
      // Row sums in double: a long row's f32 sum would carry error into every output.
      double squares = 0;
      for (std::int64_t j = 0; j < d; ++j) squares += double(C(xr[j])) * double(C(xr[j]));
      const C inv = C(1) / std::sqrt(C(squares / double(d)) + C(a.eps));
      for (std::int64_t j = 0; j < d; ++j) {
        C y = C(xr[j]) * inv;
        if (w) y *= C(w[j]);
        orow[j] = T(y);
      }
    }
  });
}

void layer_norm_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                       Stream) {
  const auto& a = std::get<NormAttr>(attr);
  visit_floating(in[0].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* x = in[0].data<T>();
    const T* w = a.has_weight ? in[1].data<T>() : nullptr;
    const T* bias = a.has_bias ? in[a.has_weight ? 2 : 1].data<T>() : nullptr;
    T* o = out[0].data<T>();
    const std::int64_t d = in[0].shape(-1), rows = rows_of(in[0]);
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (rows * d >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * d;
      T* orow = o + r * d;
      double total = 0;
      for (std::int64_t j = 0; j < d; ++j) total += double(C(xr[j]));
      const C mean = C(total / double(d));
      // Two passes over the row: the variance of centred values, not E[x^2] - E[x]^2,
      // which cancels badly when the mean is large.
      double squares = 0;
      for (std::int64_t j = 0; j < d; ++j) {
        const double centred = double(C(xr[j]) - mean);
        squares += centred * centred;
      }
      const C inv = C(1) / std::sqrt(C(squares / double(d)) + C(a.eps));
      for (std::int64_t j = 0; j < d; ++j) {
        C y = (C(xr[j]) - mean) * inv;
        if (w) y *= C(w[j]);
        if (bias) y += C(bias[j]);
        orow[j] = T(y);
      }
    }
  });
}

void swiglu_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  visit_floating(in[0].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* g = in[0].data<T>();
    const T* u = in[1].data<T>();
    T* o = out[0].data<T>();
    const std::int64_t n = out[0].size();
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      const C x = C(g[i]);
      o[i] = T(x * (C(1) / (C(1) + std::exp(-x))) * C(u[i]));
    }
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

void rope_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<RopeAttr>(attr);
  visit_floating(in[0].dtype(), [&]<class T>() {
    using C = compute_t<T>;
    std::vector<float> step;
    if (a.has_freqs) {
      const Tensor& f = in.back();
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
    // Pair i is (first + i * stride, that + second): split-half or interleaved.
    const std::int64_t stride = a.traditional ? 2 : 1, second = a.traditional ? 1 : half;
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (rows * d >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * d;
      T* orow = o + r * d;
      for (std::int64_t i = 0; i < half; ++i) {
        const C angle = pos[r] * C(step[i]);
        const C c = std::cos(angle), s = std::sin(angle);
        const std::int64_t j = i * stride;
        const C x1 = C(xr[j]), x2 = C(xr[j + second]);
        orow[j] = T(x1 * c - x2 * s);
        orow[j + second] = T(x1 * s + x2 * c);
      }
      for (std::int64_t j = a.dims; j < d; ++j) orow[j] = xr[j];
    }
  });
}

// Attention, flash style: a task is a block of query rows of one (batch, head); it walks
// the keys its rows may see in blocks, converting each key and value row once for the
// whole query block, and keeps per row a streaming (online) softmax: the running max, the
// sum of exponentials below it and the weighted values, rescaled when the max grows, so
// no row of scores is ever stored whole.
constexpr std::int64_t kQueryBlock = 16, kKeyBlock = 64;

template <class C>
C exp_of(C x) {
  if constexpr (std::is_same_v<C, float>)
    return ew::exp_f32(x);  // vectorizes, within 1 ULP (elementwise_ops.h)
  else
    return std::exp(x);
}

void sdpa_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& a = std::get<SdpaAttr>(attr);
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  const std::int64_t batch = q.shape(0), nq = q.shape(1), tq = q.shape(2), dh = q.shape(3);
  const std::int64_t nkv = k.shape(1), tkv = k.shape(2), dv = v.shape(3);
  const std::int64_t groups = nkv == 0 ? 1 : nq / nkv;
  const Tensor* mask = a.mask == SdpaMask::none ? nullptr : &in[3];
  const float* sinks = a.has_sinks ? in.back().data<float>() : nullptr;
  const std::int64_t query_blocks = (tq + kQueryBlock - 1) / kQueryBlock;
  const std::int64_t tasks = batch * nq * query_blocks;
  visit_floating(q.dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* qp = q.data<T>();
    const T* kp = k.data<T>();
    const T* vp = v.data<T>();
    T* o = out[0].data<T>();
    const auto &qs = q.strides(), &ks = k.strides(), &vs = v.strides();
    const C scale = C(a.scale), neg_inf = -std::numeric_limits<C>::infinity();
#pragma omp parallel num_threads(::emily::cpu::threads()) if (batch * nq * tq * tkv * dh >= \
                                                              kParallelGrain)
    {
      std::vector<C> qbuf(kQueryBlock * dh), acc(kQueryBlock * dv), p(kQueryBlock * kKeyBlock);
      std::vector<C> kblock(dh * kKeyBlock), vrow(dv);
      C running_max[kQueryBlock], total[kQueryBlock];
#pragma omp for schedule(dynamic)
      for (std::int64_t task = 0; task < tasks; ++task) {
        const std::int64_t i0 = (task % query_blocks) * kQueryBlock;
        const std::int64_t h = (task / query_blocks) % nq, b = task / (query_blocks * nq);
        const std::int64_t rows = std::min(kQueryBlock, tq - i0), kvh = h / groups;
        for (std::int64_t r = 0; r < rows; ++r) {
          const T* qr = qp + b * qs[0] + h * qs[1] + (i0 + r) * qs[2];
          for (std::int64_t d = 0; d < dh; ++d) qbuf[r * dh + d] = C(qr[d * qs[3]]);
          // A sink is one more logit whose value is zero: it starts the row's sums.
          running_max[r] = sinks ? C(sinks[h]) : neg_inf;
          total[r] = sinks ? C(1) : C(0);
        }
        std::fill(acc.begin(), acc.end(), C(0));
        // Keys [0, last) are all that any row of the block may see.
        std::int64_t last = tkv;
        if (a.causal) last = std::clamp<std::int64_t>(i0 + rows + a.causal_offset, 0, tkv);
        const T* kh = kp + b * ks[0] + kvh * ks[1];
        const T* vh = vp + b * vs[0] + kvh * vs[1];
        for (std::int64_t j0 = 0; j0 < last; j0 += kKeyBlock) {
          const std::int64_t n = std::min(kKeyBlock, last - j0);
          // The key block transposed ({D, keys}), so that every query's scores grow by
          // one contiguous multiply-add per feature, which vectorizes.
          for (std::int64_t jj = 0; jj < n; ++jj) {
            const T* kr = kh + (j0 + jj) * ks[2];
            for (std::int64_t d = 0; d < dh; ++d) kblock[d * kKeyBlock + jj] = C(kr[d * ks[3]]);
          }
          for (std::int64_t r = 0; r < rows; ++r) {
            C* pr = &p[r * kKeyBlock];
            std::fill(pr, pr + n, C(0));
            for (std::int64_t d = 0; d < dh; ++d) {
              const C qd = qbuf[r * dh + d];
              const C* kd = &kblock[d * kKeyBlock];
              for (std::int64_t jj = 0; jj < n; ++jj) pr[jj] += qd * kd[jj];
            }
          }
          // Scale, then the masks: a hidden key's score is -inf.
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t i = i0 + r;
            C* pr = &p[r * kKeyBlock];
            for (std::int64_t jj = 0; jj < n; ++jj) {
              const std::int64_t j = j0 + jj;
              bool seen = !a.causal || j <= i + a.causal_offset;
              C bias = 0;
              if (seen && mask) {
                const auto& ms = mask->strides();
                if (a.mask == SdpaMask::keys) {
                  seen = mask->data<bool>()[b * ms[0] + j * ms[1]];
                } else {
                  const std::int64_t at = b * ms[0] + h * ms[1] + i * ms[2] + j * ms[3];
                  if (a.mask == SdpaMask::boolean)
                    seen = mask->data<bool>()[at];
                  else
                    bias = C(mask->data<float>()[at]);
                }
              }
              pr[jj] = seen ? pr[jj] * scale + bias : neg_inf;
            }
          }
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
          for (std::int64_t jj = 0; jj < n; ++jj) {
            const T* vr = vh + (j0 + jj) * vs[2];
            for (std::int64_t d = 0; d < dv; ++d) vrow[d] = C(vr[d * vs[3]]);
            for (std::int64_t r = 0; r < rows; ++r) {
              const C w = p[r * kKeyBlock + jj];
              if (w == C(0)) continue;
              for (std::int64_t d = 0; d < dv; ++d) acc[r * dv + d] += w * vrow[d];
            }
          }
        }
        for (std::int64_t r = 0; r < rows; ++r) {
          T* orow = o + ((b * nq + h) * tq + i0 + r) * dv;
          for (std::int64_t d = 0; d < dv; ++d)
            orow[d] = T(total[r] > 0 ? acc[r * dv + d] / total[r] : C(0));
        }
      }
    }
  });
}

}  // namespace

void register_fast(KernelTable& t) {
  t.set(Primitive::fast_rms_norm, rms_norm_kernel);
  t.set(Primitive::fast_layer_norm, layer_norm_kernel);
  t.set(Primitive::fast_swiglu, swiglu_kernel);
  t.set(Primitive::fast_rope, rope_kernel);
  t.set(Primitive::fast_sdpa, sdpa_kernel);
}

}  // namespace emily::cpu
