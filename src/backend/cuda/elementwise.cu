// Elementwise CUDA kernels that move or convert elements: copy, astype, where; and
// register_elementwise, which also registers the unary and binary families (unary*.cu,
// binary*.cu). All of them run through elementwise.cuh's launch: dense operands move 16
// bytes per access, strided ones go through launch.cuh's index arithmetic. Conversions
// follow detail::convert on the CPU: f16/bf16 round once, floats saturate into integers
// (NaN -> 0), complex converts its real part, and real values become complex with a zero
// imaginary part.

#include "backend/cuda/elementwise.cuh"
#include "backend/cuda/runtime.h"
#include "emily/tensor.h"

namespace emily::cuda {

namespace {

void copy_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
  Layout<1> L;
  if (!make_layout<1>(out[0], {&in[0]}, L)) return run_on_cpu(Primitive::copy, in, out, a);
  visit_word(in[0].itemsize(), [&]<std::size_t W>() {
    using M = Map<1, Identity, Word<W>, Word<W>>;
    launch_map(L, s, "copy",
               M{{},
                 static_cast<Word<W>*>(out[0].raw_data()),
                 static_cast<const Word<W>*>(in[0].raw_data())});
  });
}

void astype_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
  Layout<1> L;
  if (!make_layout<1>(out[0], {&in[0]}, L)) return run_on_cpu(Primitive::astype, in, out, a);
  visit_dtype(in[0].dtype(), [&]<class From>() {
    visit_dtype(out[0].dtype(), [&]<class To>() {
      using M = Map<1, Apply<Identity, S<To>>, S<To>, S<From>>;
      launch_map(L, s, "astype",
                 M{{},
                   static_cast<S<To>*>(out[0].raw_data()),
                   static_cast<const S<From>*>(in[0].raw_data())});
    });
  });
}

void where_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& a, Stream s) {
  Layout<3> L;
  if (!make_layout<3>(out[0], {&in[0], &in[1], &in[2]}, L))
    return run_on_cpu(Primitive::where, in, out, a);
  visit_word(out[0].itemsize(), [&]<std::size_t W>() {
    using M = Map<3, Select, Word<W>, bool, Word<W>, Word<W>>;
    launch_map(L, s, "where",
               M{{},
                 static_cast<Word<W>*>(out[0].raw_data()),
                 static_cast<const bool*>(in[0].raw_data()),
                 static_cast<const Word<W>*>(in[1].raw_data()),
                 static_cast<const Word<W>*>(in[2].raw_data())});
  });
}

}  // namespace

void register_elementwise(KernelTable& t) {
  t.set(Primitive::copy, copy_kernel);
  t.set(Primitive::astype, astype_kernel);
  t.set(Primitive::where, where_kernel);
  register_unary(t);
  register_unary_math(t);
  register_binary(t);
  register_binary_bits(t);
}

}  // namespace emily::cuda
