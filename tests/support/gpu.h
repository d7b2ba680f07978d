// The fixture of the GPU test programs: runs on the first CUDA device, skips (saying why)
// where there is none, and fails a test after which anything fell back to the CPU (every
// dtype a GPU test uses is claimed native). A test about the fallback itself checks
// `fallbacks` and clears it.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>

#include "emily/emily.h"

namespace emily::testing {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  Device gpu = Device::cuda(0);
  std::set<std::string> fallbacks;  // ops that ran on the CPU during the test

 private:
  std::optional<telemetry::HandlerId> id_;
};

}  // namespace emily::testing
