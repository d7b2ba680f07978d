// The fused transformer ops (emily/fast.h): CPU kernels against their decompositions.
// Oracle: the same op run under fast::DecomposeGuard (catalogue ops only), on the same
// random inputs. Both compute half inputs in f32 and round once, so they differ by f32
// rounding before that one rounding: f32 within rtol 1e-5 (atol 1e-6; 1e-5 for
// attention, whose sums run in another order, and for layer norm of offset rows), f64 within 1e-12,
// and f16/bf16 within one step of their grid (rtol 2^-10 / 2^-7, atol the same for values near
// zero). The decompositions themselves are checked against NumPy in test_fast_fixtures.cpp.
#include <optional>
#include <set>

#include "emily/fast.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;

struct Tolerance {
  double rtol, atol;
};

Tolerance tolerance(DType t, bool attention = false) {
  switch (t) {
    case DType::f16:
      return {1.0 / 1024, 1.0 / 1024};
    case DType::bf16:
      return {1.0 / 128, 1.0 / 128};
    case DType::f64:
      return {1e-12, 1e-12};
    default:
      return {1e-5, attention ? 1e-5 : 1e-6};
  }
}

// The names of the primitives `fn` dispatches.
std::set<std::string> dispatched(const std::function<void()>& fn) {
  std::set<std::string> seen;
  auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) seen.insert(*op);
  });
  fn();
  telemetry::detach(id);
  return seen;
}

// Runs `op` with its kernel (which must be the one that runs) and decomposed.
::testing::AssertionResult kernel_matches_decomposition(const std::function<Tensor()>& op,
                                                        const char* primitive, Tolerance tol) {
  Tensor fused;
  std::set<std::string> ops = dispatched([&] { fused = op(); });
  if (!ops.count(primitive)) return ::testing::AssertionFailure() << primitive << " did not run";
  Tensor reference;
  {
    fast::DecomposeGuard guard;
    ops = dispatched([&] { reference = op(); });
  }
  if (ops.count(primitive))
    return ::testing::AssertionFailure() << "the decomposition dispatched " << primitive;
  if (fused.dtype() != reference.dtype()) return ::testing::AssertionFailure() << "dtypes differ";
  return all_close(astype(fused, DType::f64), astype(reference, DType::f64), tol.rtol, tol.atol);
}

Tensor normal(std::uint64_t seed, const Shape& shape, DType dtype = DType::f32) {
  return random::normal(random::key(seed), shape, dtype);
}

const DType kDTypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64};

TEST(Fast, RmsNormMatchesDecomposition) {
  const Shape shapes[] = {{3, 7}, {2, 5, 96}, {1, 1}, {4, 257}, {6}};
  for (DType dt : kDTypes) {
    std::uint64_t seed = 1;
    for (const Shape& s : shapes) {
      Tensor x = normal(seed++, s, dt), w = normal(seed++, {s.back()}, dt);
      for (bool weighted : {true, false}) {
        std::optional<Tensor> wt = weighted ? std::optional<Tensor>(w) : std::nullopt;
        EXPECT_TRUE(kernel_matches_decomposition([&] { return fast::rms_norm(x, wt, 1e-5); },
                                                 "fast_rms_norm", tolerance(dt)))
            << name(dt) << " " << to_string(s) << " weight " << weighted;
      }
    }
  }
}

TEST(Fast, LayerNormMatchesDecomposition) {
  const Shape shapes[] = {{3, 7}, {2, 5, 96}, {1, 1}, {4, 257}};
  for (DType dt : kDTypes) {
    std::uint64_t seed = 10;
    for (const Shape& s : shapes) {
      // Offset so a mean far from zero is removed (the two-pass variance matters).
      Tensor x = astype(astype(normal(seed++, s), dt) + 3.0, dt);
      Tensor w = normal(seed++, {s.back()}, dt), b = normal(seed++, {s.back()}, dt);
      // Centring values near 3 cancels: the decomposition's f32 mean (a sum of 257
      // values near 3) is off by up to ~1e-6, which every centred output inherits.
      auto tol = tolerance(dt);
      if (dt == DType::f32) tol.atol = 1e-5;
      const char* p = "fast_layer_norm";
      EXPECT_TRUE(
          kernel_matches_decomposition([&] { return fast::layer_norm(x, w, b, 1e-5); }, p, tol))
          << name(dt) << " " << to_string(s);
      EXPECT_TRUE(kernel_matches_decomposition(
          [&] { return fast::layer_norm(x, std::nullopt, b, 1e-5); }, p, tol));
      EXPECT_TRUE(kernel_matches_decomposition([&] { return fast::layer_norm_no_bias(x, w, 1e-5); },
                                               p, tol));
      EXPECT_TRUE(kernel_matches_decomposition(
          [&] { return fast::layer_norm_no_bias(x, std::nullopt, 1e-5); }, p, tol));
    }
  }
}

