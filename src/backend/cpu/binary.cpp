// Binary elementwise kernels: both inputs arrive in the compute dtype, broadcast to the
// output's shape (stride-0 views where an input was smaller).
//
// One loop template, `run<SA, SB>`, serves every op; SA/SB are the operands' strides
// when known at compile time (1: dense, 0: a repeated value) and -1 when not. The
// dense and scalar cases run flat over the whole output (split across OpenMP threads
// when large); everything else goes through for_each_run, whose inner runs reuse the
// same specializations (a row bias hits <1, 1>, a column bias <1, 0>).
//
// Compile time: the loop skeleton is type-erased (function pointers to the four `run`
// specializations), ops that only move bits (wrapping +-*, bitwise ops, equality) run
// signed integers through the unsigned kernel of the same width, and greater/greater_equal
// reuse less/less_equal with swapped operands.
#include <omp.h>

#include <algorithm>
#include <type_traits>

#include "backend/cpu/elementwise_ops.h"
#include "backend/cpu/fused.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"

namespace emily::cpu {

namespace {

template <class Op, class T>
using binary_out_t = std::conditional_t<Op::to_bool, bool, T>;

// A run of n elements; operand strides in elements. Type-erased so that the loop
// skeleton below is compiled once, not once per op and dtype.
using RunFn = void (*)(const void* a, const void* b, void* o, std::int64_t n, std::int64_t sa,
                       std::int64_t sb);

template <class Op, class T, int SA, int SB>
void run(const void* va, const void* vb, void* vo, std::int64_t n, std::int64_t sa,
         std::int64_t sb) {
  using Out = binary_out_t<Op, T>;
  using C = detail::compute_t<T>;
  const T* __restrict a = static_cast<const T*>(va);
  const T* __restrict b = static_cast<const T*>(vb);
  Out* __restrict o = static_cast<Out*>(vo);
  const Op op;
  if constexpr (SA >= 0) sa = SA;
  if constexpr (SB >= 0) sb = SB;
  if constexpr (SA == 0 && SB != 0) {
    const C x = static_cast<C>(a[0]);
    for (std::int64_t i = 0; i < n; ++i)
      o[i] = detail::convert<Out>(op(x, static_cast<C>(b[i * sb])));
  } else if constexpr (SB == 0 && SA != 0) {
    const C y = static_cast<C>(b[0]);
    for (std::int64_t i = 0; i < n; ++i)
      o[i] = detail::convert<Out>(op(static_cast<C>(a[i * sa]), y));
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      o[i] = detail::convert<Out>(op(static_cast<C>(a[i * sa]), static_cast<C>(b[i * sb])));
  }
}

struct Runs {
  RunFn dense, a_repeated, b_repeated, strided;  // <1,1> <0,1> <1,0> <-1,-1>
  std::int64_t in_size, out_size;                // bytes per element
};

template <class Op, class T>
constexpr Runs runs_of() {
  return {run<Op, T, 1, 1>,
          run<Op, T, 0, 1>,
          run<Op, T, 1, 0>,
          run<Op, T, -1, -1>,
          static_cast<std::int64_t>(sizeof(T)),
          static_cast<std::int64_t>(sizeof(binary_out_t<Op, T>))};
}

void binary_loop(const Tensor& a, const Tensor& b, Tensor& y, const Runs& r) {
  const char* pa = static_cast<const char*>(a.raw_data());
  const char* pb = static_cast<const char*>(b.raw_data());
  char* po = static_cast<char*>(y.raw_data());
  const std::int64_t n = y.size(), is = r.in_size, os = r.out_size;
  // The flat cases: one contiguous slice per thread when large.
  RunFn flat = nullptr;
  std::int64_t sa = 1, sb = 1;
  const bool ca = a.is_contiguous(), cb = b.is_contiguous();
  if (ca && cb)
    flat = r.dense;
  else if (cb && is_repeated(a))
    flat = r.a_repeated, sa = 0;
  else if (ca && is_repeated(b))
    flat = r.b_repeated, sb = 0;
  if (flat) {
    if (n < 2 * kParallelGrain) {
      flat(pa, pb, po, n, sa, sb);
      return;
    }
#pragma omp parallel num_threads(::emily::cpu::threads())
    {
      const std::int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      // Slices are multiples of 64 elements so threads never share a cache line.
      const std::int64_t per = ((n + nt - 1) / nt + 63) / 64 * 64;
      const std::int64_t lo = std::min(n, t * per), hi = std::min(n, lo + per);
      if (lo < hi) flat(pa + lo * sa * is, pb + lo * sb * is, po + lo * os, hi - lo, sa, sb);
    }
    return;
  }
  for_each_run<3>(y.shape(), {&y.strides(), &a.strides(), &b.strides()},
                  [&](const auto& off, std::int64_t len, const auto& st) {
                    const char* ra = pa + off[1] * is;
                    const char* rb = pb + off[2] * is;
                    char* ro = po + off[0] * os;
                    RunFn f = r.strided;
                    if (st[1] == 1 && st[2] == 1)
                      f = r.dense;
                    else if (st[1] == 0 && st[2] == 1)
                      f = r.a_repeated;
                    else if (st[1] == 1 && st[2] == 0)
                      f = r.b_repeated;
                    f(ra, rb, ro, len, st[1], st[2]);
                  });
}

// One step of a fused chain (fused.h), through the same four run specializations.
template <class Op, class T, bool Swap>
void block(const void* const* args, const std::int64_t* strides, void* out, std::int64_t n) {
  const void* a = args[Swap ? 1 : 0];
  const void* b = args[Swap ? 0 : 1];
  const std::int64_t sa = strides[Swap ? 1 : 0], sb = strides[Swap ? 0 : 1];
  if (sa == 1 && sb == 1)
    run<Op, T, 1, 1>(a, b, out, n, 1, 1);
  else if (sa == 0 && sb == 1)
    run<Op, T, 0, 1>(a, b, out, n, 0, 1);
  else if (sa == 1 && sb == 0)
    run<Op, T, 1, 0>(a, b, out, n, 1, 0);
  else
    run<Op, T, -1, -1>(a, b, out, n, sa, sb);
}

template <class T>
using same_width_unsigned_t =
    std::conditional_t<std::is_same_v<T, bool>, std::uint8_t,
                       std::make_unsigned_t<std::conditional_t<std::is_same_v<T, bool>, int, T>>>;

// Swap: the kernel of greater(a, b) is less(b, a), so the ordering comparisons need only
// two instantiated functors.
template <class Op, bool Swap = false>
void binary_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor& a = Swap ? in[1] : in[0];
  const Tensor& b = Swap ? in[0] : in[1];
  const Runs r = visit_dtype(a.dtype(), [&]<class T>() -> Runs {
    if constexpr (!ew::accepts<Op, T>) {
      // The op layer never gets here; a direct dispatch (a compiled plan) might.
      EMILY_THROW(Unsupported, "binary", "no CPU kernel for dtype ", name(a.dtype()));
    } else if constexpr ((Op::by_width & ew::cls_of<T>) != 0) {
      // Same bits in, same bits out: run the unsigned type of T's width.
      using U = same_width_unsigned_t<T>;
      static_assert(ew::accepts<Op, U>);
      return runs_of<Op, U>();
    } else {
      return runs_of<Op, T>();
    }
  });
  binary_loop(a, b, out[0], r);
}

template <class Op, bool Swap = false>
void register_op(KernelTable& t, Primitive p) {
  t.set(p, binary_kernel<Op, Swap>);
  for (DType d : kAllDTypes) {
    visit_dtype(d, [&]<class T>() {
      if constexpr (ew::accepts<Op, T>) {
        constexpr DType result = dtype_v<binary_out_t<Op, T>>;
        if constexpr ((Op::by_width & ew::cls_of<T>) != 0)
          set_block(p, d, result, block<Op, same_width_unsigned_t<T>, Swap>);
        else
          set_block(p, d, result, block<Op, T, Swap>);
      }
    });
  }
}

}  // namespace

