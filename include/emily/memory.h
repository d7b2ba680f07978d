// Device memory: buffers, the caching allocator and its statistics.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "emily/stream.h"

namespace emily {

// A block of device memory. Released to its allocator (or to the owner's deleter for
// zero-copy buffers) when the last Tensor referring to it goes away.
//
// stream() is the stream the buffer was allocated on. Eager ops allocate their outputs
// on the stream their kernel runs on, so it is also the stream whose work writes the
// bytes: a copy to the host waits for it alone, not for the whole device.
class Buffer {
 public:
  using Deleter = std::function<void(void*)>;
  Buffer(void* data, std::size_t bytes, Device device, Deleter deleter, int stream_index = 0)
      : data_(data),
        bytes_(bytes),
        device_(device),
        stream_index_(stream_index),
        deleter_(std::move(deleter)) {}
  ~Buffer() {
    if (deleter_) deleter_(data_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  Stream stream() const { return Stream{device_, stream_index_}; }

 private:
  void* data_;
  std::size_t bytes_;
  Device device_;
  int stream_index_;
  Deleter deleter_;
};

// Allocates `bytes` on `device` through its caching allocator. A request over the
// memory limit raises OutOfMemory (after trying to free the cache).
std::shared_ptr<Buffer> allocate(std::size_t bytes, Device device);

struct MemoryInfo {
  std::size_t active = 0;  // bytes held by live buffers
  std::size_t peak = 0;    // high-water mark of active since start or reset_peak_memory
  std::size_t cache = 0;   // bytes freed by tensors and kept for reuse
  std::size_t limit = 0;   // set_memory_limit; 0 means none
  std::size_t cache_limit = 0;
};

MemoryInfo memory_info(Device device = Device::cpu());
void reset_peak_memory(Device device = Device::cpu());
void clear_cache(Device device = Device::cpu());
// Caps the bytes kept in the cache; returns the previous limit.
std::size_t set_cache_limit(std::size_t bytes, Device device = Device::cpu());
// Caps active bytes; 0 removes the cap. Returns the previous limit.
std::size_t set_memory_limit(std::size_t bytes, Device device = Device::cpu());

}  // namespace emily
