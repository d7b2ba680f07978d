// Compiled plans on the GPU: native replay recorded as a CUDA graph, and every compile
// mode against eager on the GPU. Oracle: eager on the GPU, which runs the same kernels,
// so results match bitwise; fuse mode's generated kernels within its 4 ULP (f32)
// tolerance (docs/COMPILER.md; test_cuda_fuse.cpp covers them in depth).
// Every test skips, saying why, on a machine without a CUDA device.
#include <optional>
#include <string>
#include <vector>

#include "emily/compile.h"
#include "emily/fast.h"
#include "emily/quantization.h"
#include "emily/telemetry.h"
#include "support/testing.h"
#ifdef EMILY_HAS_CUDA
#include "backend/cuda/dependent_launch.cuh"  // StreamOrderedLaunches
#endif

namespace emily {
namespace {

using testing::all_equal;

class CudaCompile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
  Device gpu = Device::cuda(0);
};

Tensor sample(std::uint64_t seed, const Shape& shape, Device d) {
  return to_device(random::uniform(random::key(seed), shape, DType::f32, -2.0, 2.0), d);
}

// Counts the events whose name starts with `prefix` while it lives, keeping the last
// one's reason (the compiler says why a plan was not recorded).
struct Count {
  explicit Count(std::string prefix)
      : id(telemetry::attach(std::move(prefix), [this](const telemetry::Event& e) {
          ++n;
          if (const std::string* r = e.find("reason")) reason = *r;
        })) {}
  ~Count() { telemetry::detach(id); }
  int n = 0;
  std::string reason;
  telemetry::HandlerId id;
};

// A block with a matmul, a reduction, a gather, casts and a view of an input: the kinds
// of node a transformer step has.
std::vector<Tensor> block(const std::vector<Tensor>& in) {
  Tensor h = matmul(in[0], in[1]);
  Tensor g = tanh(h) * in[2] + 1.0;
  Tensor s = sum(g, {1}, true);
  Tensor rows = take(g, to_device(tensor<std::int32_t>({2, 0, 5}), g.device()), 0);
  Tensor head = slice(in[0], {0, 0}, {4, 8});
  return {g / s, astype(rows, DType::f16), exp(head)};
}

TEST_F(CudaCompile, RecordedReplayMatchesEagerAThousandTimes) {
  CompileOptions o;
  o.mode = CompileMode::native;
  o.name = "block";
  auto f = compile(block, o);
  std::vector<Tensor> in = {sample(1, {16, 32}, gpu), sample(2, {32, 24}, gpu),
                            sample(3, {24}, gpu)};
  std::vector<Tensor> want = block(in);
  std::vector<Tensor> want_host;
  for (const auto& t : want) want_host.push_back(to_host(t));
  Count recorded("emily.compile.record.start"), refused("emily.compile.unrecorded");
  Count fallbacks("emily.fallback.start");
  std::vector<Tensor> first;
  bool identical = true;
  for (int call = 0; call < 1000; ++call) {
    std::vector<Tensor> got = f(in);
    if (call == 0) first = got;
    // Reading every result back each call would dominate; check a spread of calls.
    if (call < 5 || call % 97 == 0 || call == 999)
      for (std::size_t k = 0; k < got.size(); ++k)
        identical = identical && all_equal(to_host(got[k]), want_host[k]);
  }
  EXPECT_TRUE(identical) << "a replay differed from eager on the GPU";
  // Results of earlier calls keep their values (they do not share the plan's buffers).
  for (std::size_t k = 0; k < first.size(); ++k)
    EXPECT_TRUE(all_equal(to_host(first[k]), want_host[k])) << "result " << k;
  EXPECT_EQ(recorded.n, 1) << "the plan should be recorded once";
  EXPECT_EQ(refused.n, 0) << refused.reason;
  EXPECT_EQ(fallbacks.n, 0);
}

TEST_F(CudaCompile, ConstantsFoldOnTheDeviceTheyWereTracedOn) {
  // The thread's current stream is the CPU's while the plan is built; a range made on the
  // GPU inside the function is folded into a constant, and must be folded there (it once
  // was folded on the CPU, and the replay read a host address). Oracle: eager on the GPU.
  ASSERT_EQ(current_stream().device, Device::cpu());
  auto fn = [this](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{in[0] + arange(12, DType::s32, gpu)};
  };
  CompiledFunction f = compile(fn, testing::native("fold_on_gpu"));
  Tensor offset = to_device(scalar_tensor(5, DType::s32), gpu);
  Tensor eager = fn({offset})[0];
  for (int call = 0; call < 3; ++call) {
    Tensor got = f({offset})[0];
    ASSERT_EQ(got.device(), gpu);
    EXPECT_TRUE(all_equal(got, eager)) << "call " << call;
  }
}

TEST_F(CudaCompile, RecordedReplayFollowsNewInputs) {
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(block, o);
  Count recorded("emily.compile.record.start"), refused("emily.compile.unrecorded");
  for (int call = 0; call < 8; ++call) {
    std::vector<Tensor> in = {sample(10 + call, {16, 32}, gpu), sample(20 + call, {32, 24}, gpu),
                              sample(30 + call, {24}, gpu)};
    std::vector<Tensor> got = f(in);
    std::vector<Tensor> want = block(in);
    for (std::size_t k = 0; k < got.size(); ++k)
      EXPECT_TRUE(all_equal(to_host(got[k]), to_host(want[k])))
          << "call " << call << " result " << k;
  }
  EXPECT_EQ(recorded.n, 1) << refused.reason;
}

TEST_F(CudaCompile, StridedInputsAndStreamsAreOrdered) {
  auto fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{exp(in[0]) + in[1], in[1]};  // a pass-through result too
  };
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(fn, o);
  Stream a = new_stream(gpu), b = new_stream(gpu);
  for (int call = 0; call < 6; ++call) {
    StreamGuard guard(call % 2 ? a : b);
    Tensor x = transpose(sample(40 + call, {48, 40}, gpu));  // strided view
    Tensor y = sample(50 + call, {48}, gpu);
    std::vector<Tensor> got = f({x, y});
    EXPECT_TRUE(all_equal(to_host(got[0]), to_host(fn({x, y})[0]))) << "call " << call;
    EXPECT_TRUE(all_equal(to_host(got[1]), to_host(y))) << "call " << call;
  }
}

