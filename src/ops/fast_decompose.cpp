// The fast ops written with catalogue ops only. Each computes in f32 for half inputs
// (f64 for f64) and rounds once at the end, as the kernels do, so the two agree to
// rounding; the tests use these as the kernels' oracle. They run where a backend has no
// kernel, so every tensor made here is moved to the inputs' device (the creation
// helpers make CPU tensors).
#include "ops/fast_decompose.h"

#include <cmath>

#include "core/rope_frequencies.h"
#include "emily/fast.h"
#include "emily/ops.h"

namespace emily::detail {

namespace {

DType compute_dtype(DType t) {
  return t == DType::f64 ? DType::f64 : DType::f32;
}

Tensor rms_norm(const std::vector<Tensor>& in, const NormAttr& a) {
  const DType c = compute_dtype(in[0].dtype());
  Tensor x = astype(in[0], c);
  Tensor y = x * rsqrt(mean(x * x, -1, true) + a.eps);
  if (a.has_weight) y = y * astype(in[1], c);
  return astype(y, in[0].dtype());
}

Tensor layer_norm(const std::vector<Tensor>& in, const NormAttr& a) {
  const DType c = compute_dtype(in[0].dtype());
  Tensor x = astype(in[0], c);
  Tensor centred = x - mean(x, -1, true);
  Tensor y = centred * rsqrt(mean(centred * centred, -1, true) + a.eps);
  std::size_t next = 1;
  if (a.has_weight) y = y * astype(in[next++], c);
  if (a.has_bias) y = y + astype(in[next], c);
  return astype(y, in[0].dtype());
}

Tensor swiglu(const std::vector<Tensor>& in) {
  const DType c = compute_dtype(in[0].dtype());
  Tensor g = astype(in[0], c);
  return astype(g * sigmoid(g) * astype(in[1], c), in[0].dtype());
}

// The two products as one matmul (a Linear's x W^T over rows), then swiglu of its halves:
// fast::swiglu, so that where a backend declines only the fused form, its swiglu kernel
// still runs (and under DecomposeGuard the decomposition above).
Tensor linear_swiglu(const std::vector<Tensor>& in) {
  const Tensor &x = in[0], &w = in[1];
  const std::int64_t k = x.shape(-1), inter = w.shape(0) / 2;
  const std::int64_t rows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Tensor y = matmul(reshape(x, {rows, k}), transpose(w));
  Tensor gate = slice(y, {0, 0}, {rows, inter}), up = slice(y, {0, inter}, {rows, 2 * inter});
  Shape shape = x.shape();
  shape.back() = inter;
  return reshape(fast::swiglu(gate, up), shape);
}

// Positions shaped to broadcast against x's rows (x.shape without its last axis).
Tensor rope_positions(const std::vector<Tensor>& in, const RopeAttr& a, DType c) {
  const Tensor& x = in[0];
  const int rank = x.ndim();
  const std::int64_t t = x.shape(-2);
  Tensor steps =
      arange(static_cast<double>(a.offset), static_cast<double>(a.offset + t), 1.0, c, x.device());
  if (a.positions == RopePositions::scalar) return reshape(steps, {t});
  if (a.positions == RopePositions::batch) {
    Tensor offsets = astype(in[1], c);
    if (offsets.ndim() == 0) return offsets + steps;
    Shape s(static_cast<std::size_t>(rank - 1), 1);
    s[0] = x.shape(0);
    return reshape(offsets, s) + steps;
  }
  Shape s(static_cast<std::size_t>(rank - 1), 1);
  s[0] = x.shape(0);
  s[1] = x.shape(1);
  return reshape(astype(in[1], c), s);
}

Tensor rope(const std::vector<Tensor>& in, const RopeAttr& a) {
  if (a.has_norm) {  // the norm first, rounded as rms_norm leaves it; then a plain rope
    std::vector<Tensor> rest(in.begin(), in.end() - 1);
    rest[0] = rms_norm({in[0], in.back()}, NormAttr{a.norm_eps, true});
    RopeAttr plain = a;
    plain.has_norm = false;
    return rope(rest, plain);
  }
  const Tensor& x0 = in[0];
  const DType c = compute_dtype(x0.dtype());
  const int rank = x0.ndim();
  const std::int64_t d = x0.shape(-1), half = a.dims / 2;
  Tensor step;
  if (a.has_freqs) {
    step = astype(astype(in.back(), DType::f32) * a.scale, c);
  } else {
    std::vector<float> f = rope_inverse_frequencies(a.dims, a.base, a.scale);
    step = astype(from_blob(f.data(), {half}, DType::f32, x0.device()), c);
  }
  // angle[..., i] = position * step[i]
  Tensor angle = expand_dims(rope_positions(in, a, c), {-1}) * step;
  Tensor cs = cos(angle), sn = sin(angle);

  Tensor x = astype(x0, c);
  Shape lo(static_cast<std::size_t>(rank), 0), hi = x.shape();
  auto part = [&](std::int64_t from, std::int64_t to, std::int64_t step_by) {
    Shape a0 = lo, a1 = hi, st(static_cast<std::size_t>(rank), 1);
    a0.back() = from;
    a1.back() = to;
    st.back() = step_by;
    return slice(x, a0, a1, st);
  };
  Tensor x1 = a.traditional ? part(0, a.dims, 2) : part(0, half, 1);
  Tensor x2 = a.traditional ? part(1, a.dims, 2) : part(half, a.dims, 1);
  Tensor r1 = x1 * cs - x2 * sn;
  Tensor r2 = x1 * sn + x2 * cs;
  Tensor rotated;
  if (a.traditional) {
    Shape s = x.shape();
    s.back() = a.dims;
    rotated = reshape(stack({r1, r2}, -1), s);
  } else {
    rotated = concatenate({r1, r2}, -1);
  }
  if (a.dims < d) rotated = concatenate({rotated, part(a.dims, d, 1)}, -1);
  return astype(rotated, x0.dtype());
}

Tensor sdpa(const std::vector<Tensor>& in, const SdpaAttr& a) {
  const DType c = compute_dtype(in[0].dtype());
  const Tensor q = astype(in[0], c), k = astype(in[1], c), v = astype(in[2], c);
  const std::int64_t b = q.shape(0), nq = q.shape(1), tq = q.shape(2), dh = q.shape(3);
  const std::int64_t nkv = k.shape(1), tkv = k.shape(2), dv = v.shape(3);
  const std::int64_t groups = nkv == 0 ? 1 : nq / nkv;
  const Device device = q.device();
  if (tkv == 0) return zeros({b, nq, tq, dv}, in[0].dtype(), device);
  const Tensor neg_inf = scalar_like(q, -INFINITY);

  // Query heads grouped under their key/value head: {B, Nkv, G*Tq, D} against
  // {B, Nkv, D, Tkv}, so K and V are read once per group, never repeated.
  Tensor qg = reshape(q, {b, nkv, groups * tq, dh});
  Tensor s = matmul(qg, transpose(k, {0, 1, 3, 2})) * a.scale;
  s = reshape(s, {b, nq, tq, tkv});
  std::size_t next = 3;
  if (a.mask == SdpaMask::additive) {
    s = s + astype(in[next++], c);
  } else if (a.mask == SdpaMask::boolean) {
    s = where(in[next++], s, neg_inf);
  } else if (a.mask == SdpaMask::keys) {
    s = where(reshape(in[next++], {b, 1, 1, tkv}), s, neg_inf);
  }
  if (a.causal) {
    // Query i sees key j when j <= i + causal_offset.
    Tensor rows = reshape(arange(tq, DType::s64, device), {tq, 1});
    Tensor cols = arange(tkv, DType::s64, device);
    Tensor allowed = less_equal(cols, rows + static_cast<double>(a.causal_offset));
    s = where(allowed, s, neg_inf);
  }
  Tensor m = max(s, -1, true);
  Tensor sink;
  if (a.has_sinks) {
    sink = reshape(astype(in[next], c), {1, nq, 1, 1});
    m = maximum(m, sink);
  }
  // A row with every key masked has max -inf; shifting by 0 there makes its weights 0.
  m = where(is_infinity(m), scalar_like(m, 0.0), m);
  Tensor e = exp(s - m);
  Tensor denom = sum(e, -1, true);
  if (a.has_sinks) denom = denom + exp(sink - m);
  Tensor o = matmul(reshape(e, {b, nkv, groups * tq, tkv}), v);
  o = reshape(o, {b, nq, tq, dv});
  denom = where(equal(denom, scalar_like(denom, 0.0)), scalar_like(denom, 1.0), denom);
  return astype(o / denom, in[0].dtype());
}

}  // namespace

std::pair<Tensor, Tensor> decompose_add_norm(Primitive p, const std::vector<Tensor>& in,
                                             const NormAttr& attr) {
  // The sum in x's dtype (an add of two halves computes in f32 and rounds once), as the
  // kernels round it before the norm reads it.
  Tensor sum = in[0] + in[1];
  std::vector<Tensor> rest{sum};
  rest.insert(rest.end(), in.begin() + 2, in.end());
  NormAttr plain = attr;
  plain.has_residual = false;
  return {sum, p == Primitive::fast_rms_norm ? rms_norm(rest, plain) : layer_norm(rest, plain)};
}

Tensor decompose_fast(Primitive p, const std::vector<Tensor>& in, const Attr& attr) {
  if (const auto* norm = std::get_if<NormAttr>(&attr); norm && norm->has_residual)
    EMILY_THROW(Error, std::string(name(p)).c_str(), "with a residual has two results ",
                "(decompose_add_norm)");
  switch (p) {
    case Primitive::fast_rms_norm:
      return rms_norm(in, std::get<NormAttr>(attr));
    case Primitive::fast_layer_norm:
      return layer_norm(in, std::get<NormAttr>(attr));
    case Primitive::fast_swiglu:
      return swiglu(in);
    case Primitive::fast_linear_swiglu:
      return linear_swiglu(in);
    case Primitive::fast_rope:
      return rope(in, std::get<RopeAttr>(attr));
    case Primitive::fast_sdpa:
      return sdpa(in, std::get<SdpaAttr>(attr));
    default:
      EMILY_THROW(Error, std::string(name(p)).c_str(), "has no decomposition");
  }
}

}  // namespace emily::detail
