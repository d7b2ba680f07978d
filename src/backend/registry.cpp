#include "backend/cpu/fused.h"
#include "backend/cpu/kernels.h"
#include "emily/backend.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/fused.h"
#include "backend/cuda/kernels.h"
#endif

namespace emily {

const KernelTable& kernels(Device::Type type) {
  static const KernelTable cpu = [] {
    KernelTable t;
    cpu::register_all(t);
    return t;
  }();
  // Primitives the CUDA table lacks run on the CPU through the dispatcher's fallback.
  static const KernelTable cuda = [] {
    KernelTable t;
#ifdef EMILY_HAS_CUDA
    cuda::register_all(t);
#endif
    return t;
  }();
  return type == Device::Type::cpu ? cpu : cuda;
}

bool can_fuse(Device::Type type, Primitive op, DType operand, DType result) {
  if (type != Device::Type::cpu) {
#ifdef EMILY_HAS_CUDA
    return type == Device::Type::cuda && cuda::fusable_step(op, operand, result);
#else
    return false;
#endif
  }
  (void)kernels(type);  // the block functions are registered with the kernels
  return cpu::find_block(op, operand, result) != nullptr;
}

std::string_view to_string(KernelStatus s) {
  switch (s) {
    case KernelStatus::native:
      return "native";
    case KernelStatus::composite:
      return "composite";
    case KernelStatus::fallback:
      return "fallback";
    case KernelStatus::missing:
      return "missing";
  }
  return "missing";
}

}  // namespace emily