TEST(Fast, AddNormMatchesTheAddAndTheNormApart) {
  // Oracle: x + residual and the norm of that sum as separate ops (kernels and, under the
  // guard, decompositions). The fused kernel rounds the sum before the norm reads it, as
  // the separate ops do, so the sum is bitwise equal and the norm equal to the norm
  // kernel's own (bitwise on the CPU; the same code path); decomposed, both results are
  // the decomposition's exactly.
  const Shape shapes[] = {{3, 7}, {2, 5, 96}, {1, 1}, {4, 257}, {6}};
  for (DType dt : kDTypes) {
    std::uint64_t seed = 200;
    for (const Shape& s : shapes) {
      Tensor x = normal(seed++, s, dt), r = normal(seed++, s, dt);
      Tensor w = normal(seed++, {s.back()}, dt), b = normal(seed++, {s.back()}, dt);
      for (bool decomposed : {false, true}) {
        std::optional<fast::DecomposeGuard> guard;
        if (decomposed) guard.emplace();
        const std::string what =
            std::string(name(dt)) + " " + to_string(s) + (decomposed ? " decomposed" : " kernel");
        const Tensor sum = x + r;
        auto [rs, rn] = fast::add_rms_norm(x, r, w, 1e-5);
        EXPECT_TRUE(testing::all_equal(rs, sum)) << what;
        EXPECT_TRUE(testing::all_equal(rn, fast::rms_norm(sum, w, 1e-5))) << what;
        auto [ls, ln] = fast::add_layer_norm(x, r, w, b, 1e-5);
        EXPECT_TRUE(testing::all_equal(ls, sum)) << what;
        EXPECT_TRUE(testing::all_equal(ln, fast::layer_norm(sum, w, b, 1e-5))) << what;
        auto [us, un] = fast::add_rms_norm(x, r, std::nullopt, 1e-5);
        EXPECT_TRUE(testing::all_equal(un, fast::rms_norm(sum, std::nullopt, 1e-5))) << what;
      }
      // The kernel against the decomposition, within the norm's tolerance.
      EXPECT_TRUE(kernel_matches_decomposition(
          [&] { return fast::add_layer_norm(x, r, std::nullopt, b, 1e-5).second; },
          "fast_layer_norm", tolerance(dt)))
          << name(dt) << " " << to_string(s);
    }
  }
}

TEST(Fast, NormRopeMatchesTheNormThenTheRope) {
  // Oracle: rms_norm then rope_positions as two ops. On the CPU the fused kernel runs the
  // same row norm and rotation code, so it is bitwise equal; decomposed, both are the
  // decompositions' exactly; the kernel against the decomposition within tolerance.
  struct Case {
    Shape x;
    int dims;
    bool traditional;
  };
  const Case cases[] = {{{1, 1, 4, 128}, 128, false},
                        {{2, 3, 4, 64}, 64, true},
                        {{2, 2, 3, 40}, 24, false},
                        {{1, 5, 2, 10}, 10, true}};
  for (DType dt : kDTypes) {
    std::uint64_t seed = 300;
    for (const Case& c : cases) {
      Tensor x = normal(seed++, c.x, dt), w = normal(seed++, {c.x.back()}, dt);
      Tensor pos = astype(
          floor(random::uniform(random::key(seed++), {c.x[0], c.x[1]}, DType::f32, 0.0, 4000.0)),
          DType::s32);
      auto fused = [&] {
        return fast::rms_norm_rope_positions(x, w, 1e-6, c.dims, c.traditional, 1e6, 1.0, pos);
      };
      auto apart = [&] {
        return fast::rope_positions(fast::rms_norm(x, w, 1e-6), c.dims, c.traditional, 1e6, 1.0,
                                    pos);
      };
      const std::string what = std::string(name(dt)) + " " + to_string(c.x);
      EXPECT_TRUE(testing::all_equal(fused(), apart())) << what;
      {
        fast::DecomposeGuard guard;
        EXPECT_TRUE(testing::all_equal(fused(), apart())) << what << " decomposed";
      }
      EXPECT_TRUE(kernel_matches_decomposition(fused, "fast_rope", tolerance(dt))) << what;
      // The pair form (q and k heads in one call; k with other head counts) gives each
      // single call's bits, with the kernel and decomposed.
      Shape ks = c.x;
      ks[2] = ks[2] == 1 ? 3 : ks[2] / 2;
      Tensor k = normal(seed++, ks, dt), wk = normal(seed++, {c.x.back()}, dt);
      auto pair = [&] {
        return fast::rms_norm_rope_positions(x, w, k, wk, 1e-6, c.dims, c.traditional, 1e6, 1.0,
                                             pos);
      };
      auto single_k = [&] {
        return fast::rms_norm_rope_positions(k, wk, 1e-6, c.dims, c.traditional, 1e6, 1.0, pos);
      };
      for (bool decomposed : {false, true}) {
        std::optional<fast::DecomposeGuard> guard;
        if (decomposed) guard.emplace();
        auto [q_out, k_out] = pair();
        EXPECT_TRUE(testing::all_equal(q_out, fused())) << what << " pair, q, " << decomposed;
        EXPECT_TRUE(testing::all_equal(k_out, single_k())) << what << " pair, k, " << decomposed;
      }
    }
  }
}

