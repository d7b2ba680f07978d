// The `fused` kernel on CUDA: a FusedAttr program becomes one generated kernel, a
// grid-stride loop whose body loads each input element, runs the steps on registers and
// stores the values the graph reads. Inputs are read dense, as one repeated value, or
// through their strides over the output's (merged) axes; the access of each input, the
// dtypes and the number of axes are part of the source, the sizes and strides are
// parameters, so one compiled kernel serves every size of a program.
//
// The generated expressions are those of the standalone kernels (elementwise_ops.cuh):
// the same CUDA math functions, the same NaN rules, the same conversions.
#include "backend/cuda/fused.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernel_cache.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/runtime.h"
#include "emily/error.h"
#include "emily/tensor.h"

namespace emily::cuda {

namespace {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;
// Kernel parameters fit 4 KiB on every architecture; a program whose inputs need more
// runs on the CPU instead.
constexpr std::size_t kMaxParamBytes = 4000;

bool is_half(DType t) {
  return t == DType::f16 || t == DType::bf16;
}

bool is_integer(DType t) {
  return kind(t) == DTypeKind::signed_int || kind(t) == DTypeKind::unsigned_int;
}

// The C++ type a value of dtype `t` lives in inside the kernel: f16 and bf16 compute in
// float, as the standalone kernels do; null for dtypes the generator lacks (c64).
const char* ctype(DType t) {
  switch (t) {
    case DType::f32:
    case DType::f16:
    case DType::bf16:
      return "float";
    case DType::f64:
      return "double";
    case DType::bool_:
      return "bool";
    case DType::s8:
      return "signed char";
    case DType::u8:
      return "unsigned char";
    case DType::s16:
      return "short";
    case DType::u16:
      return "unsigned short";
    case DType::s32:
      return "int";
    case DType::u32:
      return "unsigned";
    case DType::s64:
      return "long long";
    case DType::u64:
      return "unsigned long long";
    default:
      return nullptr;
  }
}

// The type its elements have in memory.
const char* storage_type(DType t) {
  return is_half(t) ? "unsigned short" : ctype(t);
}

// `e` (a float) rounded once to f16 or bf16 and widened back: the value eager would have
// stored. Exact for values that are f16/bf16 already.
std::string round_to(DType t, const std::string& e) {
  return (t == DType::f16 ? "emily_f16_round(" : "emily_bf16_round(") + e + ")";
}

// astype as the standalone kernels convert (device_types.cuh's store): anything to bool
// is "nonzero" (NaN too), f64 -> f32 and float -> f16/bf16 round once to nearest. f64 to
// f16/bf16 would round from double directly: not generated.
std::optional<std::string> conversion(DType t, DType r, const std::string& a) {
  if (!ctype(t) || !ctype(r)) return std::nullopt;
  if (t == r) return a;
  if (r == DType::bool_) return "(" + a + " != 0)";
  // Integers: to another integer wraps (static_cast), to f32/f64 rounds once, bool gives
  // 0 or 1. To f16/bf16 (through double) and floats to integers (saturating) are left to
  // the standalone kernel.
  if (is_integer(r)) {
    if (t == DType::bool_ || is_integer(t)) return "((" + std::string(ctype(r)) + ")" + a + ")";
    return std::nullopt;
  }
  if (is_integer(t)) {
    if (r != DType::f32 && r != DType::f64) return std::nullopt;
    return "((" + std::string(ctype(r)) + ")" + a + ")";
  }
  if (t == DType::bool_) return "(" + a + (r == DType::f64 ? " ? 1.0 : 0.0)" : " ? 1.0f : 0.0f)");
  if (is_half(r)) return t == DType::f64 ? std::nullopt : std::optional(round_to(r, a));
  if (r == DType::f32) return t == DType::f64 ? "((float)" + a + ")" : a;
  return "((double)" + a + ")";  // to f64: exact
}

// A comparison's infix operator; null for other ops.
const char* comparison(Primitive op) {
  switch (op) {
    case Primitive::equal:
      return "==";
    case Primitive::not_equal:
      return "!=";
    case Primitive::less:
      return "<";
    case Primitive::less_equal:
      return "<=";
    case Primitive::greater:
      return ">";
    case Primitive::greater_equal:
      return ">=";
    default:
      return nullptr;
  }
}

bool is_comparison(Primitive op) {
  return comparison(op) != nullptr;
}

// An integer step, as elementwise_ops.cuh computes it: add, subtract, multiply and negate
// wrap in the unsigned type of at least int's width (so no signed overflow happens), |MIN|
// wraps to MIN, division truncates with x / 0 = 0 and MIN / -1 = MIN, the remainder takes
// the divisor's sign with x % 0 = 0.
std::optional<std::string> integer_expression(Primitive op, DType t, DType r,
                                              std::span<const std::string> a) {
  const std::string T = ctype(t);
  const std::string W = size_of(t) == 8 ? "unsigned long long" : "unsigned";
  const bool is_signed = kind(t) == DTypeKind::signed_int;
  if (r != (is_comparison(op) ? DType::bool_ : t)) return std::nullopt;
  auto cast = [&](const std::string& e) { return "((" + T + ")(" + e + "))"; };
  auto wrapped = [&](const char* o) {
    return cast("(" + W + ")" + a[0] + " " + o + " (" + W + ")" + a[1]);
  };
  if (const char* c = comparison(op)) return "(" + a[0] + " " + c + " " + a[1] + ")";
  switch (op) {
    case Primitive::add:
      return wrapped("+");
    case Primitive::subtract:
      return wrapped("-");
    case Primitive::multiply:
      return wrapped("*");
    case Primitive::negate:
      return cast("-(" + W + ")" + a[0]);
    case Primitive::abs:
      if (!is_signed) return a[0];
      return "(" + a[0] + " < 0 ? " + cast("-(" + W + ")" + a[0]) + " : " + a[0] + ")";
    case Primitive::maximum:
      return "(" + a[0] + " > " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
    case Primitive::minimum:
      return "(" + a[0] + " < " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
    case Primitive::bitwise_and:
      return cast(a[0] + " & " + a[1]);
    case Primitive::bitwise_or:
      return cast(a[0] + " | " + a[1]);
    case Primitive::bitwise_xor:
      return cast(a[0] + " ^ " + a[1]);
    case Primitive::quotient:
      return "emily_quotient(" + a[0] + ", " + a[1] + ")";
    case Primitive::remainder:
      return "emily_remainder(" + a[0] + ", " + a[1] + ")";
    case Primitive::where:
      return "(" + a[0] + " ? " + a[1] + " : " + a[2] + ")";
    default:
      return std::nullopt;
  }
}

// The value of a step (`op` computing on `t` into `r`) over the operands named `a`, as
// a CUDA C++ expression; nothing when the generator has no code for it. Arithmetic goes
// through the _rn intrinsics: they are never contracted into an FMA, so a chain rounds
// after each step as the standalone kernels do. f16 and bf16 steps compute in float and
// round their result once, as a standalone kernel rounds on store.
std::optional<std::string> expression(Primitive op, DType t, DType r,
                                      std::span<const std::string> a) {
  if (op == Primitive::astype) return conversion(t, r, a[0]);
  if (is_half(t)) {
    if (r != t && r != DType::bool_) return std::nullopt;
    auto e = expression(op, DType::f32, r == t ? DType::f32 : r, a);
    if (!e || r == DType::bool_) return e;
    return round_to(t, *e);
  }
  if (is_integer(t)) return integer_expression(op, t, r, a);
  if (t != DType::f32 && t != DType::f64) return std::nullopt;
  const bool f = t == DType::f32;
  const std::string suffix = f ? "f" : "", one = f ? "1.0f" : "1.0";
  auto call = [&](const std::string& fn, std::size_t arity) {
    std::string s = fn + "(" + a[0];
    for (std::size_t k = 1; k < arity; ++k) s += ", " + a[k];
    return s + ")";
  };
  auto infix = [&](const char* o) { return "(" + a[0] + " " + o + " " + a[1] + ")"; };
  if (r != (is_comparison(op) ? DType::bool_ : t)) return std::nullopt;
  if (const char* c = comparison(op)) return infix(c);
  switch (op) {
    case Primitive::add:
      return call(f ? "__fadd_rn" : "__dadd_rn", 2);
    case Primitive::subtract:
      return call(f ? "__fsub_rn" : "__dsub_rn", 2);
    case Primitive::multiply:
      return call(f ? "__fmul_rn" : "__dmul_rn", 2);
    case Primitive::divide:
      return call(f ? "__fdiv_rn" : "__ddiv_rn", 2);
    // NaN propagates; on ties the second operand wins (maximum(-0., 0.) = 0.).
    case Primitive::maximum:
      return "((" + a[0] + " > " + a[1] + " || " + a[0] + " != " + a[0] + ") ? " + a[0] + " : " +
             a[1] + ")";
    case Primitive::minimum:
      return "((" + a[0] + " < " + a[1] + " || " + a[0] + " != " + a[0] + ") ? " + a[0] + " : " +
             a[1] + ")";
    case Primitive::negate:
      return "(-" + a[0] + ")";
    case Primitive::abs:
      return call("fabs" + suffix, 1);
    case Primitive::exp:
    case Primitive::log:
    case Primitive::sqrt:
    case Primitive::sin:
    case Primitive::cos:
    case Primitive::tanh:
    case Primitive::floor:
    case Primitive::ceil:
      return call(std::string(name(op)) + suffix, 1);
    case Primitive::rsqrt:  // 1 / sqrt(x), as the standalone kernel: not rsqrt's approximation
      return std::string(f ? "__fdiv_rn(" : "__ddiv_rn(") + one + ", sqrt" + suffix + "(" + a[0] +
             "))";
    case Primitive::sigmoid:
      return call("emily_sigmoid", 1);
    case Primitive::where:
      return "(" + a[0] + " ? " + a[1] + " : " + a[2] + ")";
    default:
      return std::nullopt;
  }
}

// Helpers the expressions call. Sigmoid splits at 0 as the standalone kernel does, so
// the large-|x| side never divides by an overflowed exp.
// f16 goes through PTX's conversions (those cuda_fp16.h uses; no headers under NVRTC);
// bf16 too from sm_80, and by hand before (round to nearest even, NaN kept).
constexpr const char* kPrelude = R"(typedef long long i64;
__device__ __forceinline__ float emily_f16_load(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
__device__ __forceinline__ unsigned short emily_f16_store(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
__device__ __forceinline__ float emily_bf16_load(unsigned short h) {
  return __uint_as_float(((unsigned)h) << 16);
}
__device__ __forceinline__ unsigned short emily_bf16_store(float f) {
#if __CUDA_ARCH__ >= 800
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  const unsigned u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
#endif
}
__device__ __forceinline__ float emily_f16_round(float f) {
  return emily_f16_load(emily_f16_store(f));
}
__device__ __forceinline__ float emily_bf16_round(float f) {
  return emily_bf16_load(emily_bf16_store(f));
}
// Integer division and remainder as elementwise_ops.cuh's Quotient and Remainder (the
// comparisons with -1 are never true for unsigned types).
template <class T>
__device__ __forceinline__ T emily_quotient(T a, T b) {
  if (b == 0) return T(0);
  if (T(-1) < T(0) && b == T(-1)) return T(0u - (unsigned long long)a);
  return T(a / b);
}
template <class T>
__device__ __forceinline__ T emily_remainder(T a, T b) {
  if (b == 0) return T(0);
  if (T(-1) < T(0) && b == T(-1)) return T(0);
  const T r = T(a % b);
  return (r != 0 && ((r < T(0)) != (b < T(0)))) ? T(r + b) : r;
}
__device__ __forceinline__ float emily_sigmoid(float x) {
  if (x >= 0.0f) return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x)));
  const float e = expf(x);
  return __fdiv_rn(e, __fadd_rn(1.0f, e));
}
__device__ __forceinline__ double emily_sigmoid(double x) {
  if (x >= 0.0) return __ddiv_rn(1.0, __dadd_rn(1.0, exp(-x)));
  const double e = exp(x);
  return __ddiv_rn(e, __dadd_rn(1.0, e));
}
)";

