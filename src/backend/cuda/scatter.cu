// Placeholder: the scatter kernels land here; until then those primitives take the CPU
// fallback.
#include "backend/cuda/kernels.h"

namespace emily::cuda {

void register_scatter(KernelTable&) {}

}  // namespace emily::cuda
