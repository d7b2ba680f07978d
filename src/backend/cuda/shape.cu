// Placeholder: the shape kernels land here; until then those primitives take the CPU
// fallback.
#include "backend/cuda/kernels.h"

namespace emily::cuda {

void register_shape(KernelTable&) {}

}  // namespace emily::cuda
