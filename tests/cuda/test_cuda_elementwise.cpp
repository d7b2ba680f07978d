// The CUDA elementwise primitives against the CPU backend. Oracle: the same public op on
// the same inputs on the CPU. Every op runs on every dtype the op layer accepts, on
// operands that are dense, odd-sized (the vector loop's tail), transposed, strided
// (step 2), offset by one element (dense but misaligned), broadcast (a row, a 0-d
// scalar), empty and 0-d.
//
// Tolerances (per op and dtype):
//  - exact (NaN matching any NaN) where both sides round the same IEEE operations: casts,
//    arithmetic, division, sqrt, rounding, remainder, comparisons, integer and bit ops,
//    and c64 add/subtract/negate/conjugate/real/imag and predicates;
//  - transcendental functions of real dtypes: CUDA's libdevice and the CPU's libm each
//    stay within a few ULP, so f32 rtol 4e-6, f64 rtol 1e-14, and f16/bf16 one unit of
//    their own precision (rtol 1e-3 / 8e-3), all with a tiny atol for results near 0;
//  - c64: the GPU computes in double and rounds once, the CPU runs glibc's float
//    routines (a few ULP per part); per element |got - want| <= rtol |want| + 1e-6 with
//    rtol 4e-6 for multiply, divide, abs and sign, 1e-5 for the elementary functions.
// Every test also asserts that nothing fell back to the CPU (the `fallback` event).
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "emily/telemetry.h"
#include "support/gpu.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

class CudaElementwise : public testing::GpuTest {};

const DType kRealDTypes[] = {DType::bool_, DType::u8,  DType::u16, DType::u32, DType::u64,
                             DType::s8,    DType::s16, DType::s32, DType::s64, DType::f16,
                             DType::bf16,  DType::f32, DType::f64};
const DType kIntDTypes[] = {DType::u8, DType::u16, DType::u32, DType::u64,
                            DType::s8, DType::s16, DType::s32, DType::s64};
const DType kFloatDTypes[] = {DType::f16, DType::bf16, DType::f32, DType::f64};

// ---- operands -------------------------------------------------------------------------

// Values of one dtype for a shape; `seed` picks the stream.
using Gen = std::function<Tensor(std::uint64_t seed, const Shape& shape)>;

Tensor uniform(std::uint64_t seed, const Shape& shape, DType d, double lo, double hi) {
  const DType f = d == DType::f64 ? DType::f64 : DType::f32;
  return astype(random::uniform(random::key(seed), shape, f, lo, hi), d);
}

// Floats in [lo, hi); integers with random bits (signed ones of both signs); bool half
// true; c64 with both parts in [lo, hi).
Gen values(DType d, double lo = -4.0, double hi = 4.0) {
  return [=](std::uint64_t seed, const Shape& shape) -> Tensor {
    if (d == DType::bool_)
      return greater(uniform(seed, shape, DType::f32, -1, 1), scalar_tensor(0));
    if (is_integral(d)) {
      Tensor b = astype(random::bits(random::key(seed), shape), DType::s64);
      return astype(b - scalar_tensor(2147483648.0, DType::s64), d);
    }
    if (d == DType::c64) {
      auto re = uniform(seed, shape, DType::f32, lo, hi).to_vector<float>();
      auto im = uniform(seed + 7777, shape, DType::f32, lo, hi).to_vector<float>();
      std::vector<c64> z(re.size());
      for (std::size_t i = 0; i < z.size(); ++i) z[i] = c64(re[i], im[i]);
      return tensor<c64>(z, shape);
    }
    return uniform(seed, shape, d, lo, hi);
  };
}

