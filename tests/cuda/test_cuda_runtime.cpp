// The CUDA runtime: creation on the current stream's device, host <-> device copies
// through pinned staging, and copies to the host that wait for their own stream only.
// Oracles: the bytes put in (copies must return them bitwise), and the same creation on
// the CPU (exact: both sides compute the same closed forms). Skips without a GPU.
#include <atomic>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "emily/host_read.h"
#include "support/gpu.h"
#include "support/testing.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/runtime.h"
#endif

namespace emily {
namespace {

using testing::all_equal;

class CudaRuntime : public testing::GpuTest {};

// Bytes that differ from their neighbours and from zero-filled memory.
std::vector<std::uint8_t> pattern(std::size_t n, unsigned seed) {
  std::vector<std::uint8_t> v(n);
  std::uint32_t x = 2463534242u ^ seed;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::uint8_t>(x);
  }
  return v;
}

#ifdef EMILY_HAS_CUDA
// Sizes around the staging chunk: empty, tiny, odd, one chunk, and more than two chunks
// (so both staging chunks are reused).
const std::size_t kSizes[] = {
    0, 1, 3, 4097, cuda::kStagingBytes, cuda::kStagingBytes + 3, 2 * cuda::kStagingBytes + 5};

std::vector<std::uint8_t> round_trip(const void* data, std::size_t n, Device gpu) {
  Tensor t = from_blob(data, {static_cast<std::int64_t>(n)}, DType::u8, gpu);
  EXPECT_EQ(t.device(), gpu);
  std::vector<std::uint8_t> back(n);
  to_blob(t, back.data(), back.size());
  return back;
}
#endif

TEST_F(CudaRuntime, CreationFollowsTheCurrentStream) {
  // Oracle: the same creation on the CPU, compared exactly.
  Stream s = new_stream(gpu);
  std::vector<Tensor> got;
  {
    StreamGuard guard(s);
    got = {scalar_tensor(2.5),
           scalar_tensor(c64{1.0f, -2.0f}),
           full({3, 5}, -1.25, DType::bf16),
           zeros({7}, DType::s32),
           ones({2, 2}, DType::f16),
           arange(-3.0, 9.0, 0.5, DType::f32),
           arange(11),
           eye(4, 6, 1, DType::f64),
           tensor<float>({1.0f, 2.0f, 3.0f}),
           random::key(42),
           zeros({0, 3})};
    for (const Tensor& t : got) {
      EXPECT_EQ(t.device(), gpu) << to_string(t);
      EXPECT_EQ(t.buffer()->stream(), s);
    }
  }
  const std::vector<Tensor> want = {scalar_tensor(2.5),
                                    scalar_tensor(c64{1.0f, -2.0f}),
                                    full({3, 5}, -1.25, DType::bf16),
                                    zeros({7}, DType::s32),
                                    ones({2, 2}, DType::f16),
                                    arange(-3.0, 9.0, 0.5, DType::f32),
                                    arange(11),
                                    eye(4, 6, 1, DType::f64),
                                    tensor<float>({1.0f, 2.0f, 3.0f}),
                                    random::key(42),
                                    zeros({0, 3})};
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(want[i].device(), Device::cpu());
    EXPECT_TRUE(all_equal(got[i], want[i])) << "creation " << i;
  }
  // The same key on the GPU gives the CPU's bits.
  Tensor bits;
  {
    StreamGuard guard(s);
    bits = random::bits(random::key(7), {64});
  }
  EXPECT_TRUE(all_equal(bits, random::bits(random::key(7), {64})));
}

TEST_F(CudaRuntime, DefaultDeviceReachesEveryThread) {
  const Device before = default_device();
  struct Restore {
    Device d;
    ~Restore() { set_default_device(d); }
  } restore{before};
  set_default_device(gpu);
  Device made = Device::cpu();
  std::thread([&] { made = ones({3}).device(); }).join();
  EXPECT_EQ(made, gpu);
  EXPECT_EQ(zeros({3}).device(), gpu);  // this thread never set a stream of its own
  {
    StreamGuard guard(default_stream(Device::cpu()));
    EXPECT_EQ(zeros({3}).device(), Device::cpu());
  }
  EXPECT_EQ(zeros({3}).device(), gpu);
}

