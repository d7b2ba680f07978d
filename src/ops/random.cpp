// Counter-based random numbers, built from the one random kernel (random_bits) and
// public ops. Every sampler reproduces jax.random (threefry2x32, partitionable layout;
// see src/backend/cpu/random.cpp for the counter layout) step for step:
//   uniform: the top mantissa bits of the random word, OR-ed into the bit pattern of
//            1.0, give a float in [1, 2); subtract 1, scale by (high - low) rounded to the
//            dtype, add low. f32 uses 23 of 32 bits, f64 52 of 64 (the u64 stream), f16
//            the low 16 bits >> 6, bf16 the low 8 bits >> 1 (JAX draws 8 bits when a
//            type has fewer than 8 mantissa bits), so bf16 values are multiples of 2^-7.
//   normal:  sqrt(2) erf_inv(u) with u uniform on (nextafter(-1, 0), 1).
//   bernoulli: uniform(p's float type) < p.
//   categorical: argmax(logits + gumbel), gumbel = -log(-log(u)), u uniform on [tiny, 1).
// As in JAX, rounding in `u * (high - low) + low` can give `high` itself when |low| is
// much larger than high - low.
#include <bit>
#include <cmath>
#include <limits>

#include "emily/ops.h"
#include "emily/random.h"
#include "ops/dispatch.h"

