// The CUDA kernels of the fast ops (src/backend/cuda/fast*.cu) against two oracles on the
// same inputs: the decomposition on the GPU (fast::DecomposeGuard) and the CPU kernel.
// Each check also sees the fused kernel run (its `eval` span), or, for the cases the CUDA
// kernel declines, sees it not run and the decomposition give the answer on the device.
//
// Tolerances (|got - want| <= atol + rtol |want|), by what the kernels round:
//  - f32: rtol = atol = 5e-5. Both sides compute in f32 in different orders; attention's
//    weights come from exp2 of log2-domain scores against exp, a few ulps apart each.
//  - f64 (norms, swiglu, rope): 1e-12.
//  - bf16 / f16, everything in f32 and one rounding on store: rtol = atol = 2^-7 / 2^-10,
//    one step of the type's grid (the two sides may round a value on either side).
//  - bf16 / f16 linear_swiglu: four steps of the grid (linear_swiglu_tol says why).
//  - bf16 / f16 prefill attention (the tensor-core kernel rounds the softmax weights to
//    the input type before P V, as flash kernels do): 2^-6 / 2^-8, a weight's rounding
//    (2^-9 / 2^-12 relative) carried through |v| up to ~4, plus the output's rounding.
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "emily/fast.h"
#include "emily/telemetry.h"
#include "support/gpu.h"
#include "support/testing.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/fast_sdpa.h"  // ForceMmaSyncPrefill
#include "backend/cuda/gemv.h"       // linear_swiglu_accepts
#endif

namespace emily {
namespace {

using testing::all_close;
using Op = std::function<Tensor(const std::vector<Tensor>&)>;

struct Tol {
  double rtol, atol;
};

Tol elementwise_tol(DType t) {
  switch (t) {
    case DType::f64:
      return {1e-12, 1e-12};
    case DType::f32:
      return {5e-5, 5e-5};
    case DType::bf16:
      return {1.0 / 128, 1.0 / 128};
    default:
      return {1.0 / 1024, 1.0 / 1024};
  }
}

// Rope of a rounded norm: the oracles may round a normed feature (|value| up to ~4
// here) one step apart, which moves a rotated output by up to that step (4 * 2^-8 in
// bf16, 4 * 2^-11 in f16) even where the output itself is small.
Tol norm_rope_tol(DType t) {
  switch (t) {
    case DType::bf16:
      return {1.0 / 64, 1.0 / 32};
    case DType::f16:
      return {1.0 / 512, 1.0 / 256};
    default:
      return elementwise_tol(t);
  }
}

// swiglu of two products each rounded to the type: the oracles may round either product
// one step apart (silu's slope is below 1.1), then the output once: four steps of the
// type's grid in all.
Tol linear_swiglu_tol(DType t) {
  switch (t) {
    case DType::bf16:
      return {4.0 / 128, 4.0 / 128};
    case DType::f16:
      return {4.0 / 1024, 4.0 / 1024};
    default:
      return elementwise_tol(t);
  }
}

Tol flash_tol(DType t) {
  return t == DType::bf16 ? Tol{1.0 / 64, 1.0 / 64} : Tol{1.0 / 256, 1.0 / 256};
}

Tensor normal(std::uint64_t seed, const Shape& shape, DType dtype) {
  return random::normal(random::key(seed), shape, dtype);
}

class CudaFastKernels : public testing::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    eval_id_ = telemetry::attach("emily.eval.start", [this](const telemetry::Event& e) {
      if (const std::string* op = e.find("op")) evals_.insert(*op);
    });
  }
  void TearDown() override {
    if (eval_id_) telemetry::detach(*eval_id_);
    GpuTest::TearDown();
  }

  // Runs `op` on GPU copies of `inputs` and compares with the decomposition on the GPU
  // and the CPU kernel. `fused` names the primitive whose kernel must (or, when
  // `declined`, must not) have run.
  void check(const std::vector<Tensor>& inputs, const Op& op, Tol tol, const std::string& fused,
             const std::string& what, bool declined = false) {
    std::vector<Tensor> on_gpu;
    for (const auto& t : inputs) on_gpu.push_back(to_device(t, gpu));
    evals_.clear();
    Tensor got = op(on_gpu);
    ASSERT_EQ(got.device(), gpu) << what;
    EXPECT_EQ(evals_.count(fused), declined ? 0u : 1u)
        << what << (declined ? ": the kernel ran" : ": the kernel did not run");
    Tensor decomposed;
    {
      fast::DecomposeGuard guard;
      decomposed = op(on_gpu);
    }
    const Tensor want_cpu = op(inputs);
    const Tensor g = astype(to_host(got), DType::f64);
    EXPECT_TRUE(all_close(g, astype(to_host(decomposed), DType::f64), tol.rtol, tol.atol))
        << what << " against the decomposition";
    EXPECT_TRUE(all_close(g, astype(want_cpu, DType::f64), tol.rtol, tol.atol))
        << what << " against the CPU kernel";
  }

