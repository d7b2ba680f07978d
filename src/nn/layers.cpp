#include "emily/nn/layers.h"

#include <cmath>
#include <numbers>

#include "emily/fast.h"
#include "emily/ops.h"

namespace emily::nn {

namespace {

// A product with the batch axes folded into rows, so one GEMM serves {B, T, K} inputs
// instead of one per batch item.
Tensor rows_times_transposed(const Tensor& x, const Parameter& w) {
  const std::int64_t k = x.shape(-1);
  Shape out_shape = x.shape();
  Tensor rows = reshape(x, {-1, k});
  Tensor y = w.is_quantized() ? quantized_matmul(rows, w.quantized(), true)
                              : matmul(rows, transpose(w.dense()));
  out_shape.back() = y.shape(-1);
  return reshape(y, out_shape);
}

void require_last_axis(const char* op, const Tensor& x, std::int64_t n) {
  if (x.ndim() < 1 || x.shape(-1) != n)
    EMILY_THROW(ShapeError, op, "input ", to_string(x.shape()), " must end in an axis of ", n);
}

}  // namespace

// ---- Linear, Embedding --------------------------------------------------------------------

Linear::Linear(std::int64_t in, std::int64_t out, bool has_bias)
    : in_features(in), out_features(out) {
  register_parameter("weight", weight, {out, in}, true);
  if (has_bias) register_parameter("bias", bias, {out});
}

Tensor Linear::operator()(const Tensor& x) const {
  require_last_axis("linear", x, in_features);
  Tensor y = rows_times_transposed(x, weight);
  return bias.defined() ? y + bias.dense() : y;
}

// ---- StackedLinears -----------------------------------------------------------------------

namespace {

// The most input rows StackedLinears runs as one product (a decode step's batch).
constexpr std::int64_t kStackedRows = 8;

// Where a parameter's values start: the stacked views are told apart from replacements by it.
const void* data_of(const Parameter& p) {
  if (!p.defined()) return nullptr;
  return p.is_quantized() ? p.quantized().packed.raw_data() : p.dense().raw_data();
}

// Rows [begin, end) of a {rows, ...} tensor, as a view.
Tensor rows_of(const Tensor& t, std::int64_t begin, std::int64_t end) {
  Shape start(t.shape().size(), 0), stop = t.shape();
  start[0] = begin;
  stop[0] = end;
  return slice(t, start, stop);
}

}  // namespace

bool StackedLinears::stack(const std::vector<Linear*>& parts) {
  if (parts.size() < 2) return false;
  const Linear& first = *parts[0];
  const bool quantized = first.weight.is_quantized(), biased = first.bias.defined();
  for (const Linear* p : parts) {
    const Parameter& w = p->weight;
    if (!w.defined() || w.is_quantized() != quantized || p->bias.defined() != biased ||
        p->in_features != first.in_features || w.dtype() != first.weight.dtype() ||
        w.device() != first.weight.device())
      return false;
    if (quantized && (w.quantized().bits != first.weight.quantized().bits ||
                      w.quantized().group_size != first.weight.quantized().group_size))
      return false;
    if (biased && (p->bias.dtype() != first.bias.dtype() || p->bias.is_quantized())) return false;
  }
  auto gather = [&](auto part_of) {
    std::vector<Tensor> all;
    for (const Linear* p : parts) all.push_back(part_of(*p));
    return concatenate(all, 0);
  };
  if (quantized) {
    const QuantizedTensor& q0 = first.weight.quantized();
    weight_ = QuantizedTensor{gather([](const Linear& l) { return l.weight.quantized().packed; }),
                              gather([](const Linear& l) { return l.weight.quantized().scales; }),
                              gather([](const Linear& l) { return l.weight.quantized().biases; }),
                              q0.bits, q0.group_size};
  } else {
    weight_ = gather([](const Linear& l) { return l.weight.dense(); });
  }
  bias_ = biased ? Parameter(gather([](const Linear& l) { return l.bias.dense(); })) : Parameter();
  rows_.clear();
  views_.clear();
  std::int64_t begin = 0;
  for (Linear* p : parts) {
    const std::int64_t end = begin + p->out_features;
    if (quantized) {
      const QuantizedTensor& all = weight_.quantized();
      p->weight = QuantizedTensor{rows_of(all.packed, begin, end), rows_of(all.scales, begin, end),
                                  rows_of(all.biases, begin, end), all.bits, all.group_size};
    } else {
      p->weight = rows_of(weight_.dense(), begin, end);
    }
    if (biased) p->bias = rows_of(bias_.dense(), begin, end);
    rows_.push_back(p->out_features);
    views_.push_back(data_of(p->weight));
    views_.push_back(data_of(p->bias));
    begin = end;
  }
  return true;
}

bool StackedLinears::current(const std::vector<const Linear*>& parts) const {
  if (!weight_.defined() || parts.size() != rows_.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (data_of(parts[i]->weight) != views_[2 * i] || data_of(parts[i]->bias) != views_[2 * i + 1])
      return false;
  return true;
}

// Many rows (a prefill) run apart: there a product's launch is a small share, and the
// slices of one result would be strided, so what reads them would copy them first.
bool StackedLinears::one_product(const Tensor& x, const std::vector<const Linear*>& parts) const {
  const std::int64_t rows = x.shape(-1) == 0 ? 0 : x.size() / x.shape(-1);
  return current(parts) && rows <= kStackedRows;
}

Tensor StackedLinears::unbiased_weight(const Tensor& x,
                                       const std::vector<const Linear*>& parts) const {
  if (parts.empty() || bias_.defined() || weight_.is_quantized() || !one_product(x, parts))
    return Tensor();
  require_last_axis("linear", x, parts[0]->in_features);
  return weight_.dense();
}

std::vector<Tensor> StackedLinears::operator()(const Tensor& x,
                                               const std::vector<const Linear*>& parts) const {
  std::vector<Tensor> out;
  if (parts.empty()) return out;
  require_last_axis("linear", x, parts[0]->in_features);
  if (!one_product(x, parts)) {
    for (const Linear* p : parts) out.push_back((*p)(x));
    return out;
  }
  Tensor y = rows_times_transposed(x, weight_);
  if (bias_.defined()) y = y + bias_.dense();
  Shape start(y.shape().size(), 0), stop = y.shape();
  for (std::int64_t n : rows_) {
    stop.back() = start.back() + n;
    out.push_back(slice(y, start, stop));
    start.back() = stop.back();
  }
  return out;
}

Embedding::Embedding(std::int64_t num, std::int64_t d) : num_embeddings(num), dim(d) {
  register_parameter("weight", weight, {num, d}, true);
}

Tensor Embedding::operator()(const Tensor& ids) const {
  if (!is_integral(ids.dtype()))
    EMILY_THROW(DTypeError, "embedding", "ids must be integers, got ", name(ids.dtype()));
  if (!weight.is_quantized()) return take(weight.dense(), ids, 0);
  const QuantizedTensor& q = weight.quantized();
  return dequantize(take(q.packed, ids, 0), take(q.scales, ids, 0), take(q.biases, ids, 0),
                    q.group_size, q.bits);
}

Tensor Embedding::as_linear(const Tensor& x) const {
  require_last_axis("embedding.as_linear", x, dim);
  return rows_times_transposed(x, weight);
}

// ---- norms, MLP ---------------------------------------------------------------------------

RMSNorm::RMSNorm(std::int64_t dim, double e) : eps(e) {
  register_parameter("weight", weight, {dim});
}

Tensor RMSNorm::operator()(const Tensor& x) const {
  return fast::rms_norm(x, weight.dense(), eps);
}

std::pair<Tensor, Tensor> RMSNorm::add_and_norm(const Tensor& x, const Tensor& residual) const {
  return fast::add_rms_norm(x, residual, weight.dense(), eps);
}

LayerNorm::LayerNorm(std::int64_t dim, double e, bool has_bias) : eps(e) {
  register_parameter("weight", weight, {dim});
  if (has_bias) register_parameter("bias", bias, {dim});
}

Tensor LayerNorm::operator()(const Tensor& x) const {
  if (bias.defined()) return fast::layer_norm(x, weight.dense(), bias.dense(), eps);
  return fast::layer_norm_no_bias(x, weight.dense(), eps);
}

std::pair<Tensor, Tensor> LayerNorm::add_and_norm(const Tensor& x, const Tensor& residual) const {
  return fast::add_layer_norm(x, residual, weight.dense(),
                              bias.defined() ? std::optional(bias.dense()) : std::nullopt, eps);
}

MLP::MLP(std::int64_t hidden, std::int64_t intermediate, bool bias)
    : gate_proj(hidden, intermediate, bias),
      up_proj(hidden, intermediate, bias),
      down_proj(intermediate, hidden, bias) {
  register_module("gate_proj", gate_proj);
  register_module("up_proj", up_proj);
  register_module("down_proj", down_proj);
}

Tensor MLP::operator()(const Tensor& x) const {
  // A decode step's rows with the stacked weights: swiglu as the product's epilogue.
  if (Tensor w = gate_up_.unbiased_weight(x, {&gate_proj, &up_proj});
      w.defined() && w.dtype() == x.dtype())
    return down_proj(fast::linear_swiglu(x, w));
  const std::vector<Tensor> gate_up = gate_up_(x, {&gate_proj, &up_proj});
  return down_proj(fast::swiglu(gate_up[0], gate_up[1]));
}

bool MLP::stack_projections() {
  return gate_up_.stack({&gate_proj, &up_proj});
}

// ---- RoPE ---------------------------------------------------------------------------------

namespace {

int rotated_dims(const RopeConfig& c, std::int64_t head_dim) {
  auto dims = static_cast<int>(static_cast<double>(head_dim) * c.partial_rotary_factor);
  dims -= dims % 2;
  if (dims <= 0 || dims > head_dim)
    EMILY_THROW(ValueError, "rope", "partial_rotary_factor ", c.partial_rotary_factor,
                " leaves no rotated features of head_dim ", head_dim);
  return dims;
}

// transformers' _compute_llama3_parameters: long wavelengths slow down by `factor`, short
// ones keep their speed, and the band between blends the two.
std::vector<float> llama3_frequencies(const RopeConfig& c, int dims) {
  const double old_len = static_cast<double>(c.original_max_position_embeddings);
  const double low_wavelen = old_len / c.low_freq_factor;
  const double high_wavelen = old_len / c.high_freq_factor;
  std::vector<float> f(static_cast<std::size_t>(dims / 2));
  for (int i = 0; i < dims / 2; ++i) {
    // transformers computes the unscaled frequencies in f32 first.
    const double inv = static_cast<float>(1.0 / std::pow(c.theta, 2.0 * i / dims));
    const double wavelen = 2 * std::numbers::pi / inv;
    double out = inv;
    if (wavelen > low_wavelen) {
      out = inv / c.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth =
          (old_len / wavelen - c.low_freq_factor) / (c.high_freq_factor - c.low_freq_factor);
      out = (1 - smooth) * inv / c.factor + smooth * inv;
    }
    f[i] = static_cast<float>(out);
  }
  return f;
}

}  // namespace

RoPE::RoPE(const RopeConfig& c, std::int64_t head_dim) : dims(rotated_dims(c, head_dim)) {
  base_ = c.theta;
  if (c.type == "default") {
    scale_ = 1.0;
  } else if (c.type == "linear") {
    scale_ = 1.0 / c.factor;  // positions divided by the factor
  } else if (c.type == "llama3") {
    inverse_frequencies_ = llama3_frequencies(c, dims);
  } else {
    EMILY_THROW(Unsupported, "rope", "RoPE type \"", c.type,
                "\" is not supported (default, linear, llama3 are)");
  }
}

RoPE::RoPE(const RopeConfig& c, std::int64_t head_dim, const std::vector<float>& divisors)
    : RoPE(c, head_dim) {
  if (static_cast<int>(divisors.size()) != dims / 2)
    EMILY_THROW(ValueError, "rope", divisors.size(), " frequency divisors for ", dims / 2,
                " rotated pairs");
  if (inverse_frequencies_.empty()) {
    inverse_frequencies_.resize(divisors.size());
    for (int i = 0; i < dims / 2; ++i)
      inverse_frequencies_[i] = static_cast<float>(scale_ * std::pow(base_, -2.0 * i / dims));
  }
  for (std::size_t i = 0; i < divisors.size(); ++i) inverse_frequencies_[i] /= divisors[i];
}

Tensor RoPE::operator()(const Tensor& x, const Tensor& positions, const RMSNorm& norm) const {
  if (!inverse_frequencies_.empty()) return (*this)(norm(x), positions);
  return fast::rms_norm_rope_positions(x, norm.weight.dense(), norm.eps, dims, false, base_, scale_,
                                       positions);
}

std::pair<Tensor, Tensor> RoPE::operator()(const Tensor& q, const RMSNorm& q_norm, const Tensor& k,
                                           const RMSNorm& k_norm, const Tensor& positions) const {
  if (!inverse_frequencies_.empty() || q_norm.eps != k_norm.eps)
    return {(*this)(q, positions, q_norm), (*this)(k, positions, k_norm)};
  return fast::rms_norm_rope_positions(q, q_norm.weight.dense(), k, k_norm.weight.dense(),
                                       q_norm.eps, dims, false, base_, scale_, positions);
}

Tensor RoPE::operator()(const Tensor& x, const Tensor& positions) const {
  if (inverse_frequencies_.empty())
    return fast::rope_positions(x, dims, false, base_, scale_, positions);
  // No fast op takes both per-token positions and frequencies, so the rotation is
  // written out: angle = position * frequency, pairs (i, i + dims/2) turned by it.
  if (x.ndim() != 4 || positions.shape() != Shape{x.shape(0), x.shape(1)})
    EMILY_THROW(ShapeError, "rope", "x must be {B, T, heads, D} with positions {B, T}; got ",
                to_string(x.shape()), " and ", to_string(positions.shape()));
  const DType c = x.dtype() == DType::f64 ? DType::f64 : DType::f32;
  const std::int64_t half = dims / 2, b = x.shape(0), t = x.shape(1), n = x.shape(2),
                     d = x.shape(3);
  Tensor freqs =
      to_device(tensor<float>(inverse_frequencies_, {static_cast<std::int64_t>(half)}), x.device());
  Tensor angle = reshape(astype(positions, c), {b, t, 1, 1}) * astype(freqs, c);
  Tensor cs = cos(angle), sn = sin(angle);
  Tensor xc = astype(x, c);
  Tensor x1 = slice(xc, {0, 0, 0, 0}, {b, t, n, half});
  Tensor x2 = slice(xc, {0, 0, 0, half}, {b, t, n, 2 * half});
  std::vector<Tensor> parts{x1 * cs - x2 * sn, x1 * sn + x2 * cs};
  if (dims < d) parts.push_back(slice(xc, {0, 0, 0, dims}, {b, t, n, d}));
  return astype(concatenate(parts, -1), x.dtype());
}

// ---- Attention ----------------------------------------------------------------------------

Attention::Attention(AttentionOptions o)
    : options(std::move(o)),
      q_proj(options.hidden_size, options.num_heads * options.head_dim, options.qkv_bias),
      k_proj(options.hidden_size, options.num_kv_heads * options.head_dim, options.qkv_bias),
      v_proj(options.hidden_size, options.num_kv_heads * options.head_dim, options.qkv_bias),
      o_proj(options.num_heads * options.head_dim, options.hidden_size, options.output_bias) {
  if (options.num_kv_heads <= 0 || options.num_heads % options.num_kv_heads != 0)
    EMILY_THROW(ValueError, "attention", "num_heads ", options.num_heads,
                " is not a multiple of num_kv_heads ", options.num_kv_heads);
  register_module("q_proj", q_proj);
  register_module("k_proj", k_proj);
  register_module("v_proj", v_proj);
  register_module("o_proj", o_proj);
  if (options.qk_norm) {
    q_norm = std::make_unique<RMSNorm>(options.head_dim, options.norm_eps);
    k_norm = std::make_unique<RMSNorm>(options.head_dim, options.norm_eps);
    register_module("q_norm", *q_norm);
    register_module("k_norm", *k_norm);
  }
}

bool Attention::stack_projections() {
  return qkv_.stack({&q_proj, &k_proj, &v_proj});
}

Attention::Output Attention::operator()(const Tensor& x, const Tensor& positions,
                                        const Tensor& mask, const Tensor& slots,
                                        const Tensor& k_cache, const Tensor& v_cache) const {
  const std::int64_t b = x.shape(0), t = x.shape(1), d = options.head_dim;
  const std::vector<Tensor> qkv = qkv_(x, {&q_proj, &k_proj, &v_proj});
  Tensor q = reshape(qkv[0], {b, t, options.num_heads, d});
  Tensor k = reshape(qkv[1], {b, t, options.num_kv_heads, d});
  Tensor v = reshape(qkv[2], {b, t, options.num_kv_heads, d});
  if (q_norm && options.rope) {  // each norm fused with the rotation that follows it
    std::tie(q, k) = (*options.rope)(q, *q_norm, k, *k_norm, positions);
  } else if (q_norm) {
    q = (*q_norm)(q);
    k = (*k_norm)(k);
  } else if (options.rope) {
    q = (*options.rope)(q, positions);
    k = (*options.rope)(k, positions);
  }
  // The chunk's keys and values land in their slots as one scatter whose slots are a
  // tensor: a compiled step replays for every position without retracing, and the result
  // replaces the cache (a donated cache lends it its buffer).
  Tensor k_all = scatter(k_cache, slots, transpose(k, {1, 0, 2, 3}), {2});
  Tensor v_all = scatter(v_cache, slots, transpose(v, {1, 0, 2, 3}), {2});
  Tensor attended = fast::sdpa_masked(transpose(q, {0, 2, 1, 3}), k_all, v_all, mask,
                                      1.0 / std::sqrt(static_cast<double>(d)));
  Tensor out = reshape(transpose(attended, {0, 2, 1, 3}), {b, t, options.num_heads * d});
  return {o_proj(out), k_all, v_all};
}

}  // namespace emily::nn
