// Kernels compiled at run time: CUDA C++ source compiled with NVRTC for the device's
// architecture, loaded with the driver API, and kept in memory (per device) and on disk
// (EMILY_KERNEL_CACHE), keyed by the source, the target and NVRTC's version.
#pragma once

#include <cuda.h>

#include <string>

#include "emily/device.h"

namespace emily::cuda {

// The function `entry` (an extern "C" __global__) of `source`, compiled for `device`.
// The first request in a process reads the disk cache or runs NVRTC (the span
// "kernel_compile", metadata cache=disk|miss); later ones are a map lookup. Makes the
// device's primary context current on the calling thread, as launches need it.
CUfunction cached_kernel(const std::string& source, const char* entry, Device device);

// Raises Error("[op] what: <driver's message>") unless `status` is CUDA_SUCCESS.
void check_driver(CUresult status, const char* op, const char* what);

// The directory compiled kernels are stored in ("" = no disk cache). Starts as the
// EMILY_KERNEL_CACHE setting; tests point it at a scratch directory.
std::string kernel_cache_dir();
void set_kernel_cache_dir(const std::string& dir);

// Forgets the kernels loaded in this process, so the next request for each goes to the
// disk cache (or NVRTC) as in a fresh process. The modules stay loaded: recorded CUDA
// graphs may still launch their functions.
void forget_loaded_kernels();

}  // namespace emily::cuda