TEST_F(CudaRuntime, ScalarsAndInternalTensorsFollowTheirOperands) {
  // Oracle: the CPU computing the same ops on the same values (exact: one rounding each).
  Tensor x_cpu = arange(-4.0, 4.0, 0.5, DType::f32);
  Tensor x_gpu = to_device(x_cpu, gpu);
  // The current stream on the CPU, the tensor on the GPU: the op runs on the GPU.
  Tensor y = x_gpu * 0.5 + 1.0;
  EXPECT_EQ(y.device(), gpu);
  EXPECT_TRUE(all_equal(y, x_cpu * 0.5 + 1.0));
  EXPECT_EQ(zeros_like(x_gpu).device(), gpu);
  EXPECT_EQ(pad(x_gpu, {{1, 2}}, 3.0).device(), gpu);
  EXPECT_TRUE(all_equal(pad(x_gpu, {{1, 2}}, 3.0), pad(x_cpu, {{1, 2}}, 3.0)));
  // The current stream on the GPU, the tensor on the CPU: everything stays on the CPU.
  StreamGuard guard(default_stream(gpu));
  Tensor z = x_cpu * 0.5 + 1.0;
  EXPECT_EQ(z.device(), Device::cpu());
  EXPECT_EQ(pad(x_cpu, {{1, 2}}, 3.0).device(), Device::cpu());
  EXPECT_EQ(clip(x_cpu, -1.0, 1.0).device(), Device::cpu());
  EXPECT_EQ(logsumexp(zeros({2, 0}, DType::f32, Device::cpu()), {1}).device(), Device::cpu());
  EXPECT_EQ(random::bernoulli(random::key(1, Device::cpu()), 0.5, {4}).device(), Device::cpu());
}

#ifdef EMILY_HAS_CUDA

TEST_F(CudaRuntime, CopiesFromPageableMemoryOfOddSizes) {
  for (std::size_t n : kSizes) {
    const auto data = pattern(n, static_cast<unsigned>(n));
    EXPECT_EQ(round_trip(data.data(), n, gpu), data) << n << " bytes";
  }
}

TEST_F(CudaRuntime, CopiesFromAndToPinnedMemory) {
  const std::size_t most = 2 * cuda::kStagingBytes + 5;
  void* in = nullptr;
  void* out = nullptr;
  ASSERT_EQ(cudaHostAlloc(&in, most, cudaHostAllocDefault), cudaSuccess);
  ASSERT_EQ(cudaHostAlloc(&out, most, cudaHostAllocDefault), cudaSuccess);
  for (std::size_t n : kSizes) {
    const auto data = pattern(n, static_cast<unsigned>(n) + 1);
    if (n) std::memcpy(in, data.data(), n);
    Tensor t = from_blob(in, {static_cast<std::int64_t>(n)}, DType::u8, gpu);
    // The source may be reused as soon as from_blob returns.
    if (n) std::memset(in, 0, n);
    std::memset(out, 0xab, most);
    to_blob(t, out, most);
    EXPECT_EQ(n == 0 || std::memcmp(out, data.data(), n) == 0, true) << n << " bytes";
    EXPECT_EQ(round_trip(data.data(), n, gpu), data) << n << " bytes, pageable again";
  }
  cudaFreeHost(in);
  cudaFreeHost(out);
}

TEST_F(CudaRuntime, TensorsMoveBothWaysWithTheirLayouts) {
  // A transposed CPU view goes up dense; a GPU view comes back dense (to_host).
  Tensor x = reshape(arange(0.0, 3.0 * 1000003.0, 1.0, DType::f32), {3, 1000003});
  Tensor g = to_device(transpose(x), gpu);
  EXPECT_TRUE(g.is_contiguous());
  EXPECT_TRUE(all_equal(g, transpose(x)));
  Tensor back = to_host(slice(g, {1, 0}, {999999, 3}, {7, 2}));
  EXPECT_TRUE(all_equal(back, slice(transpose(x), {1, 0}, {999999, 3}, {7, 2})));
}

