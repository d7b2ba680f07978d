// Group-wise quantization in the op layer: argument checks, quantize (a composite), and
// the two `quant` primitives, dequantize and quantized_matmul, with their decompositions
// into catalogue ops. A primitive runs its device's kernel where the backend has one and
// its decomposition elsewhere (keeping the data on its device, unlike the dispatcher's
// CPU fallback); the decompositions are the kernels' oracle in the tests.
#include "emily/quantization.h"

#include <array>

#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

bool supported_bits(int bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 6 || bits == 8;
}

bool supported_group(int group_size) {
  return group_size == 32 || group_size == 64 || group_size == 128;
}

void check_format(const char* op, int group_size, int bits) {
  if (!supported_bits(bits))
    EMILY_THROW(ValueError, op, "bits must be 2, 3, 4, 6 or 8, got ", bits);
  if (!supported_group(group_size))
    EMILY_THROW(ValueError, op, "group_size must be 32, 64 or 128, got ", group_size);
}

// The logical number of columns, after checking everything the kernels and the
// decomposition rely on.
std::int64_t checked_columns(const char* op, const Tensor& packed, const Tensor& scales,
                             const Tensor& biases, int group_size, int bits) {
  detail::require_defined(op, packed);
  detail::require_defined(op, scales);
  detail::require_defined(op, biases);
  check_format(op, group_size, bits);
  if (packed.dtype() != DType::u32)
    EMILY_THROW(DTypeError, op, "packed codes must be u32, got ", name(packed.dtype()));
  if (!is_floating(scales.dtype()))
    EMILY_THROW(DTypeError, op, "scales must be floating, got ", name(scales.dtype()));
  if (biases.dtype() != scales.dtype())
    EMILY_THROW(DTypeError, op, "biases are ", name(biases.dtype()), " but scales are ",
                name(scales.dtype()));
  if (biases.shape() != scales.shape())
    EMILY_THROW(ShapeError, op, "biases ", to_string(biases.shape()), " and scales ",
                to_string(scales.shape()), " differ");
  if (packed.ndim() < 1 || scales.ndim() != packed.ndim())
    EMILY_THROW(ShapeError, op, "packed ", to_string(packed.shape()), " and scales ",
                to_string(scales.shape()), " must have the same rank, at least 1");
  for (int axis = 0; axis + 1 < packed.ndim(); ++axis) {
    if (packed.shape(axis) != scales.shape(axis))
      EMILY_THROW(ShapeError, op, "packed ", to_string(packed.shape()), " and scales ",
                  to_string(scales.shape()), " differ before the last axis");
  }
  // Rows are whole groups and a group is a whole number of words, so a row's length
  // follows from its group count; the packed length must agree with it.
  const std::int64_t cols = scales.shape(-1) * group_size;
  if (packed.shape(-1) != cols * bits / 32)
    EMILY_THROW(ShapeError, op, "rows of ", scales.shape(-1), " groups of ", group_size, " ", bits,
                "-bit codes take ", cols * bits / 32, " u32 words, packed has ", packed.shape(-1));
  return cols;
}

// Inputs that are views are made dense once here: kernels read rows of words.
std::vector<Tensor> dense(std::vector<Tensor> in) {
  for (auto& t : in) t = contiguous(t);
  return in;
}

Tensor constant_u32(const std::vector<std::uint32_t>& values, Device device) {
  return to_device(tensor(values, {static_cast<std::int64_t>(values.size())}), device);
}

// ---- decompositions ----------------------------------------------------------------

// The codes of a packed bit stream as u32, shape packed[..., :-1] + {cols}.
Tensor unpack_codes(const Tensor& packed, std::int64_t cols, int bits) {
  const Device device = packed.device();
  const Tensor mask = to_device(scalar_tensor((1u << bits) - 1.0, DType::u32), device);
  Shape out = packed.shape();
  out.back() = cols;
  if (32 % bits == 0) {
    // No code straddles a word: each word becomes a row of its codes.
    std::vector<std::uint32_t> shifts;
    for (int s = 0; s < 32; s += bits) shifts.push_back(static_cast<std::uint32_t>(s));
    Tensor codes = right_shift(expand_dims(packed, {-1}), constant_u32(shifts, device));
    return reshape(bitwise_and(codes, mask), out);
  }
  // 32 elements take exactly `bits` words. Element j of such a chunk starts at bit
  // bits * j: it reads the word it starts in shifted right, or-ed with the next word
  // shifted left into the bits above (a shift of 32 or more gives 0, and for a code that
  // does not straddle the next word's bits land above the mask).
  std::vector<std::uint32_t> lo_word(32), hi_word(32), lo_shift(32), hi_shift(32);
  for (int j = 0; j < 32; ++j) {
    const int bit = bits * j;
    lo_word[j] = static_cast<std::uint32_t>(bit / 32);
    hi_word[j] = static_cast<std::uint32_t>(std::min(bit / 32 + 1, bits - 1));
    lo_shift[j] = static_cast<std::uint32_t>(bit % 32);
    hi_shift[j] = static_cast<std::uint32_t>(32 - bit % 32);
  }
  Shape chunks = packed.shape();
  chunks.back() = cols / 32;
  chunks.push_back(bits);
  Tensor words = reshape(packed, chunks);
  Tensor lo =
      right_shift(take(words, constant_u32(lo_word, device), -1), constant_u32(lo_shift, device));
  Tensor hi =
      left_shift(take(words, constant_u32(hi_word, device), -1), constant_u32(hi_shift, device));
  return reshape(bitwise_and(bitwise_or(lo, hi), mask), out);
}