// Integers in [lo, hi] of dtype d (negative ones wrap in unsigned dtypes: large values).
Gen small_ints(DType d, std::int64_t lo, std::int64_t hi) {
  return [=](std::uint64_t seed, const Shape& shape) -> Tensor {
    Tensor b = astype(random::bits(random::key(seed), shape), DType::s64);
    Tensor v = remainder(b, scalar_tensor(static_cast<double>(hi - lo + 1), DType::s64));
    return astype(v + scalar_tensor(static_cast<double>(lo), DType::s64), d);
  };
}

enum class Lay { dense, transposed, strided, offset };
const Lay kLays[] = {Lay::dense, Lay::transposed, Lay::strided, Lay::offset};

const char* lay_name(Lay l) {
  switch (l) {
    case Lay::dense:
      return "dense";
    case Lay::transposed:
      return "transposed";
    case Lay::strided:
      return "strided";
    default:
      return "offset";
  }
}

struct Operand {
  Tensor cpu, gpu;
};

// An operand of `shape` laid out as `lay`: the same view of the same values on both
// devices (views are taken after the move, which would otherwise make them contiguous).
Operand make(const Gen& gen, std::uint64_t seed, const Shape& shape, Lay lay, Device gpu) {
  std::function<Tensor(const Tensor&)> view_of = [](const Tensor& t) { return t; };
  Shape base_shape = shape;
  if (lay == Lay::transposed && shape.size() >= 2) {
    base_shape = Shape(shape.rbegin(), shape.rend());
    view_of = [](const Tensor& t) { return transpose(t); };
  } else if (lay == Lay::strided && !shape.empty()) {
    base_shape.back() *= 2;
    Shape start(shape.size(), 0), stop = base_shape, step(shape.size(), 1);
    step.back() = 2;
    view_of = [=](const Tensor& t) { return slice(t, start, stop, step); };
  } else if (lay == Lay::offset) {
    const std::int64_t n = numel(shape);
    base_shape = {n + 1};
    view_of = [=](const Tensor& t) { return reshape(slice(t, {1}, {n + 1}), shape); };
  }
  Tensor base = gen(seed, base_shape);
  Tensor cpu = view_of(base), g = view_of(to_device(base, gpu));
  return {cpu, g};
}

const Shape kShapes[] = {{33, 40}, {7, 13}, {0, 3}, {}};

std::string where_of(const std::string& op, DType d, const Shape& s, Lay l) {
  return op + " " + std::string(name(d)) + " " + to_string(s) + " " + lay_name(l);
}

// ---- comparisons ----------------------------------------------------------------------

::testing::AssertionResult exact(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) return all_equal(got, want);
  if (!is_inexact(want.dtype())) return all_equal(to_host(got), want);
  return all_close(to_host(got), want, 0.0, 0.0);  // any NaN matches any NaN
}

// The per-dtype bounds of transcendental functions (header comment).
::testing::AssertionResult close(const Tensor& got, const Tensor& want, double c64_rtol = 1e-5) {
  if (got.dtype() != want.dtype()) return all_equal(got, want);
  Tensor g = to_host(got);
  switch (want.dtype()) {
    case DType::f16:
      return all_close(g, want, 1e-3, 1e-5);
    case DType::bf16:
      return all_close(g, want, 8e-3, 1e-5);
    case DType::f32:
      return all_close(g, want, 4e-6, 1e-30);
    case DType::f64:
      return all_close(g, want, 1e-14, 1e-300);
    case DType::c64: {
      // |got - want| <= rtol |want| + 1e-6 per element: a bound on the modulus, since a
      // part much smaller than the modulus carries the other part's rounding.
      auto a = g.to_vector<c64>(), b = want.to_vector<c64>();
      for (std::size_t i = 0; i < a.size(); ++i) {
        const bool na = std::isnan(a[i].real()) || std::isnan(a[i].imag());
        const bool nb = std::isnan(b[i].real()) || std::isnan(b[i].imag());
        if (na || nb) {
          if (na && nb) continue;
          return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
        }
        if (std::isinf(std::abs(b[i])) || std::isinf(std::abs(a[i]))) {
          if (a[i] == b[i]) continue;
          return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
        }
        const double err = std::abs(std::complex<double>(a[i]) - std::complex<double>(b[i]));
        if (err > c64_rtol * std::abs(std::complex<double>(b[i])) + 1e-6)
          return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs expected "
                                               << b[i] << " (rtol " << c64_rtol << ")";
      }
      return ::testing::AssertionSuccess();
    }
    default:
      return all_equal(g, want);
  }
}

