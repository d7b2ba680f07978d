// Devices: the CPU and CUDA GPUs by index.
#pragma once

#include <string>

namespace emily {

struct Device {
  enum class Type : unsigned char { cpu, cuda };
  Type type = Type::cpu;
  int index = 0;

  static Device cpu() { return {Type::cpu, 0}; }
  static Device cuda(int index = 0) { return {Type::cuda, index}; }
  bool operator==(const Device&) const = default;
};

std::string to_string(Device d);               // "cpu", "cuda:0"
Device parse_device(const std::string& text);  // "cpu", "cuda", "cuda:1"; DeviceError otherwise
bool is_available(Device d);
int cuda_device_count();  // 0 in a build without CUDA

// EMILY_DEVICE when set (DeviceError when that device is not available), else the CPU,
// also on a machine with a GPU: a program chooses the GPU with EMILY_DEVICE=cuda,
// set_default_device(Device::cuda()) or a StreamGuard on a GPU stream. Threads that have
// not set a stream of their own work on the default device's default stream.
Device default_device();
void set_default_device(Device d);

}  // namespace emily