// u32 codes {..., cols} (each below 2^bits) packed into the bit stream {..., cols*bits/32}.
Tensor pack_codes(const Tensor& codes, int bits) {
  const Device device = codes.device();
  const std::int64_t cols = codes.shape(-1);
  Shape out = codes.shape();
  out.back() = cols * bits / 32;
  if (32 % bits == 0) {
    // Codes occupy disjoint bits of their word, so the sum of the shifted codes is
    // their bitwise or.
    const int per_word = 32 / bits;
    std::vector<std::uint32_t> shifts;
    for (int s = 0; s < 32; s += bits) shifts.push_back(static_cast<std::uint32_t>(s));
    Shape words = codes.shape();
    words.back() = cols / per_word;
    words.push_back(per_word);
    Tensor shifted = left_shift(reshape(codes, words), constant_u32(shifts, device));
    return reshape(astype(sum(shifted, -1), DType::u32), out);
  }
  // Chunks of 32 codes fill `bits` words. Word k of a chunk holds the low parts of the
  // codes that start in it and the high part of the one that straddles into it.
  Shape chunk_shape = codes.shape();
  chunk_shape.back() = cols / 32;
  chunk_shape.push_back(32);
  Tensor chunks = reshape(codes, chunk_shape);
  std::vector<std::uint32_t> lo_shift(32), hi_shift(32);
  for (int j = 0; j < 32; ++j) {
    lo_shift[j] = static_cast<std::uint32_t>(bits * j % 32);
    hi_shift[j] = static_cast<std::uint32_t>(32 - bits * j % 32);
  }
  Tensor lo = left_shift(chunks, constant_u32(lo_shift, device));
  Tensor hi = right_shift(chunks, constant_u32(hi_shift, device));
  const int rank = chunks.ndim();
  auto part = [&](const Tensor& t, int from, int to) {
    Shape start(static_cast<std::size_t>(rank), 0), stop = t.shape();
    start.back() = from;
    stop.back() = to;
    return slice(t, start, stop);
  };
  std::vector<Tensor> words;
  for (int k = 0; k < bits; ++k) {
    const int first = (32 * k + bits - 1) / bits;  // the first code starting in word k
    const int last = (32 * (k + 1) + bits - 1) / bits;
    Tensor word = sum(part(lo, first, last), -1, true);
    // The code before `first` straddles into word k when it ends past the boundary.
    if (first > 0 && bits * first > 32 * k) word = word + part(hi, first - 1, first);
    words.push_back(astype(word, DType::u32));
  }
  return reshape(concatenate(words, -1), out);
}

Tensor decompose_dequantize(const std::vector<Tensor>& in, const QuantAttr& a) {
  const Tensor &packed = in[0], &scales = in[1], &biases = in[2];
  const std::int64_t cols = scales.shape(-1) * a.group_size;
  Shape grouped = scales.shape();
  grouped.push_back(a.group_size);
  Tensor q = reshape(astype(unpack_codes(packed, cols, a.bits), scales.dtype()), grouped);
  Tensor w = multiply(q, expand_dims(scales, {-1})) + expand_dims(biases, {-1});
  Shape out = packed.shape();
  out.back() = cols;
  return reshape(w, out);
}

Tensor decompose_quantized_matmul(const std::vector<Tensor>& in, const QuantAttr& a) {
  const Tensor& x = in[0];
  Tensor w = astype(decompose_dequantize({in[1], in[2], in[3]}, a), x.dtype());
  return matmul(x, a.transpose ? swapaxes(w, -1, -2) : w);
}

