// Device discovery for `emily doctor` and the default device. The CUDA kernels of the
// "CUDA backend" issue land beside this file.
#include <cuda_runtime.h>

#include <string>
#include <vector>

namespace emily::cuda {

struct DeviceSummary {
  std::string name;
  int major = 0;
  int minor = 0;
  std::size_t memory_bytes = 0;
};

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