TEST_F(CudaCompile, DonatingPlansRecord) {
  // Fresh inputs every call: each is copied into the plan's staged buffer, and the result
  // leaves in it.
  auto fn = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * 2.0 + 1.0}; };
  CompileOptions o;
  o.mode = CompileMode::native;
  o.donate = {0};
  auto f = compile(fn, o);
  Count recorded("emily.compile.record.start"), refused("emily.compile.unrecorded");
  for (int call = 0; call < 6; ++call) {
    Tensor x = sample(60 + call, {256}, gpu);
    Tensor want = to_host(fn({x})[0]);
    EXPECT_TRUE(all_equal(to_host(f({x})[0]), want)) << "call " << call;
  }
#ifndef EMILY_DEBUG_NAN_INF
  EXPECT_EQ(recorded.n, 1) << refused.reason;
#endif
}

// A decode step's cache write: the new rows land at a slot given as a tensor, the step
// reads the cache, and the slot moves on. Inputs: cache {2, 64, 32}, slot {1} (s32),
// rows {2, 1, 32}.
std::vector<Tensor> cache_step(const std::vector<Tensor>& in) {
  Tensor cache = scatter(in[0], in[1], in[2], {1});
  return {cache, sum(cache * cache, {1}), in[1] + 1.0};
}

TEST_F(CudaCompile, DonatedCacheUpdatesInPlaceUnderARecording) {
  // Oracle: the same loop eagerly on the GPU (bitwise). From the recording on, the cache
  // a call returns lies in one buffer, which the next call is given back, so no call
  // copies the cache.
  CompileOptions o;
  o.mode = CompileMode::native;
  o.donate = {0};
  auto f = compile(cache_step, o);
  Count recorded("emily.compile.record.start"), refused("emily.compile.unrecorded");
  Count fallbacks("emily.fallback.start");
  std::vector<Tensor> eager = {sample(90, {2, 64, 32}, gpu),
                               to_device(tensor<std::int32_t>({0}), gpu), Tensor()};
  std::vector<Tensor> state = {sample(90, {2, 64, 32}, gpu), eager[1], Tensor()};
  std::vector<const Buffer*> buffers;
  for (int step = 0; step < 40; ++step) {
    Tensor rows = sample(100 + step, {2, 1, 32}, gpu);
    eager[2] = rows;
    state[2] = rows;
    std::vector<Tensor> want = cache_step(eager);
    std::vector<Tensor> got = f(state);
    for (std::size_t k = 0; k < got.size(); ++k)
      ASSERT_TRUE(all_equal(to_host(got[k]), to_host(want[k]))) << "step " << step << " " << k;
    buffers.push_back(got[0].buffer().get());
    eager = {want[0], want[2], Tensor()};
    state = {got[0], got[2], Tensor()};
  }
#if !defined(EMILY_DEBUG_NAN_INF) && !defined(EMILY_DEBUG_BOUNDS_CHECK)
  EXPECT_EQ(recorded.n, 1) << refused.reason;
  EXPECT_EQ(refused.n, 0) << refused.reason;
  // Step 0 traces, step 1 replays node by node, step 2 records: its result is the staged
  // buffer, and every later step updates that one.
  for (std::size_t step = 3; step < buffers.size(); ++step)
    EXPECT_EQ(buffers[step], buffers[2]) << "step " << step;
#endif
  EXPECT_EQ(fallbacks.n, 0);
}