TEST(Fast, SwigluMatchesDecomposition) {
  for (DType dt : kDTypes) {
    for (const Shape& s : {Shape{5, 11}, Shape{1}, Shape{3, 1000}}) {
      Tensor g = normal(20, s, dt), u = normal(21, s, dt);
      EXPECT_TRUE(kernel_matches_decomposition([&] { return fast::swiglu(g, u); }, "fast_swiglu",
                                               tolerance(dt)))
          << name(dt) << " " << to_string(s);
    }
  }
  // A transposed (strided) gate.
  Tensor g = normal(22, {7, 4}), u = normal(23, {4, 7});
  EXPECT_TRUE(kernel_matches_decomposition([&] { return fast::swiglu(transpose(g), u); },
                                           "fast_swiglu", tolerance(DType::f32)));
}

// x {..., K} against the stacked {2I, K} gate/up weight: the kernel against the
// decomposition, and bit for bit against the product and swiglu run apart, which is what
// the CPU kernel computes (and what a model's MLP ran before the fused form).
TEST(Fast, LinearSwigluMatchesDecomposition) {
  struct Case {
    Shape x;
    std::int64_t inter;
  };
  const Case cases[] = {{{1, 64}, 24}, {{3, 2, 40}, 7}, {{5}, 3}, {{2, 1, 96}, 1}, {{0, 16}, 4}};
  for (DType dt : kDTypes) {
    std::uint64_t seed = 300;
    for (const Case& c : cases) {
      const std::int64_t k = c.x.back();
      Tensor x = normal(seed++, c.x, dt), w = normal(seed++, {2 * c.inter, k}, dt);
      const std::string what = std::string(name(dt)) + " " + to_string(c.x);
      const Tensor fused = fast::linear_swiglu(x, w);
      Shape want_shape = c.x;
      want_shape.back() = c.inter;
      EXPECT_EQ(fused.shape(), want_shape) << what;
      if (x.size() == 0) continue;  // nothing to compute: no kernel runs
      EXPECT_TRUE(kernel_matches_decomposition([&] { return fast::linear_swiglu(x, w); },
                                               "fast_linear_swiglu", tolerance(dt)))
          << what;
      // A Linear's product: x's rows as one matrix.
      const std::int64_t rows = x.size() / k;
      const Tensor y = matmul(reshape(x, {rows, k}), transpose(w));
      const Tensor apart = fast::swiglu(slice(y, {0, 0}, {rows, c.inter}),
                                        slice(y, {0, c.inter}, {rows, 2 * c.inter}));
      EXPECT_TRUE(testing::all_equal(fused, reshape(apart, want_shape)))
          << what << " against the product and swiglu apart";
    }
  }
}

