// Placeholder: the random kernels land here; until then those primitives take the CPU
// fallback.
#include "backend/cuda/kernels.h"

namespace emily::cuda {

void register_random(KernelTable&) {}

}  // namespace emily::cuda