 private:
  std::set<std::string> evals_;
  std::optional<telemetry::HandlerId> eval_id_;
};

const DType kAllFloat[] = {DType::f32, DType::bf16, DType::f16, DType::f64};
const DType kAttentionTypes[] = {DType::f32, DType::bf16, DType::f16};

TEST_F(CudaFastKernels, Norms) {
  // Rows of one feature, short rows, a row longer than the block, odd lengths.
  // Rows a multiple of 8 wide (up to 8192) take the in-register kernel, others the
  // strided one; single rows are the decode case.
  const Shape shapes[] = {{3, 40},   {2, 3, 1}, {5, 4096}, {7, 1531}, {1, 1},
                          {1, 1024}, {4, 128},  {2, 8192}, {2, 8200}};
  std::uint64_t seed = 100;
  for (DType dt : kAllFloat) {
    for (const Shape& s : shapes) {
      const std::string n = std::string(name(dt)) + " " + to_string(s);
      // An offset mean: layer norm's variance must not cancel.
      Tensor x = normal(seed++, s, dt) + 3.0;
      Tensor w = normal(seed++, {s.back()}, dt), b = normal(seed++, {s.back()}, dt);
      check(
          {x, w}, [](auto& in) { return fast::rms_norm(in[0], in[1], 1e-5); }, elementwise_tol(dt),
          "fast_rms_norm", "rms_norm " + n);
      check(
          {x}, [](auto& in) { return fast::rms_norm(in[0], std::nullopt, 1e-6); },
          elementwise_tol(dt), "fast_rms_norm", "rms_norm no weight " + n);
      check(
          {x, w, b}, [](auto& in) { return fast::layer_norm(in[0], in[1], in[2], 1e-5); },
          elementwise_tol(dt), "fast_layer_norm", "layer_norm " + n);
      check(
          {x, w}, [](auto& in) { return fast::layer_norm_no_bias(in[0], in[1], 1e-5); },
          elementwise_tol(dt), "fast_layer_norm", "layer_norm no bias " + n);
      check(
          {x, b}, [](auto& in) { return fast::layer_norm(in[0], std::nullopt, in[1], 1e-5); },
          elementwise_tol(dt), "fast_layer_norm", "layer_norm bias only " + n);
    }
  }
}

TEST_F(CudaFastKernels, AddNorms) {
  // The residual add fused into either norm, on both kernels (rows a multiple of 8 in
  // registers, others strided). Oracles: the add and the norm run apart on the GPU,
  // which must match bitwise (the sum rounds before the norm reads it, and the norm is
  // the same kernel), and, through check(), the decomposition and the CPU kernel.
  const Shape shapes[] = {{3, 40}, {2, 3, 1}, {1, 1024}, {7, 1531}, {2, 8200}};
  std::uint64_t seed = 700;
  for (DType dt : kAllFloat) {
    for (const Shape& s : shapes) {
      const std::string n = std::string(name(dt)) + " " + to_string(s);
      Tensor x = normal(seed++, s, dt), r = normal(seed++, s, dt) + 3.0;
      Tensor w = normal(seed++, {s.back()}, dt), b = normal(seed++, {s.back()}, dt);
      Tensor xg = to_device(x, gpu), rg = to_device(r, gpu), wg = to_device(w, gpu),
             bg = to_device(b, gpu);
      const Tensor sum = xg + rg;
      auto [rs, rn] = fast::add_rms_norm(xg, rg, wg, 1e-5);
      EXPECT_TRUE(testing::all_equal(to_host(rs), to_host(sum))) << "add_rms_norm sum " << n;
      EXPECT_TRUE(testing::all_equal(to_host(rn), to_host(fast::rms_norm(sum, wg, 1e-5))))
          << "add_rms_norm " << n;
      auto [ls, ln] = fast::add_layer_norm(xg, rg, wg, bg, 1e-5);
      EXPECT_TRUE(testing::all_equal(to_host(ls), to_host(sum))) << "add_layer_norm sum " << n;
      EXPECT_TRUE(testing::all_equal(to_host(ln), to_host(fast::layer_norm(sum, wg, bg, 1e-5))))
          << "add_layer_norm " << n;
      check(
          {x, r, w}, [](auto& in) { return fast::add_rms_norm(in[0], in[1], in[2], 1e-5).second; },
          elementwise_tol(dt), "fast_rms_norm", "add_rms_norm " + n);
      check(
          {x, r, b},
          [](auto& in) {
            return fast::add_layer_norm(in[0], in[1], std::nullopt, in[2], 1e-5).second;
          },
          elementwise_tol(dt), "fast_layer_norm", "add_layer_norm bias only " + n);
    }
  }
}

