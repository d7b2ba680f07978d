// The fused transformer ops: argument checks, then the device's kernel or, where the
// backend has none or its kernel declines these operands, the decomposition
// (src/ops/fast_decompose.cpp). Running the decomposition rather than the dispatcher's
// CPU fallback keeps the data on its device.
#include "emily/fast.h"

#include <cmath>

#include "emily/ops.h"
#include "ops/dispatch.h"
#include "ops/fast_decompose.h"

namespace emily::fast {

namespace {

void require_float(const char* op, const char* what, const Tensor& t) {
  detail::require_defined(op, t);
  if (!is_floating(t.dtype()))
    EMILY_THROW(DTypeError, op, what, " must be f16, bf16, f32 or f64, got ", name(t.dtype()));
}

void require_same_dtype(const char* op, const char* what, const Tensor& t, const Tensor& x) {
  detail::require_defined(op, t);
  if (t.dtype() != x.dtype())
    EMILY_THROW(DTypeError, op, what, " is ", name(t.dtype()), " but the input is ",
                name(x.dtype()));
}

void require_finite(const char* op, const char* what, double v) {
  if (!std::isfinite(v)) EMILY_THROW(ValueError, op, what, " must be finite, got ", v);
}

// Kernels read the operands as dense rows; inputs that are views are copied once here.
std::vector<Tensor> dense(std::vector<Tensor> in) {
  for (auto& t : in) t = contiguous(t);
  return in;
}

Tensor run(Primitive p, const std::vector<Tensor>& in, const Shape& shape, DType dtype,
           const Attr& attr, bool dense_inputs = true) {
  Device device = detail::common_device(name(p).data(), in);
  if (decomposition_forced(Family::fast) || !kernels(device.type).accepts(p, in, attr))
    return detail::decompose_fast(p, in, attr);
  return detail::dispatch(p, dense_inputs ? dense(in) : in, shape, dtype, attr);
}

// ---- normalization --------------------------------------------------------------------

// The operands {x, residual?, weight?, bias?} after the checks every norm shares.
std::vector<Tensor> norm_operands(const char* op, const Tensor& x, const Tensor* residual,
                                  const std::optional<Tensor>& weight,
                                  const std::optional<Tensor>& bias, double eps) {
  require_float(op, "x", x);
  if (x.ndim() < 1) EMILY_THROW(ShapeError, op, "x must have at least one axis");
  if (!(eps >= 0) || !std::isfinite(eps))
    EMILY_THROW(ValueError, op, "eps must be finite and non-negative, got ", eps);
  std::vector<Tensor> in{x};
  if (residual) {
    require_same_dtype(op, "residual", *residual, x);
    if (residual->shape() != x.shape())
      EMILY_THROW(ShapeError, op, "residual must have x's shape ", to_string(x.shape()), ", got ",
                  to_string(residual->shape()));
    in.push_back(*residual);
  }
  const Shape row{x.shape(-1)};
  for (auto [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (!*t) continue;
    require_same_dtype(op, what, **t, x);
    if ((*t)->shape() != row)
      EMILY_THROW(ShapeError, op, what, " must have shape ", to_string(row), ", got ",
                  to_string((*t)->shape()));
    in.push_back(**t);
  }
  return in;
}

Tensor norm(Primitive p, const char* op, const Tensor& x, const std::optional<Tensor>& weight,
            const std::optional<Tensor>& bias, double eps) {
  std::vector<Tensor> in = norm_operands(op, x, nullptr, weight, bias, eps);
  return run(p, in, x.shape(), x.dtype(), NormAttr{eps, weight.has_value(), bias.has_value()});
}

std::pair<Tensor, Tensor> add_norm(Primitive p, const char* op, const Tensor& x,
                                   const Tensor& residual, const std::optional<Tensor>& weight,
                                   const std::optional<Tensor>& bias, double eps) {
  std::vector<Tensor> in = norm_operands(op, x, &residual, weight, bias, eps);
  const NormAttr attr{eps, weight.has_value(), bias.has_value(), true};
  Device device = detail::common_device(op, in);
  if (decomposition_forced(Family::fast) || !kernels(device.type).accepts(p, in, attr))
    return detail::decompose_add_norm(p, in, attr);
  auto out = detail::dispatch(
      p, dense(std::move(in)),
      std::vector<detail::OutSpec>{{x.shape(), x.dtype()}, {x.shape(), x.dtype()}}, attr);
  return {out[0], out[1]};
}

// ---- rope -----------------------------------------------------------------------------

// x, dims, scale and (but for rope_with_freqs, which takes frequencies) base.
void check_rope(const char* op, const Tensor& x, int dims, std::optional<double> base,
                double scale) {
  require_float(op, "x", x);
  if (x.ndim() < 2) EMILY_THROW(ShapeError, op, "x must have at least 2 axes, got ", x.ndim());
  if (dims <= 0 || dims % 2 != 0 || dims > x.shape(-1))
    EMILY_THROW(ValueError, op, "dims must be even and in (0, ", x.shape(-1), "], got ", dims);
  if (base) require_finite(op, "base", *base);
  require_finite(op, "scale", scale);
}

void require_positions(const char* op, const char* what, const Tensor& t) {
  detail::require_defined(op, t);
  if (is_complex(t.dtype()) || t.dtype() == DType::bool_)
    EMILY_THROW(DTypeError, op, what, " must be integer or floating, got ", name(t.dtype()));
}

// Per-batch offsets: 0-d, or {B} with B the first axis of x (then x needs a batch axis
// besides {T, D}).
void check_offsets(const char* op, const Tensor& x, const Tensor& offsets) {
  require_positions(op, "offsets", offsets);
  if (offsets.ndim() == 0) return;
  if (offsets.ndim() != 1 || x.ndim() < 3 || offsets.shape(0) != x.shape(0))
    EMILY_THROW(ShapeError, op, "offsets must be 0-d or {B} for x {B, ..., T, D}; got ",
                to_string(offsets.shape()), " for x ", to_string(x.shape()));
}

// ---- sdpa -----------------------------------------------------------------------------

struct Attention {
  std::int64_t batch, q_heads, kv_heads, q_len, kv_len;
};

Attention check_attention(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                          double scale) {
  require_float(op, "q", q);
  require_same_dtype(op, "k", k, q);
  require_same_dtype(op, "v", v, q);
  require_finite(op, "scale", scale);
  for (auto [t, what] : {std::pair{&q, "q"}, std::pair{&k, "k"}, std::pair{&v, "v"}}) {
    if (t->ndim() != 4)
      EMILY_THROW(ShapeError, op, what, " must be {B, heads, T, D}, got ", to_string(t->shape()));
  }
  const Attention a{q.shape(0), q.shape(1), k.shape(1), q.shape(2), k.shape(2)};
  if (k.shape(0) != a.batch || v.shape(0) != a.batch || v.shape(1) != a.kv_heads ||
      v.shape(2) != a.kv_len || k.shape(3) != q.shape(3))
    EMILY_THROW(ShapeError, op, "q ", to_string(q.shape()), ", k ", to_string(k.shape()), " and v ",
                to_string(v.shape()), " do not fit q {B, Nq, Tq, D}, k {B, Nkv, Tkv, D}, ",
                "v {B, Nkv, Tkv, Dv}");
  if (a.kv_heads == 0 ? a.q_heads != 0 : a.q_heads % a.kv_heads != 0)
    EMILY_THROW(ShapeError, op, "query heads (", a.q_heads, ") must be a multiple of key/value ",
                "heads (", a.kv_heads, ")");
  return a;
}

Tensor attention(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                 const std::optional<Tensor>& mask, SdpaAttr attr,
                 const std::optional<Tensor>& sinks) {
  Attention a = check_attention(op, q, k, v, scale);
  attr.scale = scale;
  std::vector<Tensor> in{q, k, v};
  if (mask) in.push_back(*mask);
  if (sinks) {
    require_float(op, "sinks", *sinks);
    if (sinks->shape() != Shape{a.q_heads})
      EMILY_THROW(ShapeError, op, "sinks must have shape (", a.q_heads, "), got ",
                  to_string(sinks->shape()));
    attr.has_sinks = true;
    in.push_back(contiguous(astype(*sinks, DType::f32)));
  }
  Shape out{a.batch, a.q_heads, a.q_len, v.shape(3)};
  // The kernel walks q, k, v and the mask through their strides: {B, T, N, D} tensors
  // transposed to {B, N, T, D} and broadcast masks need no copy.
  return run(Primitive::fast_sdpa, in, out, q.dtype(), attr, false);
}

}  // namespace

Tensor rms_norm(const Tensor& x, const std::optional<Tensor>& weight, double eps) {
  return norm(Primitive::fast_rms_norm, "fast_rms_norm", x, weight, std::nullopt, eps);
}

Tensor layer_norm(const Tensor& x, const std::optional<Tensor>& weight,
                  const std::optional<Tensor>& bias, double eps) {
  return norm(Primitive::fast_layer_norm, "fast_layer_norm", x, weight, bias, eps);
}

Tensor layer_norm_no_bias(const Tensor& x, const std::optional<Tensor>& weight, double eps) {
  return norm(Primitive::fast_layer_norm, "fast_layer_norm_no_bias", x, weight, std::nullopt, eps);
}

std::pair<Tensor, Tensor> add_rms_norm(const Tensor& x, const Tensor& residual,
                                       const std::optional<Tensor>& weight, double eps) {
  return add_norm(Primitive::fast_rms_norm, "fast_add_rms_norm", x, residual, weight, std::nullopt,
                  eps);
}

std::pair<Tensor, Tensor> add_layer_norm(const Tensor& x, const Tensor& residual,
                                         const std::optional<Tensor>& weight,
                                         const std::optional<Tensor>& bias, double eps) {
  return add_norm(Primitive::fast_layer_norm, "fast_add_layer_norm", x, residual, weight, bias,
                  eps);
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  constexpr const char* op = "fast_swiglu";
  require_float(op, "gate", gate);
  require_same_dtype(op, "up", up, gate);
  if (up.shape() != gate.shape())
    EMILY_THROW(ShapeError, op, "gate ", to_string(gate.shape()), " and up ", to_string(up.shape()),
                " differ");
  return run(Primitive::fast_swiglu, {gate, up}, gate.shape(), gate.dtype(), NoAttr{});
}

Tensor linear_swiglu(const Tensor& x, const Tensor& gate_up) {
  constexpr const char* op = "fast_linear_swiglu";
  require_float(op, "x", x);
  require_same_dtype(op, "gate_up", gate_up, x);
  if (x.ndim() < 1) EMILY_THROW(ShapeError, op, "x must have at least one axis");
  if (gate_up.ndim() != 2 || gate_up.shape(0) % 2 != 0 || gate_up.shape(1) != x.shape(-1))
    EMILY_THROW(ShapeError, op, "gate_up must be {2I, K} with K = x's last axis ", x.shape(-1),
                ", got ", to_string(gate_up.shape()));
  Shape shape = x.shape();
  shape.back() = gate_up.shape(0) / 2;
  return run(Primitive::fast_linear_swiglu, {x, gate_up}, shape, x.dtype(), NoAttr{});
}

Tensor rope(const Tensor& x, int dims, bool traditional, double base, double scale,
            std::int64_t offset) {
  constexpr const char* op = "fast_rope";
  check_rope(op, x, dims, base, scale);
  RopeAttr attr{dims, traditional, base, scale, offset, RopePositions::scalar, false};
  return run(Primitive::fast_rope, {x}, x.shape(), x.dtype(), attr);
}

Tensor rope_ids(const Tensor& x, int dims, bool traditional, double base, double scale,
                const Tensor& offsets) {
  constexpr const char* op = "fast_rope_ids";
  check_rope(op, x, dims, base, scale);
  check_offsets(op, x, offsets);
  RopeAttr attr{dims, traditional, base, scale, 0, RopePositions::batch, false};
  return run(Primitive::fast_rope, {x, offsets}, x.shape(), x.dtype(), attr);
}

void check_token_positions(const char* op, const Tensor& x, const Tensor& positions) {
  require_positions(op, "positions", positions);
  if (x.ndim() < 3 || positions.shape() != Shape{x.shape(0), x.shape(1)})
    EMILY_THROW(ShapeError, op, "positions must be {B, T} for x {B, T, ..., D}; got ",
                to_string(positions.shape()), " for x ", to_string(x.shape()));
}

Tensor rope_positions(const Tensor& x, int dims, bool traditional, double base, double scale,
                      const Tensor& positions) {
  constexpr const char* op = "fast_rope_positions";
  check_rope(op, x, dims, base, scale);
  check_token_positions(op, x, positions);
  RopeAttr attr{dims, traditional, base, scale, 0, RopePositions::tokens, false};
  return run(Primitive::fast_rope, {x, positions}, x.shape(), x.dtype(), attr);
}

Tensor rms_norm_rope_positions(const Tensor& x, const Tensor& weight, double eps, int dims,
                               bool traditional, double base, double scale,
                               const Tensor& positions) {
  constexpr const char* op = "fast_rms_norm_rope_positions";
  check_rope(op, x, dims, base, scale);
  check_token_positions(op, x, positions);
  // The norm's checks (weight {D} in x's dtype, eps finite and non-negative).
  std::vector<Tensor> normed = norm_operands(op, x, nullptr, weight, std::nullopt, eps);
  RopeAttr attr{dims, traditional, base, scale, 0, RopePositions::tokens, false, true, eps};
  return run(Primitive::fast_rope, {x, positions, normed[1]}, x.shape(), x.dtype(), attr);
}

std::pair<Tensor, Tensor> rms_norm_rope_positions(const Tensor& q, const Tensor& q_weight,
                                                  const Tensor& k, const Tensor& k_weight,
                                                  double eps, int dims, bool traditional,
                                                  double base, double scale,
                                                  const Tensor& positions) {
  constexpr const char* op = "fast_rms_norm_rope_positions";
  check_rope(op, q, dims, base, scale);
  check_rope(op, k, dims, base, scale);
  check_token_positions(op, q, positions);
  check_token_positions(op, k, positions);
  require_same_dtype(op, "k", k, q);
  if (k.shape(-1) != q.shape(-1))
    EMILY_THROW(ShapeError, op, "q and k must have one head size, got ", to_string(q.shape()),
                " and ", to_string(k.shape()));
  std::vector<Tensor> qn = norm_operands(op, q, nullptr, q_weight, std::nullopt, eps);
  std::vector<Tensor> kn = norm_operands(op, k, nullptr, k_weight, std::nullopt, eps);
  const Primitive p = Primitive::fast_rope;
  std::vector<Tensor> in{q, positions, qn[1], k, kn[1]};
  RopeAttr attr{dims, traditional, base, scale, 0, RopePositions::tokens, false, true, eps, true};
  Device device = detail::common_device(op, in);
  // Where the pair is not one kernel, each tensor takes the single form (its kernel or
  // its decomposition).
  if (decomposition_forced(Family::fast) || !kernels(device.type).accepts(p, in, attr))
    return {rms_norm_rope_positions(q, q_weight, eps, dims, traditional, base, scale, positions),
            rms_norm_rope_positions(k, k_weight, eps, dims, traditional, base, scale, positions)};
  auto out = detail::dispatch(
      p, dense(std::move(in)),
      std::vector<detail::OutSpec>{{q.shape(), q.dtype()}, {k.shape(), k.dtype()}}, attr);
  return {out[0], out[1]};
}

Tensor rope_with_freqs(const Tensor& x, int dims, bool traditional, double scale,
                       const Tensor& offsets, const Tensor& freqs) {
  constexpr const char* op = "fast_rope_with_freqs";
  check_rope(op, x, dims, std::nullopt, scale);
  check_offsets(op, x, offsets);
  require_float(op, "freqs", freqs);
  if (freqs.shape() != Shape{dims / 2})
    EMILY_THROW(ShapeError, op, "freqs must have shape (", dims / 2, "), got ",
                to_string(freqs.shape()));
  RopeAttr attr{dims, traditional, 0.0, scale, 0, RopePositions::batch, true};
  return run(Primitive::fast_rope, {x, offsets, freqs}, x.shape(), x.dtype(), attr);
}

Tensor sdpa(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
            const std::optional<Tensor>& sinks) {
  return attention("fast_sdpa", q, k, v, scale, std::nullopt, SdpaAttr{}, sinks);
}

Tensor sdpa_causal(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                   const std::optional<Tensor>& sinks) {
  constexpr const char* op = "fast_sdpa_causal";
  Attention a = check_attention(op, q, k, v, scale);
  SdpaAttr attr;
  attr.causal = true;
  attr.causal_offset = a.kv_len - a.q_len;
  return attention(op, q, k, v, scale, std::nullopt, attr, sinks);
}

Tensor sdpa_masked(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                   double scale, const std::optional<Tensor>& sinks) {
  constexpr const char* op = "fast_sdpa_masked";
  Attention a = check_attention(op, q, k, v, scale);
  detail::require_defined(op, mask);
  SdpaAttr attr;
  if (mask.dtype() == DType::bool_)
    attr.mask = SdpaMask::boolean;
  else if (is_floating(mask.dtype()))
    attr.mask = SdpaMask::additive;
  else
    EMILY_THROW(DTypeError, op, "mask must be bool or floating, got ", name(mask.dtype()));
  const Shape full_shape{a.batch, a.q_heads, a.q_len, a.kv_len};
  if (mask.ndim() > 4)
    EMILY_THROW(ShapeError, op, "mask ", to_string(mask.shape()), " does not broadcast to ",
                to_string(full_shape));
  for (int i = 1; i <= mask.ndim(); ++i) {
    if (mask.shape(-i) != 1 && mask.shape(-i) != full_shape[4 - i])
      EMILY_THROW(ShapeError, op, "mask ", to_string(mask.shape()), " does not broadcast to ",
                  to_string(full_shape));
  }
  Tensor m = mask;
  // The kernel adds the mask in f32; a wider mask is rounded to that once here.
  if (attr.mask == SdpaMask::additive && m.dtype() != DType::f32) m = astype(m, DType::f32);
  return attention(op, q, k, v, scale, broadcast_to(m, full_shape), attr, sinks);
}

Tensor sdpa_causal_key_masked(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                              const Tensor& key_mask, std::optional<std::int64_t> kv_offset,
                              const std::optional<Tensor>& sinks) {
  constexpr const char* op = "fast_sdpa_causal_key_masked";
  Attention a = check_attention(op, q, k, v, scale);
  detail::require_defined(op, key_mask);
  if (!is_integral(key_mask.dtype()) && key_mask.dtype() != DType::bool_)
    EMILY_THROW(DTypeError, op, "key_mask must be bool or integer, got ", name(key_mask.dtype()));
  if (key_mask.shape() != Shape{a.batch, a.kv_len})
    EMILY_THROW(ShapeError, op, "key_mask must have shape (", a.batch, ", ", a.kv_len, "), got ",
                to_string(key_mask.shape()));
  SdpaAttr attr;
  attr.causal = true;
  attr.causal_offset = kv_offset.value_or(a.kv_len - a.q_len);
  attr.mask = SdpaMask::keys;
  Tensor m = key_mask.dtype() == DType::bool_ ? key_mask : astype(key_mask, DType::bool_);
  return attention(op, q, k, v, scale, m, attr, sinks);
}

}  // namespace emily::fast
