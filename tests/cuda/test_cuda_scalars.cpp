// The arithmetic operators with a C++ number on the GPU (`x * 0.5`, `1.0 - x`), whose
// number reaches the kernel as a kernel argument (a host scalar) rather than an upload.
// Oracles, for every dtype the operators take:
//  - the CPU backend, the same expression on the same values: exact (both sides round
//    one IEEE operation per element, halves computing in f32; any NaN matches any NaN);
//    c64 is left out here, since its GPU products compute in double (test_cuda_elementwise);
//  - the GPU's two-tensor kernel, op(x, scalar_like(x, v)), the path the operators took
//    before: bitwise equal, c64 included (the same element function on the same values).
// Every test skips, saying why, on a machine without a CUDA device.
#include <cmath>
#include <functional>
#include <string>

#include "emily/compile.h"
#include "support/gpu.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

class CudaScalars : public testing::GpuTest {};

const DType kDTypes[] = {DType::bool_, DType::u8,  DType::u16, DType::u32, DType::u64,
                         DType::s8,    DType::s16, DType::s32, DType::s64, DType::f16,
                         DType::bf16,  DType::f32, DType::f64, DType::c64};

// Values in [-60, 60) (non-negative for unsigned types), every dtype's range.
Tensor sample(std::uint64_t seed, const Shape& shape, DType dtype) {
  Tensor x = random::uniform(random::key(seed), shape, DType::f32, -60.0, 60.0);
  if (dtype == DType::bool_) return greater(x, scalar_like(x, 0.0));
  if (is_unsigned(dtype)) x = abs(x);
  return astype(x, dtype);
}

// Equal values; any NaN matches any NaN (the CPU's default NaN has its sign bit set).
::testing::AssertionResult same_values(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || !is_inexact(want.dtype()) || is_complex(want.dtype()))
    return all_equal(got, want);
  return all_close(got, want, 0.0, 0.0);
}

struct Operator {
  const char* name;
  Tensor (*tensor_scalar)(const Tensor&, double);
  Tensor (*scalar_tensor)(double, const Tensor&);
  Tensor (*two_tensors)(const Tensor&, const Tensor&);
};

const Operator kOperators[] = {
    {"+", [](const Tensor& x, double v) { return x + v; },
     [](double v, const Tensor& x) { return v + x; }, add},
    {"-", [](const Tensor& x, double v) { return x - v; },
     [](double v, const Tensor& x) { return v - x; }, subtract},
    {"*", [](const Tensor& x, double v) { return x * v; },
     [](double v, const Tensor& x) { return v * x; }, multiply},
    {"/", [](const Tensor& x, double v) { return x / v; },
     [](double v, const Tensor& x) { return v / x; }, divide},
};