using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

#define EMILY_FN1(f) [](const Tensor& x) { return f(x); }
#define EMILY_FN2(f) [](const Tensor& a, const Tensor& b) { return f(a, b); }
#define EMILY_OP1(f) \
  { #f, EMILY_FN1(f) }
#define EMILY_OP2(f) \
  { #f, EMILY_FN2(f) }

// Runs f on every shape and layout of `gen`'s values; `check` compares.
template <class Check>
void each_layout(const std::string& op, DType d, const Gen& gen, const Unary& f, Device gpu,
                 Check check, std::uint64_t seed = 1) {
  for (const Shape& s : kShapes) {
    for (Lay l : kLays) {
      Operand x = make(gen, seed++, s, l, gpu);
      EXPECT_TRUE(check(f(x.gpu), f(x.cpu))) << where_of(op, d, s, l);
    }
  }
}

// Binary cases: both operands of one shape and layout, then broadcasts of a row and of a
// 0-d scalar (each side), against a laid-out first operand.
template <class Check>
void each_pair(const std::string& op, DType d, const Gen& ga, const Gen& gb, const Binary& f,
               Device gpu, Check check, std::uint64_t seed = 1) {
  for (const Shape& s : kShapes) {
    for (Lay l : kLays) {
      Operand a = make(ga, seed++, s, l, gpu), b = make(gb, seed++, s, l, gpu);
      EXPECT_TRUE(check(f(a.gpu, b.gpu), f(a.cpu, b.cpu))) << where_of(op, d, s, l);
    }
  }
  const Shape big = {33, 40};
  for (Lay l : kLays) {
    Operand a = make(ga, seed++, big, l, gpu);
    Operand row = make(gb, seed++, {40}, Lay::dense, gpu);
    Operand one = make(gb, seed++, {}, Lay::dense, gpu);
    EXPECT_TRUE(check(f(a.gpu, row.gpu), f(a.cpu, row.cpu))) << where_of(op, d, big, l) << " row";
    EXPECT_TRUE(check(f(a.gpu, one.gpu), f(a.cpu, one.cpu)))
        << where_of(op, d, big, l) << " scalar";
    EXPECT_TRUE(check(f(one.gpu, a.gpu), f(one.cpu, a.cpu)))
        << where_of(op, d, big, l) << " scalar first";
  }
}

// Special float values, as a 1-D tensor of dtype d.
Tensor specials(DType d) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> v = {0.0,  -0.0,  0.5, -0.5,   1.5,   2.5,   -2.5, 1.0,   -1.0,
                                 0.75, -0.75, 3.0, -3.0,   1e-20, -1e-3, 100., -100., 7.5,
                                 inf,  -inf,  NAN, -0.999, 0.999, 1e30,  2.0,  -2.0};
  return astype(tensor<double>(v), d);
}

// ---- unary ----------------------------------------------------------------------------

TEST_F(CudaElementwise, ExactUnaryOpsMatchTheCpu) {
  const std::pair<const char*, Unary> ints_and_floats[] = {EMILY_OP1(negate), EMILY_OP1(abs),
                                                           EMILY_OP1(sign)};
  const std::pair<const char*, Unary> floats_only[] = {EMILY_OP1(floor), EMILY_OP1(ceil),
                                                       EMILY_OP1(round), EMILY_OP1(sqrt)};
  const std::pair<const char*, Unary> any[] = {EMILY_OP1(logical_not), EMILY_OP1(is_nan),
                                               EMILY_OP1(is_infinity), EMILY_OP1(imag),
                                               EMILY_OP1(real),        EMILY_OP1(conjugate)};
  for (DType d : kRealDTypes) {
    const Gen gen = values(d, -40.0, 40.0);
    for (auto& [op, f] : any) each_layout(op, d, gen, f, gpu, exact);
    if (d == DType::bool_ || is_integral(d)) {
      each_layout("bitwise_not", d, gen, EMILY_FN1(bitwise_not), gpu, exact);
    }
    if (d == DType::bool_) continue;
    for (auto& [op, f] : ints_and_floats) each_layout(op, d, gen, f, gpu, exact);
    if (!is_floating(d)) continue;
    for (auto& [op, f] : floats_only) each_layout(op, d, values(d, 0.0, 40.0), f, gpu, exact);
    // Halves round half to even; NaN, infinities and signed zeros pass through.
    Tensor sp = specials(d), g = to_device(sp, gpu);
    for (auto& [op, f] : floats_only) EXPECT_TRUE(exact(f(g), f(sp))) << op << " " << name(d);
    for (auto& [op, f] : ints_and_floats) EXPECT_TRUE(exact(f(g), f(sp))) << op << " " << name(d);
    for (auto& [op, f] : any) EXPECT_TRUE(exact(f(g), f(sp))) << op << " " << name(d);
  }
  // Integer edges: |INT_MIN| and -INT_MIN wrap to INT_MIN.
  Tensor edge = tensor<std::int32_t>({std::numeric_limits<std::int32_t>::min(), -1, 0, 7});
  Tensor g = to_device(edge, gpu);
  EXPECT_TRUE(exact(abs(g), abs(edge)));
  EXPECT_TRUE(exact(negate(g), negate(edge)));
  EXPECT_TRUE(exact(sign(g), sign(edge)));
}

// The function, and the interval its inputs come from (inside its domain).
struct MathOp {
  const char* op;
  Unary f;
  double lo, hi;
  bool complex;  // accepts c64
};

TEST_F(CudaElementwise, TranscendentalFunctionsMatchTheCpu) {
  const MathOp ops[] = {
      {"acos", [](const Tensor& x) { return acos(x); }, -0.99, 0.99, true},
      {"acosh", [](const Tensor& x) { return acosh(x); }, 1.0, 9.0, true},
      {"asin", [](const Tensor& x) { return asin(x); }, -0.99, 0.99, true},
      {"asinh", [](const Tensor& x) { return asinh(x); }, -9.0, 9.0, true},
      {"atan", [](const Tensor& x) { return atan(x); }, -9.0, 9.0, true},
      {"atanh", [](const Tensor& x) { return atanh(x); }, -0.99, 0.99, true},
      {"cos", [](const Tensor& x) { return cos(x); }, -6.0, 6.0, true},
      {"cosh", [](const Tensor& x) { return cosh(x); }, -6.0, 6.0, true},
      {"erf", [](const Tensor& x) { return erf(x); }, -3.0, 3.0, false},
      {"erf_inv", [](const Tensor& x) { return erf_inv(x); }, -0.999, 0.999, false},
      {"exp", [](const Tensor& x) { return exp(x); }, -9.0, 9.0, true},
      {"expm1", [](const Tensor& x) { return expm1(x); }, -2.0, 2.0, true},
      {"log", [](const Tensor& x) { return log(x); }, 0.01, 50.0, true},
      {"log1p", [](const Tensor& x) { return log1p(x); }, -0.5, 9.0, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.01, 50.0, true},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -20.0, 20.0, true},
      {"sin", [](const Tensor& x) { return sin(x); }, -6.0, 6.0, true},
      {"sinh", [](const Tensor& x) { return sinh(x); }, -6.0, 6.0, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.0, 50.0, true},
      {"tan", [](const Tensor& x) { return tan(x); }, -1.5, 1.5, true},
      {"tanh", [](const Tensor& x) { return tanh(x); }, -6.0, 6.0, true},
  };
  for (const MathOp& m : ops) {
    for (DType d : kFloatDTypes) {
      each_layout(m.op, d, values(d, m.lo, m.hi), m.f, gpu,
                  [](const Tensor& a, const Tensor& b) { return close(a, b); });
      // Outside the domain, at the poles and at infinities both sides agree on NaN, inf
      // and signed results.
      Tensor sp = specials(d);
      EXPECT_TRUE(close(m.f(to_device(sp, gpu)), m.f(sp))) << m.op << " specials " << name(d);
    }
    if (!m.complex) continue;
    // c64 over a box around the real interval (branch cuts have measure zero).
    each_layout(m.op, DType::c64, values(DType::c64, -2.0, 2.0), m.f, gpu,
                [](const Tensor& a, const Tensor& b) { return close(a, b); });
  }
  // Integer and bool inputs compute in f32 (the op layer converts first).
  Tensor i = astype(testing::iota({3, 5}), DType::s32), gi = to_device(i, gpu);
  EXPECT_TRUE(close(exp(gi), exp(i)));
  EXPECT_TRUE(close(sqrt(gi), sqrt(i)));
}

