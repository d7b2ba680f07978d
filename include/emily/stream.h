// Streams: a stream is a queue of work on one device. Every thread has a current
// stream; ops run on it, and tensors made from nothing (zeros, arange, tensor(...)) are
// made on its device. Until a thread sets one it is the default stream of the default
// device (default_device(), which set_default_device changes for such threads too).
// CPU streams execute on the calling thread, so CPU work is ordered by program order;
// CUDA streams queue kernels asynchronously.
#pragma once

#include <optional>

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

namespace detail {
// Sets this thread's stream (nullopt: follow the default device); returns the previous.
std::optional<Stream> exchange_current_stream(std::optional<Stream> s);
}  // namespace detail

// Switches the current stream of this thread for a scope. Restores the previous state
// exactly, "following the default device" included.
class StreamGuard {
 public:
  explicit StreamGuard(Stream s) : previous_(detail::exchange_current_stream(s)) {}
  ~StreamGuard() { detail::exchange_current_stream(previous_); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  std::optional<Stream> previous_;
};

template <class Fn>
decltype(auto) with_stream(Stream s, Fn&& fn) {
  StreamGuard guard(s);
  return fn();
}

}  // namespace emily