TEST_F(CudaRuntime, ConcurrentCopiesOnTwoStreams) {
  // Each thread copies its own pattern up and down on its own stream, many times, with
  // sizes that need both staging chunks; any sharing of a chunk shows as wrong bytes.
  std::atomic<int> mismatches{0};
  auto worker = [&](unsigned seed) {
    StreamGuard guard(new_stream(gpu));
    for (int round = 0; round < 8; ++round) {
      const std::size_t n = cuda::kStagingBytes + 977 * (seed + 1) * (round + 1);
      const auto data = pattern(n, seed * 100 + round);
      Tensor t = from_blob(data.data(), {static_cast<std::int64_t>(n)}, DType::u8, gpu);
      Tensor doubled = add(t, t);  // work on this stream between the two copies
      std::vector<std::uint8_t> back(n), twice(n);
      to_blob(t, back.data(), n);
      to_blob(doubled, twice.data(), n);
      if (back != data) ++mismatches;
      for (std::size_t i = 0; i < n; i += 4099)
        if (twice[i] != static_cast<std::uint8_t>(2 * data[i])) ++mismatches;
    }
  };
  std::thread a(worker, 1), b(worker, 2), c(worker, 3);
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(CudaRuntime, CopyToTheHostWaitsForItsOwnStreamOnly) {
  // Stream `busy` gets a long queue of matrix products; a small tensor made on stream
  // `quick` then comes to the host. Waiting for `quick` alone returns while `busy` is
  // still working (by hundreds of milliseconds of queued work); a device-wide wait could
  // not. Warm-up first, so no one-time setup (handles, staging) sits in the window.
  Stream busy = new_stream(gpu), quick = new_stream(gpu);
  Tensor m;
  {
    StreamGuard guard(busy);
    m = random::uniform(random::key(3), {4096, 4096}) * (1.0 / 4096.0);
    (void)to_host(matmul(m, m) + 0.0);
  }
  Tensor small;
  {
    StreamGuard guard(quick);
    small = arange(0.0, 16.0, 1.0, DType::f32) * 2.0;
    (void)to_host(small);
  }
  Tensor last;
  {
    StreamGuard guard(busy);
    last = m;
    for (int i = 0; i < 100; ++i) last = matmul(last, m);
  }
  Tensor got = to_host(small);  // the thread's current stream is the CPU's
  const cudaError_t state = cudaStreamQuery(cuda::stream(busy));
  EXPECT_EQ(state, cudaErrorNotReady) << "the copy waited for the busy stream";
  EXPECT_TRUE(all_equal(got, arange(0.0, 32.0, 2.0, DType::f32)));
  synchronize(busy);
  eval(last);  // waits on the stream that wrote it: done by now
  EXPECT_EQ(cudaStreamQuery(cuda::stream(busy)), cudaSuccess);
}

TEST_F(CudaRuntime, HostReadWaitsForItsCopyAlone) {
  // A small tensor's read is begun, then a long queue of products goes on the same stream:
  // get() returns the values while that queue still runs (to_host would wait for it).
  Stream s = new_stream(gpu);
  StreamGuard guard(s);
  Tensor m = random::uniform(random::key(4), {4096, 4096}) * (1.0 / 4096.0);
  (void)to_host(matmul(m, m) + 0.0);  // warm-up: handles and staging exist before the window
  Tensor small = arange(0.0, 16.0, 1.0, DType::f32) * 2.0;
  HostRead read = begin_host_read(small);
  Tensor last = m;
  for (int i = 0; i < 100; ++i) last = matmul(last, m);
  Tensor got = read.get();
  const cudaError_t state = cudaStreamQuery(cuda::stream(s));
  EXPECT_EQ(state, cudaErrorNotReady) << "the read waited for the work queued after it";
  EXPECT_TRUE(all_equal(got, to_host(arange(0.0, 32.0, 2.0, DType::f32))));
  EXPECT_EQ(got.device(), Device::cpu());
  eval(last);
}

TEST_F(CudaRuntime, HostReadGivesWhatToHostGives) {
  // Oracle: to_host, bitwise. Empty, strided (made contiguous on the GPU first), 16-bit,
  // one staging chunk exactly, and past it (read at once, as to_host).
  StreamGuard guard(new_stream(gpu));
  const std::int64_t chunk = static_cast<std::int64_t>(cuda::kStagingBytes);
  std::vector<Tensor> cases = {
      zeros({0, 5}),
      transpose(random::uniform(random::key(5), {33, 17})),
      astype(random::normal(random::key(6), {7, 9}), DType::bf16),
      random::uniform(random::key(7), {chunk / 4}),
      random::uniform(random::key(8), {chunk / 4 + 3}),
  };
  for (const Tensor& t : cases) {
    HostRead read = begin_host_read(t);
    Tensor got = read.get();
    EXPECT_TRUE(got.is_contiguous());
    EXPECT_TRUE(all_equal(got, to_host(t))) << to_string(t.shape());
    EXPECT_TRUE(all_equal(read.get(), got)) << to_string(t.shape());
  }
  // Reads begun together and taken in any order (each holds its own staging chunk).
  std::vector<HostRead> reads;
  for (int i = 0; i < 12; ++i) reads.push_back(begin_host_read(full({3}, double(i))));
  for (int i = 11; i >= 0; --i)
    EXPECT_TRUE(all_equal(reads[i].get(), full({3}, double(i), DType::f32, Device::cpu())));
}

TEST_F(CudaRuntime, EvalWaitsForTheProducingStream) {
  Stream s = new_stream(gpu);
  Tensor x;
  {
    StreamGuard guard(s);
    x = ones({1 << 20}) * 3.0;
  }
  eval(x);
  EXPECT_EQ(cudaStreamQuery(cuda::stream(s)), cudaSuccess);
  EXPECT_TRUE(all_equal(x, full({1 << 20}, 3.0)));
}

#endif

}  // namespace
}  // namespace emily