TEST_F(CudaCompile, AKeptDonatedResultIsNotOverwritten) {
  // A caller that keeps a donated result and passes another cache: copying that cache into
  // the staged buffer would overwrite the kept result, so the call replays node by node.
  // Oracle: eager on the GPU (bitwise) for both the new result and the kept one.
  CompileOptions o;
  o.mode = CompileMode::native;
  o.donate = {0};
  auto f = compile(cache_step, o);
  Count refused("emily.compile.unrecorded");
  const Tensor slot = to_device(tensor<std::int32_t>({5}), gpu);
  auto run = [&](int seed) {
    return f({sample(seed, {2, 64, 32}, gpu), slot, sample(seed + 1, {2, 1, 32}, gpu)});
  };
  auto want = [&](int seed) {
    return to_host(
        cache_step({sample(seed, {2, 64, 32}, gpu), slot, sample(seed + 1, {2, 1, 32}, gpu)})[0]);
  };
  for (int call = 0; call < 3; ++call) run(200 + 2 * call);  // trace, replay, record
  std::vector<Tensor> kept = run(210);
  std::vector<Tensor> next = run(212);
  EXPECT_TRUE(all_equal(to_host(next[0]), want(212)));
  EXPECT_TRUE(all_equal(to_host(kept[0]), want(210))) << "the kept result was overwritten";
#if !defined(EMILY_DEBUG_NAN_INF) && !defined(EMILY_DEBUG_BOUNDS_CHECK)
  EXPECT_NE(refused.reason.find("still held"), std::string::npos) << refused.reason;
#endif
  kept.clear();
  EXPECT_TRUE(all_equal(to_host(run(214)[0]), want(214)));
}

TEST_F(CudaCompile, LibraryKernelsRecordAndHostReadsAreRefusedUpFront) {
  // cuBLAS(Lt), cuFFT, sorts and scatters record; a linear-algebra routine that reads its
  // error codes on the host is refused before any capture is tried.
  auto spectral = [](const std::vector<Tensor>& in) {
    Tensor y = conv_general(in[0], in[1], {{}, {1}, {1}});
    return std::vector<Tensor>{abs(rfft(y)), sort(in[2], 1), cumulative_sum(in[2], 1)};
  };
  CompileOptions o;
  o.mode = CompileMode::native;
  auto f = compile(spectral, o);
  std::vector<Tensor> in = {sample(80, {2, 4, 16}, gpu), sample(81, {6, 4, 3}, gpu),
                            sample(82, {5, 300}, gpu)};
  std::vector<Tensor> want = spectral(in);
  Count recorded("emily.compile.record.start"), refused("emily.compile.unrecorded");
  for (int call = 0; call < 5; ++call) {
    std::vector<Tensor> got = f(in);
    for (std::size_t k = 0; k < got.size(); ++k)
      EXPECT_TRUE(all_equal(to_host(got[k]), to_host(want[k]))) << "call " << call << " " << k;
  }
  EXPECT_EQ(recorded.n, 1) << refused.reason;
  auto inverse = compile(
      [](const std::vector<Tensor>& in) { return std::vector<Tensor>{linalg::inv(in[0]) * 2.0}; },
      o);
  Tensor a = to_device(eye(4, 4, 0, DType::f32) * 3.0, gpu);
  for (int call = 0; call < 3; ++call)
    EXPECT_TRUE(testing::all_close(to_host(inverse({a})[0]),
                                   to_host(eye(4, 4, 0, DType::f32) * (2.0 / 3.0)), 1e-6, 0.0));
  EXPECT_EQ(recorded.n, 1);
  EXPECT_NE(refused.reason.find("reads its results on the host"), std::string::npos)
      << refused.reason;
}

