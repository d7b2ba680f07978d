// Placeholder: the creation kernels land here; until then those primitives take the CPU
// fallback.
#include "backend/cuda/kernels.h"

namespace emily::cuda {

void register_creation(KernelTable&) {}

}  // namespace emily::cuda
