// The elementwise launch shared by elementwise.cu, unary*.cu and binary*.cu: an element
// function mapped over up to three operands into one output (Map), run by launch.cuh's
// grid-stride loop, or, when every operand is dense (row-major over the output, or one
// repeated value) and aligned, by a loop that moves up to 16 bytes per operand and
// thread at once. The vector width K comes from the widest input element, so each input
// load is one 16-byte access (two f64, four f32, eight f16, sixteen u8) and the output
// store is K elements wide.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cuda/device_types.cuh"
#include "backend/cuda/elementwise_ops.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace emily::cuda {

// K elements of T moved as one access (16 bytes at most per instruction).
template <class T, int K>
struct alignas(sizeof(T) * K < 16 ? sizeof(T) * K : 16) Vec {
  T v[K];
};

template <int K, class T>
__device__ Vec<T, K> load_vec(const T* p, std::int64_t i, bool repeated) {
  Vec<T, K> r;
  if (repeated) {
    const T x = p[0];
    for (int j = 0; j < K; ++j) r.v[j] = x;
  } else {
    r = *reinterpret_cast<const Vec<T, K>*>(p + i);
  }
  return r;
}

template <int K, class T>
bool vec_aligned(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % alignof(Vec<T, K>) == 0;
}

// y[i] = fn(a[.], b[.], c[.]) over the first N operands. Fn receives storage values and
// returns the output's storage value (Apply below does the load/compute/store).
template <int N, class Fn, class Out, class A, class B = A, class C = A>
struct Map {
  static constexpr int arity = N;
  static constexpr std::size_t widest = sizeof(A) > sizeof(B)
                                            ? (sizeof(A) > sizeof(C) ? sizeof(A) : sizeof(C))
                                            : (sizeof(B) > sizeof(C) ? sizeof(B) : sizeof(C));
  static constexpr int K = static_cast<int>(16 / widest);

  Fn fn;
  Out* y;
  const A* a;
  const B* b = nullptr;
  const C* c = nullptr;

  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[N]) const {
    if constexpr (N == 1)
      y[i] = fn(a[o[0]]);
    else if constexpr (N == 2)
      y[i] = fn(a[o[0]], b[o[1]]);
    else
      y[i] = fn(a[o[0]], b[o[1]], c[o[2]]);
  }

  // Elements [i, i + K) with every operand dense; bit k of `repeated` marks operand k as
  // one repeated value.
  __device__ void block(std::int64_t i, unsigned repeated) const {
    Vec<Out, K> r;
    const Vec<A, K> va = load_vec<K>(a, i, repeated & 1u);
    if constexpr (N == 1) {
      for (int j = 0; j < K; ++j) r.v[j] = fn(va.v[j]);
    } else if constexpr (N == 2) {
      const Vec<B, K> vb = load_vec<K>(b, i, repeated & 2u);
      for (int j = 0; j < K; ++j) r.v[j] = fn(va.v[j], vb.v[j]);
    } else {
      const Vec<B, K> vb = load_vec<K>(b, i, repeated & 2u);
      const Vec<C, K> vc = load_vec<K>(c, i, repeated & 4u);
      for (int j = 0; j < K; ++j) r.v[j] = fn(va.v[j], vb.v[j], vc.v[j]);
    }
    *reinterpret_cast<Vec<Out, K>*>(y + i) = r;
  }

  bool aligned(unsigned repeated) const {
    bool ok = vec_aligned<K>(y) && ((repeated & 1u) || vec_aligned<K>(a));
    if constexpr (N >= 2) ok = ok && ((repeated & 2u) || vec_aligned<K>(b));
    if constexpr (N >= 3) ok = ok && ((repeated & 4u) || vec_aligned<K>(c));
    return ok;
  }
};

// The dense loop: whole blocks of K, then the last n % K elements one per thread.
template <class F>
__global__ void for_each_dense(std::int64_t n, unsigned repeated, F f) {
  wait_for_previous_grid();  // launched dependent (launch_kernel): nothing is read before
  constexpr int K = F::K;
  const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t whole = n / K;
  for (std::int64_t v = t; v < whole; v += step) f.block(v * K, repeated);
  const std::int64_t i = whole * K + t;
  if (i < n) {
    std::int64_t off[F::arity];
    for (int k = 0; k < F::arity; ++k) off[k] = (repeated >> k) & 1u ? 0 : i;
    f(i, off);
  }
}

// Runs a Map over layout L (built over the output with make_layout).
template <class F>
void launch_map(const Layout<F::arity>& L, Stream s, const char* op, const F& f) {
  if (L.n == 0) return;
  if (L.dense) {
    unsigned repeated = 0;
    for (int k = 0; k < F::arity; ++k)
      if (L.ndim == 0 || L.strides[k][L.ndim - 1] == 0) repeated |= 1u << k;
    if (f.aligned(repeated)) {
      const std::int64_t work = (L.n + F::K - 1) / F::K;
      const std::int64_t blocks = std::min<std::int64_t>((work + kThreads - 1) / kThreads, 65536);
      launch_kernel(op, &for_each_dense<F>, blocks, stream(s), L.n, repeated, f);
      return;
    }
  }
  launch<F::arity>(L, s, op, f);
}

// ---- element functions --------------------------------------------------------------

// Loads each operand into its compute type, applies Op, rounds once into Out.
template <class Op, class Out>
struct Apply {
  template <class... X>
  __device__ Out operator()(X... x) const {
    return store<Out>(Op{}(load(x)...));
  }
};

// Fn with one operand bound to a value that travels as a kernel argument (a host scalar,
// `x * 0.5`): fn(x, v), or fn(v, x) when `first`.
template <class Fn, class V>
struct Bound {
  Fn fn;
  V v;
  bool first;
  template <class X>
  __device__ auto operator()(X x) const {
    return first ? fn(v, x) : fn(x, v);
  }
};