enum class Access : std::uint8_t { dense, repeated, strided };

// The output's axes with size-1 axes dropped and neighbours merged where every input
// walks them as one; per input its strides over them and how the kernel reads it.
struct Layout {
  std::vector<std::int64_t> shape;
  std::vector<std::vector<std::int64_t>> strides;  // per input
  std::vector<Access> access;
  int strided = 0;
};

// False when the strided inputs need more axes than the kernel takes.
bool make_layout(const Shape& shape, std::span<const Tensor> in, Layout& L) {
  const std::size_t inputs = in.size();
  L.strides.assign(inputs, {});
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !L.shape.empty();
    for (std::size_t k = 0; k < inputs && merge; ++k)
      merge = L.strides[k].back() == in[k].strides()[d] * shape[d];
    if (merge) {
      L.shape.back() *= shape[d];
      for (std::size_t k = 0; k < inputs; ++k) L.strides[k].back() = in[k].strides()[d];
    } else {
      L.shape.push_back(shape[d]);
      for (std::size_t k = 0; k < inputs; ++k) L.strides[k].push_back(in[k].strides()[d]);
    }
  }
  L.access.assign(inputs, Access::dense);
  for (std::size_t k = 0; k < inputs; ++k) {
    bool row_major = true, repeated = true;
    std::int64_t expect = 1;
    for (std::size_t d = L.shape.size(); d-- > 0;) {
      row_major = row_major && L.strides[k][d] == expect;
      repeated = repeated && L.strides[k][d] == 0;
      expect *= L.shape[d];
    }
    L.access[k] = row_major ? Access::dense : repeated ? Access::repeated : Access::strided;
    if (L.access[k] == Access::strided) ++L.strided;
  }
  return L.strided == 0 || L.shape.size() <= static_cast<std::size_t>(kMaxDims);
}

