#include "backend/recording.h"

#include "emily/error.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/graph.h"
#include "backend/cuda/runtime.h"
#endif

namespace emily {

bool can_record(Device device) {
#ifdef EMILY_HAS_CUDA
  return device.type == Device::Type::cuda;
#else
  (void)device;
  return false;
#endif
}

void begin_recording(Stream s) {
#ifdef EMILY_HAS_CUDA
  if (s.device.type == Device::Type::cuda) return cuda::begin_capture(s);
#endif
  EMILY_THROW(Unsupported, "compile", "no recording of kernels on ", to_string(s.device));
}

std::unique_ptr<Recording> end_recording(Stream s, std::string& why) {
#ifdef EMILY_HAS_CUDA
  if (s.device.type == Device::Type::cuda) return cuda::end_capture(s, why);
#endif
  why = "no recording of kernels on ";
  why += to_string(s.device);
  return nullptr;
}

void copy_bytes(void* dst, const void* src, std::size_t bytes, Device device) {
  if (bytes == 0) return;
#ifdef EMILY_HAS_CUDA
  if (device.type == Device::Type::cuda) return cuda::copy(dst, device, src, device, bytes);
#endif
  EMILY_THROW(Unsupported, "compile", "no recorded copies on ", to_string(device));
}

}  // namespace emily