namespace emily::random {

namespace {

static_assert(std::endian::native == std::endian::little,
              "split reads the two halves of a u64 through a u32 view");

using detail::require_defined;

Tensor check_key(const char* op, const Tensor& key) {
  require_defined(op, key);
  if (key.dtype() != DType::u32) {
    EMILY_THROW(DTypeError, op, "a key is u32, got ", name(key.dtype()));
  }
  if (key.shape() != Shape{2}) {
    EMILY_THROW(ShapeError, op, "a key has shape (2,), got ", to_string(key.shape()));
  }
  return contiguous(key);  // the kernel reads key[0], key[1]
}

void check_shape(const char* op, const Shape& shape) {
  for (auto d : shape)
    if (d < 0) EMILY_THROW(ShapeError, op, "negative dimension in shape ", to_string(shape));
}

// The raw stream: u32 words b1 ^ b2, or u64 words (b1 << 32) | b2.
Tensor raw_bits(const Tensor& key, const Shape& shape, DType dtype) {
  return detail::dispatch(Primitive::random_bits, {key}, shape, dtype);
}

// `v` rounded to `dtype` (as the dtype's arithmetic would store it).
double round_to(DType dtype, double v) {
  return scalar_tensor(v, dtype, Device::cpu()).item<double>();
}

// Floats in [0, 1) from the mantissa-bit recipe above.
Tensor unit_floats(const Tensor& key, const Shape& shape, DType dtype) {
  Tensor f;
  switch (dtype) {
    case DType::f64: {
      Tensor w = raw_bits(key, shape, DType::u64);
      f = bitwise_or(right_shift(w, scalar_like(w, 12)),
                     scalar_like(w, static_cast<double>(0x3ff0000000000000ull)));
      break;
    }
    case DType::f32: {
      Tensor w = raw_bits(key, shape, DType::u32);
      f = bitwise_or(right_shift(w, scalar_like(w, 9)), scalar_like(w, 0x3f800000));
      break;
    }
    case DType::f16: {
      Tensor bits = raw_bits(key, shape, DType::u32);
      Tensor w = bitwise_and(bits, scalar_like(bits, 0xffff));
      f = astype(bitwise_or(right_shift(w, scalar_like(w, 6)), scalar_like(w, 0x3c00)), DType::u16);
      break;
    }
    default: {  // bf16
      Tensor bits = raw_bits(key, shape, DType::u32);
      Tensor w = bitwise_and(bits, scalar_like(bits, 0xff));
      f = astype(bitwise_or(right_shift(w, scalar_like(w, 1)), scalar_like(w, 0x3f80)), DType::u16);
      break;
    }
  }
  return view(f, dtype) - 1.0;
}

// u * (high - low) + low with low/high already exact in `dtype`; the steps that would
// multiply by 1 or add 0 are skipped (they are exact identities on [0, 1)).
Tensor uniform_in(const Tensor& key, const Shape& shape, DType dtype, double low, double high) {
  double scale = dtype == DType::f64
                     ? high - low
                     : round_to(dtype, static_cast<float>(high) - static_cast<float>(low));
  Tensor u = unit_floats(key, shape, dtype);
  if (scale != 1.0) u = u * scale;
  if (low != 0.0) u = u + low;
  return u;
}

void check_float(const char* op, DType dtype) {
  if (!is_floating(dtype)) {
    EMILY_THROW(DTypeError, op, "needs a floating dtype, got ", name(dtype));
  }
}

// The float type a sampler computes in for `dtype` (ints and bool: f32).
DType sample_dtype(const char* op, DType dtype) {
  if (is_complex(dtype)) EMILY_THROW(DTypeError, op, "complex values are not supported");
  return to_inexact(dtype);
}

double tiny(DType dtype) {
  switch (dtype) {
    case DType::f64:
      return std::numeric_limits<double>::min();
    case DType::f16:
      return 6.103515625e-05;  // 2^-14
    default:
      return std::numeric_limits<float>::min();  // f32 and bf16: 2^-126
  }
}

}  // namespace

Tensor key(std::uint64_t seed) {
  return key(seed, current_stream().device);
}

Tensor key(std::uint64_t seed, Device device) {
  // As jax.random.PRNGKey with 64-bit seeds: the high word, then the low word.
  const std::uint32_t words[2] = {static_cast<std::uint32_t>(seed >> 32),
                                  static_cast<std::uint32_t>(seed & 0xffffffffu)};
  if (!is_available(device))
    EMILY_THROW(DeviceError, "random_key", to_string(device), " is not available");
  return from_blob(words, {2}, DType::u32, device);
}

Tensor split(const Tensor& key, int num) {
  Tensor k = check_key("random_split", key);
  if (num < 0) EMILY_THROW(ValueError, "random_split", "num must be non-negative, got ", num);
  // New key j is the block output (b1, b2) for counter j: the u64 stream's two halves.
  // Little-endian, a u32 view holds them as (b2, b1); a reversed slice swaps them back.
  Tensor halves = reshape(view(raw_bits(k, {num}, DType::u64), DType::u32), {num, 2});
  return contiguous(slice(halves, {0, 1}, {num, -3}, {1, -1}));
}

Tensor bits(const Tensor& key, const Shape& shape) {
  Tensor k = check_key("random_bits", key);
  check_shape("random_bits", shape);
  return raw_bits(k, shape, DType::u32);
}

Tensor uniform(const Tensor& key, const Shape& shape, DType dtype, double low, double high) {
  Tensor k = check_key("random_uniform", key);
  check_shape("random_uniform", shape);
  check_float("random_uniform", dtype);
  if (!std::isfinite(low) || !std::isfinite(high) || low > high) {
    EMILY_THROW(ValueError, "random_uniform", "needs finite low <= high, got [", low, ", ", high,
                ")");
  }
  return uniform_in(k, shape, dtype, round_to(dtype, low), round_to(dtype, high));
}

Tensor normal(const Tensor& key, const Shape& shape, DType dtype, double mean, double stddev) {
  Tensor k = check_key("random_normal", key);
  check_shape("random_normal", shape);
  check_float("random_normal", dtype);
  if (!std::isfinite(mean) || !std::isfinite(stddev) || stddev < 0) {
    EMILY_THROW(ValueError, "random_normal", "needs finite mean and stddev >= 0, got ", mean,
                " and ", stddev);
  }
  // The largest value below -1's successor towards 0 keeps erf_inv finite.
  double lo = dtype == DType::f64   ? std::nextafter(-1.0, 0.0)
              : dtype == DType::f32 ? static_cast<double>(std::nextafter(-1.0f, 0.0f))
              : dtype == DType::f16 ? -1.0 + 0x1p-11
                                    : -1.0 + 0x1p-8;  // bf16
  Tensor z = erf_inv(uniform_in(k, shape, dtype, lo, 1.0)) * std::sqrt(2.0);
  if (stddev != 1.0) z = z * stddev;
  if (mean != 0.0) z = z + mean;
  return z;
}

Tensor bernoulli(const Tensor& key, const Tensor& p, const Shape& shape) {
  Tensor k = check_key("random_bernoulli", key);
  require_defined("random_bernoulli", p);
  check_shape("random_bernoulli", shape);
  DType dtype = sample_dtype("random_bernoulli", p.dtype());
  if (broadcast_shapes("random_bernoulli", p.shape(), shape) != shape) {
    EMILY_THROW(ShapeError, "random_bernoulli", "p of shape ", to_string(p.shape()),
                " does not broadcast to ", to_string(shape));
  }
  return less(uniform_in(k, shape, dtype, 0.0, 1.0), astype(p, dtype));
}

Tensor bernoulli(const Tensor& key, double p, const Shape& shape) {
  return bernoulli(key, scalar_tensor(p, DType::f32, key.device()), shape);
}

Tensor categorical(const Tensor& key, const Tensor& logits, int axis) {
  Tensor k = check_key("random_categorical", key);
  require_defined("random_categorical", logits);
  DType dtype = sample_dtype("random_categorical", logits.dtype());
  int a = normalize_axis("random_categorical", axis, logits.ndim());
  if (logits.shape()[a] == 0) {
    EMILY_THROW(ShapeError, "random_categorical", "axis ", a, " of shape ",
                to_string(logits.shape()), " has no categories");
  }
  Tensor u = uniform_in(k, logits.shape(), dtype, tiny(dtype), 1.0);
  Tensor gumbel = -log(-log(u));
  return argmax(gumbel + astype(logits, dtype), a);
}

}  // namespace emily::random
