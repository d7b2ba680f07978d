// Attention over a preallocated key/value cache: the new keys and values are written at
// `offset`, then the queries attend causally over the valid prefix [0, offset + T_new).
// The updated caches come back beside the result; under compile with the caches donated
// (CompileOptions::donate) the update reuses their buffers instead of copying them.
#pragma once

#include <cstdint>

#include "emily/tensor.h"

namespace emily {

struct KvCacheAttention {
  Tensor out;      // the attention result, in the layout of q
  Tensor k_cache;  // the caches with the new keys and values written at offset
  Tensor v_cache;
};

// {B, N, T, D} layout: q {B, Nq, T_new, D}, new_k/new_v {B, Nkv, T_new, D}, caches
// {B, Nkv, T_max, D}. Query i sits at position offset + i.
KvCacheAttention kv_cache_sdpa_update(const Tensor& q, const Tensor& new_k, const Tensor& new_v,
                                      const Tensor& k_cache, const Tensor& v_cache,
                                      std::int64_t offset, double scale);

// The same in the {B, T, N, D} layout (Bumblebee's): q {B, T_new, Nq, D}, new_k/new_v
// {B, T_new, Nkv, D}, caches {B, T_max, Nkv, D}; the result is {B, T_new, Nq, D}.
KvCacheAttention kv_cache_attention(const Tensor& q, const Tensor& new_k, const Tensor& new_v,
                                    const Tensor& k_cache, const Tensor& v_cache,
                                    std::int64_t offset, double scale);
// And with key_mask {B, offset + T_new} (bool or integer; zero marks padding) hiding keys.
KvCacheAttention kv_cache_attention_masked(const Tensor& q, const Tensor& new_k,
                                           const Tensor& new_v, const Tensor& k_cache,
                                           const Tensor& v_cache, std::int64_t offset, double scale,
                                           const Tensor& key_mask);

}  // namespace emily
