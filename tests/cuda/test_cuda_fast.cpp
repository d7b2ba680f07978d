// The fast ops on a GPU, through the CUDA kernels or, for what they decline, the
// decompositions on the device (results stay there, no `fallback` event), agreeing with
// the CPU kernels (test_cuda_fast_kernels.cpp checks each kernel case by case). Oracle: the CPU kernel on the same inputs. Tolerance:
// f32 within rtol 1e-5, atol 1e-5 (both compute in strict f32, in different orders),
// bf16 within rtol and atol 2^-7 (one rounding step of its grid).
// Every test skips, saying why, on a machine without a CUDA device.
#include <set>

#include "emily/fast.h"
#include "emily/kv_cache.h"
#include "emily/telemetry.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;

class CudaFast : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
    id_ = telemetry::attach("emily.fallback.start", [this](const telemetry::Event& e) {
      if (const std::string* op = e.find("op")) fallbacks_.insert(*op);
    });
  }
  void TearDown() override {
    if (cuda_device_count() == 0) return;
    telemetry::detach(id_);
    EXPECT_TRUE(fallbacks_.empty()) << "fell back to the CPU: " << *fallbacks_.begin();
  }
  // Runs `op` on CPU inputs and on their GPU copies; the GPU result must stay on the GPU.
  void expect_same(const std::vector<Tensor>& inputs,
                   const std::function<Tensor(const std::vector<Tensor>&)>& op, double tol,
                   const std::string& what) {
    std::vector<Tensor> on_gpu;
    for (const auto& t : inputs) on_gpu.push_back(to_device(t, gpu));
    Tensor got = op(on_gpu);
    EXPECT_EQ(got.device(), gpu) << what;
    Tensor want = op(inputs);
    EXPECT_TRUE(all_close(astype(to_host(got), DType::f32), astype(want, DType::f32), tol, tol))
        << what;
  }
  Device gpu = Device::cuda(0);

 private:
  std::set<std::string> fallbacks_;
  telemetry::HandlerId id_{};
};

Tensor normal(std::uint64_t seed, const Shape& shape, DType dtype) {
  return random::normal(random::key(seed), shape, dtype);
}

TEST_F(CudaFast, DecompositionsRunOnTheDevice) {
  for (DType dt : {DType::f32, DType::bf16}) {
    const double tol = dt == DType::f32 ? 1e-5 : 1.0 / 128;
    const std::string n(name(dt));
    Tensor x = normal(1, {3, 40}, dt), w = normal(2, {40}, dt), b = normal(3, {40}, dt);
    expect_same(
        {x, w}, [](auto& in) { return fast::rms_norm(in[0], in[1], 1e-5); }, tol, "rms_norm " + n);
    expect_same(
        {x, w, b}, [](auto& in) { return fast::layer_norm(in[0], in[1], in[2], 1e-5); }, tol,
        "layer_norm " + n);
    expect_same(
        {x, w}, [](auto& in) { return fast::swiglu(in[0], in[0] * 0.5); }, tol, "swiglu " + n);
    Tensor r = normal(4, {2, 3, 5, 12}, dt);
    Tensor offsets = tensor<std::int32_t>({2, 7}, {2});
    Tensor positions = tensor<std::int32_t>({0, 1, 2, 3, 4, 9, 8, 7, 6, 5}, {2, 5});
    Tensor freqs = random::uniform(random::key(5), {4}, DType::f32, 0.01, 1.0);
    for (bool traditional : {false, true}) {
      expect_same(
          {r}, [&](auto& in) { return fast::rope(in[0], 8, traditional, 1e4, 1.0, 3); }, tol,
          "rope " + n);
      expect_same(
          {r, offsets},
          [&](auto& in) { return fast::rope_ids(in[0], 8, traditional, 1e4, 1.0, in[1]); }, tol,
          "rope_ids " + n);
      expect_same(
          {transpose(r, {0, 2, 1, 3}), positions},
          [&](auto& in) { return fast::rope_positions(in[0], 8, traditional, 1e4, 1.0, in[1]); },
          tol, "rope_positions " + n);
      expect_same(
          {r, offsets, freqs},
          [&](auto& in) { return fast::rope_with_freqs(in[0], 8, traditional, 1.0, in[1], in[2]); },
          tol, "rope_with_freqs " + n);
    }
    Tensor q = normal(6, {2, 4, 3, 24}, dt), k = normal(7, {2, 2, 9, 24}, dt);
    Tensor v = normal(8, {2, 2, 9, 24}, dt), sinks = normal(9, {4}, DType::f32);
    Tensor mask = random::bernoulli(random::key(10), 0.7, {2, 1, 3, 9});
    Tensor keys =
        tensor<std::int32_t>({0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1}, {2, 9});
    expect_same(
        {q, k, v, sinks}, [](auto& in) { return fast::sdpa(in[0], in[1], in[2], 0.2, in[3]); }, tol,
        "sdpa " + n);
    expect_same(
        {q, k, v}, [](auto& in) { return fast::sdpa_causal(in[0], in[1], in[2], 0.2); }, tol,
        "sdpa_causal " + n);
    expect_same(
        {q, k, v, mask},
        [](auto& in) { return fast::sdpa_masked(in[0], in[1], in[2], in[3], 0.2); }, tol,
        "sdpa_masked " + n);
    expect_same(
        {q, k, v, keys},
        [](auto& in) { return fast::sdpa_causal_key_masked(in[0], in[1], in[2], 0.2, in[3]); }, tol,
        "sdpa_causal_key_masked " + n);
    Tensor cache = normal(11, {2, 2, 12, 24}, dt);
    expect_same(
        {q, normal(12, {2, 2, 3, 24}, dt), cache},
        [](auto& in) {
          return kv_cache_sdpa_update(in[0], in[1], in[1], in[2], in[2], 4, 0.2).out;
        },
        tol, "kv_cache_sdpa_update " + n);
  }
}

}  // namespace
}  // namespace emily
