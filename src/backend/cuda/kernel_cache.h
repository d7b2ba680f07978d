// Kernels compiled at run time: CUDA C++ source compiled with NVRTC for the device's
// architecture, loaded as a runtime-API library (cudaLibraryLoadData: no libcuda link,
// so a CUDA build still starts on a machine without a driver), and kept in memory (per
// device) and on disk (EMILY_KERNEL_CACHE), keyed by the source, the target and NVRTC's
// version. Launch a kernel with cudaLaunchKernel, passing it as the function pointer.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <string>

#include "emily/device.h"

namespace emily::cuda {

// The kernel `entry` (an extern "C" __global__) of `source`, compiled for `device` and
// loaded on it. The first request in a process reads the disk cache or runs NVRTC (the
// span "kernel_compile", metadata cache=disk|miss); later ones are a map lookup.
cudaKernel_t cached_kernel(const std::string& source, const char* entry, Device device);

// The same, looked up first by `signature`, a short key that determines the source:
// generating the source anew at every launch would cost more than the launch.
cudaKernel_t cached_kernel(const std::string& signature, const std::function<std::string()>& source,
                           const char* entry, Device device);

// The directory compiled kernels are stored in ("" = no disk cache). Starts as the
// EMILY_KERNEL_CACHE setting; tests point it at a scratch directory.
std::string kernel_cache_dir();
void set_kernel_cache_dir(const std::string& dir);

// Forgets the kernels loaded in this process, so the next request for each goes to the
// disk cache (or NVRTC) as in a fresh process. The modules stay loaded: recorded CUDA
// graphs may still launch their functions.
void forget_loaded_kernels();

}  // namespace emily::cuda