TEST(Fast, RopeFormsMatchDecomposition) {
  for (DType dt : kDTypes) {
    // {B, H, T, D} for the offset forms, {B, T, H, D} for per-token positions; D = 24
    // and 10 (not a power of two), T = 5 and 1.
    for (const Shape& s : {Shape{2, 3, 5, 24}, Shape{3, 2, 1, 10}}) {
      Tensor x = normal(30, s, dt);
      const std::int64_t b = s[0];
      Tensor offsets = tensor<std::int32_t>(std::vector<std::int32_t>{4, 0, 9}, {3});
      offsets = slice(offsets, {0}, {b});
      Tensor positions =
          astype(random::uniform(random::key(31), {s[0], s[1]}, DType::f32, 0, 50), DType::s64);
      for (bool traditional : {false, true}) {
        for (int dims : {static_cast<int>(s.back()), static_cast<int>(s.back()) - 4}) {
          Tensor freqs =
              astype(random::uniform(random::key(32), {dims / 2}, DType::f32, 0.01, 1.0), dt);
          auto tol = tolerance(dt);
          const char* p = "fast_rope";
          std::string what = std::string(name(dt)) + " " + to_string(s) + " traditional " +
                             std::to_string(traditional) + " dims " + std::to_string(dims);
          EXPECT_TRUE(kernel_matches_decomposition(
              [&] { return fast::rope(x, dims, traditional, 10000.0, 1.0, 3); }, p, tol))
              << what;
          EXPECT_TRUE(kernel_matches_decomposition(
              [&] { return fast::rope(x, dims, traditional, 500000.0, 0.25, 0); }, p, tol))
              << what;
          EXPECT_TRUE(kernel_matches_decomposition(
              [&] { return fast::rope_ids(x, dims, traditional, 10000.0, 1.0, offsets); }, p, tol))
              << what;
          EXPECT_TRUE(kernel_matches_decomposition(
              [&] {
                return fast::rope_ids(x, dims, traditional, 10000.0, 2.0,
                                      tensor<float>({6.0f}, {}));
              },
              p, tol))
              << what;
          EXPECT_TRUE(kernel_matches_decomposition(
              [&] { return fast::rope_positions(x, dims, traditional, 1e6, 1.0, positions); }, p,
              tol))
              << what;
          EXPECT_TRUE(kernel_matches_decomposition(
              [&] { return fast::rope_with_freqs(x, dims, traditional, 1.0, offsets, freqs); }, p,
              tol))
              << what;
        }
      }
    }
  }
  // A {B, T, H, D} tensor read as {B, H, T, D} through a transposed view.
  Tensor x = normal(33, {2, 6, 3, 16});
  EXPECT_TRUE(kernel_matches_decomposition(
      [&] {
        return fast::rope(transpose(x, {0, 2, 1, 3}), 16, false, 10000.0, 1.0, 2);
      },
      "fast_rope", tolerance(DType::f32)));
}

// Shapes of attention problems: batch, query heads, kv heads, q length, kv length, head
// dim, value dim.
struct Problem {
  std::int64_t b, nq, nkv, tq, tkv, d, dv;
};

const Problem kProblems[] = {
    {1, 1, 1, 1, 1, 8, 8},     // one query, one key
    {2, 4, 2, 7, 7, 24, 24},   // GQA prefill, head dim not a power of two
    {2, 8, 1, 1, 33, 64, 64},  // MQA decode step
    {1, 6, 3, 5, 70, 40, 40},  // q shorter than kv, kv not a multiple of any block
    {2, 2, 2, 9, 4, 16, 12},   // q longer than kv (early causal rows see nothing), Dv != D
    // Few query rows per kv head against a long cache: the CPU kernel splits the keys
    // over its threads (two parts of 384 and 316 keys with 2 or more threads) and merges.
    {1, 6, 2, 2, 700, 32, 32},
};

