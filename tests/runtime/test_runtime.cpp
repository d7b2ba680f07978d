// Devices, streams, configuration parsing and the error hierarchy.
#include <cstdlib>
#include <thread>

#include "support/testing.h"

namespace emily {
namespace {

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda"), Device::cuda(0));
  EXPECT_EQ(parse_device("cuda:3"), Device::cuda(3));
  EXPECT_EQ(to_string(Device::cuda(2)), "cuda:2");
  EXPECT_EMILY_ERROR(parse_device("tpu"), DeviceError, "device");
  EXPECT_EMILY_ERROR(parse_device("cuda:x"), DeviceError, "device");
  EXPECT_EMILY_ERROR(parse_device("cuda:"), DeviceError, "device");
  EXPECT_TRUE(is_available(Device::cpu()));
  EXPECT_FALSE(is_available(Device::cuda(1000)));
}

TEST(Stream, ThreadLocalCurrentStreamAndGuard) {
  Stream outer = current_stream();
  Stream s = new_stream(Device::cpu());
  EXPECT_NE(s, outer);
  {
    StreamGuard g(s);
    EXPECT_EQ(current_stream(), s);
    Stream seen_in_thread;
    std::thread([&] { seen_in_thread = current_stream(); }).join();
    EXPECT_EQ(seen_in_thread, default_stream(default_device()));  // other threads unaffected
  }
  EXPECT_EQ(current_stream(), outer);
  int r = with_stream(s, [&] {
    EXPECT_EQ(current_stream(), s);
    return 7;
  });
  EXPECT_EQ(r, 7);
  EXPECT_EQ(current_stream(), outer);
  EXPECT_EMILY_ERROR(new_stream(Device::cuda(1000)), DeviceError, "new_stream");
}

TEST(Stream, ThreadsComputeConcurrentlyOnTheirOwnStreams) {
  // Oracle: each thread's result is a closed form (n copies of k).
  std::vector<std::thread> threads;
  std::vector<double> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      StreamGuard g(new_stream(Device::cpu()));
      Tensor x = full({1000}, t + 1.0, DType::f64);
      results[t] = x.to_vector<double>()[999];
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(results[t], t + 1.0);
}

TEST(Config, ParsesByteSizes) {
  EXPECT_EQ(config::parse_bytes("X", "512"), 512u);
  EXPECT_EQ(config::parse_bytes("X", "64K"), 65536u);
  EXPECT_EQ(config::parse_bytes("X", "1.5G"), std::size_t(1.5 * 1024 * 1024 * 1024));
  EXPECT_EQ(config::parse_bytes("X", "2MiB"), 2u * 1024 * 1024);
  EXPECT_EMILY_ERROR(config::parse_bytes("EMILY_CACHE_LIMIT", "lots"), ValueError,
                     "EMILY_CACHE_LIMIT");
  EXPECT_EMILY_ERROR(config::parse_bytes("EMILY_CACHE_LIMIT", "12Q"), ValueError,
                     "EMILY_CACHE_LIMIT");
  EXPECT_EMILY_ERROR(config::parse_bytes("EMILY_CACHE_LIMIT", "-3"), ValueError,
                     "EMILY_CACHE_LIMIT");
  EXPECT_EQ(config::parse_fallback("raise"), config::FallbackPolicy::raise);
  EXPECT_EMILY_ERROR(config::parse_fallback("loud"), ValueError, "EMILY_FALLBACK");
}

// ctest runs this test a second and third time with the environment set (see
// tests/CMakeLists.txt, runtime.ConfigFromEnvironment.*); in a plain run it is skipped.
// Oracle: the values ctest put in the environment.
TEST(ConfigFromEnvironment, IsApplied) {
  const char* mode = std::getenv("EMILY_TEST_CONFIG");
  if (!mode) GTEST_SKIP() << "needs the environment set by ctest";
  if (std::string(mode) == "applied") {
    const auto& s = config::settings();
    EXPECT_EQ(s.fallback, config::FallbackPolicy::raise);
    EXPECT_EQ(s.num_threads, 1);
    auto info = memory_info();
    EXPECT_EQ(info.cache_limit, 0u);  // EMILY_CACHE_LIMIT=0 keeps no freed blocks
    EXPECT_EQ(info.limit, 64u << 20);
    { Tensor t = zeros({1024}); }
    EXPECT_EQ(memory_info().cache, 0u);
    EXPECT_EMILY_ERROR(zeros({32 << 20}), OutOfMemory, "allocator");
  } else {
    EXPECT_EMILY_ERROR(config::settings(), ValueError, "EMILY_FALLBACK");
  }
}

TEST(Errors, HierarchyAndPrefix) {
  try {
    EMILY_THROW(ShapeError, "matmul", "inner dimensions ", 3, " and ", 4, " differ");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "[matmul] inner dimensions 3 and 4 differ");
    EXPECT_NE(dynamic_cast<const ShapeError*>(&e), nullptr);
  }
  static_assert(std::is_base_of_v<Error, OutOfMemory>);
  static_assert(std::is_base_of_v<Error, FormatError>);
  static_assert(std::is_base_of_v<Error, Unsupported>);
  static_assert(std::is_base_of_v<Error, DTypeError>);
  static_assert(std::is_base_of_v<Error, DeviceError>);
  static_assert(std::is_base_of_v<std::runtime_error, Error>);
}

TEST(Primitives, TableIsConsistent) {
  for (std::size_t i = 0; i < kNumPrimitives; ++i) {
    auto p = static_cast<Primitive>(i);
    Primitive found;
    ASSERT_TRUE(find_primitive(name(p), found));
    EXPECT_EQ(found, p);
    // Every non-view primitive has a CPU kernel: the CPU backend is the reference.
    // (Views are metadata; cond/while_loop run inside compiled plans.)
    if (info(p).family != Family::view && info(p).family != Family::control)
      EXPECT_TRUE(kernels(Device::Type::cpu).has(p)) << name(p);
  }
  EXPECT_EQ(to_string(Attr(AxesAttr{{0, 2}})), "axes=[0, 2]");
}

}  // namespace
}  // namespace emily
