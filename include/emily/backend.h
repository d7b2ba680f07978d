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

class KernelTable {
 public:
  void set(Primitive p, Kernel k) { kernels_[static_cast<std::size_t>(p)] = k; }
  Kernel get(Primitive p) const { return kernels_[static_cast<std::size_t>(p)]; }
  bool has(Primitive p) const { return get(p) != nullptr; }

 private:
  std::array<Kernel, kNumPrimitives> kernels_{};
};

// The kernels of a device type's backend (empty for CUDA in a build without it).
const KernelTable& kernels(Device::Type type);

// Whether `type`'s backend can run `op`, computing on `operand` to produce `result`, as
// one step of a fused elementwise node (the compiler's fuse pass asks).
bool can_fuse(Device::Type type, Primitive op, DType operand, DType result);

enum class KernelStatus { native, composite, fallback, missing };
std::string_view to_string(KernelStatus s);

}  // namespace emily