TEST_F(CudaElementwise, ComplexUnaryOpsMatchTheCpu) {
  const Gen gen = values(DType::c64, -5.0, 5.0);
  const std::pair<const char*, Unary> exact_ops[] = {
      EMILY_OP1(negate),      EMILY_OP1(conjugate), EMILY_OP1(real),       EMILY_OP1(imag),
      EMILY_OP1(logical_not), EMILY_OP1(is_nan),    EMILY_OP1(is_infinity)};
  for (auto& [op, f] : exact_ops) each_layout(op, DType::c64, gen, f, gpu, exact);
  // abs is a correctly rounded hypot on both sides; sign divides by it in f32.
  auto near = [](const Tensor& a, const Tensor& b) {
    return a.dtype() == DType::f32 ? all_close(to_host(a), b, 4e-6, 1e-30) : close(a, b, 4e-6);
  };
  each_layout("abs", DType::c64, gen, EMILY_FN1(abs), gpu, near);
  each_layout("sign", DType::c64, gen, EMILY_FN1(sign), gpu, near);
  // Zeros, infinities and NaN in either part.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tensor z = tensor<c64>({c64(0, 0), c64(-0.0f, 0), c64(0, -0.0f), c64(inf, 1), c64(1, -inf),
                          c64(nan, 0), c64(0, nan), c64(3, 4), c64(-2, 0)});
  Tensor gz = to_device(z, gpu);
  for (auto& [op, f] : exact_ops) EXPECT_TRUE(exact(f(gz), f(z))) << op << " specials";
  EXPECT_TRUE(near(abs(gz), abs(z)));
  EXPECT_TRUE(near(sign(gz), sign(z)));
  // Branch cuts: the sign of a zero imaginary part picks the side.
  Tensor cut = tensor<c64>({c64(-4, 0), c64(-4, -0.0f), c64(0, 0), c64(1, 0), c64(-1, 0)});
  Tensor gcut = to_device(cut, gpu);
  EXPECT_TRUE(close(sqrt(gcut), sqrt(cut)));
  EXPECT_TRUE(close(exp(gcut), exp(cut)));
  Tensor nonzero = tensor<c64>({c64(-4, 0), c64(-4, -0.0f), c64(1, 0), c64(-1, 0), c64(0, 2)});
  EXPECT_TRUE(close(log(to_device(nonzero, gpu)), log(nonzero)));
}

