// Streams: a stream is a queue of work on one device. Every thread has a current
// stream (initially the default stream of the default device); ops run on it.
// CPU streams execute on the calling thread, so CPU work is ordered by program order;
// CUDA streams queue kernels asynchronously.
#pragma once

#include "emily/device.h"

namespace emily {

struct Stream {
  Device device;
  int index = 0;  // 0 is the device's default stream
  bool operator==(const Stream&) const = default;
};

Stream default_stream(Device d);
Stream new_stream(Device d);
Stream current_stream();
void set_current_stream(Stream s);
// Waits until all work queued on `s` has finished (a no-op for CPU streams).
void synchronize(Stream s);
void synchronize();  // the current stream

// Switches the current stream of this thread for a scope.
class StreamGuard {
 public:
  explicit StreamGuard(Stream s) : previous_(current_stream()) { set_current_stream(s); }
  ~StreamGuard() { set_current_stream(previous_); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

template <class Fn>
decltype(auto) with_stream(Stream s, Fn&& fn) {
  StreamGuard guard(s);
  return fn();
}

}  // namespace emily