void register_binary(KernelTable& t) {
#define EMILY_REG(prim, ...) register_op<__VA_ARGS__>(t, Primitive::prim);
  EMILY_REG(add, ew::Add)
  EMILY_REG(subtract, ew::Subtract)
  EMILY_REG(multiply, ew::Multiply)
  EMILY_REG(divide, ew::Divide)
  EMILY_REG(pow, ew::Pow)
  EMILY_REG(atan2, ew::Atan2)
  EMILY_REG(remainder, ew::Remainder)
  EMILY_REG(quotient, ew::Quotient)
  EMILY_REG(maximum, ew::Maximum)
  EMILY_REG(minimum, ew::Minimum)
  EMILY_REG(bitwise_and, ew::BitwiseAnd)
  EMILY_REG(bitwise_or, ew::BitwiseOr)
  EMILY_REG(bitwise_xor, ew::BitwiseXor)
  EMILY_REG(left_shift, ew::LeftShift)
  EMILY_REG(right_shift, ew::RightShift)
  EMILY_REG(equal, ew::Equal)
  EMILY_REG(not_equal, ew::NotEqual)
  EMILY_REG(less, ew::Less)
  EMILY_REG(less_equal, ew::LessEqual)
  EMILY_REG(greater, ew::Less, true)
  EMILY_REG(greater_equal, ew::LessEqual, true)
  EMILY_REG(logical_and, ew::LogicalAnd)
  EMILY_REG(logical_or, ew::LogicalOr)
  EMILY_REG(logical_xor, ew::LogicalXor)
#undef EMILY_REG
}

}  // namespace emily::cpu
