// The single table of primitives. Every backend registers kernels against it; the
// dispatcher, `emily ops`, the IR printer (compiler issue) and autodiff key off it.
// Adding a primitive means one line here plus one kernel per backend.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emily/dtype.h"
#include "emily/shape.h"

namespace emily {

// Attribute structs, one per shape of attribute. Values are normalized by the op layer
// (axes non-negative, shapes explicit) before a primitive sees them.
struct NoAttr {
  bool operator==(const NoAttr&) const = default;
};
// Reductions: kernels see the output in keep-dims form (reduced axes have size 1).
struct AxesAttr {
  std::vector<int> axes;
  bool operator==(const AxesAttr&) const = default;
};
struct AxisAttr {
  int axis = 0;
  bool operator==(const AxisAttr&) const = default;
};
struct ArangeAttr {
  double start = 0;
  double step = 1;
  bool operator==(const ArangeAttr&) const = default;
};
struct EyeAttr {
  std::int64_t k = 0;  // diagonal offset
  bool operator==(const EyeAttr&) const = default;
};
// Per axis: `low`/`high` edge padding (negative crops), `interior` between elements.
struct PadAttr {
  Shape low, high, interior;
  bool operator==(const PadAttr&) const = default;
};
// start/step per axis, in the input's index space; the output shape says how many.
struct SliceAttr {
  Shape start, step;
  bool operator==(const SliceAttr&) const = default;
};
struct ShapeAttr {
  Shape shape;
  bool operator==(const ShapeAttr&) const = default;
};
struct PermAttr {
  std::vector<int> perm;
  bool operator==(const PermAttr&) const = default;
};
struct StridedAttr {
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;
  bool operator==(const StridedAttr&) const = default;
};

// Scans: inclusive sums include the element itself; reverse scans run from the end.
struct ScanAttr {
  int axis = 0;
  bool reverse = false;
  bool inclusive = true;
  bool operator==(const ScanAttr&) const = default;
};
struct SortAttr {
  int axis = 0;
  bool descending = false;
  bool operator==(const SortAttr&) const = default;
};
// Convolution in Nx/XLA layout: input (N, C, spatial...), kernel (O, C/groups, spatial...),
// output (N, O, spatial...). All per-spatial-axis vectors have one entry per spatial axis.
struct ConvAttr {
  Shape strides, padding_low, padding_high, kernel_dilation, input_dilation;
  std::int64_t feature_groups = 1, batch_groups = 1;
  bool operator==(const ConvAttr&) const = default;
};
// Windows over every axis of the input: size, stride, edge padding and dilation per axis.
struct WindowAttr {
  Shape window, strides, padding_low, padding_high, dilation;
  bool operator==(const WindowAttr&) const = default;
};
// FFTs over `axes`; the output shape gives the transform lengths (the op layer pads or
// crops the input to them first).
struct FftAttr {
  std::vector<int> axes;
  bool operator==(const FftAttr&) const = default;
};
// Linear algebra: which triangle a routine reads or writes, and whether svd returns U, V.
struct LinalgAttr {
  bool upper = false;
  bool compute_uv = true;
  bool operator==(const LinalgAttr&) const = default;
};

// Control flow (compiler only): how a cond/while_loop node's operands divide into the
// loop state or branch operands, then each subgraph's free variables in order.
struct ControlAttr {
  int operands = 0;
  std::vector<int> free;  // per subgraph
  bool operator==(const ControlAttr&) const = default;
};

// Fused transformer ops (family `fast`). Normalization over the last axis; whether the
// optional weight and bias operands follow the input.
// With `has_residual` the second operand is added to the first before the norm, and the
// primitive has two outputs: the rounded sum, then the norm of it.
struct NormAttr {
  double eps = 1e-5;
  bool has_weight = false;
  bool has_bias = false;
  bool has_residual = false;
  bool operator==(const NormAttr&) const = default;
};
// Rotary embeddings. Where each row's position comes from: `offset` plus its index
// along axis -2 (scalar), a per-batch offset operand plus that index (batch), or a
// {B, T} position operand (tokens). With `has_freqs` the operand after the positions
// holds the inverse frequencies instead of base^(-2i/dims). With `has_norm` the rows are
// first rms-normed (rounded to x's dtype, as fast_rms_norm leaves them) with the weight
// given as the last operand: Qwen3's per-head q/k norm and the rotation in one kernel.
// With `pair` as well (token positions, no frequencies) the operands are {q, positions,
// q_weight, k, k_weight} and the results q's and k's: both heads' norms in one launch.
enum class RopePositions : std::uint8_t { scalar, batch, tokens };
struct RopeAttr {
  int dims = 0;
  bool traditional = false;  // interleaved pairs (2i, 2i+1) rather than (i, i + dims/2)
  double base = 10000.0;
  double scale = 1.0;
  std::int64_t offset = 0;
  RopePositions positions = RopePositions::scalar;
  bool has_freqs = false;
  bool has_norm = false;
  double norm_eps = 0.0;
  bool pair = false;
  bool operator==(const RopeAttr&) const = default;
};
// Attention over q {B, Nq, Tq, D}, k {B, Nkv, Tkv, D}, v {B, Nkv, Tkv, Dv}. Causal rows
// see keys j <= i + causal_offset. The mask operand (after v) is additive float or
// boolean, broadcast to {B, Nq, Tq, Tkv}, or a {B, Tkv} key mask; sinks {Nq} come last.
enum class SdpaMask : std::uint8_t { none, additive, boolean, keys };
struct SdpaAttr {
  double scale = 1.0;
  bool causal = false;
  std::int64_t causal_offset = 0;
  SdpaMask mask = SdpaMask::none;
  bool has_sinks = false;
  bool operator==(const SdpaAttr&) const = default;
};

// Group-wise quantized weights (family `quant`; layout in emily/quantization.h). For
// quantized_matmul, `transpose` means the weight holds {N, K} (x @ W^T, Linear's layout).
struct QuantAttr {
  int group_size = 64;
  int bits = 4;
  bool transpose = true;
  bool operator==(const QuantAttr&) const = default;
};

enum class Primitive : std::uint16_t;  // the table below

// A chain of elementwise primitives fused into one node (compiler fuse mode). Every
// value of the chain has the node's output shape; a backend evaluates the steps in order
// over blocks of it, so intermediates never leave cache. Step operands number the
// node's inputs first (0 .. inputs-1), then earlier steps (inputs + s).
struct FusedStep {
  Primitive op{};
  DType dtype = DType::f32;   // the dtype it computes on: its (first data) operand's
  DType result = DType::f32;  // the dtype it produces
  std::vector<int> args;
  int reg = -1;  // scratch register holding its block; -1: written to output `output`
  int output = -1;
  bool operator==(const FusedStep&) const = default;
};
struct FusedAttr {
  int inputs = 0;
  std::vector<FusedStep> steps;
  int registers = 0;  // scratch registers a block needs (reused once a value is dead)
  bool operator==(const FusedAttr&) const = default;
};

using Attr =
    std::variant<NoAttr, AxesAttr, AxisAttr, ArangeAttr, EyeAttr, PadAttr, SliceAttr, ShapeAttr,
                 PermAttr, StridedAttr, ScanAttr, SortAttr, ConvAttr, WindowAttr, FftAttr,
                 LinalgAttr, ControlAttr, FusedAttr, NormAttr, RopeAttr, SdpaAttr, QuantAttr>;
std::string to_string(const Attr& a);  // "axes=[0, 2]"; "" for NoAttr

// Families group primitives that share a kernel template and validation rules.
//   view: metadata only; no kernel, native on every backend.
enum class Family : std::uint8_t {
  creation,
  unary,
  binary,
  ternary,
  conversion,
  reduction,
  index_reduction,
  view,
  shape,
  indexing,
  contraction,
  random,
  scan,
  ordering,
  convolution,
  window,
  fft,
  linalg,
  control,  // cond, while_loop: nodes of traced graphs, run by the compiler, no kernels
  fused,    // fused elementwise chains: made by the compiler's fuse pass, never by ops
  fast,     // fused transformer ops: each has a decomposition that runs where a backend
            // has no kernel (src/ops/fast.cpp)
  quant,    // group-wise quantized weights: likewise with decompositions
            // (src/ops/quantization.cpp)
};

// X(name, family, arity, attr); arity -1 means variadic.
#define EMILY_PRIMITIVES(X)                         \
  X(arange, creation, 0, ArangeAttr)                \
  X(eye, creation, 0, EyeAttr)                      \
  X(full, creation, 1, NoAttr)                      \
  X(abs, unary, 1, NoAttr)                          \
  X(acos, unary, 1, NoAttr)                         \
  X(acosh, unary, 1, NoAttr)                        \
  X(asin, unary, 1, NoAttr)                         \
  X(asinh, unary, 1, NoAttr)                        \
  X(atan, unary, 1, NoAttr)                         \
  X(atanh, unary, 1, NoAttr)                        \
  X(bitwise_not, unary, 1, NoAttr)                  \
  X(ceil, unary, 1, NoAttr)                         \
  X(conjugate, unary, 1, NoAttr)                    \
  X(cos, unary, 1, NoAttr)                          \
  X(cosh, unary, 1, NoAttr)                         \
  X(erf, unary, 1, NoAttr)                          \
  X(erf_inv, unary, 1, NoAttr)                      \
  X(exp, unary, 1, NoAttr)                          \
  X(expm1, unary, 1, NoAttr)                        \
  X(floor, unary, 1, NoAttr)                        \
  X(imag, unary, 1, NoAttr)                         \
  X(is_infinity, unary, 1, NoAttr)                  \
  X(is_nan, unary, 1, NoAttr)                       \
  X(log, unary, 1, NoAttr)                          \
  X(log1p, unary, 1, NoAttr)                        \
  X(logical_not, unary, 1, NoAttr)                  \
  X(negate, unary, 1, NoAttr)                       \
  X(real, unary, 1, NoAttr)                         \
  X(round, unary, 1, NoAttr)                        \
  X(rsqrt, unary, 1, NoAttr)                        \
  X(sigmoid, unary, 1, NoAttr)                      \
  X(sign, unary, 1, NoAttr)                         \
  X(sin, unary, 1, NoAttr)                          \
  X(sinh, unary, 1, NoAttr)                         \
  X(sqrt, unary, 1, NoAttr)                         \
  X(tan, unary, 1, NoAttr)                          \
  X(tanh, unary, 1, NoAttr)                         \
  X(add, binary, 2, NoAttr)                         \
  X(subtract, binary, 2, NoAttr)                    \
  X(multiply, binary, 2, NoAttr)                    \
  X(divide, binary, 2, NoAttr)                      \
  X(pow, binary, 2, NoAttr)                         \
  X(atan2, binary, 2, NoAttr)                       \
  X(remainder, binary, 2, NoAttr)                   \
  X(quotient, binary, 2, NoAttr)                    \
  X(maximum, binary, 2, NoAttr)                     \
  X(minimum, binary, 2, NoAttr)                     \
  X(bitwise_and, binary, 2, NoAttr)                 \
  X(bitwise_or, binary, 2, NoAttr)                  \
  X(bitwise_xor, binary, 2, NoAttr)                 \
  X(left_shift, binary, 2, NoAttr)                  \
  X(right_shift, binary, 2, NoAttr)                 \
  X(equal, binary, 2, NoAttr)                       \
  X(not_equal, binary, 2, NoAttr)                   \
  X(greater, binary, 2, NoAttr)                     \
  X(greater_equal, binary, 2, NoAttr)               \
  X(less, binary, 2, NoAttr)                        \
  X(less_equal, binary, 2, NoAttr)                  \
  X(logical_and, binary, 2, NoAttr)                 \
  X(logical_or, binary, 2, NoAttr)                  \
  X(logical_xor, binary, 2, NoAttr)                 \
  X(where, ternary, 3, NoAttr)                      \
  X(astype, conversion, 1, NoAttr)                  \
  X(copy, conversion, 1, NoAttr)                    \
  X(sum, reduction, 1, AxesAttr)                    \
  X(product, reduction, 1, AxesAttr)                \
  X(max, reduction, 1, AxesAttr)                    \
  X(min, reduction, 1, AxesAttr)                    \
  X(all, reduction, 1, AxesAttr)                    \
  X(any, reduction, 1, AxesAttr)                    \
  X(argmax, index_reduction, 1, AxisAttr)           \
  X(argmin, index_reduction, 1, AxisAttr)           \
  X(reshape, view, 1, ShapeAttr)                    \
  X(transpose, view, 1, PermAttr)                   \
  X(broadcast_to, view, 1, ShapeAttr)               \
  X(slice, view, 1, SliceAttr)                      \
  X(as_strided, view, 1, StridedAttr)               \
  X(view, view, 1, NoAttr)                          \
  X(concatenate, shape, -1, AxisAttr)               \
  X(pad, shape, 2, PadAttr)                         \
  X(slice_update, shape, 2, SliceAttr)              \
  X(take, indexing, 2, AxisAttr)                    \
  X(take_along_axis, indexing, 2, AxisAttr)         \
  X(gather, indexing, 2, AxesAttr)                  \
  X(scatter, indexing, 3, AxesAttr)                 \
  X(scatter_add, indexing, 3, AxesAttr)             \
  X(scatter_max, indexing, 3, AxesAttr)             \
  X(scatter_min, indexing, 3, AxesAttr)             \
  X(matmul, contraction, 2, NoAttr)                 \
  X(random_bits, random, 1, NoAttr)                 \
  X(cumulative_sum, scan, 1, ScanAttr)              \
  X(cumulative_product, scan, 1, ScanAttr)          \
  X(cumulative_max, scan, 1, ScanAttr)              \
  X(cumulative_min, scan, 1, ScanAttr)              \
  X(sort, ordering, 1, SortAttr)                    \
  X(argsort, ordering, 1, SortAttr)                 \
  X(top_k, ordering, 1, AxisAttr)                   \
  X(linalg_cholesky, linalg, 1, LinalgAttr)         \
  X(linalg_eigh, linalg, 1, LinalgAttr)             \
  X(linalg_inv, linalg, 1, LinalgAttr)              \
  X(linalg_lu, linalg, 1, LinalgAttr)               \
  X(linalg_pinv, linalg, 1, LinalgAttr)             \
  X(linalg_qr, linalg, 1, LinalgAttr)               \
  X(linalg_solve, linalg, 2, LinalgAttr)            \
  X(linalg_solve_triangular, linalg, 2, LinalgAttr) \
  X(linalg_svd, linalg, 1, LinalgAttr)              \
  X(tri_inv, linalg, 1, LinalgAttr)                 \
  X(fft, fft, 1, FftAttr)                           \
  X(ifft, fft, 1, FftAttr)                          \
  X(rfft, fft, 1, FftAttr)                          \
  X(irfft, fft, 1, FftAttr)                         \
  X(conv_general, convolution, 2, ConvAttr)         \
  X(cond, control, -1, ControlAttr)                 \
  X(while_loop, control, -1, ControlAttr)           \
  X(fused, fused, -1, FusedAttr)                    \
  X(window_sum, window, 1, WindowAttr)              \
  X(window_product, window, 1, WindowAttr)          \
  X(window_max, window, 1, WindowAttr)              \
  X(window_min, window, 1, WindowAttr)              \
  X(window_scatter_max, window, 3, WindowAttr)      \
  X(window_scatter_min, window, 3, WindowAttr)      \
  X(fast_rms_norm, fast, -1, NormAttr)              \
  X(fast_layer_norm, fast, -1, NormAttr)            \
  X(fast_swiglu, fast, 2, NoAttr)                   \
  X(fast_linear_swiglu, fast, 2, NoAttr)            \
  X(fast_rope, fast, -1, RopeAttr)                  \
  X(fast_sdpa, fast, -1, SdpaAttr)                  \
  X(dequantize, quant, 3, QuantAttr)                \
  X(quantized_matmul, quant, 4, QuantAttr)

enum class Primitive : std::uint16_t {
#define EMILY_PRIMITIVE_ENUM(name, family, arity, attr) name,
  EMILY_PRIMITIVES(EMILY_PRIMITIVE_ENUM)
#undef EMILY_PRIMITIVE_ENUM
};

struct PrimitiveInfo {
  std::string_view name;
  Family family;
  int arity;
  std::size_t attr_index;  // which alternative of Attr it takes
};

inline constexpr std::size_t kNumPrimitives = 0
#define EMILY_PRIMITIVE_COUNT(name, family, arity, attr) +1
    EMILY_PRIMITIVES(EMILY_PRIMITIVE_COUNT)
#undef EMILY_PRIMITIVE_COUNT
    ;

const PrimitiveInfo& info(Primitive p);
std::string_view name(Primitive p);
// Looks up a primitive by name; returns false when there is none.
bool find_primitive(std::string_view name, Primitive& out);

}  // namespace emily
