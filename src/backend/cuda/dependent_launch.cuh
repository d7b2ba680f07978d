// Programmatic dependent launch (Hopper): a kernel launched as dependent may be scheduled
// while the kernel before it on the stream drains, and waits on the device, in
// wait_for_previous_grid(), until that grid has finished and its writes are visible. Its
// launch latency then overlaps the previous kernel's tail: in a recorded CUDA graph of
// 1-element adds 0.88 against 1.08 us per node, and 4-5% more decode tokens per second
// for a 0.6B model (bench/results/llm.md, session 21).
//
// The rule that keeps it correct: a kernel launched as dependent calls
// wait_for_previous_grid() first, before any global read or write, in every block (so
// it cannot finish before the grid it follows, and what comes after it is ordered after
// both). Kernels that do are launched through launch_dependent or launch_kernel
// (launch.cuh): the elementwise family, GEMVs (dense and quantized), norms, rope, swiglu,
// decode attention, reductions, and fuse mode's generated kernels (fused.cpp). Every
// other kernel is launched in plain stream order.
// Before sm_90 both device calls compile to nothing and the launches are plain.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/runtime.h"

namespace emily::cuda {

// Called by the dependent kernel before it reads what the previous grid wrote. Once the
// previous grid is done it lets the next dependent grid be scheduled, so that grid's
// launch and block start overlap this grid's run rather than its last blocks' exit;
// those blocks then wait here in turn. Allowed only after the wait, so at most one grid
// waits ahead of the one running. (Qwen3-0.6B decode on an H100: 705 against 689 tok/s,
// bench/results/llm.md, session 23. Asking L2 for a GEMV's weights before its wait,
// tried with it, cost 3-4%.)
__device__ inline void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;");
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

// Whether kernels that wait for the previous grid are launched as dependent: supported
// and not turned off by a StreamOrderedLaunches in scope.
bool dependent_launches();

// While one is alive, every kernel is launched in plain stream order (the launch before
// dependent launches, for before/after benchmarks in one process).
class StreamOrderedLaunches {
 public:
  StreamOrderedLaunches();
  ~StreamOrderedLaunches();
  StreamOrderedLaunches(const StreamOrderedLaunches&) = delete;
  StreamOrderedLaunches& operator=(const StreamOrderedLaunches&) = delete;

 private:
  bool previous_;
};

// The launch attribute of a dependent launch: `attrs` for cudaLaunchConfig_t, and how many
// of them apply (0 where dependent launches are off).
inline unsigned dependent_attribute(cudaLaunchAttribute& attr) {
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  return dependent_launches() ? 1 : 0;
}

// The configuration of a dependent launch, with its attribute beside it (`config.attrs`
// points into the object, hence no copies).
struct DependentLaunch {
  DependentLaunch(dim3 grid, dim3 block, std::size_t shared, cudaStream_t s) {
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared;
    config.stream = s;
    config.numAttrs = dependent_attribute(attribute);
    config.attrs = &attribute;
  }
  DependentLaunch(const DependentLaunch&) = delete;
  DependentLaunch& operator=(const DependentLaunch&) = delete;

  cudaLaunchConfig_t config = {};
  cudaLaunchAttribute attribute;
};

// Launches `kernel` on `s` as dependent on the kernel before it on that stream. `op`
// names the caller in a launch error.
template <class... Params, class... Args>
void launch_dependent(const char* op, void (*kernel)(Params...), dim3 grid, dim3 block,
                      std::size_t shared, cudaStream_t s, Args&&... args) {
  DependentLaunch launch(grid, block, shared, s);
  check(cudaLaunchKernelEx(&launch.config, kernel, std::forward<Args>(args)...), op,
        "cudaLaunchKernelEx");
}

}  // namespace emily::cuda