TEST_F(CudaFastKernels, NormRope) {
  // The rms_norm prologue of rope (one warp per row): Qwen3's decode heads, rows longer
  // and shorter than a warp, partial rotation, interleaved pairs. Oracles through check():
  // the decomposition (norm, then rope, as catalogue ops) and the CPU kernel.
  struct Case {
    Shape x;
    int dims;
    bool traditional;
  };
  const Case cases[] = {{{1, 1, 16, 128}, 128, false},
                        {{2, 3, 4, 64}, 64, true},
                        {{2, 2, 3, 40}, 24, false},
                        {{1, 5, 2, 10}, 10, true}};
  std::uint64_t seed = 800;
  for (DType dt : kAllFloat) {
    for (const Case& c : cases) {
      // Weights near 1, as a trained norm's are.
      Tensor x = normal(seed++, c.x, dt);
      Tensor w =
          astype(random::uniform(random::key(seed++), {c.x.back()}, DType::f32, 0.5, 1.5), dt);
      Tensor pos = astype(
          floor(random::uniform(random::key(seed++), {c.x[0], c.x[1]}, DType::f32, 0.0, 4000.0)),
          DType::s32);
      check(
          {x, w, pos},
          [&](auto& in) {
            return fast::rms_norm_rope_positions(in[0], in[1], 1e-6, c.dims, c.traditional, 1e6,
                                                 1.0, in[2]);
          },
          norm_rope_tol(dt), "fast_rope", std::string(name(dt)) + " " + to_string(c.x));
      // The pair form: q's and k's heads (another head count) in one launch, each with the
      // bits of its single call on the GPU, and against the CPU kernel's pair.
      Shape ks = c.x;
      ks[2] = ks[2] == 1 ? 3 : ks[2] / 2;
      Tensor k = normal(seed++, ks, dt);
      Tensor wk =
          astype(random::uniform(random::key(seed++), {c.x.back()}, DType::f32, 0.5, 1.5), dt);
      const Tensor xg = to_device(x, gpu), wg = to_device(w, gpu), kg = to_device(k, gpu);
      const Tensor wkg = to_device(wk, gpu), pg = to_device(pos, gpu);
      int ropes = 0;
      auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
        if (const std::string* op = e.find("op"); op && *op == "fast_rope") ++ropes;
      });
      auto [q_out, k_out] =
          fast::rms_norm_rope_positions(xg, wg, kg, wkg, 1e-6, c.dims, c.traditional, 1e6, 1.0, pg);
      telemetry::detach(id);
      const std::string what = "pair " + std::string(name(dt)) + " " + to_string(c.x);
      EXPECT_EQ(ropes, 1) << what << ": one launch for both";
      auto single = [&](const Tensor& t, const Tensor& wt) {
        return to_host(
            fast::rms_norm_rope_positions(t, wt, 1e-6, c.dims, c.traditional, 1e6, 1.0, pg));
      };
      EXPECT_TRUE(testing::all_equal(to_host(q_out), single(xg, wg))) << what << ", q";
      EXPECT_TRUE(testing::all_equal(to_host(k_out), single(kg, wkg))) << what << ", k";
      auto [q_cpu, k_cpu] =
          fast::rms_norm_rope_positions(x, w, k, wk, 1e-6, c.dims, c.traditional, 1e6, 1.0, pos);
      const Tol tol = norm_rope_tol(dt);
      EXPECT_TRUE(all_close(astype(to_host(k_out), DType::f64), astype(k_cpu, DType::f64), tol.rtol,
                            tol.atol))
          << what << ", k against the CPU kernel";
      EXPECT_TRUE(all_close(astype(to_host(q_out), DType::f64), astype(q_cpu, DType::f64), tol.rtol,
                            tol.atol))
          << what << ", q against the CPU kernel";
    }
  }
}