// The message of the error `f` raises, or "" when it returns.
std::string error_of(const std::function<Tensor()>& f) {
  try {
    (void)f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Checks `x op v` and `v op x` on the GPU against both oracles (or the same error).
void check(const Tensor& x, const Tensor& gx, const Operator& op, double v,
           const std::string& where) {
  for (const bool first : {false, true}) {
    const auto on = [&](const Tensor& t) {
      return first ? op.scalar_tensor(v, t) : op.tensor_scalar(t, v);
    };
    const std::string what =
        where + (first ? " (scalar first) " : " ") + op.name + " " + std::to_string(v);
    const std::string cpu_error = error_of([&] { return on(x); });
    if (!cpu_error.empty()) {
      EXPECT_EQ(error_of([&] { return on(gx); }), cpu_error) << what;
      continue;
    }
    const Tensor got = on(gx);
    EXPECT_EQ(got.device(), gx.device()) << what;
    if (!is_complex(x.dtype())) EXPECT_TRUE(same_values(to_host(got), on(x))) << what;
    const Tensor s = scalar_like(gx, v);
    const Tensor old = first ? op.two_tensors(s, gx) : op.two_tensors(gx, s);
    EXPECT_TRUE(all_equal(to_host(got), to_host(old))) << what << " against the tensor path";
  }
}

TEST_F(CudaScalars, EveryDtypeAndOperatorMatchesTheOracles) {
  // Fractions, whole numbers, negatives (which unsigned types refuse), zero (division by
  // zero), a number beyond every integer type and half's range, and NaN.
  const double values[] = {0.5, 3.0, -2.0, 0.0, 1e30, std::nan("")};
  int seed = 1;
  for (DType d : kDTypes) {
    const Tensor x = sample(seed++, {5, 7}, d), gx = to_device(x, gpu);
    for (const Operator& op : kOperators)
      for (double v : values) check(x, gx, op, v, std::string(name(d)));
  }
}

TEST_F(CudaScalars, LayoutsMatchTheCpu) {
  // Transposed, broadcast (a stride-0 axis), sliced with an offset, 0-d and empty
  // operands: the scalar binds to whatever layout the tensor operand has.
  const Tensor base = sample(20, {6, 9}, DType::f32), gbase = to_device(base, gpu);
  const std::pair<const char*, std::function<Tensor(const Tensor&)>> layouts[] = {
      {"transposed", [](const Tensor& t) { return transpose(t); }},
      {"broadcast",
       [](const Tensor& t) {
         return broadcast_to(slice(t, {0, 0}, {1, 9}), {4, 9});
       }},
      {"offset",
       [](const Tensor& t) {
         return slice(t, {1, 2}, {5, 9});
       }},
      {"0-d",
       [](const Tensor& t) {
         return reshape(slice(t, {2, 3}, {3, 4}), {});
       }},
      {"empty",
       [](const Tensor& t) {
         return slice(t, {0, 0}, {0, 9});
       }},
  };
  for (const auto& [label, view] : layouts)
    for (const Operator& op : kOperators) check(view(base), view(gbase), op, 0.25, label);
}

TEST_F(CudaScalars, AViewNoKernelTakesRunsOnTheCpuWithTheScalar) {
  // Nine axes reversed cannot merge to the launch's kMaxDims: the kernel hands the op to
  // the CPU, the scalar broadcast to the output's shape. Oracle: the CPU, exactly.
  const Tensor x = sample(30, Shape(9, 2), DType::f32);
  const std::vector<int> perm = {8, 7, 6, 5, 4, 3, 2, 1, 0};
  const Tensor want = 1.5 - transpose(x, perm);
  const Tensor got = to_host(1.5 - transpose(to_device(x, gpu), perm));
  EXPECT_TRUE(same_values(got, want));
  EXPECT_EQ(fallbacks.count("subtract"), 1u);
  fallbacks.clear();
}

TEST_F(CudaScalars, EachCallKeepsItsOwnNumber) {
  // A host far ahead of the GPU: 200 launches, each with its own number, before anything
  // waits. Each must compute with the number of its own call (a kernel argument is copied
  // at launch). Oracle: the CPU, exactly (whole numbers times a whole number).
  const Tensor x = sample(40, {1000}, DType::f32), gx = to_device(x, gpu);
  std::vector<Tensor> got;
  for (int i = 0; i < 200; ++i) got.push_back(gx * static_cast<double>(i));
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(same_values(to_host(got[i]), x * static_cast<double>(i))) << i;
}

TEST_F(CudaScalars, DtypeRulesAreThoseOfScalarLike) {
  // An integer tensor with a fraction computes in f32, bool with a whole number in s32,
  // a half keeps its dtype; out-of-range whole numbers are refused as scalar_like does.
  const Tensor i = to_device(sample(50, {4}, DType::s16), gpu);
  const Tensor b = to_device(sample(51, {4}, DType::bool_), gpu);
  const Tensor h = to_device(sample(52, {4}, DType::bf16), gpu);
  EXPECT_EQ((i * 0.5).dtype(), DType::f32);
  EXPECT_EQ((i * 2.0).dtype(), DType::s16);
  EXPECT_EQ((b + 1.0).dtype(), DType::s32);
  EXPECT_EQ((h * 0.1).dtype(), DType::bf16);
  EXPECT_EQ((i / 2.0).dtype(), DType::f32);
  EXPECT_EMILY_ERROR(i + 1e6, ValueError, "scalar_like");
  EXPECT_EMILY_ERROR(Tensor() * 2.0, Error, "scalar_like");
}

TEST_F(CudaScalars, TracedFunctionsMatchEager) {
  // Inside a trace the scalar stays a device tensor of the graph (host scalars are for
  // eager kernels only); the compiled function and eager calls must agree bitwise.
  // Oracle: eager on the GPU.
  auto f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{(2.0 - in[0] * 0.5) / 3.0 + 1.0};
  };
  const Tensor gx = to_device(sample(60, {3, 5}, DType::f32), gpu);
  auto compiled = compile(f, testing::native("scalars"));
  EXPECT_TRUE(all_equal(to_host(compiled({gx})[0]), to_host(f({gx})[0])));
  EXPECT_TRUE(all_equal(to_host(compiled({gx})[0]), to_host(f({gx})[0])));
}

}  // namespace
}  // namespace emily
