// KV-cache attention (emily/kv_cache.h). Oracles: the caches written by hand with
// concatenate (bitwise), and attention over the hand-built prefix with an explicit
// boolean mask (query i at position offset + i sees keys j <= offset + i, and only
// unpadded ones): the same sdpa kernel on the same values, so within 1e-6.
#include "emily/kv_cache.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

Tensor normal(std::uint64_t seed, const Shape& shape) {
  return random::normal(random::key(seed), shape);
}

constexpr std::int64_t B = 2, NQ = 4, NKV = 2, TMAX = 10, D = 8;

Tensor along_t(const Tensor& t, std::int64_t from, std::int64_t to) {
  return slice(t, {0, 0, from, 0}, {B, t.shape(1), to, D});
}

// Allowed {B, 1, T_new, offset + T_new}: causal from offset, and the key mask.
Tensor allowed(std::int64_t offset, std::int64_t t_new, const Tensor& keys) {
  Tensor rows = reshape(arange(0.0, static_cast<double>(t_new), 1.0) + double(offset), {t_new, 1});
  Tensor cols = arange(0.0, static_cast<double>(offset + t_new), 1.0);
  Tensor causal = less_equal(cols, rows);
  Tensor k = reshape(not_equal(keys, scalar_like(keys, 0.0)), {B, 1, 1, offset + t_new});
  return logical_and(causal, k);
}

TEST(KvCache, UpdateWritesTheCacheAndAttendsOverThePrefix) {
  Tensor kc = normal(1, {B, NKV, TMAX, D}), vc = normal(2, {B, NKV, TMAX, D});
  for (std::int64_t t_new : {1, 3}) {
    const std::int64_t offset = 4, end = offset + t_new;
    Tensor q = normal(3, {B, NQ, t_new, D});
    Tensor nk = normal(4, {B, NKV, t_new, D}), nv = normal(5, {B, NKV, t_new, D});
    KvCacheAttention r = kv_cache_sdpa_update(q, nk, nv, kc, vc, offset, 0.3);
    Tensor want_k = concatenate({along_t(kc, 0, offset), nk, along_t(kc, end, TMAX)}, 2);
    Tensor want_v = concatenate({along_t(vc, 0, offset), nv, along_t(vc, end, TMAX)}, 2);
    EXPECT_TRUE(all_equal(r.k_cache, want_k));
    EXPECT_TRUE(all_equal(r.v_cache, want_v));
    Tensor mask = allowed(offset, t_new, ones({B, end}));
    Tensor want = fast::sdpa_masked(q, along_t(want_k, 0, end), along_t(want_v, 0, end), mask, 0.3);
    EXPECT_TRUE(all_close(r.out, want, 1e-6, 1e-6)) << "t_new " << t_new;

    // The {B, T, N, D} form on the same data gives the same values, transposed.
    auto bthd = [](const Tensor& t) { return contiguous(transpose(t, {0, 2, 1, 3})); };
    KvCacheAttention s =
        kv_cache_attention(bthd(q), bthd(nk), bthd(nv), bthd(kc), bthd(vc), offset, 0.3);
    EXPECT_TRUE(all_close(s.out, bthd(r.out), 1e-6, 1e-6));
    EXPECT_TRUE(all_equal(contiguous(s.k_cache), bthd(want_k)));

    // Padding: batch entry 1 hides its first two keys.
    std::vector<std::int32_t> keys(static_cast<std::size_t>(B * end), 1);
    keys[end] = keys[end + 1] = 0;
    Tensor key_mask = tensor<std::int32_t>(keys, {B, end});
    KvCacheAttention m = kv_cache_attention_masked(bthd(q), bthd(nk), bthd(nv), bthd(kc), bthd(vc),
                                                   offset, 0.3, key_mask);
    Tensor want_masked = fast::sdpa_masked(q, along_t(want_k, 0, end), along_t(want_v, 0, end),
                                           allowed(offset, t_new, key_mask), 0.3);
    EXPECT_TRUE(all_close(m.out, bthd(want_masked), 1e-6, 1e-6));
  }
}

TEST(KvCache, CompiledWithDonatedCachesEqualsEager) {
  // Oracle: the eager call on the same values (native replay: bitwise). From the first
  // replay on, the caches are updated where they lie: the results are the donated
  // buffers (slice_update is the caches' last reader and updates in place).
  auto fn = [](const std::vector<Tensor>& in) {
    KvCacheAttention r = kv_cache_sdpa_update(in[0], in[1], in[2], in[3], in[4], 5, 0.3);
    return std::vector<Tensor>{r.out, r.k_cache, r.v_cache};
  };
  CompileOptions o = testing::native("kv_cache");
  o.donate = {3, 4};
  auto f = compile(fn, o);
  for (std::uint64_t call = 0; call < 3; ++call) {
    std::vector<Tensor> in = {normal(10 + call, {B, NQ, 1, D}), normal(20 + call, {B, NKV, 1, D}),
                              normal(30 + call, {B, NKV, 1, D}),
                              normal(40 + call, {B, NKV, TMAX, D}),
                              normal(50 + call, {B, NKV, TMAX, D})};
    auto want = fn(in);
    const Buffer *k_buffer = in[3].buffer().get(), *v_buffer = in[4].buffer().get();
    auto got = f(in);  // the donated caches are not read after this
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t j = 0; j < got.size(); ++j)
      EXPECT_TRUE(all_equal(got[j], want[j])) << "call " << call << " result " << j;
#ifndef EMILY_DEBUG_NAN_INF
    if (call > 0) {
      EXPECT_EQ(got[1].buffer().get(), k_buffer) << "call " << call;
      EXPECT_EQ(got[2].buffer().get(), v_buffer) << "call " << call;
    }
#endif
  }
}

TEST(KvCache, ArgumentErrorsNameTheOp) {
  Tensor kc = normal(1, {B, NKV, TMAX, D});
  Tensor q = normal(3, {B, NQ, 2, D}), nk = normal(4, {B, NKV, 2, D});
  EXPECT_EMILY_ERROR(kv_cache_sdpa_update(q, nk, nk, kc, kc, 9, 1.0), ValueError,
                     "kv_cache_sdpa_update");
  EXPECT_EMILY_ERROR(kv_cache_sdpa_update(q, nk, nk, kc, kc, -1, 1.0), ValueError,
                     "kv_cache_sdpa_update");
  EXPECT_EMILY_ERROR(kv_cache_sdpa_update(q, normal(5, {B, NKV, 3, D}), nk, kc, kc, 0, 1.0),
                     ShapeError, "kv_cache_sdpa_update");
  EXPECT_EMILY_ERROR(kv_cache_sdpa_update(q, nk, nk, astype(kc, DType::bf16), kc, 0, 1.0),
                     DTypeError, "kv_cache_sdpa_update");
  EXPECT_EMILY_ERROR(kv_cache_attention(reshape(q, {B, NQ, 2 * D}), nk, nk, kc, kc, 0, 1.0),
                     ShapeError, "kv_cache_attention");
  Tensor t = transpose(kc, {0, 2, 1, 3});
  Tensor qt = transpose(q, {0, 2, 1, 3}), nt = transpose(nk, {0, 2, 1, 3});
  EXPECT_EMILY_ERROR(kv_cache_attention_masked(qt, nt, nt, t, t, 1, 1.0, ones({B, 2})), ShapeError,
                     "kv_cache_attention_masked");
}

}  // namespace
}  // namespace emily
