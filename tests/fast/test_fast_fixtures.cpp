// The decompositions of the fast ops against an independent oracle: NumPy goldens from
// scripts/fixtures/fast.py (fast/*), computed in float64 from the textbook definitions
// (rotations as complex products, attention as an explicit softmax) and rounded once to
// f32. Tolerance: rtol 1e-5, atol 1e-5 (f32 arithmetic on values of order 1; the rope
// angles stay below 6 radians). The kernels are held to the same goldens.
#include "emily/fast.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::fixture;

Tensor golden(const std::string& name) {
  return fixture("fast/" + name + ".npy");
}

TEST(FastFixtures, RopeMatchesNumpyInBothLayouts) {
  Tensor x = golden("rope_x");  // {2, 3, 5, 12}, positions 7.., dims 8, base 1e4, scale 0.5
  for (bool traditional : {false, true}) {
    Tensor want = golden(traditional ? "rope_traditional" : "rope_split");
    Tensor kernel = fast::rope(x, 8, traditional, 10000.0, 0.5, 7);
    fast::DecomposeGuard guard;
    Tensor decomposed = fast::rope(x, 8, traditional, 10000.0, 0.5, 7);
    EXPECT_TRUE(all_close(decomposed, want, 1e-5, 1e-5)) << "traditional " << traditional;
    EXPECT_TRUE(all_close(kernel, want, 1e-5, 1e-5)) << "traditional " << traditional;
  }
}

TEST(FastFixtures, CausalSdpaMatchesNumpy) {
  // prefill: GQA 4/2 heads, q = kv = 7; decode: 6/2 heads, 3 queries over 9 keys.
  for (const char* tag : {"prefill", "decode"}) {
    std::string p = std::string("sdpa_") + tag + "_";
    Tensor q = golden(p + "q"), k = golden(p + "k"), v = golden(p + "v");
    Tensor want = golden(p + "out");
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.shape(3)));
    Tensor kernel = fast::sdpa_causal(q, k, v, scale);
    fast::DecomposeGuard guard;
    Tensor decomposed = fast::sdpa_causal(q, k, v, scale);
    EXPECT_TRUE(all_close(decomposed, want, 1e-5, 1e-5)) << tag;
    EXPECT_TRUE(all_close(kernel, want, 1e-5, 1e-5)) << tag;
  }
}

}  // namespace
}  // namespace emily
