// Programmatic dependent launch (Hopper): the second kernel of a pair that reads the first
// one's results on the same stream is launched while the first drains, and waits on the
// device, in wait_for_previous_grid(), until the first grid has finished and its writes
// are visible. The second kernel's launch latency then overlaps the first kernel's tail
// (0.5-2 us per decode attention call on an H100, bench/results/fast-quant.md). Before sm_90 both
// calls compile to nothing and launch_dependent launches normally, in stream order.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/runtime.h"

namespace emily::cuda {

// Called by the dependent kernel before it reads what the previous grid wrote.
__device__ inline void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Called by the first kernel once its blocks need no more SM time for loads: the dependent
// grid may be scheduled from then on (blocks that call nothing count at their exit).
__device__ inline void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// Whether the current device runs dependent launches (compute capability 9.0 and later);
// asked once per process, as Emily's kernels are built for one architecture family.
bool dependent_launch_supported();

// Launches `kernel` on `s` as dependent on the kernel before it on that stream. `op`
// names the caller in a launch error.
template <class... Params, class... Args>
void launch_dependent(const char* op, void (*kernel)(Params...), dim3 grid, dim3 block,
                      std::size_t shared, cudaStream_t s, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = s;
  cudaLaunchAttribute dependent[1];
  dependent[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  dependent[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = dependent;
  config.numAttrs = dependent_launch_supported() ? 1 : 0;
  check(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), op, "cudaLaunchKernelEx");
}

}  // namespace emily::cuda