Tensor run(Primitive p, const char* op, const std::vector<Tensor>& in, const Shape& shape,
           DType dtype, const QuantAttr& attr) {
  const Device device = detail::common_device(op, in);
  if (decomposition_forced(Family::quant) || !kernels(device.type).has(p)) {
    return p == Primitive::dequantize ? decompose_dequantize(in, attr)
                                      : decompose_quantized_matmul(in, attr);
  }
  return detail::dispatch(p, dense(in), shape, dtype, attr);
}

bool quantizable(DType t) {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16;
}

}  // namespace

Shape QuantizedTensor::shape() const {
  Shape s = packed.shape();
  if (!s.empty() && supported_bits(bits)) s.back() = s.back() * 32 / bits;
  return s;
}

QuantizedTensor quantize(const Tensor& w, int group_size, int bits) {
  constexpr const char* op = "quantize";
  detail::require_defined(op, w);
  check_format(op, group_size, bits);
  if (!quantizable(w.dtype()))
    EMILY_THROW(DTypeError, op, "weights must be f32, f16 or bf16, got ", name(w.dtype()));
  if (w.ndim() < 1 || w.shape(-1) % group_size != 0)
    EMILY_THROW(ShapeError, op, "the last axis of ", to_string(w.shape()),
                " must be a multiple of group_size ", group_size);

  const DType dtype = w.dtype();
  const double top = static_cast<double>((1 << bits) - 1);
  Shape grouped = w.shape();
  grouped.back() = w.shape(-1) / group_size;
  grouped.push_back(group_size);
  Tensor x = reshape(astype(w, DType::f32), grouped);
  Tensor lo = min(x, -1, true), hi = max(x, -1, true);
  // Scale and bias are rounded to their storage dtype first and the codes chosen for
  // the rounded values, so the rounding of the scale costs nothing but the clamp.
  Tensor scales = astype((hi - lo) / top, dtype), biases = astype(lo, dtype);
  Tensor s = astype(scales, DType::f32), b = astype(biases, DType::f32);
  // A constant group (scale 0) divides by 1 instead: its codes are all 0.
  Tensor divisor = where(equal(s, scalar_like(s, 0.0)), scalar_like(s, 1.0), s);
  Tensor codes = astype(clip(round((x - b) / divisor), 0.0, top), DType::u32);
  codes = reshape(codes, w.shape());
  Shape group_shape = grouped;
  group_shape.pop_back();
  return {pack_codes(codes, bits), reshape(scales, group_shape), reshape(biases, group_shape), bits,
          group_size};
}

Tensor dequantize(const Tensor& packed, const Tensor& scales, const Tensor& biases, int group_size,
                  int bits) {
  constexpr const char* op = "dequantize";
  const std::int64_t cols = checked_columns(op, packed, scales, biases, group_size, bits);
  Shape out = packed.shape();
  out.back() = cols;
  return run(Primitive::dequantize, op, {packed, scales, biases}, out, scales.dtype(),
             QuantAttr{group_size, bits, true});
}

Tensor dequantize(const QuantizedTensor& w) {
  return dequantize(w.packed, w.scales, w.biases, w.group_size, w.bits);
}

Tensor quantized_matmul(const Tensor& x, const QuantizedTensor& w, bool transpose) {
  constexpr const char* op = "quantized_matmul";
  detail::require_defined(op, x);
  const std::int64_t cols = checked_columns(op, w.packed, w.scales, w.biases, w.group_size, w.bits);
  if (!quantizable(x.dtype()))
    EMILY_THROW(DTypeError, op, "x must be f32, f16 or bf16, got ", name(x.dtype()));
  if (w.packed.ndim() < 2)
    EMILY_THROW(ShapeError, op, "the weight must be a matrix, got ", to_string(w.shape()));
  if (x.ndim() < 1) EMILY_THROW(ShapeError, op, "x must have at least one axis");
  const std::int64_t rows = w.packed.shape(-2);
  const std::int64_t k = transpose ? cols : rows, n = transpose ? rows : cols;
  if (x.shape(-1) != k)
    EMILY_THROW(ShapeError, op, "x ", to_string(x.shape()), " has ", x.shape(-1),
                " features but the weight ", to_string(w.shape()), transpose ? " (transposed)" : "",
                " takes ", k);
  const QuantAttr attr{w.group_size, w.bits, transpose};
  std::vector<Tensor> in{x, w.packed, w.scales, w.biases};
  if (w.packed.ndim() > 2) {
    detail::common_device(op, in);
    return decompose_quantized_matmul(in, attr);
  }
  Shape out = x.shape();
  out.back() = n;
  return run(Primitive::quantized_matmul, op, in, out, x.dtype(), attr);
}

}  // namespace emily