#ifdef EMILY_HAS_CUDA
// One decode step's kinds of kernel, each reading what the one before wrote: the bf16
// GEMV, an int4 quantized GEMV, rms_norm, rope, decode attention over a cache, swiglu,
// elementwise ops and reductions. in: x {1, 256}, w {384, 256}, the norm's weight {256},
// K and V caches {1, 2, 300, 64}, and a quantized {256, 128} weight's three parts.
std::vector<Tensor> decode_step(const std::vector<Tensor>& in) {
  Tensor h = fast::rms_norm(in[0], in[2], 1e-6);
  Tensor qkv = matmul(h, transpose(in[1], {1, 0}));  // {1, 384}
  Tensor q = reshape(slice(qkv, {0, 0}, {1, 256}), {1, 1, 4, 64});
  q = fast::rope(transpose(q, {0, 2, 1, 3}), 64, false, 10000.0, 1.0, 299);
  Tensor att = fast::sdpa(q, in[3], in[4], 0.125);  // {1, 4, 1, 64}
  Tensor flat = reshape(att, {1, 256});
  Tensor gate = slice(qkv, {0, 256}, {1, 384});
  Tensor up = quantized_matmul(flat, QuantizedTensor{in[5], in[6], in[7], 4, 64});  // {1, 128}
  Tensor mixed = fast::swiglu(gate, up) * 2.0 + 1.0;
  return {mixed, sum(mixed, {1}, true), argmax(flat, 1, false), h + in[0]};
}

// Dependent launches (dependent_launch.cuh) let a kernel start before the one it reads
// from has finished; each waits on the device before it touches memory. A kernel that
// did not would read the previous call's values. Oracle: the same plan launched in plain
// stream order (StreamOrderedLaunches), which runs the same kernels, so the results match
// bitwise; fresh inputs on every call make a stale read show.
TEST_F(CudaCompile, DependentLaunchesMatchStreamOrderBitwise) {
  auto inputs = [&](std::uint64_t seed) {
    auto bf16 = [&](std::uint64_t k, const Shape& shape) {
      return astype(sample(seed * 16 + k, shape, gpu), DType::bf16);
    };
    const QuantizedTensor w = quantize(bf16(5, {128, 256}), 64, 4);
    return std::vector<Tensor>{bf16(0, {1, 256}),
                               bf16(1, {384, 256}),
                               bf16(2, {256}),
                               bf16(3, {1, 2, 300, 64}),
                               bf16(4, {1, 2, 300, 64}),
                               w.packed,
                               w.scales,
                               w.biases};
  };
  CompileOptions o;
  o.mode = CompileMode::native;
  auto dependent = compile(decode_step, o);
  std::optional<cuda::StreamOrderedLaunches> ordered_scope;
  auto ordered = compile(decode_step, o);
  for (int call = 0; call < 12; ++call) {
    const std::vector<Tensor> in = inputs(100 + call);
    ordered_scope.emplace();
    const std::vector<Tensor> want = ordered(in);
    const std::vector<Tensor> want_eager = decode_step(in);
    ordered_scope.reset();
    const std::vector<Tensor> got = dependent(in);
    const std::vector<Tensor> got_eager = decode_step(in);
    for (std::size_t k = 0; k < want.size(); ++k) {
      EXPECT_TRUE(all_equal(to_host(got[k]), to_host(want[k])))
          << "call " << call << " result " << k;
      EXPECT_TRUE(all_equal(to_host(got_eager[k]), to_host(want_eager[k])))
          << "eager, call " << call << " result " << k;
    }
  }
}
#endif

TEST_F(CudaCompile, GraphsCanBeSwitchedOff) {
  // EMILY_CUDA_GRAPHS is read once per process; this checks the switch's default only.
  EXPECT_TRUE(config::settings().cuda_graphs);
}

TEST_F(CudaCompile, EveryModeMatchesEagerOnTheGpu) {
  std::vector<Tensor> in = {sample(70, {16, 32}, gpu), sample(71, {32, 24}, gpu),
                            sample(72, {24}, gpu)};
  std::vector<Tensor> want = block(in);
  for (CompileMode mode : {CompileMode::eager, CompileMode::native, CompileMode::fuse}) {
    CompileOptions o;
    o.mode = mode;
    auto f = compile(block, o);
    for (int call = 0; call < 3; ++call) {
      std::vector<Tensor> got = f(in);
      for (std::size_t k = 0; k < got.size(); ++k)
        EXPECT_TRUE(mode == CompileMode::fuse
                        ? testing::within_ulps(to_host(got[k]), to_host(want[k]), 4)
                        : all_equal(to_host(got[k]), to_host(want[k])))
            << "mode " << static_cast<int>(mode) << " call " << call << " result " << k;
    }
  }
}

}  // namespace
}  // namespace emily
