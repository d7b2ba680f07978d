// Fused elementwise chains on CUDA: the `fused` kernel (fused.cpp) turns a FusedAttr
// program into CUDA C++ source and runs it as one kernel compiled with NVRTC
// (kernel_cache.h). This header is plain C++ so that the registry can ask what fuses
// without CUDA's headers.
#pragma once

#include "emily/dtype.h"
#include "emily/primitive.h"

namespace emily::cuda {

// Whether the generator has code for `op` computing on `dtype` into `result`: the one
// table behind both can_fuse on CUDA and the kernel's source.
bool fusable_step(Primitive op, DType dtype, DType result);

}  // namespace emily::cuda
