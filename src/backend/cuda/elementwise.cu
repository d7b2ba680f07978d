// Elementwise CUDA kernels: copy, astype, where, and the core arithmetic, comparison and
// transcendental primitives. One launch mechanism serves them all: a grid-stride loop
// over the output, reading each operand dense, as one repeated value, or through its
// strides (up to kMaxDims axes after merging). f16/bf16 compute in float and round once
// on store (as the CPU kernels do); integers wrap. Dtypes a functor does not cover
// (complex, mostly) run through run_on_cpu until their kernels land.

#include <array>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/runtime.h"
#include "emily/tensor.h"

namespace emily::cuda {

namespace {

// ---- functors ---------------------------------------------------------------------------
// `floats`/`ints`/`bools`: the dtype classes each accepts. Semantics follow the CPU
// functors of backend/cpu/elementwise_ops.h (NumPy's).
#define EMILY_CLASSES(F, I, B)      \
  static constexpr bool floats = F; \
  static constexpr bool ints = I;   \
  static constexpr bool bools = B;

struct Add {
  EMILY_CLASSES(true, true, true)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_same_v<C, bool>)
      return a || b;
    else if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(a) + wrap_t<C>(b));
    else
      return a + b;
  }
};
struct Subtract {
  EMILY_CLASSES(true, true, false)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(a) - wrap_t<C>(b));
    else
      return a - b;
  }
};
struct Multiply {
  EMILY_CLASSES(true, true, true)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_same_v<C, bool>)
      return a && b;
    else if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(a) * wrap_t<C>(b));
    else
      return a * b;
  }
};
struct Divide {
  EMILY_CLASSES(true, false, false)
  template <class C>
  __device__ C operator()(C a, C b) const {
    return a / b;
  }
};
// NaN propagates; on ties the second operand wins.
struct Maximum {
  EMILY_CLASSES(true, true, true)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>)
      return (a > b || isnan(a)) ? a : b;
    else
      return a > b ? a : b;
  }
};
struct Minimum {
  EMILY_CLASSES(true, true, true)
  template <class C>
  __device__ C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>)
      return (a < b || isnan(a)) ? a : b;
    else
      return a < b ? a : b;
  }
};
#define EMILY_COMPARE(Name, expr)                \
  struct Name {                                  \
    EMILY_CLASSES(true, true, true)              \
    static constexpr bool to_bool = true;        \
    template <class C>                           \
    __device__ bool operator()(C a, C b) const { \
      return expr;                               \
    }                                            \
  };
EMILY_COMPARE(Equal, a == b)
EMILY_COMPARE(NotEqual, a != b)
EMILY_COMPARE(Less, a < b)
EMILY_COMPARE(LessEqual, a <= b)
EMILY_COMPARE(Greater, a > b)
EMILY_COMPARE(GreaterEqual, a >= b)
#undef EMILY_COMPARE

template <class Op>
constexpr bool to_bool() {
  if constexpr (requires { Op::to_bool; })
    return Op::to_bool;
  else
    return false;
}

struct Negate {
  EMILY_CLASSES(true, true, false)
  template <class C>
  __device__ C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(wrap_t<C>(0) - wrap_t<C>(x));
    else
      return -x;
  }
};
struct Abs {
  EMILY_CLASSES(true, true, false)
  template <class C>
  __device__ C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (std::is_integral_v<C>)
      return x < 0 ? static_cast<C>(wrap_t<C>(0) - wrap_t<C>(x)) : x;
    else
      return fabs(x);
  }
};
#define EMILY_FLOAT_FN(Name, expr)       \
  struct Name {                          \
    EMILY_CLASSES(true, false, false)    \
    template <class C>                   \
    __device__ C operator()(C x) const { \
      return expr;                       \
    }                                    \
  };
EMILY_FLOAT_FN(Exp, exp(x))
EMILY_FLOAT_FN(Log, log(x))
EMILY_FLOAT_FN(Sqrt, sqrt(x))
EMILY_FLOAT_FN(Rsqrt, C(1) / sqrt(x))
EMILY_FLOAT_FN(Sin, sin(x))
EMILY_FLOAT_FN(Cos, cos(x))
EMILY_FLOAT_FN(Tanh, tanh(x))
EMILY_FLOAT_FN(Sigmoid, x >= C(0) ? C(1) / (C(1) + exp(-x)) : exp(x) / (C(1) + exp(x)))
EMILY_FLOAT_FN(Floor, floor(x))
EMILY_FLOAT_FN(Ceil, ceil(x))
#undef EMILY_FLOAT_FN

template <class Op, class T>
constexpr bool accepts() {
  if constexpr (std::is_same_v<T, bool>)
    return Op::bools;
  else if constexpr (std::is_integral_v<T>)
    return Op::ints;
  else if constexpr (std::is_same_v<T, c64>)
    return false;  // complex: CPU until its kernels land
  else
    return Op::floats;
}

// What one output element does (device lambdas cannot live in the host's generic
// lambdas that pick the dtype, so each step is a small functor).
template <class Op, class In, class Out>
struct UnaryStep {
  const In* x;
  Out* y;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[1]) const {
    y[i] = store<Out>(Op{}(load(x[o[0]])));
  }
};
template <class Op, class In, class Out>
struct BinaryStep {
  const In* a;
  const In* b;
  Out* y;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[2]) const {
    y[i] = store<Out>(Op{}(load(a[o[0]]), load(b[o[1]])));
  }
};
template <class In, class Out>
struct CastStep {
  const In* x;
  Out* y;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[1]) const {
    y[i] = store<Out>(load(x[o[0]]));
  }
};
template <class W>
struct CopyStep {
  const W* x;
  W* y;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[1]) const { y[i] = x[o[0]]; }
};
template <class W>
struct WhereStep {
  const bool* c;
  const W* a;
  const W* b;
  W* y;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[3]) const {
    y[i] = c[o[0]] ? a[o[1]] : b[o[2]];
  }
};

