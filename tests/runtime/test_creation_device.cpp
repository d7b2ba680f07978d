// Where tensors made from nothing live: the current stream's device, or the device a
// creation function is given; the _like forms and scalars inside ops follow their
// tensor. This machine-independent half runs on the CPU (the GPU half is
// tests/cuda/test_cuda_runtime.cpp). Oracles: closed forms (arange's start + i * step,
// eye's diagonal, a constant fill), compared exactly; every value here is exact in f32.
#include <thread>

#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;

// A device no machine has: creation there must raise, never allocate.
const Device kMissing = Device::cuda(1000);

TEST(CreationDevice, FollowsTheCurrentStream) {
  const Device here = current_stream().device;
  EXPECT_EQ(scalar_tensor(2.5).device(), here);
  EXPECT_EQ(scalar_tensor(c64{1.0f, 2.0f}).device(), here);
  EXPECT_EQ(full({2, 3}, 1.5).device(), here);
  EXPECT_EQ(zeros({4}).device(), here);
  EXPECT_EQ(ones({4}).device(), here);
  EXPECT_EQ(arange(5).device(), here);
  EXPECT_EQ(eye(3).device(), here);
  EXPECT_EQ(tensor<float>({1.0f, 2.0f}).device(), here);
  EXPECT_EQ(random::key(3).device(), here);
}

TEST(CreationDevice, ExplicitDeviceFormsMatchTheImplicitOnes) {
  const Device cpu = Device::cpu();
  EXPECT_TRUE(all_equal(arange(1.0, 4.0, 0.5, DType::f32, cpu),
                        tensor<float>({1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f})));
  EXPECT_TRUE(all_equal(arange(3, DType::s32, cpu), tensor<std::int32_t>({0, 1, 2})));
  EXPECT_TRUE(all_equal(full({2}, 7.0, DType::s64, cpu), tensor<std::int64_t>({7, 7})));
  EXPECT_TRUE(all_equal(zeros({2}, DType::f32, cpu), tensor<float>({0.0f, 0.0f})));
  EXPECT_TRUE(all_equal(ones({2}, DType::u8, cpu), tensor<std::uint8_t>({1, 1})));
  EXPECT_TRUE(all_equal(eye(2, 3, 1, DType::f32, cpu),
                        tensor<float>({0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f}, {2, 3})));
  EXPECT_EQ(scalar_tensor(0.25, DType::f64, cpu).item<double>(), 0.25);
  EXPECT_EQ(scalar_tensor(c64{1.0f, -2.0f}, cpu).item<c64>(), (c64{1.0f, -2.0f}));
  // jax.random.PRNGKey(2**32 + 5) is [1, 5]: the high word, then the low word.
  EXPECT_TRUE(
      all_equal(random::key((std::uint64_t{1} << 32) + 5, cpu), tensor<std::uint32_t>({1, 5})));
  for (const Tensor& t : {arange(1.0, 4.0, 0.5, DType::f32, cpu), zeros({2}, DType::f32, cpu),
                          eye(2, 3, 1, DType::f32, cpu)})
    EXPECT_EQ(t.device(), cpu);
}

TEST(CreationDevice, UnavailableDevicesRaise) {
  EXPECT_EMILY_ERROR(zeros({2}, DType::f32, kMissing), DeviceError, "full");
  EXPECT_EMILY_ERROR(ones({2}, DType::f32, kMissing), DeviceError, "full");
  EXPECT_EMILY_ERROR(full({}, 1.0, DType::f32, kMissing), DeviceError, "full");
  EXPECT_EMILY_ERROR(scalar_tensor(1.0, DType::f32, kMissing), DeviceError, "full");
  EXPECT_EMILY_ERROR(scalar_tensor(c64{}, kMissing), DeviceError, "scalar_tensor");
  EXPECT_EMILY_ERROR(arange(0.0, 3.0, 1.0, DType::f32, kMissing), DeviceError, "arange");
  EXPECT_EMILY_ERROR(eye(2, 2, 0, DType::f32, kMissing), DeviceError, "eye");
  EXPECT_EMILY_ERROR(from_blob(nullptr, {0}, DType::f32, kMissing), DeviceError, "from_blob");
  EXPECT_EMILY_ERROR(random::key(1, kMissing), DeviceError, "random_key");
  // Argument errors still come first and name the op.
  EXPECT_EMILY_ERROR(arange(0.0, 3.0, 0.0, DType::f32, kMissing), ValueError, "arange");
  EXPECT_EMILY_ERROR(eye(-1, 2, 0, DType::f32, kMissing), ShapeError, "eye");
}

TEST(CreationDevice, LikeFormsAndOpScalarsFollowTheirTensor) {
  Tensor x = tensor<float>({1.0f, 2.0f, 4.0f});
  EXPECT_EQ(zeros_like(x).device(), x.device());
  EXPECT_EQ(ones_like(x).device(), x.device());
  EXPECT_EQ(scalar_like(x, 0.5).device(), x.device());
  EXPECT_TRUE(all_equal(x * 0.5, tensor<float>({0.5f, 1.0f, 2.0f})));
  EXPECT_TRUE(all_equal(zeros_like(x), tensor<float>({0.0f, 0.0f, 0.0f})));
  EXPECT_EMILY_ERROR(zeros_like(Tensor()), ValueError, "zeros_like");
}

TEST(CreationDevice, StreamGuardRestoresFollowingTheDefault) {
  // A thread that never set a stream follows default_device(); a guard must hand that
  // state back, not pin the thread to the stream it saw on entry.
  std::optional<Stream> before, inside, after;
  std::thread([&] {
    before = detail::exchange_current_stream(std::nullopt);
    {
      StreamGuard g(new_stream(Device::cpu()));
      inside = detail::exchange_current_stream(current_stream());
    }
    after = detail::exchange_current_stream(std::nullopt);
  }).join();
  EXPECT_FALSE(before.has_value());
  EXPECT_TRUE(inside.has_value());
  EXPECT_FALSE(after.has_value());
}

TEST(CreationDevice, SetDefaultDeviceReachesThreadsWithoutAStream) {
  EXPECT_EMILY_ERROR(set_default_device(kMissing), DeviceError, "set_default_device");
  const Device d = default_device();
  set_default_device(Device::cpu());
  Device seen = kMissing;
  std::thread([&] { seen = zeros({1}).device(); }).join();
  EXPECT_EQ(seen, Device::cpu());
  set_default_device(d);
}

TEST(CreationDevice, BuffersRememberTheirStream) {
  // CPU buffers belong to the CPU's default stream whatever stream made them: CPU work
  // runs on the calling thread, so there is nothing to wait for.
  Tensor a = ones({3});
  EXPECT_EQ(a.buffer()->stream(), default_stream(Device::cpu()));
  eval(a);  // a no-op on the CPU
}

}  // namespace
}  // namespace emily
