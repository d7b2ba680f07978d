#include "ops/catalogue.h"

#include <map>

namespace emily {

namespace {

// How a catalogue name that is not itself a primitive is built.
struct Composite {
  std::string_view name;
  std::vector<std::string_view> parts;  // primitive names
};

const std::vector<Composite>& composites() {
  static const std::vector<Composite> table = {
      {"ones", {"full"}},
      {"zeros", {"full"}},
      {"scalar_tensor", {"full"}},
      {"clip", {"maximum", "minimum"}},
      {"isclose",
       {"abs", "subtract", "multiply", "add", "less_equal", "equal", "is_nan", "is_infinity",
        "logical_and", "logical_or", "logical_not", "astype"}},
      {"allclose",
       {"abs", "subtract", "multiply", "add", "less_equal", "equal", "is_nan", "is_infinity",
        "logical_and", "logical_or", "logical_not", "astype", "all"}},
      {"squeeze", {"reshape"}},
      {"stack", {"reshape", "concatenate"}},
      {"tensordot", {"transpose", "reshape", "copy", "matmul"}},
      {"einsum", {"transpose", "reshape", "copy", "matmul", "sum", "as_strided"}},
      {"mean", {"sum", "divide", "astype"}},
      {"softmax", {"max", "subtract", "exp", "sum", "divide"}},
      {"log_softmax", {"max", "subtract", "exp", "sum", "log"}},
      {"logsumexp",
       {"max", "subtract", "exp", "sum", "log", "add", "where", "is_infinity", "is_nan",
        "logical_or", "astype", "full"}},
      {"gelu", {"multiply", "erf", "add"}},
      {"gelu_tanh", {"multiply", "tanh", "add"}},
      {"silu", {"multiply", "sigmoid"}},
      {"random_key", {"full"}},
      {"random_split", {"random_bits", "view", "reshape", "slice", "copy"}},
      {"random_uniform",
       {"random_bits", "right_shift", "bitwise_or", "bitwise_and", "view", "subtract", "astype",
        "multiply", "add"}},
      {"random_normal",
       {"random_bits", "right_shift", "bitwise_or", "bitwise_and", "view", "subtract", "astype",
        "multiply", "add", "erf_inv"}},
      {"random_bernoulli",
       {"random_bits", "right_shift", "bitwise_or", "bitwise_and", "view", "subtract", "astype",
        "multiply", "add", "less"}},
      {"random_categorical",
       {"random_bits", "right_shift", "bitwise_or", "bitwise_and", "view", "subtract", "astype",
        "multiply", "add", "log", "negate", "argmax"}},
      // Inputs are cropped (a slice view), converted and zero-padded (pad, whose pad value
      // is a `full`) before the one multi-axis transform.
      {"fft2", {"fft", "astype", "slice", "pad", "full"}},
      {"ifft2", {"ifft", "astype", "slice", "pad", "full"}},
      // The fast forms share one primitive each; inputs that are views are made dense
      // (copy), sinks and non-f32 additive masks converted (astype).
      {"fast_layer_norm_no_bias", {"fast_layer_norm", "copy"}},
      {"fast_add_rms_norm", {"fast_rms_norm", "copy"}},
      {"fast_add_layer_norm", {"fast_layer_norm", "copy"}},
      {"fast_rms_norm_rope_positions", {"fast_rope", "copy"}},
      {"fast_rope_ids", {"fast_rope", "copy"}},
      {"fast_rope_positions", {"fast_rope", "copy"}},
      {"fast_rope_with_freqs", {"fast_rope", "copy"}},
      {"fast_sdpa_causal", {"fast_sdpa", "astype", "copy"}},
      {"fast_sdpa_masked", {"fast_sdpa", "astype", "copy"}},
      {"fast_sdpa_causal_key_masked", {"fast_sdpa", "astype", "copy"}},
      {"kv_cache_sdpa_update", {"slice_update", "fast_sdpa"}},
      {"kv_cache_attention", {"slice_update", "fast_sdpa"}},
      {"kv_cache_attention_masked", {"slice_update", "fast_sdpa", "astype"}},
      // Group statistics, codes and the bit-stream packing (src/ops/quantization.cpp).
      {"quantize",
       {"astype", "min", "max", "subtract", "divide", "equal", "where", "full", "round", "maximum",
        "minimum", "left_shift", "right_shift", "sum", "add", "concatenate", "copy"}},
  };
  return table;
}

constexpr std::string_view kSections[][2] = {
    {"foundation",
     "arange eye full ones zeros scalar_tensor "
     "abs acos acosh asin asinh atan atanh bitwise_not ceil conjugate cos cosh erf erf_inv exp "
     "expm1 floor imag is_infinity is_nan log log1p logical_not negate real round rsqrt sigmoid "
     "sign sin sinh sqrt tan tanh "
     "add subtract multiply divide pow atan2 remainder quotient maximum minimum bitwise_and "
     "bitwise_or bitwise_xor left_shift right_shift equal not_equal greater greater_equal less "
     "less_equal logical_and logical_or logical_xor "
     "where clip astype view isclose allclose "
     "sum product max min all any argmax argmin "
     "reshape squeeze transpose broadcast_to concatenate stack slice slice_update pad as_strided "
     "take take_along_axis "
     "matmul tensordot einsum"},
    {"rest",
     "gather scatter scatter_add cumulative_sum cumulative_product cumulative_max cumulative_min "
     "sort argsort conv_general window_scatter_max window_scatter_min fft ifft fft2 ifft2 "
     "linalg_cholesky linalg_eigh linalg_inv linalg_lu linalg_pinv linalg_qr linalg_solve "
     "linalg_solve_triangular linalg_svd tri_inv"},
    {"fast",
     "fast_layer_norm fast_layer_norm_no_bias fast_rms_norm fast_rope fast_rope_ids "
     "fast_rope_positions fast_rope_with_freqs fast_sdpa fast_sdpa_causal "
     "fast_sdpa_causal_key_masked fast_sdpa_masked fast_swiglu kv_cache_attention "
     "kv_cache_attention_masked kv_cache_sdpa_update quantize dequantize quantized_matmul"},
    {"extra",
     "copy mean softmax log_softmax logsumexp gelu gelu_tanh silu random_bits random_key "
     "random_split random_uniform random_normal random_bernoulli random_categorical "
     "scatter_max scatter_min top_k rfft irfft window_sum window_product window_max window_min "
     "fast_add_rms_norm fast_add_layer_norm fast_rms_norm_rope_positions fast_linear_swiglu"},
};

KernelStatus primitive_status(Primitive p, Device::Type backend) {
  if (info(p).family == Family::view || info(p).family == Family::control)
    return KernelStatus::native;
  if (kernels(backend).has(p)) return KernelStatus::native;
  // A fast or quant op without a kernel runs its decomposition on the device
  // (src/ops/fast.cpp, src/ops/quantization.cpp).
  if (info(p).family == Family::fast || info(p).family == Family::quant)
    return KernelStatus::composite;
  if (backend != Device::Type::cpu && kernels(Device::Type::cpu).has(p)) {
    return KernelStatus::fallback;
  }
  return KernelStatus::missing;
}

}  // namespace

const std::vector<CatalogueEntry>& catalogue() {
  static const std::vector<CatalogueEntry> entries = [] {
    std::vector<CatalogueEntry> out;
    for (const auto& section : kSections) {
      std::string_view names = section[1];
      while (!names.empty()) {
        auto space = names.find(' ');
        std::string_view n = names.substr(0, space);
        if (!n.empty()) out.push_back({n, section[0]});
        if (space == std::string_view::npos) break;
        names.remove_prefix(space + 1);
      }
    }
    return out;
  }();
  return entries;
}

const std::vector<std::string_view>* composite_parts(std::string_view n) {
  for (const auto& c : composites())
    if (c.name == n) return &c.parts;
  return nullptr;
}

KernelStatus status(std::string_view n, Device::Type backend) {
#ifndef EMILY_HAS_CUDA
  if (backend == Device::Type::cuda) return KernelStatus::missing;
#endif
  Primitive p;
  if (find_primitive(n, p)) return primitive_status(p, backend);
  for (const auto& c : composites()) {
    if (c.name != n) continue;
    KernelStatus worst = KernelStatus::composite;
    for (auto part : c.parts) {
      Primitive q;
      if (!find_primitive(part, q)) return KernelStatus::missing;
      KernelStatus s = primitive_status(q, backend);
      if (s == KernelStatus::missing) return KernelStatus::missing;
      if (s == KernelStatus::fallback) worst = KernelStatus::fallback;
    }
    return worst;
  }
  return KernelStatus::missing;
}

std::string catalogue_line(std::string_view n) {
  std::string line(n);
  line += " cpu=";
  line += to_string(status(n, Device::Type::cpu));
  line += " cuda=";
  line += to_string(status(n, Device::Type::cuda));
  return line;
}

}  // namespace emily