// `prefix` followed by k ("v3": value 3 of the program, its inputs then its steps).
// Appended rather than "v" + to_string(k), which GCC 12 misreads as an overlapping copy.
std::string numbered(const char* prefix, std::size_t k) {
  std::string s = prefix;
  s += std::to_string(k);
  return s;
}
std::string value_name(std::size_t k) {
  return numbered("v", k);
}

// The kernel's one parameter, a struct of 8-byte fields (so the host's flat array of
// words has its layout): n, shape[dims], in[inputs], out[outputs], strides[strided][dims].
int param_dims(const Layout& L) {
  return std::max<int>(1, static_cast<int>(L.shape.size()));
}

// Everything kernel_source reads, as bytes: the dtypes and access of the inputs, the
// axes, the outputs and the steps.
std::string signature(const FusedAttr& f, std::span<const Tensor> in, std::span<Tensor> out,
                      const Layout& L) {
  std::string s;
  s.reserve(8 + 2 * in.size() + 8 * f.steps.size());
  auto put = [&](std::int64_t v) {
    // Small values take one byte; others a marker and 8.
    if (v >= 0 && v < 255) {
      s.push_back(static_cast<char>(v));
    } else {
      s.push_back(static_cast<char>(255));
      for (int b = 0; b < 8; ++b) s.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
    }
  };
  put(static_cast<std::int64_t>(in.size()));
  for (std::size_t k = 0; k < in.size(); ++k) {
    put(static_cast<int>(in[k].dtype()));
    put(static_cast<int>(L.access[k]));
  }
  put(static_cast<std::int64_t>(L.shape.size()));
  put(L.strided);
  put(static_cast<std::int64_t>(out.size()));
  for (const Tensor& t : out) put(static_cast<int>(t.dtype()));
  put(static_cast<std::int64_t>(f.steps.size()));
  for (const FusedStep& st : f.steps) {
    put(static_cast<int>(st.op));
    put(static_cast<int>(st.dtype));
    put(static_cast<int>(st.result));
    put(st.output);
    put(static_cast<std::int64_t>(st.args.size()));
    for (int a : st.args) put(a);
  }
  return s;
}