TEST(Fast, SdpaVariantsMatchDecomposition) {
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    std::uint64_t seed = 40;
    for (const Problem& p : kProblems) {
      Tensor q = normal(seed++, {p.b, p.nq, p.tq, p.d}, dt);
      // k in {B, T, N, D} read heads-major through a transposed view.
      Tensor k = transpose(normal(seed++, {p.b, p.tkv, p.nkv, p.d}, dt), {0, 2, 1, 3});
      Tensor v = normal(seed++, {p.b, p.nkv, p.tkv, p.dv}, dt);
      const double scale = 1.0 / std::sqrt(static_cast<double>(p.d));
      Tensor additive = normal(seed++, {1, 1, p.tq, p.tkv}, DType::f16);
      Tensor boolean = random::bernoulli(random::key(seed++), 0.7, {p.b, 1, p.tq, p.tkv});
      // Left padding that differs per batch entry: entry b hides its first b + 1 keys
      // (all of them for a short cache, which must give zeros, not NaN).
      std::vector<std::int32_t> keys(static_cast<std::size_t>(p.b * p.tkv), 1);
      for (std::int64_t b = 0; b < p.b; ++b)
        for (std::int64_t j = 0; j <= b && j < p.tkv; ++j) keys[b * p.tkv + j] = 0;
      Tensor key_mask = tensor<std::int32_t>(keys, {p.b, p.tkv});
      Tensor sinks = normal(seed++, {p.nq});
      auto tol = tolerance(dt, true);
      std::string what = std::string(name(dt)) + " problem (" + std::to_string(p.b) + ", " +
                         std::to_string(p.nq) + ", " + std::to_string(p.nkv) + ", " +
                         std::to_string(p.tq) + ", " + std::to_string(p.tkv) + ")";
      for (bool with_sinks : {false, true}) {
        std::optional<Tensor> s = with_sinks ? std::optional<Tensor>(sinks) : std::nullopt;
        std::string w = what + (with_sinks ? " with sinks" : "");
        const char* prim = "fast_sdpa";
        EXPECT_TRUE(
            kernel_matches_decomposition([&] { return fast::sdpa(q, k, v, scale, s); }, prim, tol))
            << w;
        EXPECT_TRUE(kernel_matches_decomposition(
            [&] { return fast::sdpa_causal(q, k, v, scale, s); }, prim, tol))
            << w;
        EXPECT_TRUE(kernel_matches_decomposition(
            [&] { return fast::sdpa_masked(q, k, v, additive, scale, s); }, prim, tol))
            << w;
        EXPECT_TRUE(kernel_matches_decomposition(
            [&] { return fast::sdpa_masked(q, k, v, boolean, scale, s); }, prim, tol))
            << w;
        EXPECT_TRUE(kernel_matches_decomposition(
            [&] { return fast::sdpa_causal_key_masked(q, k, v, scale, key_mask, std::nullopt, s); },
            prim, tol))
            << w;
        EXPECT_TRUE(kernel_matches_decomposition(
            [&] { return fast::sdpa_causal_key_masked(q, k, v, scale, key_mask, 0, s); }, prim,
            tol))
            << w;
      }
    }
  }
}

// A decode chunk's mask over a cache written only partly, the generate loop's: query i
// of batch entry b sees keys j < written[b] + i. The CPU kernel skips the 64-key blocks
// that no query row sees. With 128 keys written, the first query sees none of the block
// at 128 and the later ones see some of it, so a block may be skipped only when every
// row misses it. One entry sees a single key. Oracle: the decomposition.
TEST(Fast, SdpaOverAPartlyWrittenCacheMatchesDecomposition) {
  constexpr std::int64_t b = 3, nq = 4, nkv = 2, tq = 3, tkv = 700, d = 32;
  const std::int64_t written[b] = {128, 1, 450};
  std::vector<std::int32_t> seen(static_cast<std::size_t>(b * tq * tkv), 0);
  for (std::int64_t e = 0; e < b; ++e)
    for (std::int64_t i = 0; i < tq; ++i)
      for (std::int64_t j = 0; j < written[e] + i; ++j) seen[(e * tq + i) * tkv + j] = 1;
  const Tensor marks = tensor<std::int32_t>(seen, {b, 1, tq, tkv});
  const Tensor mask = greater(marks, scalar_like(marks, 0.0));
  for (DType dt : {DType::f32, DType::bf16}) {
    Tensor q = normal(80, {b, nq, tq, d}, dt), k = normal(81, {b, nkv, tkv, d}, dt);
    Tensor v = normal(82, {b, nkv, tkv, d}, dt);
    Tensor sinks = normal(83, {nq});
    for (bool with_sinks : {false, true}) {
      std::optional<Tensor> s = with_sinks ? std::optional<Tensor>(sinks) : std::nullopt;
      EXPECT_TRUE(
          kernel_matches_decomposition([&] { return fast::sdpa_masked(q, k, v, mask, 0.18, s); },
                                       "fast_sdpa", tolerance(dt, true)))
          << name(dt) << (with_sinks ? " with sinks" : "");
    }
  }
}

