// The CPU caching allocator. Freed blocks go to per-size-class free lists and are
// reused by later requests of the same class; this is what keeps eager execution from
// paying malloc/free (and page faults) per op.
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "emily/config.h"
#include "emily/error.h"
#include "emily/memory.h"
#include "emily/telemetry.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/runtime.h"
// GPU memory lives in CUDA's stream-ordered pool (backend/cuda/runtime.cpp).
#define EMILY_ON_GPU(device, call) \
  if ((device).type == Device::Type::cuda) return cuda::call
#else
#define EMILY_ON_GPU(device, call)
#endif

namespace emily {

namespace {

constexpr std::size_t kAlignment = 64;

// Size classes: multiples of 64 bytes up to 4 KiB, then four classes per power of two,
// so a cached block is at most 25% larger than the request it serves.
std::size_t size_class(std::size_t bytes) {
  if (bytes <= 4096) return bytes == 0 ? kAlignment : (bytes + kAlignment - 1) & ~(kAlignment - 1);
  std::size_t p = std::size_t{1} << (63 - __builtin_clzll(bytes - 1));  // largest power < bytes
  std::size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

std::size_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                               : 0;
}

class CpuAllocator {
 public:
  CpuAllocator() {
    const auto& s = config::settings();
    memory_limit_ = s.memory_limit;
    cache_limit_ = s.cache_limit.value_or(physical_memory() / 4);
  }
  ~CpuAllocator() { clear_cache(); }

  void* allocate(std::size_t bytes) {
    std::size_t cls = size_class(bytes);
    {
      std::lock_guard lock(mutex_);
      if (memory_limit_ && active_ + bytes > memory_limit_) {
        EMILY_THROW(OutOfMemory, "allocator", "allocating ", bytes,
                    " bytes on cpu would exceed the memory limit of ", memory_limit_, " bytes (",
                    active_, " active)");
      }
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cache_ -= cls;
        note_active(bytes);
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, cls);
    if (!p) {
      clear_cache();
      p = std::aligned_alloc(kAlignment, cls);
      if (!p) EMILY_THROW(OutOfMemory, "allocator", "the system refused ", cls, " bytes on cpu");
    }
    std::lock_guard lock(mutex_);
    note_active(bytes);
    return p;
  }

  void release(void* p, std::size_t bytes) {
    std::size_t cls = size_class(bytes);
    {
      std::lock_guard lock(mutex_);
      active_ -= bytes;
      if (cache_ + cls <= cache_limit_) {
        free_[cls].push_back(p);
        cache_ += cls;
        return;
      }
    }
    std::free(p);
  }

  void clear_cache() {
    std::unordered_map<std::size_t, std::vector<void*>> blocks;
    {
      std::lock_guard lock(mutex_);
      blocks.swap(free_);
      cache_ = 0;
    }
    for (auto& [cls, list] : blocks)
      for (void* p : list) std::free(p);
  }

  MemoryInfo info() {
    std::lock_guard lock(mutex_);
    return MemoryInfo{active_, peak_, cache_, memory_limit_, cache_limit_};
  }
  void reset_peak() {
    std::lock_guard lock(mutex_);
    peak_ = active_;
  }
  std::size_t set_cache_limit(std::size_t bytes) {
    std::size_t previous;
    {
      std::lock_guard lock(mutex_);
      previous = cache_limit_;
      cache_limit_ = bytes;
    }
    trim_cache();
    return previous;
  }
  std::size_t set_memory_limit(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    std::size_t previous = memory_limit_;
    memory_limit_ = bytes;
    return previous;
  }

 private:
  void note_active(std::size_t bytes) {
    active_ += bytes;
    if (active_ > peak_) peak_ = active_;
  }
  // Frees cached blocks until the cache fits its limit.
  void trim_cache() {
    std::vector<void*> victims;
    {
      std::lock_guard lock(mutex_);
      for (auto it = free_.begin(); it != free_.end() && cache_ > cache_limit_; ++it) {
        while (!it->second.empty() && cache_ > cache_limit_) {
          victims.push_back(it->second.back());
          it->second.pop_back();
          cache_ -= it->first;
        }
      }
    }
    for (void* p : victims) std::free(p);
  }

  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t active_ = 0, peak_ = 0, cache_ = 0;
  std::size_t memory_limit_ = 0, cache_limit_ = 0;
};

CpuAllocator& cpu_allocator() {
  // Never destroyed: tensors in static storage may outlive any static allocator.
  static CpuAllocator* a = new CpuAllocator();
  return *a;
}

void require_cpu(const char* op, Device d) {
  if (d.type != Device::Type::cpu) {
    EMILY_THROW(DeviceError, op, to_string(d), " has no allocator in this build");
  }
}

}  // namespace

std::shared_ptr<Buffer> allocate(std::size_t bytes, Device device) {
  EMILY_ON_GPU(device, allocate(bytes, device));
  require_cpu("allocate", device);
  void* p = cpu_allocator().allocate(bytes);
  return std::make_shared<Buffer>(p, bytes, device,
                                  [bytes](void* q) { cpu_allocator().release(q, bytes); });
}

MemoryInfo memory_info(Device device) {
  MemoryInfo m;
#ifdef EMILY_HAS_CUDA
  if (device.type == Device::Type::cuda)
    m = cuda::memory_info(device);
  else
#endif
  {
    require_cpu("memory_info", device);
    m = cpu_allocator().info();
  }
  if (telemetry::active()) {
    telemetry::Event e;
    e.name = "emily.memory.stats";
    e.bytes = static_cast<std::int64_t>(m.active);
    e.metadata = {{"device", to_string(device)},
                  {"active", std::to_string(m.active)},
                  {"peak", std::to_string(m.peak)},
                  {"cache", std::to_string(m.cache)}};
    telemetry::emit(e);
  }
  return m;
}

void reset_peak_memory(Device device) {
  EMILY_ON_GPU(device, reset_peak_memory(device));
  require_cpu("reset_peak_memory", device);
  cpu_allocator().reset_peak();
}

void clear_cache(Device device) {
  EMILY_ON_GPU(device, clear_cache(device));
  require_cpu("clear_cache", device);
  cpu_allocator().clear_cache();
}

std::size_t set_cache_limit(std::size_t bytes, Device device) {
  EMILY_ON_GPU(device, set_cache_limit(bytes, device));
  require_cpu("set_cache_limit", device);
  return cpu_allocator().set_cache_limit(bytes);
}

std::size_t set_memory_limit(std::size_t bytes, Device device) {
  EMILY_ON_GPU(device, set_memory_limit(bytes, device));
  require_cpu("set_memory_limit", device);
  return cpu_allocator().set_memory_limit(bytes);
}

}  // namespace emily
