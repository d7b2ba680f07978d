#include "backend/cuda/runtime.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "emily/config.h"
#include "emily/error.h"
#include "emily/telemetry.h"

namespace emily::cuda {

void check(cudaError_t status, const char* op, const char* what) {
  if (status == cudaSuccess) return;
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it: the process goes on
    EMILY_THROW(OutOfMemory, op, what, ": ", cudaGetErrorString(status));
  }
  EMILY_THROW(Error, op, what, ": ", cudaGetErrorString(status));
}

void check_launch(const char* op) {
  check(cudaGetLastError(), op, "kernel launch");
}

namespace {
// CUDA's current device is per thread; remembering it saves a driver call per op.
thread_local int t_device = -1;
}  // namespace

void use_device(Device device) {
  if (t_device == device.index) return;
  check(cudaSetDevice(device.index), "cuda", "cudaSetDevice");
  t_device = device.index;
}

namespace {

std::mutex g_streams_mutex;
std::map<std::pair<int, int>, cudaStream_t> g_streams;  // (device, stream index)

}  // namespace

cudaStream_t stream(Stream s) {
  // The last stream this thread asked for, without the lock (every op asks).
  thread_local Stream t_last{Device::cpu(), -1};
  thread_local cudaStream_t t_last_stream = nullptr;
  if (s == t_last) {
    use_device(s.device);
    return t_last_stream;
  }
  std::lock_guard lock(g_streams_mutex);
  auto& st = g_streams[{s.device.index, s.index}];
  if (!st) {
    use_device(s.device);
    check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "stream",
          "cudaStreamCreateWithFlags");
  } else {
    use_device(s.device);
  }
  t_last = s;
  t_last_stream = st;
  return st;
}

void synchronize(Stream s) {
  check(cudaStreamSynchronize(stream(s)), "synchronize", "cudaStreamSynchronize");
}

Stream stream_for(Device device) {
  const Stream s = current_stream();
  return s.device == device ? s : default_stream(device);
}

// ---- memory --------------------------------------------------------------------------

namespace {

// Small blocks a stream freed, kept on the host for the next allocation of the same size
// class on the same stream: reuse in stream order needs no driver call, which is most of
// an eager op's allocation cost. Bounded per stream; the blocks stay the pool's, so they
// show as cache in the statistics, and clear_cache hands them back.
constexpr std::size_t kSmallBlock = std::size_t{1} << 20;
constexpr std::size_t kBlocksPerClass = 16;

std::size_t size_class(std::size_t bytes) {
  return (bytes + 511) / 512 * 512;
}

// Per device: Emily's accounting over CUDA's default memory pool. Freed blocks return to
// the pool (stream-ordered) and stay reserved up to the release threshold, which is the
// cache limit; `cache` is what the pool holds beyond the live buffers.
struct Pool {
  std::mutex mutex;
  cudaMemPool_t pool = nullptr;
  std::size_t active = 0, peak = 0, memory_limit = 0, cache_limit = 0;
  std::size_t total = 0;  // the card's memory
  std::map<std::pair<cudaStream_t, std::size_t>, std::vector<void*>> free_blocks;
};

// Set between begin_capture and end_capture on the capturing thread: allocations then go
// to the driver, so the graph owns them (a host-cached block reused after the capture
// would be written by every later launch of the graph).
thread_local bool t_capturing = false;

Pool& pool_locked(Device device);

Pool& pool(Device device) {
  // The last device's pool, without the lock (every allocation and free asks).
  thread_local int t_index = -1;
  thread_local Pool* t_pool = nullptr;
  if (device.index != t_index) {
    t_pool = &pool_locked(device);
    t_index = device.index;
  }
  return *t_pool;
}

Pool& pool_locked(Device device) {
  static std::mutex m;
  static std::map<int, Pool*> pools;  // never destroyed: buffers may outlive statics
  std::lock_guard lock(m);
  Pool*& p = pools[device.index];
  if (!p) {
    p = new Pool();
    use_device(device);
    check(cudaDeviceGetDefaultMemPool(&p->pool, device.index), "allocator",
          "cudaDeviceGetDefaultMemPool");
    const auto& s = config::settings();
    p->memory_limit = s.memory_limit;
    std::size_t free = 0, total = 0;
    check(cudaMemGetInfo(&free, &total), "allocator", "cudaMemGetInfo");
    p->total = total;
    p->cache_limit = s.cache_limit.value_or(total / 4);
    std::uint64_t threshold = p->cache_limit;
    check(cudaMemPoolSetAttribute(p->pool, cudaMemPoolAttrReleaseThreshold, &threshold),
          "allocator", "cudaMemPoolSetAttribute");
  }
  return *p;
}

std::size_t reserved(Pool& p) {
  std::uint64_t bytes = 0;
  cudaMemPoolGetAttribute(p.pool, cudaMemPoolAttrReservedMemCurrent, &bytes);
  return bytes;
}

void require_gpu(const char* op, Device d) {
  if (d.type != Device::Type::cuda || !is_available(d))
    EMILY_THROW(DeviceError, op, to_string(d), " is not an available CUDA device");
}

// Hands the host-cached blocks back to the pool (each on the stream that freed it).
void release_free_blocks(Pool& p) {
  std::map<std::pair<cudaStream_t, std::size_t>, std::vector<void*>> blocks;
  {
    std::lock_guard lock(p.mutex);
    blocks.swap(p.free_blocks);
  }
  for (auto& [key, ptrs] : blocks)
    for (void* q : ptrs) cudaFreeAsync(q, key.first);
}

}  // namespace