TEST_F(CudaFastKernels, Swiglu) {
  for (DType dt : kAllFloat) {
    for (const Shape& s : {Shape{1}, Shape{3, 77}, Shape{4, 1000, 3}}) {
      Tensor g = normal(1, s, dt) * 4.0;
      check(
          {g, normal(2, s, dt)}, [](auto& in) { return fast::swiglu(in[0], in[1]); },
          elementwise_tol(dt), "fast_swiglu",
          "swiglu " + std::string(name(dt)) + " " + to_string(s));
    }
  }
}

// The stacked gate/up GEMV with swiglu as its epilogue. Shapes give each warps-per-row
// choice the fused kernel takes (bf16: Qwen3-0.6B's 2 x 3072 x 1024 at G = 1, 2 x 64 x
// 1024 at G = 2, 2 x 64 x 2048 at G = 4) and a count of outputs that leaves a block
// part-full. Beyond the two oracles of check(), one row must give the bits of the GEMV
// followed by the swiglu kernel (the fused kernel sums each row as the GEMV does, then
// rounds and applies the same swiglu). More rows, f64, and shapes where the GEMV gives a
// row 8 warps run the decomposition.
TEST_F(CudaFastKernels, LinearSwiglu) {
  enum Expect { taken, declined, either };  // either: the warps per row depend on the dtype
  struct Case {
    Shape x;
    std::int64_t inter;
    Expect expect;
  };
  const Case cases[] = {{{1, 1, 1024}, 3072, taken}, {{1, 1024}, 64, either},
                        {{2048}, 64, either},        {{1, 256}, 61, taken},
                        {{3, 256}, 40, declined},    {{1, 8192}, 16, declined}};
  std::uint64_t seed = 500;
  int fused_runs = 0;
  for (DType dt : kAllFloat) {
    for (const Case& c : cases) {
      const std::int64_t k = c.x.back();
      Tensor x = normal(seed++, c.x, dt), w = normal(seed++, {2 * c.inter, k}, dt) * 0.05;
      const std::string what = "linear_swiglu " + std::string(name(dt)) + " " + to_string(c.x) +
                               " I " + std::to_string(c.inter);
      const Tensor xg = to_device(x, gpu), wg = to_device(w, gpu);
#ifdef EMILY_HAS_CUDA
      const Tensor operands[] = {xg, wg};
      const bool taken_here = cuda::linear_swiglu_accepts(operands, NoAttr{});
#else
      const bool taken_here = false;  // not reached: GpuTest skips without the CUDA backend
#endif
      if (dt == DType::f64 || c.expect == declined)
        EXPECT_FALSE(taken_here) << what;
      else if (c.expect == taken)
        EXPECT_TRUE(taken_here) << what;
      fused_runs += taken_here;
      check(
          {x, w}, [](auto& in) { return fast::linear_swiglu(in[0], in[1]); }, linear_swiglu_tol(dt),
          "fast_linear_swiglu", what, !taken_here);
      if (!taken_here) continue;
      const Tensor y = matmul(reshape(xg, {1, k}), transpose(wg));
      const Tensor apart =
          fast::swiglu(slice(y, {0, 0}, {1, c.inter}), slice(y, {0, c.inter}, {1, 2 * c.inter}));
      EXPECT_TRUE(testing::all_equal(to_host(reshape(fast::linear_swiglu(xg, wg), {1, c.inter})),
                                     to_host(apart)))
          << what << " against the GEMV and swiglu apart";
    }
  }
  EXPECT_GE(fused_runs, 10);  // the three 16/32-bit types over the taken and G = 2/4 shapes
}