// ---- binary ---------------------------------------------------------------------------

TEST_F(CudaElementwise, ArithmeticAndComparisonsMatchTheCpu) {
  const std::pair<const char*, Binary> exact_ops[] = {
      EMILY_OP2(add),        EMILY_OP2(subtract), EMILY_OP2(multiply),     EMILY_OP2(maximum),
      EMILY_OP2(minimum),    EMILY_OP2(equal),    EMILY_OP2(not_equal),    EMILY_OP2(less),
      EMILY_OP2(less_equal), EMILY_OP2(greater),  EMILY_OP2(greater_equal)};
  const std::pair<const char*, Binary> logical_ops[] = {
      EMILY_OP2(logical_and), EMILY_OP2(logical_or), EMILY_OP2(logical_xor)};
  for (DType d : kRealDTypes) {
    const Gen gen = values(d, -40.0, 40.0);
    for (auto& [op, f] : exact_ops) {
      if (d == DType::bool_ && std::string(op) == "subtract") continue;  // not defined
      each_pair(op, d, gen, gen, f, gpu, exact);
    }
    for (auto& [op, f] : logical_ops) each_pair(op, d, gen, gen, f, gpu, exact);
    if (!is_floating(d)) continue;
    each_pair("divide", d, gen, gen, EMILY_FN2(divide), gpu, exact);
    // Equal operands (ties) and NaN/inf/signed zeros against each other.
    Tensor sp = specials(d), a = reshape(sp, {-1, 1}), b = reshape(sp, {1, -1});
    Tensor ga = to_device(a, gpu), gb = to_device(b, gpu);
    for (auto& [op, f] : exact_ops) EXPECT_TRUE(exact(f(ga, gb), f(a, b))) << op << " " << name(d);
    EXPECT_TRUE(exact(divide(ga, gb), divide(a, b))) << "divide " << name(d);
  }
  // Divide on integers computes in f32.
  Tensor i = astype(testing::iota({4, 6}), DType::s16) - scalar_tensor(9, DType::s16);
  Tensor gi = to_device(i, gpu);
  EXPECT_TRUE(
      exact(divide(gi, transpose(reshape(gi, {6, 4}))), divide(i, transpose(reshape(i, {6, 4})))));
}