TEST(Fast, FullyMaskedRowsGiveZeros) {
  // Oracle: the definition (no key to attend to, so nothing is summed).
  Tensor q = normal(50, {1, 2, 3, 4}), k = normal(51, {1, 2, 5, 4}), v = normal(52, {1, 2, 5, 4});
  Tensor none = full({1, 1, 3, 5}, 0.0, DType::bool_);
  Tensor out = fast::sdpa_masked(q, k, v, none, 0.5);
  EXPECT_TRUE(testing::all_equal(out, zeros({1, 2, 3, 4})));
}

TEST(Fast, EmptyShapesGiveEmptyResultsOrZeros) {
  // Oracle: the definitions (no rows: an empty result; no keys: nothing summed, zeros).
  for (bool decomposed : {false, true}) {
    std::optional<fast::DecomposeGuard> guard;
    if (decomposed) guard.emplace();
    EXPECT_EQ(fast::rms_norm(zeros({0, 8}), std::nullopt, 1e-5).shape(), (Shape{0, 8}));
    EXPECT_EQ(fast::rope(zeros({2, 0, 8}), 8, false, 1e4, 1.0, 0).shape(), (Shape{2, 0, 8}));
    Tensor q = normal(56, {1, 2, 3, 4}), none = zeros({1, 1, 0, 4});
    EXPECT_TRUE(testing::all_equal(fast::sdpa(q, none, none, 1.0), zeros({1, 2, 3, 4})))
        << "decomposed " << decomposed;
    EXPECT_EQ(fast::sdpa_causal(zeros({1, 2, 0, 4}), normal(57, {1, 1, 5, 4}),
                                normal(58, {1, 1, 5, 4}), 1.0)
                  .shape(),
              (Shape{1, 2, 0, 4}));
  }
}

TEST(Fast, GroupedQueryHeadsReadTheirKvHead) {
  // Oracle: grouped-query attention equals attention against K/V heads repeated
  // explicitly (query head h reads kv head h / 2 here).
  Tensor q = normal(53, {2, 4, 3, 8}), k = normal(54, {2, 2, 6, 8}), v = normal(55, {2, 2, 6, 8});
  auto repeat = [](const Tensor& t) {
    Tensor e = broadcast_to(expand_dims(t, {2}), {2, 2, 2, 6, 8});
    return reshape(contiguous(e), {2, 4, 6, 8});
  };
  EXPECT_TRUE(all_close(fast::sdpa_causal(q, k, v, 0.3),
                        fast::sdpa_causal(q, repeat(k), repeat(v), 0.3), 1e-6, 1e-6));
}