TEST_F(CudaFastKernels, RopeEveryForm) {
  struct Case {
    Shape shape;
    int dims;
  };
  // Head size not a power of two, dims < D (the rest passes through), one row, T = 1.
  const Case cases[] = {
      {{2, 3, 5, 12}, 12}, {{2, 3, 17, 10}, 6}, {{3, 2, 1, 64}, 64}, {{2, 4, 7, 80}, 32}};
  for (DType dt : kAllFloat) {
    for (const Case& c : cases) {
      const Tensor x = normal(4, c.shape, dt);
      const std::int64_t b = c.shape[0], t = c.shape[2];
      const std::string n = std::string(name(dt)) + " " + to_string(c.shape);
      const Tol tol = elementwise_tol(dt);
      Tensor offsets = tensor<std::int32_t>({2, 4000, 7}, {3});
      offsets = slice(offsets, {0}, {b});
      Tensor positions =
          astype(random::uniform(random::key(5), {b, t}, DType::f32, 0.0, 5000.0), DType::s64);
      Tensor freqs = random::uniform(random::key(6), {c.dims / 2}, DType::f32, 0.01, 1.0);
      for (bool trad : {false, true}) {
        const int dims = c.dims;
        const std::string f = n + (trad ? " traditional" : " split-half");
        check(
            {x}, [&](auto& in) { return fast::rope(in[0], dims, trad, 1e4, 1.0, 3); }, tol,
            "fast_rope", "rope " + f);
        check(
            {x}, [&](auto& in) { return fast::rope(in[0], dims, trad, 5e5, 0.25, 2900); }, tol,
            "fast_rope", "rope offset 2900 " + f);
        check(
            {x, offsets},
            [&](auto& in) { return fast::rope_ids(in[0], dims, trad, 1e4, 1.0, in[1]); }, tol,
            "fast_rope", "rope_ids " + f);
        check(
            {x, astype(offsets, DType::f32)},
            [&](auto& in) { return fast::rope_ids(in[0], dims, trad, 1e4, 1.0, in[1]); }, tol,
            "fast_rope", "rope_ids f32 offsets " + f);
        check(
            {x, scalar_tensor(11.0, DType::s64)},
            [&](auto& in) { return fast::rope_ids(in[0], dims, trad, 1e4, 1.0, in[1]); }, tol,
            "fast_rope", "rope_ids 0-d offset " + f);
        check(
            {transpose(x, {0, 2, 1, 3}), positions},
            [&](auto& in) { return fast::rope_positions(in[0], dims, trad, 1e4, 1.0, in[1]); }, tol,
            "fast_rope", "rope_positions " + f);
        check(
            {x, offsets, freqs},
            [&](auto& in) { return fast::rope_with_freqs(in[0], dims, trad, 0.5, in[1], in[2]); },
            tol, "fast_rope", "rope_with_freqs " + f);
      }
    }
  }
}

