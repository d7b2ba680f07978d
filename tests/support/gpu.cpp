#include "support/gpu.h"

namespace emily::testing {

void GpuTest::SetUp() {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  id_ = telemetry::attach("emily.fallback.start", [this](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) fallbacks.insert(*op);
  });
}

void GpuTest::TearDown() {
  if (!id_) return;
  telemetry::detach(*id_);
  std::string names;
  for (const auto& f : fallbacks) names += f + " ";
  EXPECT_TRUE(fallbacks.empty()) << "fell back to the CPU: " << names;
}

}  // namespace emily::testing