TEST(Fast, ArgumentErrorsNameTheOp) {
  Tensor x = normal(60, {2, 8}), w = normal(61, {8});
  EXPECT_EMILY_ERROR(fast::rms_norm(x, normal(62, {7}), 1e-5), ShapeError, "fast_rms_norm");
  EXPECT_EMILY_ERROR(fast::rms_norm(x, astype(w, DType::f16), 1e-5), DTypeError, "fast_rms_norm");
  EXPECT_EMILY_ERROR(fast::rms_norm(arange(4), std::nullopt, 1e-5), DTypeError, "fast_rms_norm");
  EXPECT_EMILY_ERROR(fast::rms_norm(x, w, -1.0), ValueError, "fast_rms_norm");
  EXPECT_EMILY_ERROR(fast::layer_norm(x, w, normal(63, {2}), 1e-5), ShapeError, "fast_layer_norm");
  EXPECT_EMILY_ERROR(fast::layer_norm_no_bias(scalar_tensor(1.0), std::nullopt, 1e-5), ShapeError,
                     "fast_layer_norm_no_bias");
  EXPECT_EMILY_ERROR(fast::add_rms_norm(x, normal(77, {2, 7}), w, 1e-5), ShapeError,
                     "fast_add_rms_norm");
  EXPECT_EMILY_ERROR(fast::add_rms_norm(x, astype(x, DType::f16), w, 1e-5), DTypeError,
                     "fast_add_rms_norm");
  EXPECT_EMILY_ERROR(fast::add_layer_norm(x, x, w, normal(78, {3}), 1e-5), ShapeError,
                     "fast_add_layer_norm");
  EXPECT_EMILY_ERROR(fast::add_layer_norm(x, Tensor(), w, w, 1e-5), ValueError,
                     "fast_add_layer_norm");
  Tensor heads = normal(79, {1, 2, 3, 8});
  EXPECT_EMILY_ERROR(
      fast::rms_norm_rope_positions(heads, normal(80, {4}), 1e-6, 8, false, 1e4, 1.0, arange(2)),
      ShapeError, "fast_rms_norm_rope_positions");
  EXPECT_EMILY_ERROR(fast::rms_norm_rope_positions(heads, normal(81, {8}), -1.0, 8, false, 1e4, 1.0,
                                                   zeros({1, 2}, DType::s32)),
                     ValueError, "fast_rms_norm_rope_positions");
  Tensor k8 = normal(88, {1, 2, 1, 8}), w8 = normal(89, {8});
  const Tensor p12 = zeros({1, 2}, DType::s32);
  EXPECT_EMILY_ERROR(fast::rms_norm_rope_positions(heads, w8, normal(90, {1, 2, 1, 6}),
                                                   normal(91, {6}), 1e-6, 6, false, 1e4, 1.0, p12),
                     ShapeError, "fast_rms_norm_rope_positions");  // head sizes differ
  EXPECT_EMILY_ERROR(
      fast::rms_norm_rope_positions(heads, w8, astype(k8, DType::bf16), astype(w8, DType::bf16),
                                    1e-6, 8, false, 1e4, 1.0, p12),
      DTypeError, "fast_rms_norm_rope_positions");
  EXPECT_EMILY_ERROR(fast::rms_norm_rope_positions(heads, w8, normal(92, {1, 3, 1, 8}), w8, 1e-6, 8,
                                                   false, 1e4, 1.0, p12),
                     ShapeError, "fast_rms_norm_rope_positions");  // k's tokens differ
  EXPECT_EMILY_ERROR(
      fast::rms_norm_rope_positions(heads, w8, k8, normal(93, {4}), 1e-6, 8, false, 1e4, 1.0, p12),
      ShapeError, "fast_rms_norm_rope_positions");
  EXPECT_EMILY_ERROR(fast::swiglu(x, w), ShapeError, "fast_swiglu");
  EXPECT_EMILY_ERROR(fast::swiglu(x, astype(x, DType::bf16)), DTypeError, "fast_swiglu");
  Tensor rows = normal(82, {2, 8});
  EXPECT_EMILY_ERROR(fast::linear_swiglu(rows, normal(83, {5, 8})), ShapeError,
                     "fast_linear_swiglu");  // an odd count of stacked rows
  EXPECT_EMILY_ERROR(fast::linear_swiglu(rows, normal(84, {6, 7})), ShapeError,
                     "fast_linear_swiglu");
  EXPECT_EMILY_ERROR(fast::linear_swiglu(rows, normal(85, {48})), ShapeError, "fast_linear_swiglu");
  EXPECT_EMILY_ERROR(fast::linear_swiglu(rows, normal(86, {6, 8}, DType::bf16)), DTypeError,
                     "fast_linear_swiglu");
  EXPECT_EMILY_ERROR(fast::linear_swiglu(zeros({2, 8}, DType::s32), zeros({6, 8}, DType::s32)),
                     DTypeError, "fast_linear_swiglu");
  EXPECT_EMILY_ERROR(fast::linear_swiglu(Tensor(), normal(87, {6, 8})), Error,
                     "fast_linear_swiglu");

  Tensor r = normal(64, {2, 3, 4, 8});
  EXPECT_EMILY_ERROR(fast::rope(r, 7, false, 1e4, 1.0, 0), ValueError, "fast_rope");
  EXPECT_EMILY_ERROR(fast::rope(r, 10, false, 1e4, 1.0, 0), ValueError, "fast_rope");
  EXPECT_EMILY_ERROR(fast::rope(normal(65, {8}), 8, false, 1e4, 1.0, 0), ShapeError, "fast_rope");
  EXPECT_EMILY_ERROR(fast::rope(r, 8, false, NAN, 1.0, 0), ValueError, "fast_rope");
  EXPECT_EMILY_ERROR(fast::rope_ids(r, 8, false, 1e4, 1.0, arange(3)), ShapeError, "fast_rope_ids");
  EXPECT_EMILY_ERROR(fast::rope_ids(r, 8, false, 1e4, 1.0, full({2}, 1.0, DType::bool_)),
                     DTypeError, "fast_rope_ids");
  EXPECT_EMILY_ERROR(fast::rope_positions(r, 8, false, 1e4, 1.0, arange(2)), ShapeError,
                     "fast_rope_positions");
  EXPECT_EMILY_ERROR(fast::rope_with_freqs(r, 8, false, 1.0, arange(2), normal(66, {3})),
                     ShapeError, "fast_rope_with_freqs");
  EXPECT_EMILY_ERROR(fast::rope_with_freqs(r, 8, false, 1.0, arange(2), arange(4)), DTypeError,
                     "fast_rope_with_freqs");

  Tensor q = normal(67, {1, 4, 3, 8}), k = normal(68, {1, 2, 5, 8}), v = normal(69, {1, 2, 5, 8});
  EXPECT_EMILY_ERROR(fast::sdpa(q, normal(70, {1, 3, 5, 8}), normal(71, {1, 3, 5, 8}), 1.0),
                     ShapeError, "fast_sdpa");
  EXPECT_EMILY_ERROR(fast::sdpa(q, normal(72, {1, 2, 5, 7}), v, 1.0), ShapeError, "fast_sdpa");
  EXPECT_EMILY_ERROR(fast::sdpa(reshape(q, {4, 3, 8}), k, v, 1.0), ShapeError, "fast_sdpa");
  EXPECT_EMILY_ERROR(fast::sdpa(q, astype(k, DType::f16), v, 1.0), DTypeError, "fast_sdpa");
  EXPECT_EMILY_ERROR(fast::sdpa(q, k, v, INFINITY), ValueError, "fast_sdpa");
  EXPECT_EMILY_ERROR(fast::sdpa(q, k, v, 1.0, normal(73, {2})), ShapeError, "fast_sdpa");
  EXPECT_EMILY_ERROR(fast::sdpa_causal(q, k, normal(74, {1, 2, 4, 8}), 1.0), ShapeError,
                     "fast_sdpa_causal");
  EXPECT_EMILY_ERROR(fast::sdpa_masked(q, k, v, normal(75, {3, 4}), 1.0), ShapeError,
                     "fast_sdpa_masked");
  EXPECT_EMILY_ERROR(fast::sdpa_masked(q, k, v, arange(5), 1.0), DTypeError, "fast_sdpa_masked");
  EXPECT_EMILY_ERROR(fast::sdpa_causal_key_masked(q, k, v, 1.0, arange(5)), ShapeError,
                     "fast_sdpa_causal_key_masked");
  EXPECT_EMILY_ERROR(fast::sdpa_causal_key_masked(q, k, v, 1.0, normal(76, {1, 5})), DTypeError,
                     "fast_sdpa_causal_key_masked");
}