// The identity (astype through Apply, copy on raw words).
struct Identity {
  template <class X>
  __device__ X operator()(X x) const {
    return x;
  }
};

struct Select {
  template <class W>
  __device__ W operator()(bool c, W a, W b) const {
    return c ? a : b;
  }
};

// ---- kernels of the unary and binary families -----------------------------------------

// The type binary op Op runs dtype T in: the unsigned integer of T's width where Op is a
// function of the bits alone on T's class (Op::by_width), else T.
template <class T, bool ByWidth>
struct run_type {
  using type = T;
};
template <class T>
struct run_type<T, true> {
  using type =
      std::conditional_t<std::is_same_v<T, bool>, std::uint8_t,
                         std::make_unsigned_t<std::conditional_t<std::is_same_v<T, bool>, int, T>>>;
};
template <class Op, class T>
using run_type_t = typename run_type<T, (Op::by_width & ew::cls_of<T>) != 0>::type;

// The kernel of unary primitive P (a KernelTable entry as it stands).
template <Primitive P, class Op>
void unary_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  Layout<1> L;
  const bool ok = make_layout<1>(out[0], {&in[0]}, L);
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (ew::accepts<Op, T>) {
      if (ok) {
        using Out = ew::unary_out_t<Op, T>;
        Map<1, Apply<Op, Out>, Out, S<T>> m{
            {}, static_cast<Out*>(out[0].raw_data()), static_cast<const S<T>*>(in[0].raw_data())};
        launch_map(L, s, name(P).data(), m);
        return;
      }
    }
    // Beyond kMaxDims axes after merging, or a dtype the op never gets from the op layer
    // (a compiled plan could still dispatch one): the CPU kernel decides.
    run_on_cpu(P, in, out, attr);
  });
}

// Binary primitive P where operand `scalar` is a host scalar (a 0-d CPU tensor of the
// other operand's dtype, KernelTable::take_host_scalars): its value is read here and
// bound into the element function, so the launch is a unary map over `x`.
template <Primitive P, class Op>
void binary_host_scalar_kernel(const Tensor& x, const Tensor& scalar, bool scalar_first,
                               std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr,
                               Stream s) {
  Layout<1> L;
  const bool ok = make_layout<1>(out[0], {&x}, L);
  bool launched = false;
  visit_dtype(x.dtype(), [&]<class T0>() {
    if constexpr (ew::accepts<Op, T0>) {
      if (ok) {
        using T = run_type_t<Op, T0>;
        using Out = ew::binary_out_t<Op, T>;
        using Fn = Bound<Apply<Op, Out>, S<T>>;
        S<T> v;  // T0's bits as T (same width): what the two-operand kernel reads too
        std::memcpy(&v, scalar.raw_data(), sizeof v);
        Map<1, Fn, Out, S<T>> m{Fn{{}, v, scalar_first}, static_cast<Out*>(out[0].raw_data()),
                                static_cast<const S<T>*>(x.raw_data())};
        launch_map(L, s, name(P).data(), m);
        launched = true;
      }
    }
  });
  if (launched) return;
  // The CPU kernel takes operands of the output's shape: the scalar as a broadcast view.
  const Tensor wide = scalar.with_layout(scalar.dtype(), out[0].shape(),
                                         Strides(out[0].shape().size(), 0), scalar.offset());
  const Tensor both[2] = {scalar_first ? wide : in[0], scalar_first ? in[1] : wide};
  run_on_cpu(P, both, out, attr);
}

// Swap: greater(a, b) runs as less(b, a), so the ordering comparisons instantiate two
// functors, not four. HostScalars: the kernel also takes a host scalar operand, and is
// registered with KernelTable::take_host_scalars.
template <Primitive P, class Op, bool Swap = false, bool HostScalars = false>
void binary_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream s) {
  const Tensor& a = in[Swap ? 1 : 0];
  const Tensor& b = in[Swap ? 0 : 1];
  if constexpr (HostScalars) {
    static_assert(!Swap, "a host scalar kernel binds the operands in their order");
    if (a.device().type == Device::Type::cpu)
      return binary_host_scalar_kernel<P, Op>(b, a, true, in, out, attr, s);
    if (b.device().type == Device::Type::cpu)
      return binary_host_scalar_kernel<P, Op>(a, b, false, in, out, attr, s);
  }
  Layout<2> L;
  const bool ok = make_layout<2>(out[0], {&a, &b}, L);
  visit_dtype(a.dtype(), [&]<class T0>() {
    if constexpr (ew::accepts<Op, T0>) {
      if (ok) {
        // Same bits in, same bits out: signed integers (and bool) run the unsigned kernel.
        using T = run_type_t<Op, T0>;
        using Out = ew::binary_out_t<Op, T>;
        Map<2, Apply<Op, Out>, Out, S<T>> m{{},
                                            static_cast<Out*>(out[0].raw_data()),
                                            static_cast<const S<T>*>(a.raw_data()),
                                            static_cast<const S<T>*>(b.raw_data())};
        launch_map(L, s, name(P).data(), m);
        return;
      }
    }
    run_on_cpu(P, in, out, attr);
  });
}

// Registration of each file's kernels; register_elementwise calls them all.
void register_unary(KernelTable& t);        // unary.cu: arithmetic, bits, predicates, complex parts
void register_unary_math(KernelTable& t);   // unary_math.cu: transcendental functions
void register_binary(KernelTable& t);       // binary.cu: arithmetic and comparisons
void register_binary_bits(KernelTable& t);  // binary_bits.cu: integer and logical ops

}  // namespace emily::cuda