TEST_F(CudaElementwise, PowAtan2RemainderQuotientMatchTheCpu) {
  for (DType d : kIntDTypes) {
    // Exponents in [-2, 9] (negative ones wrap to large ones in unsigned dtypes); bases
    // small (exact powers) and full-width (wrapping).
    each_pair("pow", d, small_ints(d, -3, 3), small_ints(d, -2, 9), EMILY_FN2(pow), gpu, exact);
    each_pair("pow", d, values(d), small_ints(d, -2, 40), EMILY_FN2(pow), gpu, exact, 500);
    // Divisors in [-4, 4]: zero and -1 included; dividends full-width (INT_MIN among them).
    const std::pair<const char*, Binary> division[] = {EMILY_OP2(remainder), EMILY_OP2(quotient)};
    for (auto& [op, f] : division) each_pair(op, d, values(d), small_ints(d, -4, 4), f, gpu, exact);
  }
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  Tensor a = tensor<std::int64_t>({lo, lo, 7, -7, 7, -7, 0}),
         b = tensor<std::int64_t>({-1, 0, 2, 2, -2, -2, 0});
  Tensor ga = to_device(a, gpu), gb = to_device(b, gpu);
  EXPECT_TRUE(exact(remainder(ga, gb), remainder(a, b)));
  EXPECT_TRUE(exact(quotient(ga, gb), quotient(a, b)));
  for (DType d : kFloatDTypes) {
    // Remainder rounds one fmod and one add on both sides: exact.
    each_pair("remainder", d, values(d, -40, 40), values(d, -7, 7), EMILY_FN2(remainder), gpu,
              exact);
    each_pair("pow", d, values(d, 0.0, 4.0), values(d, -6, 6), EMILY_FN2(pow), gpu,
              [](const Tensor& x, const Tensor& y) { return close(x, y); });
    each_pair("atan2", d, values(d), values(d), EMILY_FN2(atan2), gpu,
              [](const Tensor& x, const Tensor& y) { return close(x, y); });
    Tensor sp = specials(d), sa = reshape(sp, {-1, 1}), sb = reshape(sp, {1, -1});
    Tensor ga2 = to_device(sa, gpu), gb2 = to_device(sb, gpu);
    EXPECT_TRUE(exact(remainder(ga2, gb2), remainder(sa, sb))) << "remainder " << name(d);
    EXPECT_TRUE(close(pow(ga2, gb2), pow(sa, sb))) << "pow " << name(d);
    EXPECT_TRUE(close(atan2(ga2, gb2), atan2(sa, sb))) << "atan2 " << name(d);
  }
}