// Every mask form of one attention shape: q {B, Nq, Tq, D}, k/v {B, Nkv, Tkv, D/Dv}.
void attention_cases(
    const std::function<void(const std::vector<Tensor>&, const Op&, const std::string&)>& check,
    std::int64_t b, std::int64_t nq, std::int64_t nkv, std::int64_t tq, std::int64_t tkv,
    std::int64_t d, std::int64_t dv, DType dt, std::uint64_t seed) {
  const std::string n = std::string(name(dt)) + " B" + std::to_string(b) + " Nq" +
                        std::to_string(nq) + " Nkv" + std::to_string(nkv) + " Tq" +
                        std::to_string(tq) + " Tkv" + std::to_string(tkv) + " D" +
                        std::to_string(d) + " Dv" + std::to_string(dv);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  Tensor q = normal(seed, {b, nq, tq, d}, dt), k = normal(seed + 1, {b, nkv, tkv, d}, dt);
  Tensor v = normal(seed + 2, {b, nkv, tkv, dv}, dt);
  Tensor sinks = normal(seed + 3, {nq}, DType::f32);
  Tensor bool_mask = random::bernoulli(random::key(seed + 4), 0.7, {b, 1, tq, tkv});
  Tensor add_mask = normal(seed + 5, {1, nq, tq, tkv}, DType::f32);
  // Batch entries padded differently: the first hides its first key, the last hides a
  // run of keys in the middle (and, in a batch of 3, the second hides none).
  std::vector<std::int32_t> keys(static_cast<std::size_t>(b * tkv), 1);
  keys[0] = tkv > 1 ? 0 : 1;
  for (std::int64_t j = tkv / 3; j < tkv / 2; ++j) keys[(b - 1) * tkv + j] = 0;
  Tensor key_mask = tensor<std::int32_t>(keys, {b, tkv});
  check(
      {q, k, v}, [=](auto& in) { return fast::sdpa(in[0], in[1], in[2], scale); }, "sdpa " + n);
  check(
      {q, k, v, sinks}, [=](auto& in) { return fast::sdpa(in[0], in[1], in[2], scale, in[3]); },
      "sdpa sinks " + n);
  check(
      {q, k, v}, [=](auto& in) { return fast::sdpa_causal(in[0], in[1], in[2], scale); },
      "sdpa_causal " + n);
  check(
      {q, k, v, sinks},
      [=](auto& in) { return fast::sdpa_causal(in[0], in[1], in[2], scale, in[3]); },
      "sdpa_causal sinks " + n);
  check(
      {q, k, v, bool_mask},
      [=](auto& in) { return fast::sdpa_masked(in[0], in[1], in[2], in[3], scale); },
      "sdpa_masked bool " + n);
  check(
      {q, k, v, add_mask},
      [=](auto& in) { return fast::sdpa_masked(in[0], in[1], in[2], in[3], scale); },
      "sdpa_masked additive " + n);
  check(
      {q, k, v, key_mask},
      [=](auto& in) { return fast::sdpa_causal_key_masked(in[0], in[1], in[2], scale, in[3]); },
      "sdpa_causal_key_masked " + n);
  // A kv_offset that leaves the first queries seeing nothing: their rows are zeros.
  const std::int64_t offset = tkv / 2 - tq;
  check(
      {q, k, v, key_mask, sinks},
      [=](auto& in) {
        return fast::sdpa_causal_key_masked(in[0], in[1], in[2], scale, in[3], offset, in[4]);
      },
      "sdpa_causal_key_masked kv_offset sinks " + n);
  // q, k and v as {B, T, N, D} tensors seen heads-major (strided, no copy).
  Tensor qt = normal(seed + 6, {b, tq, nq, d}, dt), kt = normal(seed + 7, {b, tkv, nkv, d}, dt);
  Tensor vt = normal(seed + 8, {b, tkv, nkv, dv}, dt);
  check(
      {qt, kt, vt},
      [=](auto& in) {
        return fast::sdpa_causal(transpose(in[0], {0, 2, 1, 3}), transpose(in[1], {0, 2, 1, 3}),
                                 transpose(in[2], {0, 2, 1, 3}), scale);
      },
      "sdpa_causal {B, T, N, D} views " + n);
}

TEST_F(CudaFastKernels, DecodeAttention) {
  struct Case {
    std::int64_t b, nq, nkv, tq, tkv, d, dv;
  };
  // Tq 1..8; GQA, MQA and MHA; head sizes 64, 128, 256 and odd ones (24, 80, Dv != D);
  // one key, a few, and enough for the keys to be split into many chunks. Half-precision
  // cases of head size 64 or 128 run the streamed kernel (many chunks with a partial last
  // tile; 2, 4 and 8 query rows per block; query rows in several blocks: 8 heads per kv head
  // times 8 queries; 64 x 8 (batch, kv head) pairs, enough blocks that the cache is one
  // chunk; one kv head over 4100 keys, more chunks than the merge's warps fold in one
  // batch: 129 streamed, 65 for f32); the others decode_chunks.
  const Case cases[] = {
      {2, 4, 2, 1, 7, 64, 64},      {1, 16, 8, 1, 4100, 128, 128}, {2, 8, 1, 3, 300, 80, 80},
      {3, 3, 3, 8, 1, 24, 24},      {1, 4, 2, 5, 1000, 256, 256},  {2, 6, 2, 2, 129, 64, 40},
      {1, 32, 4, 8, 600, 128, 128}, {3, 8, 8, 1, 16, 64, 64},      {1, 16, 8, 1, 256, 128, 128},
      {2, 4, 2, 2, 333, 64, 64},    {64, 16, 8, 1, 45, 128, 128},  {1, 2, 1, 1, 4100, 128, 128}};
  std::uint64_t seed = 1000;
  for (DType dt : kAttentionTypes) {
    for (const Case& c : cases) {
      attention_cases(
          [&](const std::vector<Tensor>& in, const Op& op, const std::string& what) {
            check(in, op, elementwise_tol(dt), "fast_sdpa", "decode " + what);
          },
          c.b, c.nq, c.nkv, c.tq, c.tkv, c.d, c.dv, dt, seed += 10);
    }
  }
}