std::string kernel_source(const FusedAttr& f, std::span<const Tensor> in, std::span<Tensor> out,
                          const Layout& L) {
  const std::size_t inputs = in.size();
  const int dims = param_dims(L);
  std::vector<DType> type(inputs + f.steps.size());
  for (std::size_t k = 0; k < inputs; ++k) type[k] = in[k].dtype();
  std::string s = kPrelude;
  s += "struct Params {\n  i64 n;\n  i64 shape[" + std::to_string(dims) + "];\n";
  s += "  const void* in[" + std::to_string(std::max<std::size_t>(1, inputs)) + "];\n";
  s += "  void* out[" + std::to_string(out.size()) + "];\n";
  if (L.strided > 0)
    s += "  i64 strides[" + std::to_string(L.strided) + "][" + std::to_string(dims) + "];\n";
  s += "};\nextern \"C\" __global__ void emily_fused(const Params p) {\n";
  // A dependent launch (dependent_launch.cuh): wait before anything is read or written,
  // then let the next dependent kernel be scheduled.
  s += "#if __CUDA_ARCH__ >= 900\n  asm volatile(\"griddepcontrol.wait;\" ::: "
       "\"memory\");\n  asm volatile(\"griddepcontrol.launch_dependents;\");\n#endif\n";
  s += "  const i64 step = (i64)gridDim.x * blockDim.x;\n";
  s += "  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {\n";
  if (L.strided > 0) {
    s += "    i64 o[" + std::to_string(L.strided) + "] = {};\n    i64 rest = i;\n";
    s += "#pragma unroll\n    for (int d = " + std::to_string(L.shape.size()) +
         " - 1; d >= 0; --d) {\n";
    s += "      const i64 at = rest % p.shape[d];\n      rest /= p.shape[d];\n";
    s += "#pragma unroll\n      for (int k = 0; k < " + std::to_string(L.strided) +
         "; ++k) o[k] += at * p.strides[k][d];\n    }\n";
  }
  int strided = 0;
  for (std::size_t k = 0; k < inputs; ++k) {
    const char* t = ctype(type[k]);
    if (!t) EMILY_THROW(Unsupported, "fused", "no CUDA code for inputs of ", name(type[k]));
    const std::string at = L.access[k] == Access::dense      ? "i"
                           : L.access[k] == Access::repeated ? "0"
                                                             : numbered("o[", strided++) + "]";
    std::string load = std::string("((const ") + storage_type(type[k]) + "*)p.in[" +
                       std::to_string(k) + "])[" + at + "]";
    if (is_half(type[k]))
      load = (type[k] == DType::f16 ? "emily_f16_load(" : "emily_bf16_load(") + load + ")";
    s += "    const " + std::string(t) + " " + value_name(k) + " = " + load + ";\n";
  }
  std::array<std::string, 3> args;
  for (std::size_t k = 0; k < f.steps.size(); ++k) {
    const FusedStep& st = f.steps[k];
    if (st.args.size() > args.size())
      EMILY_THROW(Unsupported, "fused", name(st.op), " with ", st.args.size(), " operands");
    for (std::size_t j = 0; j < st.args.size(); ++j) {
      const int a = st.args[j];
      if (a < 0 || static_cast<std::size_t>(a) >= inputs + k)
        EMILY_THROW(ValueError, "fused", "step ", k, " reads value ", a, " before it exists");
      // Operands must have the dtypes the expression assumes (where's condition: bool).
      const DType want = st.op == Primitive::where && j == 0 ? DType::bool_ : st.dtype;
      if (type[a] != want) {
        EMILY_THROW(Unsupported, "fused", name(st.op), " on ", name(st.dtype), " reads a ",
                    name(type[a]), " operand");
      }
      args[j] = value_name(a);
    }
    const auto e = expression(st.op, st.dtype, st.result, std::span(args.data(), st.args.size()));
    if (!e) {
      EMILY_THROW(Unsupported, "fused", "no CUDA code for ", name(st.op), " on ", name(st.dtype),
                  " -> ", name(st.result));
    }
    const std::size_t v = inputs + k;
    type[v] = st.result;
    const std::string t = ctype(st.result);
    s += "    const " + t + " " + value_name(v) + " = " + *e + ";\n";
    if (st.output >= 0) {
      if (static_cast<std::size_t>(st.output) >= out.size() || out[st.output].dtype() != st.result)
        EMILY_THROW(ValueError, "fused", "step ", k, " writes output ", st.output, " wrongly");
      std::string value = value_name(v);
      if (is_half(st.result))
        value = (st.result == DType::f16 ? "emily_f16_store(" : "emily_bf16_store(") + value + ")";
      s += std::string("    ((") + storage_type(st.result) + "*)p.out[" +
           std::to_string(st.output) + "])[i] = " + value + ";\n";
    }
  }
  s += "  }\n}\n";
  return s;
}