void set_capturing(bool on) {
  t_capturing = on;
}

std::shared_ptr<Buffer> allocate(std::size_t bytes, Device device) {
  require_gpu("allocate", device);
  Pool& p = pool(device);
  // Allocated and freed in order on the stream the calling thread works on (the op that
  // asked runs there); a buffer used on another stream needs that stream synchronized
  // with this one, as any cross-stream use does.
  const Stream st = stream_for(device);
  cudaStream_t cs = stream(st);
  const bool small = bytes && bytes <= kSmallBlock && !t_capturing;
  const std::size_t held = small ? size_class(bytes) : bytes;
  void* ptr = nullptr;
  {
    std::lock_guard lock(p.mutex);
    // More than the card holds cannot succeed: say so without asking the driver.
    if (bytes > p.total) {
      EMILY_THROW(OutOfMemory, "allocator", "allocating ", bytes, " bytes on ", to_string(device),
                  ", which has ", p.total, " bytes");
    }
    if (p.memory_limit && p.active + bytes > p.memory_limit) {
      EMILY_THROW(OutOfMemory, "allocator", "allocating ", bytes, " bytes on ", to_string(device),
                  " would exceed the memory limit of ", p.memory_limit, " bytes (", p.active,
                  " active)");
    }
    if (small) {
      auto it = p.free_blocks.find({cs, held});
      if (it != p.free_blocks.end() && !it->second.empty()) {
        ptr = it->second.back();
        it->second.pop_back();
      }
    }
    p.active += bytes;
    if (p.active > p.peak) p.peak = p.active;
  }
  if (bytes && !ptr) {
    cudaError_t status = cudaMallocAsync(&ptr, held, cs);
    if (status == cudaErrorMemoryAllocation) {
      // The pool may hold freed blocks another stream still orders: wait, trim, retry.
      cudaGetLastError();
      release_free_blocks(p);
      cudaDeviceSynchronize();
      cudaMemPoolTrimTo(p.pool, 0);
      status = cudaMallocAsync(&ptr, held, cs);
    }
    if (status != cudaSuccess) {
      std::lock_guard lock(p.mutex);
      p.active -= bytes;
    }
    check(status, "allocator", "cudaMallocAsync");
  }
  // The deleter's state in two words (the stream; bytes, device and whether the block is
  // host-cached), which std::function keeps inline: no heap allocation per buffer.
  static_assert(kSmallBlock < (std::uint64_t{1} << 47));
  const std::uint64_t packed = static_cast<std::uint64_t>(bytes) |
                               static_cast<std::uint64_t>(device.index) << 48 |
                               static_cast<std::uint64_t>(small) << 63;
  auto release = [cs, packed](void* q) {
    const auto bytes = static_cast<std::size_t>(packed & ((std::uint64_t{1} << 47) - 1));
    const int index = static_cast<int>((packed >> 48) & 0x7fff);
    const bool small = packed >> 63;
    Pool& pl = pool(Device::cuda(index));
    {
      std::lock_guard lock(pl.mutex);
      pl.active -= bytes;
      if (q && small && !t_capturing) {
        auto& blocks = pl.free_blocks[{cs, size_class(bytes)}];
        if (blocks.size() < kBlocksPerClass) {
          blocks.push_back(q);
          return;
        }
      }
    }
    if (q) {
      if (t_device != index && cudaSetDevice(index) == cudaSuccess) t_device = index;
      cudaFreeAsync(q, cs);  // no throw from a deleter; errors surface at the next sync
    }
  };
  // The buffer remembers its stream: the op that asked writes it there, so a copy to the
  // host waits for that stream alone.
  return std::make_shared<Buffer>(ptr, bytes, device, std::move(release), st.index);
}

MemoryInfo memory_info(Device device) {
  require_gpu("memory_info", device);
  Pool& p = pool(device);
  const std::size_t held = reserved(p);
  std::lock_guard lock(p.mutex);
  return MemoryInfo{p.active, p.peak, held > p.active ? held - p.active : 0, p.memory_limit,
                    p.cache_limit};
}

void reset_peak_memory(Device device) {
  require_gpu("reset_peak_memory", device);
  Pool& p = pool(device);
  std::lock_guard lock(p.mutex);
  p.peak = p.active;
}

void clear_cache(Device device) {
  require_gpu("clear_cache", device);
  Pool& p = pool(device);
  use_device(device);
  release_free_blocks(p);
  check(cudaDeviceSynchronize(), "clear_cache", "cudaDeviceSynchronize");
  check(cudaMemPoolTrimTo(p.pool, 0), "clear_cache", "cudaMemPoolTrimTo");
}

std::size_t set_cache_limit(std::size_t bytes, Device device) {
  require_gpu("set_cache_limit", device);
  Pool& p = pool(device);
  use_device(device);
  release_free_blocks(p);
  std::lock_guard lock(p.mutex);
  const std::size_t previous = p.cache_limit;
  p.cache_limit = bytes;
  std::uint64_t threshold = bytes;
  check(cudaMemPoolSetAttribute(p.pool, cudaMemPoolAttrReleaseThreshold, &threshold),
        "set_cache_limit", "cudaMemPoolSetAttribute");
  cudaMemPoolTrimTo(p.pool, bytes);
  return previous;
}

std::size_t set_memory_limit(std::size_t bytes, Device device) {
  require_gpu("set_memory_limit", device);
  Pool& p = pool(device);
  std::lock_guard lock(p.mutex);
  const std::size_t previous = p.memory_limit;
  p.memory_limit = bytes;
  return previous;
}

}  // namespace emily::cuda
