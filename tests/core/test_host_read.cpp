// begin_host_read on the CPU, where the read happens at once, and inside a trace, where it
// is a host read like to_host. Oracle: to_host of the same tensor, bitwise. The GPU's
// deferred copy is checked in tests/cuda/test_cuda_runtime.cpp.
#include "emily/host_read.h"

#include "emily/compile.h"
#include "emily/telemetry.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;

TEST(HostRead, OnTheCpuGivesWhatToHostGives) {
  Tensor x = random::uniform(random::key(1), {4, 6});
  Tensor view = transpose(x);  // strided: the result is contiguous, as to_host's
  HostRead r = begin_host_read(view);
  Tensor got = r.get();
  EXPECT_TRUE(got.is_contiguous());
  EXPECT_EQ(got.shape(), (Shape{6, 4}));
  EXPECT_TRUE(all_equal(got, to_host(view)));
  EXPECT_TRUE(all_equal(r.get(), got));  // a second get returns the same values
  Tensor empty = zeros({0, 3});
  EXPECT_EQ(begin_host_read(empty).get().shape(), (Shape{0, 3}));
}

TEST(HostRead, RejectsAnUndefinedTensor) {
  EXPECT_EMILY_ERROR(begin_host_read(Tensor{}), ValueError, "begin_host_read");
  EXPECT_EMILY_ERROR(HostRead{}.get(), ValueError, "HostRead::get");
}

TEST(HostRead, InATraceIsAHostRead) {
  // A compiled function that reads a traced value on the host cannot replay a plan: it
  // falls back to eager, which then takes the branch the value picks.
  int fallbacks = 0;
  auto id =
      telemetry::attach("emily.compiler.fallback", [&](const telemetry::Event&) { ++fallbacks; });
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(
      [](const std::vector<Tensor>& in) {
        const float s = begin_host_read(sum(in[0])).get().item<float>();
        return std::vector<Tensor>{s > 0 ? in[0] * 2.0 : in[0] * -1.0};
      },
      o);
  EXPECT_EQ(testing::floats(f({ones({2})})[0]), (std::vector<float>{2, 2}));
  EXPECT_EQ(testing::floats(f({ones({2}) * -1.0})[0]), (std::vector<float>{1, 1}));
  telemetry::detach(id);
  EXPECT_EQ(fallbacks, 1);
}

}  // namespace
}  // namespace emily