void fused_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const auto& f = std::get<FusedAttr>(attr);
  const std::int64_t n = out[0].size();
  if (n == 0) return;
  // The fuse pass gives every operand the output's shape and fresh dense outputs;
  // anything else goes to the CPU's kernel rather than being misread.
  bool fits = true;
  for (const Tensor& t : in) fits = fits && t.shape() == out[0].shape();
  for (const Tensor& t : out) fits = fits && t.shape() == out[0].shape() && t.is_contiguous();
  if (!fits) return run_on_cpu(Primitive::fused, in, out, attr);
  Layout L;
  fits = make_layout(out[0].shape(), in, L);
  const int dims = param_dims(L);
  std::vector<std::int64_t> params;
  params.push_back(n);
  for (int d = 0; d < dims; ++d)
    params.push_back(d < static_cast<int>(L.shape.size()) ? L.shape[d] : 1);
  for (const Tensor& t : in) params.push_back(reinterpret_cast<std::int64_t>(t.raw_data()));
  if (in.empty()) params.push_back(0);
  for (Tensor& t : out) params.push_back(reinterpret_cast<std::int64_t>(t.raw_data()));
  for (std::size_t k = 0; k < in.size(); ++k)
    if (L.access[k] == Access::strided)
      for (int d = 0; d < dims; ++d) params.push_back(L.strides[k][d]);
  fits = fits && params.size() * sizeof(std::int64_t) <= kMaxParamBytes;
  // Layouts past the kernel's reach (more than kMaxDims strided axes, parameters beyond
  // 4 KiB) are rare enough to take the CPU's path, which says so in telemetry.
  if (!fits) return run_on_cpu(Primitive::fused, in, out, attr);

  const Device device = out[0].device();
  cudaKernel_t kernel = cached_kernel(
      signature(f, in, out, L), [&] { return kernel_source(f, in, out, L); }, "emily_fused",
      device);
  const auto blocks =
      static_cast<unsigned>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65536));
  void* args[] = {params.data()};
  DependentLaunch launch(dim3(blocks), dim3(kThreads), 0, stream(s));
  check(cudaLaunchKernelExC(&launch.config, reinterpret_cast<const void*>(kernel), args), "fused",
        "cudaLaunchKernelExC");
}

}  // namespace

bool fusable_step(Primitive op, DType dtype, DType result) {
  const std::array<std::string, 3> names = {"a", "b", "c"};
  const int arity = info(op).arity;
  if (arity < 1 || arity > 3) return false;
  return expression(op, dtype, result, std::span(names.data(), arity)).has_value();
}

void register_fused(KernelTable& t) {
  t.set(Primitive::fused, fused_kernel);
}

}  // namespace emily::cuda