TEST_F(CudaElementwise, BitwiseOpsAndShiftsMatchTheCpu) {
  const std::pair<const char*, Binary> bit_ops[] = {EMILY_OP2(bitwise_and), EMILY_OP2(bitwise_or),
                                                    EMILY_OP2(bitwise_xor)};
  for (DType d : kRealDTypes) {
    if (is_floating(d)) continue;
    for (auto& [op, f] : bit_ops) each_pair(op, d, values(d), values(d), f, gpu, exact);
    if (d == DType::bool_) continue;
    // Counts in [-3, 70]: negative and past the width shift everything out.
    const std::pair<const char*, Binary> shifts[] = {EMILY_OP2(left_shift), EMILY_OP2(right_shift)};
    for (auto& [op, f] : shifts) each_pair(op, d, values(d), small_ints(d, -3, 70), f, gpu, exact);
  }
}

TEST_F(CudaElementwise, ComplexBinaryOpsMatchTheCpu) {
  const Gen gen = values(DType::c64, -5.0, 5.0);
  const std::pair<const char*, Binary> exact_ops[] = {EMILY_OP2(add), EMILY_OP2(subtract),
                                                      EMILY_OP2(equal), EMILY_OP2(not_equal),
                                                      EMILY_OP2(logical_and)};
  for (auto& [op, f] : exact_ops) each_pair(op, DType::c64, gen, gen, f, gpu, exact);
  auto near = [](const Tensor& a, const Tensor& b) { return close(a, b, 4e-6); };
  each_pair("multiply", DType::c64, gen, gen, EMILY_FN2(multiply), gpu, near);
  each_pair("divide", DType::c64, gen, gen, EMILY_FN2(divide), gpu, near);
  each_pair("pow", DType::c64, values(DType::c64, -2.0, 2.0), values(DType::c64, -1.5, 1.5),
            EMILY_FN2(pow), gpu, [](const Tensor& a, const Tensor& b) { return close(a, b); });
  // Equal real parts with different imaginary parts are not equal.
  Tensor a = tensor<c64>({c64(1, 2), c64(1, 2), c64(0, 0), c64(-0.0f, 0)});
  Tensor b = tensor<c64>({c64(1, 2), c64(1, 3), c64(0, 0), c64(0, 0)});
  Tensor ga = to_device(a, gpu), gb = to_device(b, gpu);
  EXPECT_TRUE(exact(equal(ga, gb), equal(a, b)));
  EXPECT_TRUE(exact(not_equal(ga, gb), not_equal(a, b)));
  // Division by zero gives infinities, as C's Annex G (libgcc on the CPU).
  Tensor num = tensor<c64>({c64(1, 2), c64(-3, 0)}), den = tensor<c64>({c64(0, 0), c64(0, 0)});
  EXPECT_TRUE(exact(divide(to_device(num, gpu), to_device(den, gpu)), divide(num, den)));
  // Mixed real and complex operands promote to c64.
  Tensor r = values(DType::f32)(3, {4, 5}), z = values(DType::c64)(4, {4, 5});
  EXPECT_TRUE(exact(add(to_device(r, gpu), to_device(z, gpu)), add(r, z)));
}

