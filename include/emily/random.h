// Counter-based random numbers. A key is a u32 tensor of shape (2); the same key gives
// the same numbers on every device and in every mode (Threefry-2x32, 20 rounds, as in
// JAX, so streams can be compared with jax.random).
#pragma once

#include <cstdint>

#include "emily/tensor.h"

namespace emily::random {

// A key is made on the current stream's device, as every tensor made from nothing.
Tensor key(std::uint64_t seed);
Tensor key(std::uint64_t seed, Device device);
// `num` new keys, shape (num, 2).
Tensor split(const Tensor& key, int num = 2);
// Uniform u32 bits of `shape`.
Tensor bits(const Tensor& key, const Shape& shape);
// Uniform on [low, high) in a floating dtype.
Tensor uniform(const Tensor& key, const Shape& shape, DType dtype = DType::f32, double low = 0.0,
               double high = 1.0);
Tensor normal(const Tensor& key, const Shape& shape, DType dtype = DType::f32, double mean = 0.0,
              double stddev = 1.0);
// bool tensor, true with probability p (p broadcast to shape).
Tensor bernoulli(const Tensor& key, const Tensor& p, const Shape& shape);
Tensor bernoulli(const Tensor& key, double p, const Shape& shape);
// Samples indices (s64) from unnormalized log-probabilities along `axis`.
Tensor categorical(const Tensor& key, const Tensor& logits, int axis = -1);

}  // namespace emily::random
