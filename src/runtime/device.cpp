#include "emily/device.h"

#include <atomic>
#include <mutex>
#include <optional>

#include "emily/config.h"
#include "emily/error.h"
#include "emily/stream.h"

#ifdef EMILY_HAS_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/runtime.h"
#endif

namespace emily {

std::string to_string(Device d) {
  if (d.type == Device::Type::cpu) return "cpu";
  return "cuda:" + std::to_string(d.index);
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda" || text == "gpu") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() < 10) {
    int index = 0;
    for (char c : text.substr(5)) {
      if (c < '0' || c > '9') EMILY_THROW(DeviceError, "device", "cannot parse '", text, "'");
      index = index * 10 + (c - '0');
    }
    return Device::cuda(index);
  }
  EMILY_THROW(DeviceError, "device", "cannot parse '", text, "' (expected cpu, cuda or cuda:N)");
}

int cuda_device_count() {
#ifdef EMILY_HAS_CUDA
  static const int n = [] {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
  }();
  return n;
#else
  return 0;
#endif
}

bool is_available(Device d) {
  if (d.type == Device::Type::cpu) return d.index == 0;
  return d.index >= 0 && d.index < cuda_device_count();
}

namespace {
// The default device, encoded so that every op's current_stream() reads it with one
// atomic load: kUnset before first use, -1 for the CPU, N for cuda:N.
constexpr int kUnset = -2;
std::atomic<int> g_default{kUnset};
std::mutex g_default_mutex;  // serializes the first resolution (it may throw)

int encode(Device d) {
  return d.type == Device::Type::cpu ? -1 : d.index;
}
Device decode(int code) {
  return code < 0 ? Device::cpu() : Device::cuda(code);
}
}  // namespace

Device default_device() {
  const int code = g_default.load(std::memory_order_acquire);
  if (code != kUnset) [[likely]]
    return decode(code);
  std::lock_guard lock(g_default_mutex);
  if (g_default.load(std::memory_order_relaxed) == kUnset) {
    const auto& wanted = config::settings().device;
    Device d = Device::cpu();
    if (!wanted.empty()) {
      d = parse_device(wanted);
      if (!is_available(d)) {
        EMILY_THROW(DeviceError, "EMILY_DEVICE", to_string(d),
                    " is not available in this build/machine");
      }
    }
    // Without EMILY_DEVICE the default stays the CPU even with a GPU present: tensors
    // from the model-file readers are CPU tensors, and code written against the CPU
    // (host pointers through data<T>()) must not move to the GPU because a machine has
    // one. A program opts in with EMILY_DEVICE=cuda or set_default_device
    // (docs/ARCHITECTURE.md, Runtime).
    g_default.store(encode(d), std::memory_order_release);
  }
  return decode(g_default.load(std::memory_order_relaxed));
}

void set_default_device(Device d) {
  if (!is_available(d))
    EMILY_THROW(DeviceError, "set_default_device", to_string(d), " is not available");
  std::lock_guard lock(g_default_mutex);
  g_default.store(encode(d), std::memory_order_release);
}

// ---- streams -------------------------------------------------------------------------

namespace {
std::atomic<int> g_next_stream{1};
thread_local std::optional<Stream> t_current;
}  // namespace

Stream default_stream(Device d) {
  return Stream{d, 0};
}

Stream new_stream(Device d) {
  if (!is_available(d)) EMILY_THROW(DeviceError, "new_stream", to_string(d), " is not available");
  return Stream{d, g_next_stream.fetch_add(1)};
}

Stream current_stream() {
  // A thread that never chose a stream follows the default device, also when that
  // changes after the thread's first op.
  if (t_current) return *t_current;
  return default_stream(default_device());
}

void set_current_stream(Stream s) {
  t_current = s;
}

namespace detail {
std::optional<Stream> exchange_current_stream(std::optional<Stream> s) {
  std::optional<Stream> previous = t_current;
  t_current = s;
  return previous;
}
}  // namespace detail

void synchronize(Stream s) {
  // CPU streams run kernels on the calling thread: nothing is ever pending.
#ifdef EMILY_HAS_CUDA
  if (s.device.type == Device::Type::cuda) cuda::synchronize(s);
#else
  (void)s;
#endif
}

void synchronize() {
  synchronize(current_stream());
}

}  // namespace emily
