// KV-cache attention as a composite: slice_update of each cache, then fast::sdpa over the
// valid prefix (a view; the sdpa kernel reads it in place).
#include "emily/kv_cache.h"

#include <optional>

#include "emily/fast.h"
#include "emily/ops.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

// Checks the {B, N, T, D} forms and returns the caches updated at offset.
std::pair<Tensor, Tensor> update(const char* op, const Tensor& q, const Tensor& new_k,
                                 const Tensor& new_v, const Tensor& k_cache, const Tensor& v_cache,
                                 std::int64_t offset) {
  for (const Tensor* t : {&q, &new_k, &new_v, &k_cache, &v_cache}) {
    detail::require_defined(op, *t);
    if (t->ndim() != 4)
      EMILY_THROW(ShapeError, op, "every tensor must have 4 axes, got ", to_string(t->shape()));
  }
  if (k_cache.dtype() != new_k.dtype() || v_cache.dtype() != new_v.dtype())
    EMILY_THROW(DTypeError, op, "caches (", name(k_cache.dtype()), ", ", name(v_cache.dtype()),
                ") must have the dtypes of the new keys and values (", name(new_k.dtype()), ", ",
                name(new_v.dtype()), ")");
  const Shape& c = k_cache.shape();
  const std::int64_t t_new = new_k.shape(2);
  if (v_cache.shape(0) != c[0] || v_cache.shape(1) != c[1] || v_cache.shape(2) != c[2] ||
      new_k.shape(0) != c[0] || new_k.shape(1) != c[1] || new_k.shape(3) != c[3] ||
      new_v.shape(0) != c[0] || new_v.shape(1) != c[1] || new_v.shape(2) != t_new ||
      new_v.shape(3) != v_cache.shape(3) || q.shape(2) != t_new)
    EMILY_THROW(ShapeError, op, "q ", to_string(q.shape()), ", new keys ", to_string(new_k.shape()),
                ", new values ", to_string(new_v.shape()), " and caches ", to_string(c), ", ",
                to_string(v_cache.shape()), " do not fit together");
  if (offset < 0 || offset + t_new > c[2])
    EMILY_THROW(ValueError, op, "offset ", offset, " + ", t_new, " new positions do not fit a ",
                "cache of ", c[2]);
  const std::int64_t end = offset + t_new;
  Tensor k = slice_update(k_cache, new_k, {0, 0, offset, 0}, {c[0], c[1], end, c[3]});
  Tensor v = slice_update(v_cache, new_v, {0, 0, offset, 0}, {c[0], c[1], end, v_cache.shape(3)});
  return {k, v};
}

Tensor prefix(const Tensor& cache, std::int64_t end) {
  const Shape& s = cache.shape();
  return slice(cache, {0, 0, 0, 0}, {s[0], s[1], end, s[3]});
}

Tensor heads_major(const Tensor& t) {
  return transpose(t, {0, 2, 1, 3});
}

KvCacheAttention attend_bthd(const char* op, const Tensor& q, const Tensor& new_k,
                             const Tensor& new_v, const Tensor& k_cache, const Tensor& v_cache,
                             std::int64_t offset, double scale,
                             const std::optional<Tensor>& key_mask) {
  for (const Tensor* t : {&q, &new_k, &new_v, &k_cache, &v_cache}) {
    detail::require_defined(op, *t);
    if (t->ndim() != 4)
      EMILY_THROW(ShapeError, op, "every tensor must have 4 axes, got ", to_string(t->shape()));
  }
  auto [k, v] = update(op, heads_major(q), heads_major(new_k), heads_major(new_v),
                       heads_major(k_cache), heads_major(v_cache), offset);
  const std::int64_t end = offset + new_k.shape(1);
  Tensor out;
  if (key_mask) {
    if (key_mask->shape() != Shape{q.shape(0), end})
      EMILY_THROW(ShapeError, op, "key_mask must have shape (", q.shape(0), ", ", end, "), got ",
                  to_string(key_mask->shape()));
    out = fast::sdpa_causal_key_masked(heads_major(q), prefix(k, end), prefix(v, end), scale,
                                       *key_mask, offset);
  } else {
    out = fast::sdpa_causal(heads_major(q), prefix(k, end), prefix(v, end), scale);
  }
  return {heads_major(out), heads_major(k), heads_major(v)};
}

}  // namespace

KvCacheAttention kv_cache_sdpa_update(const Tensor& q, const Tensor& new_k, const Tensor& new_v,
                                      const Tensor& k_cache, const Tensor& v_cache,
                                      std::int64_t offset, double scale) {
  constexpr const char* op = "kv_cache_sdpa_update";
  auto [k, v] = update(op, q, new_k, new_v, k_cache, v_cache, offset);
  const std::int64_t end = offset + new_k.shape(2);
  return {fast::sdpa_causal(q, prefix(k, end), prefix(v, end), scale), k, v};
}

KvCacheAttention kv_cache_attention(const Tensor& q, const Tensor& new_k, const Tensor& new_v,
                                    const Tensor& k_cache, const Tensor& v_cache,
                                    std::int64_t offset, double scale) {
  return attend_bthd("kv_cache_attention", q, new_k, new_v, k_cache, v_cache, offset, scale,
                     std::nullopt);
}

KvCacheAttention kv_cache_attention_masked(const Tensor& q, const Tensor& new_k,
                                           const Tensor& new_v, const Tensor& k_cache,
                                           const Tensor& v_cache, std::int64_t offset, double scale,
                                           const Tensor& key_mask) {
  detail::require_defined("kv_cache_attention_masked", key_mask);
  return attend_bthd("kv_cache_attention_masked", q, new_k, new_v, k_cache, v_cache, offset, scale,
                     key_mask);
}

}  // namespace emily