// ---- kernels ----------------------------------------------------------------------------

template <class Op>
void unary_kernel(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& a,
                  Stream s) {
  Layout<1> L;
  bool ok = make_layout<1>(out[0], {&in[0]}, L);
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (accepts<Op, T>()) {
      if (ok) {
        const S<T>* x = static_cast<const S<T>*>(in[0].raw_data());
        S<T>* y = static_cast<S<T>*>(out[0].raw_data());
        launch<1>(L, s, "unary", UnaryStep<Op, S<T>, S<T>>{x, y});
        return;
      }
    }
    run_on_cpu(p, in, out, a);
  });
}

template <class Op>
void binary_kernel(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& a,
                   Stream s) {
  Layout<2> L;
  bool ok = make_layout<2>(out[0], {&in[0], &in[1]}, L);
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (accepts<Op, T>()) {
      if (ok) {
        using Out = std::conditional_t<to_bool<Op>(), bool, S<T>>;
        const S<T>* x = static_cast<const S<T>*>(in[0].raw_data());
        const S<T>* z = static_cast<const S<T>*>(in[1].raw_data());
        Out* y = static_cast<Out*>(out[0].raw_data());
        launch<2>(L, s, "binary", BinaryStep<Op, S<T>, Out>{x, z, y});
        return;
      }
    }
    run_on_cpu(p, in, out, a);
  });
}

void copy_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
  Layout<1> L;
  if (!make_layout<1>(out[0], {&in[0]}, L)) return run_on_cpu(Primitive::copy, in, out, a);
  auto run = [&]<std::size_t W>() {
    const Word<W>* x = static_cast<const Word<W>*>(in[0].raw_data());
    Word<W>* y = static_cast<Word<W>*>(out[0].raw_data());
    launch<1>(L, s, "copy", CopyStep<Word<W>>{x, y});
  };
  visit_word(in[0].itemsize(), run);
}

template <class T>
constexpr bool on_gpu = !std::is_same_v<T, c64>;

void astype_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
  Layout<1> L;
  const bool ok = make_layout<1>(out[0], {&in[0]}, L);
  bool done = false;
  visit_dtype(in[0].dtype(), [&]<class From>() {
    visit_dtype(out[0].dtype(), [&]<class To>() {
      if constexpr (on_gpu<From> && on_gpu<To>) {
        if (!ok) return;
        const S<From>* x = static_cast<const S<From>*>(in[0].raw_data());
        S<To>* y = static_cast<S<To>*>(out[0].raw_data());
        launch<1>(L, s, "astype", CastStep<S<From>, S<To>>{x, y});
        done = true;
      }
    });
  });
  if (!done) run_on_cpu(Primitive::astype, in, out, a);
}

void where_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
  Layout<3> L;
  if (!make_layout<3>(out[0], {&in[0], &in[1], &in[2]}, L))
    return run_on_cpu(Primitive::where, in, out, a);
  auto run = [&]<std::size_t W>() {
    const bool* c = static_cast<const bool*>(in[0].raw_data());
    const Word<W>* x = static_cast<const Word<W>*>(in[1].raw_data());
    const Word<W>* z = static_cast<const Word<W>*>(in[2].raw_data());
    Word<W>* y = static_cast<Word<W>*>(out[0].raw_data());
    launch<3>(L, s, "where", WhereStep<Word<W>>{c, x, z, y});
  };
  visit_word(out[0].itemsize(), run);
}

}  // namespace

void register_elementwise(KernelTable& t) {
  t.set(Primitive::copy, copy_kernel);
  t.set(Primitive::astype, astype_kernel);
  t.set(Primitive::where, where_kernel);
#define EMILY_UNARY(prim, Op)                                                                 \
  t.set(Primitive::prim, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, \
                            Stream s) { unary_kernel<Op>(Primitive::prim, in, out, a, s); });
#define EMILY_BINARY(prim, Op)                                                                \
  t.set(Primitive::prim, [](std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, \
                            Stream s) { binary_kernel<Op>(Primitive::prim, in, out, a, s); });
  EMILY_UNARY(negate, Negate)
  EMILY_UNARY(abs, Abs)
  EMILY_UNARY(exp, Exp)
  EMILY_UNARY(log, Log)
  EMILY_UNARY(sqrt, Sqrt)
  EMILY_UNARY(rsqrt, Rsqrt)
  EMILY_UNARY(sin, Sin)
  EMILY_UNARY(cos, Cos)
  EMILY_UNARY(tanh, Tanh)
  EMILY_UNARY(sigmoid, Sigmoid)
  EMILY_UNARY(floor, Floor)
  EMILY_UNARY(ceil, Ceil)
  EMILY_BINARY(add, Add)
  EMILY_BINARY(subtract, Subtract)
  EMILY_BINARY(multiply, Multiply)
  EMILY_BINARY(divide, Divide)
  EMILY_BINARY(maximum, Maximum)
  EMILY_BINARY(minimum, Minimum)
  EMILY_BINARY(equal, Equal)
  EMILY_BINARY(not_equal, NotEqual)
  EMILY_BINARY(less, Less)
  EMILY_BINARY(less_equal, LessEqual)
  EMILY_BINARY(greater, Greater)
  EMILY_BINARY(greater_equal, GreaterEqual)
#undef EMILY_UNARY
#undef EMILY_BINARY
}

}  // namespace emily::cuda
