// Oracle: docs/catalogue.md, the op list the seed system's users call.
#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "emily/random.h"
#include "emily/telemetry.h"
#include "ops/catalogue.h"
#include "support/testing.h"

namespace emily {
namespace {

// Names listed in a section of docs/catalogue.md (lines "group: name name ...").
std::vector<std::string> catalogue_names(const std::string& heading, const std::string& next) {
  std::ifstream f(std::string(EMILY_SOURCE_DIR) + "/docs/catalogue.md");
  std::string line;
  bool in = false;
  std::vector<std::string> names;
  while (std::getline(f, line)) {
    if (line.rfind("## ", 0) == 0) in = line.find(heading) != std::string::npos;
    if (!in || line.find(": ") == std::string::npos || line.rfind("    ", 0) == 0) continue;
    std::stringstream ss(line.substr(line.find(": ") + 2));
    std::string n;
    while (ss >> n) names.push_back(n);
  }
  return names;
}

TEST(Catalogue, EveryDocumentedNameIsListed) {
  std::set<std::string> listed;
  for (const auto& e : catalogue()) listed.insert(std::string(e.name));
  for (const char* section : {"Transformer op set", "The rest", "Fused transformer"}) {
    auto names = catalogue_names(section, "");
    EXPECT_FALSE(names.empty()) << section;
    for (const auto& n : names) EXPECT_TRUE(listed.count(n)) << n;
  }
}

TEST(Catalogue, FoundationRunsOnCpu) {
  auto names = catalogue_names("Transformer op set", "");
  ASSERT_GT(names.size(), 90u);
  for (const auto& n : names) {
    auto s = status(n, Device::Type::cpu);
    EXPECT_TRUE(s == KernelStatus::native || s == KernelStatus::composite) << catalogue_line(n);
  }
}

// The CPU backend is complete: it is the reference and the fallback of every other one.
TEST(Catalogue, RestRunsOnCpu) {
  auto names = catalogue_names("The rest", "");
  ASSERT_GT(names.size(), 25u);
  for (const auto& n : names) {
    auto s = status(n, Device::Type::cpu);
    EXPECT_TRUE(s == KernelStatus::native || s == KernelStatus::composite) << catalogue_line(n);
  }
}

// The fused transformer and quantization ops run on the CPU (their kernels or
// composites of them).
TEST(Catalogue, FastOpsRunOnCpu) {
  auto names = catalogue_names("Fused transformer", "");
  int checked = 0;
  for (const auto& n : names) {
    auto s = status(n, Device::Type::cpu);
    EXPECT_TRUE(s == KernelStatus::native || s == KernelStatus::composite) << catalogue_line(n);
    ++checked;
  }
  EXPECT_EQ(checked, 18);
}

TEST(Catalogue, LinesHaveTheDocumentedForm) {
  for (const auto& e : catalogue()) {
    std::string line = catalogue_line(e.name);
    std::stringstream ss(line);
    std::string n, cpu, cuda, extra;
    ss >> n >> cpu >> cuda;
    EXPECT_FALSE(ss >> extra) << line;
    EXPECT_EQ(n, e.name);
    EXPECT_EQ(cpu.rfind("cpu=", 0), 0u) << line;
    EXPECT_EQ(cuda.rfind("cuda=", 0), 0u) << line;
#ifndef EMILY_HAS_CUDA
    EXPECT_EQ(cuda, "cuda=missing") << line;
#endif
  }
}

// The status `emily ops` reports for a composite is derived from its declared parts, so
// the declaration must cover every primitive the composite really dispatches. Oracle: the
// emily.eval telemetry events observed while running each composite once.
TEST(Catalogue, CompositePartsCoverWhatTheyDispatch) {
  Tensor m = tensor<float>({1, -2, 3, 4, 5, -6}, {2, 3});
  Tensor key = random::key(7);
  // Operands of the fast composites, made here so that their creation is not counted.
  Tensor one = arange(1), unit = ones({1}), pair = ones({1, 2}), t4 = reshape(m, {1, 1, 2, 3});
  Tensor t4_bthd = reshape(m, {1, 2, 1, 3}), half_mask = ones({2, 2}, DType::f16);
  Tensor keys2 = ones({1, 2}, DType::s32), keys3 = ones({1, 3}, DType::s32);
  Tensor cache = zeros({1, 1, 4, 3}), cache_bthd = zeros({1, 4, 1, 3});
  Tensor q64 = reshape(astype(arange(64), DType::f32), {2, 32});
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"ones", [] { ones({2}); }},
      {"zeros", [] { zeros({2}); }},
      {"scalar_tensor", [] { scalar_tensor(1.5); }},
      {"clip", [&] { clip(m, -1.0, 1.0); }},
      {"isclose", [&] { isclose(m, m); }},
      {"allclose", [&] { allclose(m, m); }},
      {"squeeze",
       [&] {
         squeeze(reshape(m, {1, 6}));
       }},
      {"stack",
       [&] {
         stack({m, m});
       }},
      {"tensordot", [&] { tensordot(m, transpose(m), 1); }},
      {"einsum",
       [&] {
         einsum("ij,kj->ik", {m, m});
       }},
      {"mean", [&] { mean(m, 1); }},
      {"softmax", [&] { softmax(m); }},
      {"log_softmax", [&] { log_softmax(m); }},
      {"logsumexp", [&] { logsumexp(m, 1); }},
      {"gelu", [&] { gelu(m); }},
      {"gelu_tanh", [&] { gelu_tanh(m); }},
      {"silu", [&] { silu(m); }},
      {"random_key", [] { random::key(3); }},
      {"random_split", [&] { random::split(key, 3); }},
      {"random_uniform", [&] { random::uniform(key, {4}); }},
      {"random_normal", [&] { random::normal(key, {4}); }},
      {"random_bernoulli", [&] { random::bernoulli(key, 0.5, {4}); }},
      {"random_categorical", [&] { random::categorical(key, m); }},
      {"fast_layer_norm_no_bias",
       [&] { fast::layer_norm_no_bias(transpose(m), std::nullopt, 1e-5); }},
      {"fast_rope_ids", [&] { fast::rope_ids(t4, 2, false, 1e4, 1.0, one); }},
      {"fast_rope_positions", [&] { fast::rope_positions(t4_bthd, 2, true, 1e4, 1.0, pair); }},
      {"fast_rope_with_freqs", [&] { fast::rope_with_freqs(t4, 2, false, 1.0, one, unit); }},
      {"fast_sdpa_causal", [&] { fast::sdpa_causal(t4, t4, t4, 1.0, unit); }},
      {"fast_sdpa_masked", [&] { fast::sdpa_masked(t4, t4, t4, half_mask, 1.0); }},
      {"fast_sdpa_causal_key_masked",
       [&] { fast::sdpa_causal_key_masked(t4, t4, t4, 1.0, keys2); }},
      {"kv_cache_sdpa_update", [&] { kv_cache_sdpa_update(t4, t4, t4, cache, cache, 1, 1.0); }},
      {"kv_cache_attention",
       [&] { kv_cache_attention(t4_bthd, t4_bthd, t4_bthd, cache_bthd, cache_bthd, 1, 1.0); }},
      {"quantize",
       [&] {
         quantize(q64, 32, 4);
         quantize(q64, 32, 3);
       }},
      {"kv_cache_attention_masked",
       [&] {
         kv_cache_attention_masked(t4_bthd, t4_bthd, t4_bthd, cache_bthd, cache_bthd, 1, 1.0,
                                   keys3);
       }},
  };
  for (const auto& [name, call] : calls) {
    const auto* parts = composite_parts(name);
    ASSERT_NE(parts, nullptr) << name << " is not declared as a composite";
    std::set<std::string> seen;
    auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
      if (const std::string* op = e.find("op")) seen.insert(*op);
    });
    call();
    telemetry::detach(id);
    // Some composites build on the host or only make views, and dispatch nothing.
    for (const auto& op : seen)
      EXPECT_TRUE(std::find(parts->begin(), parts->end(), op) != parts->end())
          << name << " dispatches " << op << " but does not declare it";
  }
}

}  // namespace
}  // namespace emily