// ---- conversions, where, copy ---------------------------------------------------------

TEST_F(CudaElementwise, CastsToAndFromComplexAreExact) {
  for (DType from : kRealDTypes) {
    for (Lay l : kLays) {
      Operand x = make(values(from, -60.0, 60.0), 20 + static_cast<int>(from), {9, 11}, l, gpu);
      EXPECT_TRUE(exact(astype(x.gpu, DType::c64), astype(x.cpu, DType::c64)))
          << name(from) << " -> c64 " << lay_name(l);
    }
  }
  Operand z = make(values(DType::c64, -300.0, 300.0), 5, {9, 11}, Lay::transposed, gpu);
  for (DType to : kRealDTypes)
    EXPECT_TRUE(exact(astype(z.gpu, to), astype(z.cpu, to))) << "c64 -> " << name(to);
  // A zero real part with a nonzero imaginary part is still true.
  Tensor t = tensor<c64>({c64(0, 1), c64(0, 0), c64(2, 0), c64(std::nanf(""), 0)});
  for (DType to : {DType::bool_, DType::s8, DType::f16, DType::f64})
    EXPECT_TRUE(exact(astype(to_device(t, gpu), to), astype(t, to))) << "c64 -> " << name(to);
}

TEST_F(CudaElementwise, CastsBetweenRealDtypesInEveryLayoutAreExact) {
  for (DType from : kRealDTypes) {
    for (Lay l : kLays) {
      Operand x = make(values(from, -300.0, 300.0), 40 + static_cast<int>(from), {7, 13}, l, gpu);
      for (DType to : kRealDTypes)
        EXPECT_TRUE(exact(astype(x.gpu, to), astype(x.cpu, to)))
            << name(from) << " -> " << name(to) << " " << lay_name(l);
    }
  }
}

TEST_F(CudaElementwise, WhereAndCopyMatchTheCpuForEveryDtype) {
  std::vector<DType> dtypes(std::begin(kRealDTypes), std::end(kRealDTypes));
  dtypes.push_back(DType::c64);
  for (DType d : dtypes) {
    for (const Shape& s : kShapes) {
      for (Lay l : kLays) {
        Operand c = make(values(DType::bool_), 60, s, l, gpu);
        Operand a = make(values(d), 61, s, l, gpu), b = make(values(d), 62, s, Lay::dense, gpu);
        EXPECT_TRUE(exact(where(c.gpu, a.gpu, b.gpu), where(c.cpu, a.cpu, b.cpu)))
            << where_of("where", d, s, l);
        EXPECT_TRUE(exact(contiguous(a.gpu), contiguous(a.cpu))) << where_of("copy", d, s, l);
      }
    }
    // A 0-d condition and a broadcast row.
    Operand c = make(values(DType::bool_), 63, {}, Lay::dense, gpu);
    Operand a = make(values(d), 64, {5, 40}, Lay::transposed, gpu);
    Operand b = make(values(d), 65, {40}, Lay::dense, gpu);
    EXPECT_TRUE(exact(where(c.gpu, a.gpu, b.gpu), where(c.cpu, a.cpu, b.cpu))) << name(d);
  }
}

TEST_F(CudaElementwise, LayoutsBeyondEightAxesRunOnTheCpuCorrectly) {
  // Nine axes of size 2 transposed cannot merge: the documented fallback, still exact.
  Shape nine(9, 2);
  Tensor x = values(DType::f32)(70, nine);
  std::vector<int> perm = {8, 7, 6, 5, 4, 3, 2, 1, 0};
  Tensor got = exp(transpose(to_device(x, gpu), perm)), want = exp(transpose(x, perm));
  EXPECT_TRUE(close(got, want));
  EXPECT_EQ(fallbacks.count("exp"), 1u);
  fallbacks.clear();
}

}  // namespace
}  // namespace emily
