// Oracle: the allocator's documented accounting — active counts requested bytes of live
// buffers, cache counts size-class bytes of freed blocks kept for reuse.
#include <thread>

#include "support/testing.h"

namespace emily {
namespace {

class Memory : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_cache();
    old_cache_limit_ = set_cache_limit(std::size_t{1} << 30);
    old_memory_limit_ = set_memory_limit(0);
    reset_peak_memory();
  }
  void TearDown() override {
    set_cache_limit(old_cache_limit_);
    set_memory_limit(old_memory_limit_);
    clear_cache();
  }
  std::size_t old_cache_limit_ = 0, old_memory_limit_ = 0;
};

TEST_F(Memory, ActivePeakAndCacheFollowAllocations) {
  const auto base = memory_info();
  {
    auto a = allocate(1 << 20, Device::cpu());
    EXPECT_EQ(memory_info().active, base.active + (1 << 20));
    {
      auto b = allocate(3000, Device::cpu());
      EXPECT_EQ(memory_info().active, base.active + (1 << 20) + 3000);
    }
    // b's block went to the cache: 3000 rounds up to the 64-byte class 3008.
    EXPECT_EQ(memory_info().cache, base.cache + 3008);
    EXPECT_EQ(memory_info().peak, base.active + (1 << 20) + 3000);
  }
  auto after = memory_info();
  EXPECT_EQ(after.active, base.active);
  EXPECT_EQ(after.cache, base.cache + 3008 + (1 << 20));
  reset_peak_memory();
  EXPECT_EQ(memory_info().peak, after.active);
  clear_cache();
  EXPECT_EQ(memory_info().cache, 0u);
}

TEST_F(Memory, CachedBlockIsReused) {
  void* first;
  {
    auto a = allocate(10000, Device::cpu());
    first = a->data();
  }
  auto b = allocate(10000, Device::cpu());
  EXPECT_EQ(b->data(), first);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b->data()) % 64, 0u);
}

TEST_F(Memory, CacheLimitBoundsTheCache) {
  set_cache_limit(4096);
  { auto a = allocate(1 << 16, Device::cpu()); }
  EXPECT_EQ(memory_info().cache, 0u);  // too big to keep
  { auto a = allocate(1000, Device::cpu()); }
  EXPECT_EQ(memory_info().cache, 1024u);
  EXPECT_EQ(set_cache_limit(0), 4096u);  // lowering the limit trims at once
  EXPECT_EQ(memory_info().cache, 0u);
}

TEST_F(Memory, OverLimitAllocationRaisesOutOfMemory) {
  auto base = memory_info().active;
  set_memory_limit(base + (1 << 20));
  auto a = allocate(1 << 19, Device::cpu());
  EXPECT_EMILY_ERROR(allocate(1 << 20, Device::cpu()), OutOfMemory, "allocator");
  EXPECT_EMILY_ERROR(zeros({1 << 18}), OutOfMemory, "allocator");  // through an op
  auto b = allocate(1 << 18, Device::cpu());                       // still fits
  EXPECT_EQ(memory_info().active, base + (1 << 19) + (1 << 18));
}

TEST_F(Memory, TensorsReleaseTheirBuffers) {
  auto base = memory_info().active;
  {
    Tensor t = zeros({256, 256});
    Tensor v = transpose(t);  // a view keeps the same buffer alive
    EXPECT_EQ(memory_info().active, base + 256 * 256 * 4);
  }
  EXPECT_EQ(memory_info().active, base);
}

TEST_F(Memory, ConcurrentAllocationsBalance) {
  auto base = memory_info().active;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 1000; ++i)
        auto b = allocate(static_cast<std::size_t>(64 * (i % 37 + 1)), Device::cpu());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(memory_info().active, base);
}

TEST(MemoryErrors, CudaWithoutBackendIsDeviceError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "CUDA build";
  EXPECT_EMILY_ERROR(allocate(16, Device::cuda(0)), DeviceError, "allocate");
  EXPECT_EMILY_ERROR(memory_info(Device::cuda(0)), DeviceError, "memory_info");
}

}  // namespace
}  // namespace emily
