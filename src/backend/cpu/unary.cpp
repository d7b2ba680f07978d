// Unary elementwise kernels: one loop template over the functors of elementwise_ops.h.
// The op layer has already converted the input to the dtype the functor computes in
// (bool/integers to f32 for float functions) and chosen the output dtype.
#include <string>

#include "backend/cpu/elementwise_ops.h"
#include "backend/cpu/fused.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"

namespace emily::cpu {

namespace {

// A run of n elements, input stride sx (elements). Type-erased so that the loop skeleton
// below is compiled once, not once per op and dtype.
using RunFn = void (*)(const void* x, void* y, std::int64_t n, std::int64_t sx);

template <class Op, class T, bool Dense>
void run(const void* vx, void* vy, std::int64_t n, std::int64_t sx) {
  using Out = ew::unary_out_t<Op, T>;
  using C = detail::compute_t<T>;
  const T* __restrict x = static_cast<const T*>(vx);
  Out* __restrict y = static_cast<Out*>(vy);
  const Op op;
  if constexpr (Dense) sx = 1;  // a compile-time stride, so the loop vectorizes
  for (std::int64_t i = 0; i < n; ++i) y[i] = detail::convert<Out>(op(static_cast<C>(x[i * sx])));
}

struct Runs {
  RunFn dense, strided;
  std::int64_t in_size, out_size;  // bytes per element
};

void unary_loop(const Tensor& x, Tensor& y, const Runs& r) {
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  // Small dense tensors skip the strided skeleton (axis merging allocates): for them the
  // loop setup costs more than the loop.
  if (y.size() < kParallelGrain && x.is_contiguous()) {
    r.dense(px, py, y.size(), 1);
    return;
  }
  for_each_run<2>(y.shape(), {&y.strides(), &x.strides()},
                  [&](const auto& off, std::int64_t n, const auto& st) {
                    (st[1] == 1 ? r.dense : r.strided)(px + off[1] * r.in_size,
                                                       py + off[0] * r.out_size, n, st[1]);
                  });
}

template <class Op>
void unary_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  visit_dtype(in[0].dtype(), [&]<class T>() {
    if constexpr (ew::accepts<Op, T>) {
      using Out = ew::unary_out_t<Op, T>;
      unary_loop(in[0], out[0], Runs{run<Op, T, true>, run<Op, T, false>, sizeof(T), sizeof(Out)});
    } else {
      // The op layer never gets here; a direct dispatch (a compiled plan) might.
      EMILY_THROW(Unsupported, "unary", "no CPU kernel for dtype ", name(in[0].dtype()));
    }
  });
}

// One step of a fused chain (fused.h): the same run loops as the kernel.
template <class Op, class T>
void block(const void* const* args, const std::int64_t* strides, void* out, std::int64_t n) {
  if (strides[0] == 1)
    run<Op, T, true>(args[0], out, n, 1);
  else
    run<Op, T, false>(args[0], out, n, strides[0]);
}

template <class Op>
void register_op(KernelTable& t, Primitive p) {
  t.set(p, unary_kernel<Op>);
  for (DType d : kAllDTypes) {
    visit_dtype(d, [&]<class T>() {
      if constexpr (ew::accepts<Op, T>)
        set_block(p, d, dtype_v<ew::unary_out_t<Op, T>>, block<Op, T>);
    });
  }
}

}  // namespace

void register_unary(KernelTable& t) {
#define EMILY_REG(prim, Op) register_op<ew::Op>(t, Primitive::prim);
  EMILY_REG(abs, Abs)
  EMILY_REG(acos, Acos)
  EMILY_REG(acosh, Acosh)
  EMILY_REG(asin, Asin)
  EMILY_REG(asinh, Asinh)
  EMILY_REG(atan, Atan)
  EMILY_REG(atanh, Atanh)
  EMILY_REG(bitwise_not, BitwiseNot)
  EMILY_REG(ceil, Ceil)
  EMILY_REG(conjugate, Conjugate)
  EMILY_REG(cos, Cos)
  EMILY_REG(cosh, Cosh)
  EMILY_REG(erf, Erf)
  EMILY_REG(erf_inv, ErfInv)
  EMILY_REG(exp, Exp)
  EMILY_REG(expm1, Expm1)
  EMILY_REG(floor, Floor)
  EMILY_REG(imag, Imag)
  EMILY_REG(is_infinity, IsInfinity)
  EMILY_REG(is_nan, IsNan)
  EMILY_REG(log, Log)
  EMILY_REG(log1p, Log1p)
  EMILY_REG(logical_not, LogicalNot)
  EMILY_REG(negate, Negate)
  EMILY_REG(real, Real)
  EMILY_REG(round, Round)
  EMILY_REG(rsqrt, Rsqrt)
  EMILY_REG(sigmoid, Sigmoid)
  EMILY_REG(sign, Sign)
  EMILY_REG(sin, Sin)
  EMILY_REG(sinh, Sinh)
  EMILY_REG(sqrt, Sqrt)
  EMILY_REG(tan, Tan)
  EMILY_REG(tanh, Tanh)
#undef EMILY_REG
}

}  // namespace emily::cpu