// A decode step's mask over a cache written only partly, the generate loop's case: the
// streamed kernel does not read the chunks past the last key a row sees, and trims the
// chunk that holds it. Two batch rows written to different lengths, one chunk boundary
// apart and mid-chunk; and one row that sees only key 0.
TEST_F(CudaFastKernels, DecodeAttentionOverAPartlyWrittenCache) {
  constexpr std::int64_t tkv = 4100;
  const std::int64_t written[][2] = {{1000, 3000}, {1, 4099}};
  std::uint64_t seed = 7000;
  for (DType dt : kAttentionTypes) {
    for (const auto& w : written) {
      Tensor q = normal(seed++, {2, 16, 1, 128}, dt), k = normal(seed++, {2, 8, tkv, 128}, dt);
      Tensor v = normal(seed++, {2, 8, tkv, 128}, dt);
      const Tensor keys = arange(tkv, DType::s32);
      Tensor mask =
          concatenate({reshape(less(keys, full({1}, double(w[0]), DType::s32)), {1, 1, 1, tkv}),
                       reshape(less(keys, full({1}, double(w[1]), DType::s32)), {1, 1, 1, tkv})},
                      0);
      check(
          {q, k, v, mask},
          [](auto& in) { return fast::sdpa_masked(in[0], in[1], in[2], in[3], 0.088); },
          elementwise_tol(dt), "fast_sdpa",
          "decode over a cache written to " + std::to_string(w[0]) + " / " + std::to_string(w[1]) +
              " keys, " + std::string(name(dt)));
    }
  }
}

TEST_F(CudaFastKernels, PrefillAttention) {
  struct Case {
    std::int64_t b, nq, nkv, tq, tkv;
  };
  // Sequences that are and are not multiples of the 128-row blocks and 32- or 64-key tiles,
  // Tq != Tkv (a cache; more queries than keys too), GQA and MHA; the kernel's head sizes
  // (64, 128) and smaller ones it runs padded with zero features (40, 96).
  // From 1024 rows, head size 64 takes the three-consumer blocks on sm_90.
  const Case cases[] = {{2, 4, 2, 9, 9},      {1, 2, 2, 128, 128}, {2, 4, 1, 100, 300},
                        {1, 2, 2, 257, 257},  {1, 2, 1, 384, 200}, {1, 2, 2, 33, 520},
                        {1, 2, 1, 1100, 1100}};
  std::uint64_t seed = 5000;
  // On sm_90 the second round runs the mma.sync kernel that other GPUs take.
  for (const bool mma_sync : {false, true}) {
#ifdef EMILY_HAS_CUDA
    std::optional<cuda::ForceMmaSyncPrefill> force;
    if (mma_sync) force.emplace();
#endif
    for (DType dt : {DType::bf16, DType::f16}) {
      for (std::int64_t d : {64, 128, 40, 96}) {
        for (const Case& c : cases) {
          attention_cases(
              [&](const std::vector<Tensor>& in, const Op& op, const std::string& what) {
                check(in, op, flash_tol(dt), "fast_sdpa",
                      std::string(mma_sync ? "mma.sync " : "") + "prefill " + what);
              },
              c.b, c.nq, c.nkv, c.tq, c.tkv, d, d, dt, seed += 10);
        }
      }
    }
  }
}

// What the CUDA kernels decline runs as the decomposition, on the device: f64 attention,
// f32 prefill, prefill head sizes that are not a multiple of 8 or above 128, head sizes
// above 256.
TEST_F(CudaFastKernels, DeclinedAttentionRunsTheDecomposition) {
  struct Case {
    DType dt;
    std::int64_t tq, d;
  };
  const Case cases[] = {{DType::f64, 1, 64},
                        {DType::f32, 40, 64},
                        {DType::bf16, 40, 100},
                        {DType::bf16, 40, 136},
                        {DType::bf16, 1, 320}};
  std::uint64_t seed = 9000;
  for (const Case& c : cases) {
    Tensor q = normal(seed++, {2, 4, c.tq, c.d}, c.dt), k = normal(seed++, {2, 2, 70, c.d}, c.dt);
    Tensor v = normal(seed++, {2, 2, 70, c.d}, c.dt);
    const Tol tol = c.dt == DType::f64 ? Tol{1e-12, 1e-12} : elementwise_tol(c.dt);
    check(
        {q, k, v}, [](auto& in) { return fast::sdpa_causal(in[0], in[1], in[2], 0.125); }, tol,
        "fast_sdpa",
        std::string("declined ") + std::string(name(c.dt)) + " Tq" + std::to_string(c.tq) + " D" +
            std::to_string(c.d),
        true);
  }
}

}  // namespace
}  // namespace emily
