// Fused transformer ops (the seed's fast_* functions): normalization, SwiGLU, rotary
// embeddings and scaled dot-product attention. Each is one primitive of the `fast`
// family with a decomposition into catalogue ops; a backend without the kernel runs the
// decomposition, so these work on every device and trace under compile like any op.
//
// Inputs are f16, bf16, f32 or f64; results have the input's dtype. Half inputs compute
// in f32 and round once.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "emily/decompose.h"
#include "emily/tensor.h"

namespace emily::fast {

// x / sqrt(mean(x^2) + eps) * weight over the last axis; weight {D}, x's dtype.
Tensor rms_norm(const Tensor& x, const std::optional<Tensor>& weight, double eps);

// (x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance).
Tensor layer_norm(const Tensor& x, const std::optional<Tensor>& weight,
                  const std::optional<Tensor>& bias, double eps);
Tensor layer_norm_no_bias(const Tensor& x, const std::optional<Tensor>& weight, double eps);

// The residual add fused with the norm that follows it, as pre-norm decoders chain them:
// returns {x + residual, norm(x + residual)}, the sum rounded to x's dtype before the
// norm reads it (so both results equal the add and the norm run apart). residual has
// x's shape and dtype. One pass over the row where two kernels would read the sum back.
std::pair<Tensor, Tensor> add_rms_norm(const Tensor& x, const Tensor& residual,
                                       const std::optional<Tensor>& weight, double eps);
std::pair<Tensor, Tensor> add_layer_norm(const Tensor& x, const Tensor& residual,
                                         const std::optional<Tensor>& weight,
                                         const std::optional<Tensor>& bias, double eps);

// silu(gate) * up, elementwise; gate and up have one shape and dtype.
Tensor swiglu(const Tensor& gate, const Tensor& up);
// swiglu of a gated MLP's two products at once: x {..., K} and gate_up {2I, K}, the gate
// projection's I rows over the up projection's (a Linear's weight layout), give
// swiglu(x gate^T, x up^T) {..., I}, each product rounded to x's dtype first as two
// Linears leave it. A decode step's gate/up product with swiglu as its epilogue: one
// pass over the weights and no launch for the elementwise step.
Tensor linear_swiglu(const Tensor& x, const Tensor& gate_up);

// Rotary position embeddings over the first `dims` features of the last axis (the rest
// pass through). Feature pair i turns by position * scale * base^(-2i/dims); pairs are
// (i, i + dims/2) ("split-half"), or (2i, 2i+1) when `traditional`.
//
// rope: x {..., T, D}; row t of axis -2 sits at position offset + t.
Tensor rope(const Tensor& x, int dims, bool traditional, double base, double scale,
            std::int64_t offset);
// rope_ids: x {B, ..., T, D}; offsets {B} (or 0-d): row t of batch b at offsets[b] + t.
Tensor rope_ids(const Tensor& x, int dims, bool traditional, double base, double scale,
                const Tensor& offsets);
// rope_positions: x {B, T, ..., D}; positions {B, T} give every token's position.
Tensor rope_positions(const Tensor& x, int dims, bool traditional, double base, double scale,
                      const Tensor& positions);
// rms_norm_rope_positions: rope_positions of rms_norm(x, weight, eps), the norm's result
// rounded to x's dtype as rms_norm leaves it; weight {D}. Qwen3's per-head q/k norm and
// the rotation in one kernel.
Tensor rms_norm_rope_positions(const Tensor& x, const Tensor& weight, double eps, int dims,
                               bool traditional, double base, double scale,
                               const Tensor& positions);
// And for q and k at once (q_weight and k_weight {D}, one positions {B, T} for both, any
// head counts): the two results of the two calls above, from one launch where the
// backend has the kernel.
std::pair<Tensor, Tensor> rms_norm_rope_positions(const Tensor& q, const Tensor& q_weight,
                                                  const Tensor& k, const Tensor& k_weight,
                                                  double eps, int dims, bool traditional,
                                                  double base, double scale,
                                                  const Tensor& positions);
// rope_with_freqs: as rope_ids, with inverse frequencies freqs {dims/2} given in place
// of base^(-2i/dims) (pair i turns by position * scale * freqs[i]).
Tensor rope_with_freqs(const Tensor& x, int dims, bool traditional, double scale,
                       const Tensor& offsets, const Tensor& freqs);

// softmax(q k^T * scale + mask) v with q {B, Nq, Tq, D}, k {B, Nkv, Tkv, D} and
// v {B, Nkv, Tkv, Dv}; Nq must be a multiple of Nkv and query head h reads key/value
// head h / (Nq / Nkv), so grouped- and multi-query attention need no repeated K/V.
// Result {B, Nq, Tq, Dv}. Causal forms align the last query with the last key (query i
// sees keys j <= i + Tkv - Tq), as decoding with a cache needs. `sinks` {Nq} adds one
// logit per head to each softmax denominator that attends to nothing. A row whose keys
// are all masked gives zeros.
Tensor sdpa(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
            const std::optional<Tensor>& sinks = std::nullopt);
Tensor sdpa_causal(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                   const std::optional<Tensor>& sinks = std::nullopt);
// mask broadcasts to {B, Nq, Tq, Tkv}: bool (false masks out) or floating (added).
Tensor sdpa_masked(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                   double scale, const std::optional<Tensor>& sinks = std::nullopt);
// Causal, and key_mask {B, Tkv} (bool or integer; zero marks padding) hides keys. With
// kv_offset, query i sits at position kv_offset + i (default Tkv - Tq).
Tensor sdpa_causal_key_masked(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                              const Tensor& key_mask,
                              std::optional<std::int64_t> kv_offset = std::nullopt,
                              const std::optional<Tensor>& sinks = std::nullopt);

// While alive, the ops above run their decompositions on this thread even where a kernel
// exists (emily/decompose.h): the tests' oracle, and a way to compare a backend's kernel
// with it. The one guard of decompose.h, with the family fixed.
class DecomposeGuard : public emily::DecomposeGuard {
 public:
  DecomposeGuard() : emily::DecomposeGuard(Family::fast) {}
};

}  // namespace emily::fast