TEST(Fast, CompiledReplayEqualsEager) {
  // Oracle: eager results of the same function (native replay runs the same kernels on
  // the same layouts, so bitwise).
  auto fn = [](const std::vector<Tensor>& in) {
    const Tensor &x = in[0], &w = in[1], &q = in[2], &k = in[3], &v = in[4], &m = in[5];
    Tensor h = fast::rms_norm(x, w, 1e-6);
    Tensor l = fast::layer_norm(x, w, w, 1e-5);
    auto [sum, normed] = fast::add_rms_norm(h, l, w, 1e-6);
    Tensor s = fast::swiglu(sum, normed);
    Tensor qr = fast::rms_norm_rope_positions(
        q, w, 1e-6, 8, false, 10000.0, 1.0, tensor<std::int32_t>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}));
    Tensor kr = fast::rope_ids(k, 8, true, 10000.0, 1.0, tensor<std::int32_t>({1, 3}, {2}));
    return std::vector<Tensor>{s, fast::sdpa_causal(qr, kr, v, 0.35),
                               fast::sdpa_masked(q, k, v, greater(m, scalar_like(m, 0.0)), 0.35)};
  };
  std::vector<Tensor> in = {normal(80, {3, 8}),       normal(81, {8}),
                            normal(82, {2, 4, 3, 8}), normal(83, {2, 2, 5, 8}),
                            normal(84, {2, 2, 5, 8}), normal(85, {2, 1, 3, 5})};
  auto f = compile(fn, testing::native("fast"));
  f(in);
  for (int call = 0; call < 2; ++call) {
    in[0] = normal(90 + call, {3, 8});
    auto got = f(in);
    auto want = fn(in);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t j = 0; j < got.size(); ++j)
      EXPECT_TRUE(testing::all_equal(got[j], want[j])) << "result " << j;
  }
}

}  // namespace
}  // namespace emily
