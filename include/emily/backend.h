// The seam between the op layer and the backends. A kernel receives inputs that the
// op layer validated and outputs it allocated (row-major, on the kernel's device);
// it never checks shapes and never allocates its outputs.
#pragma once

#include <array>
#include <span>

#include "emily/device.h"
#include "emily/primitive.h"
#include "emily/stream.h"
#include "emily/tensor.h"

namespace emily {

using Kernel = void (*)(std::span<const Tensor> inputs, std::span<Tensor> outputs, const Attr& attr,
                        Stream stream);
// Whether a kernel takes these operands. Only a primitive with a decomposition (the `fast`
// family) may register one: its op function asks before dispatching and runs the
// decomposition where the kernel declines, so a backend can cover the common cases of
// such a primitive (say, attention on tensor cores for two head sizes) without a slow
// path for every other case. The dispatcher itself never asks.
using KernelAccepts = bool (*)(std::span<const Tensor> inputs, const Attr& attr);

class KernelTable {
 public:
  void set(Primitive p, Kernel k, KernelAccepts accepts = nullptr) {
    kernels_[static_cast<std::size_t>(p)] = k;
    accepts_[static_cast<std::size_t>(p)] = accepts;
  }
  Kernel get(Primitive p) const { return kernels_[static_cast<std::size_t>(p)]; }
  bool has(Primitive p) const { return get(p) != nullptr; }
  // Whether `p`'s kernel on a GPU also takes a host scalar: a 0-d CPU tensor among its
  // inputs (a C++ number of the op layer, `x * 0.5`), which it passes to the device as a
  // kernel argument instead of reading an uploaded copy. The op layer hands one only to
  // a kernel that says so here (detail::dispatch_with_host_scalar).
  void take_host_scalars(Primitive p) { host_scalars_[static_cast<std::size_t>(p)] = true; }
  bool takes_host_scalars(Primitive p) const {
    return host_scalars_[static_cast<std::size_t>(p)] && has(p);
  }
  // A kernel for `p` that takes these operands (every kernel registered without a test).
  bool accepts(Primitive p, std::span<const Tensor> inputs, const Attr& attr) const {
    const KernelAccepts test = accepts_[static_cast<std::size_t>(p)];
    return has(p) && (test == nullptr || test(inputs, attr));
  }

 private:
  std::array<Kernel, kNumPrimitives> kernels_{};
  std::array<KernelAccepts, kNumPrimitives> accepts_{};
  std::array<bool, kNumPrimitives> host_scalars_{};
};

// The kernels of a device type's backend (empty for CUDA in a build without it).
const KernelTable& kernels(Device::Type type);

// Whether `type`'s backend can run `op`, computing on `operand` to produce `result`, as
// one step of a fused elementwise node (the compiler's fuse pass asks).
bool can_fuse(Device::Type type, Primitive op, DType operand, DType result);

enum class KernelStatus { native, composite, fallback, missing };
std::string_view to_string(KernelStatus s);

}  // namespace emily
