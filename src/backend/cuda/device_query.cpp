// Device discovery for `emily doctor` and the default device. The CUDA kernels of the
// "CUDA backend" issue land beside this file.
#include <cuda_runtime.h>

#include <atomic>
#include <string>
#include <vector>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/sm_count.h"

namespace emily::cuda {

struct DeviceSummary {
  std::string name;
  int major = 0;
  int minor = 0;
  std::size_t memory_bytes = 0;
};

int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device);
    return n > 0 ? n : 132;
  }();
  return count;
}

bool dependent_launch_supported() {
  static const bool supported = [] {
    int device = 0, major = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    return major >= 9;
  }();
  return supported;
}

namespace {
std::atomic<bool> g_stream_ordered{false};
}

bool dependent_launches() {
  return dependent_launch_supported() && !g_stream_ordered.load(std::memory_order_relaxed);
}

StreamOrderedLaunches::StreamOrderedLaunches() : previous_(g_stream_ordered.exchange(true)) {}
StreamOrderedLaunches::~StreamOrderedLaunches() {
  g_stream_ordered.store(previous_);
}

bool warpgroup_mma_supported() {
  // Built for sm_90a: the kernels run on a 9.0 device only.
  static const bool supported = [] {
    int device = 0, major = 0, minor = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    return major == 9 && minor == 0;
  }();
  return supported;
}

int driver_version() {
  int v = 0;
  return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
}

int runtime_version() {
  int v = 0;
  return cudaRuntimeGetVersion(&v) == cudaSuccess ? v : 0;
}

std::vector<DeviceSummary> devices() {
  int n = 0;
  std::vector<DeviceSummary> out;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return out;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    out.push_back({p.name, p.major, p.minor, p.totalGlobalMem});
  }
  return out;
}

}  // namespace emily::cuda
