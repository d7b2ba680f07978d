// Copies between host and device memory through pinned staging chunks.
//
// Why stage at all: cudaMemcpyAsync from pageable memory may synchronize with the stream
// before it copies (CUDA stages pageable memory itself and only promises that the source
// may be reused on return), so an upload queued behind a long kernel would wait for it.
// Copying into pinned memory ourselves makes the DMA truly asynchronous: the host waits
// only until a staging chunk is free again. The other way, a pinned chunk lets the host
// wait on an event behind the DMA on the producer's stream instead of on the device.
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

#include "backend/cuda/download.h"
#include "backend/cuda/runtime.h"
#include "emily/error.h"

namespace emily::cuda {

namespace {

// One pinned chunk and the event recorded behind the last DMA that used it. Whoever
// holds a chunk may record its event; a chunk in the pool is touched by nobody, so its
// event needs no lock.
struct Chunk {
  char* host = nullptr;
  cudaEvent_t done = nullptr;
};

Chunk* new_chunk(Device device, std::size_t bytes) {
  auto* c = new Chunk();
  use_device(device);
  check(cudaHostAlloc(reinterpret_cast<void**>(&c->host), bytes, cudaHostAllocPortable), "copy",
        "cudaHostAlloc (staging)");
  check(cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming), "copy", "cudaEventCreate");
  return c;
}

bool finished(const Chunk* c) {
  return cudaEventQuery(c->done) == cudaSuccess;  // NotReady is no error to keep
}

// Staging chunks of one device (events belong to a device, so chunks do too). Chunks
// are never freed (cudaFreeHost synchronizes the device). A chunk handed back may still
// be read by its DMA; taking one, a caller prefers a finished chunk, then a new one, so
// it does not wait behind another stream's queue. Uploads stop making chunks at
// kMaxUploadChunks and wait for the oldest instead, which bounds the pinned memory a
// host running far ahead of its streams can take; downloads always make one, since a
// copy to the host must wait for its own stream only (their chunks come back finished).
class StagingPool {
 public:
  static constexpr std::size_t kMaxUploadChunks = 8;

  explicit StagingPool(Device device) : device_(device) {}

  Chunk* acquire(bool upload) {
    {
      std::lock_guard lock(mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (finished(*it)) {
          Chunk* c = *it;
          free_.erase(it);
          return c;
        }
      }
      if (upload && made_ >= kMaxUploadChunks && !free_.empty()) {
        Chunk* c = free_.front();  // the oldest: the likeliest to finish first
        free_.pop_front();
        return c;
      }
      ++made_;
    }
    return new_chunk(device_, kStagingBytes);
  }

  void release(Chunk* c) {
    std::lock_guard lock(mutex_);
    free_.push_back(c);
  }

 private:
  Device device_;
  std::mutex mutex_;
  std::deque<Chunk*> free_;
  std::size_t made_ = 0;
};

// Uploads of a few bytes (the 0-d fill values behind `x * 0.5`, keys, small index
// tensors) take a slot of a small pinned ring rather than a whole chunk: an eager
// program queues one per scalar op, possibly hundreds ahead of the GPU, and each slot
// stays busy until its DMA has run. A slot is reused once its event has passed; with
// kSlots slots the host waits only when it is that many small uploads ahead.
class SmallRing {
 public:
  static constexpr std::size_t kSlotBytes = 256;
  static constexpr std::size_t kSlots = 1024;

  explicit SmallRing(Device device) : device_(device) {}

  // A slot index, held by the caller until give_back; slots still held (by a thread
  // between its copy and its event record) are skipped.
  std::size_t take() {
    std::lock_guard lock(mutex_);
    if (!block_) {
      use_device(device_);
      check(cudaHostAlloc(reinterpret_cast<void**>(&block_), kSlotBytes * kSlots,
                          cudaHostAllocPortable),
            "copy", "cudaHostAlloc (staging)");
      for (auto& e : events_)
        check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "copy", "cudaEventCreate");
    }
    for (;;) {
      const std::size_t i = next_++ % kSlots;
      if (!held_[i]) {
        held_[i] = true;
        return i;
      }
    }
  }
  void give_back(std::size_t i) {
    std::lock_guard lock(mutex_);
    held_[i] = false;
  }
  char* slot(std::size_t i) const { return block_ + i * kSlotBytes; }
  cudaEvent_t event(std::size_t i) const { return events_[i]; }

 private:
  Device device_;
  std::mutex mutex_;
  char* block_ = nullptr;
  cudaEvent_t events_[kSlots] = {};
  bool held_[kSlots] = {};
  std::size_t next_ = 0;
};

struct DeviceStaging {
  explicit DeviceStaging(Device d) : chunks(d), small(d) {}
  StagingPool chunks;
  SmallRing small;
};

DeviceStaging& staging(Device device) {
  // The last device's staging, without the lock (uploads of scalars are per op).
  thread_local int t_index = -1;
  thread_local DeviceStaging* t_staging = nullptr;
  if (device.index == t_index) return *t_staging;
  static std::mutex m;
  static std::map<int, DeviceStaging*> all;  // never destroyed: copies may run at exit
  std::lock_guard lock(m);
  DeviceStaging*& p = all[device.index];
  if (!p) p = new DeviceStaging(device);
  t_index = device.index;
  t_staging = p;
  return *p;
}

// Up to two chunks used in turn, taken on first use and handed back on every exit
// (errors included) with their events recorded.
class Lease {
 public:
  Lease(Device device, bool upload) : pool_(staging(device).chunks), upload_(upload) {}
  ~Lease() {
    for (Chunk* c : chunks_)
      if (c) pool_.release(c);
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // Chunk k % 2, once the DMA that last used it has finished.
  Chunk& ready(std::size_t k) {
    Chunk*& c = chunks_[k % 2];
    if (!c) c = pool_.acquire(upload_);
    check(cudaEventSynchronize(c->done), "copy", "cudaEventSynchronize (staging)");
    return *c;
  }

 private:
  StagingPool& pool_;
  bool upload_;
  Chunk* chunks_[2] = {nullptr, nullptr};
};

void upload_small(char* to, const char* from, std::size_t bytes, Device device, cudaStream_t cs) {
  SmallRing& ring = staging(device).small;
  const std::size_t i = ring.take();
  struct Hold {
    SmallRing& ring;
    std::size_t i;
    ~Hold() { ring.give_back(i); }
  } hold{ring, i};
  check(cudaEventSynchronize(ring.event(i)), "copy", "cudaEventSynchronize (staging)");
  std::memcpy(ring.slot(i), from, bytes);
  check(cudaMemcpyAsync(to, ring.slot(i), bytes, cudaMemcpyHostToDevice, cs), "copy",
        "cudaMemcpyAsync");
  check(cudaEventRecord(ring.event(i), cs), "copy", "cudaEventRecord");
}

bool pinned(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();  // an unknown pointer is pageable memory, not an error
    return false;
  }
  return a.type == cudaMemoryTypeHost;
}

// Waits on the host for the work queued on `cs` so far, through an event behind it: a
// chunk's event, which any free chunk lends (no event is created per copy).
void wait_behind(Device device, cudaStream_t cs) {
  Lease lease(device, false);
  Chunk& c = lease.ready(0);
  check(cudaEventRecord(c.done, cs), "copy", "cudaEventRecord");
  check(cudaEventSynchronize(c.done), "copy", "cudaEventSynchronize");
}

}  // namespace

void copy_from_host(void* dst, const void* src, std::size_t bytes, Stream s) {
  if (!bytes) return;
  cudaStream_t cs = stream(s);
  auto* to = static_cast<char*>(dst);
  const auto* from = static_cast<const char*>(src);
  if (bytes <= SmallRing::kSlotBytes) return upload_small(to, from, bytes, s.device, cs);
  if (bytes > kStagingBytes && pinned(src)) {
    check(cudaMemcpyAsync(to, from, bytes, cudaMemcpyHostToDevice, cs), "copy", "cudaMemcpyAsync");
    wait_behind(s.device, cs);  // the caller may reuse `src` once we return
    return;
  }
  Lease lease(s.device, true);
  for (std::size_t k = 0, at = 0; at < bytes; ++k, at += kStagingBytes) {
    const std::size_t n = std::min(kStagingBytes, bytes - at);
    Chunk& c = lease.ready(k);
    std::memcpy(c.host, from + at, n);
    check(cudaMemcpyAsync(to + at, c.host, n, cudaMemcpyHostToDevice, cs), "copy",
          "cudaMemcpyAsync");
    check(cudaEventRecord(c.done, cs), "copy", "cudaEventRecord");
  }
}

void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream s) {
  if (!bytes) return;
  cudaStream_t cs = stream(s);
  auto* to = static_cast<char*>(dst);
  const auto* from = static_cast<const char*>(src);
  if (pinned(dst)) {
    check(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToHost, cs), "copy", "cudaMemcpyAsync");
    wait_behind(s.device, cs);
    return;
  }
  const std::size_t chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
  auto piece = [&](std::size_t k) { return std::min(kStagingBytes, bytes - k * kStagingBytes); };
  Lease lease(s.device, false);
  // Two DMAs in flight: chunk k's host copy overlaps chunk k + 1's transfer.
  auto queue = [&](std::size_t k) {
    Chunk& c = lease.ready(k);
    check(cudaMemcpyAsync(c.host, from + k * kStagingBytes, piece(k), cudaMemcpyDeviceToHost, cs),
          "copy", "cudaMemcpyAsync");
    check(cudaEventRecord(c.done, cs), "copy", "cudaEventRecord");
  };
  queue(0);
  if (chunks > 1) queue(1);
  for (std::size_t k = 0; k < chunks; ++k) {
    Chunk& c = lease.ready(k);  // waits for chunk k's DMA
    std::memcpy(to + k * kStagingBytes, c.host, piece(k));
    if (k + 2 < chunks) queue(k + 2);
  }
}

Download::Download(const void* src, std::size_t bytes, Stream s)
    : chunk_(nullptr), device_(s.device), bytes_(bytes) {
  if (bytes > kStagingBytes)
    EMILY_THROW(ValueError, "copy", "a download in two halves takes at most ", kStagingBytes,
                " bytes, not ", bytes);
  // Downloads always get a finished chunk (or a new one), so nothing is waited for here.
  Chunk* c = staging(device_).chunks.acquire(false);
  chunk_ = c;
  if (!bytes) return;
  try {
    cudaStream_t cs = stream(s);
    check(cudaMemcpyAsync(c->host, src, bytes, cudaMemcpyDeviceToHost, cs), "copy",
          "cudaMemcpyAsync");
    check(cudaEventRecord(c->done, cs), "copy", "cudaEventRecord");
  } catch (...) {
    staging(device_).chunks.release(c);  // no destructor runs for a failed constructor
    throw;
  }
}

Download::~Download() {
  staging(device_).chunks.release(static_cast<Chunk*>(chunk_));
}

void Download::finish(void* dst) {
  auto* c = static_cast<Chunk*>(chunk_);
  check(cudaEventSynchronize(c->done), "copy", "cudaEventSynchronize");
  std::memcpy(dst, c->host, bytes_);
}

void copy(void* dst, Device to, const void* src, Device from, std::size_t bytes) {
  if (!bytes) return;
  if (from.type == Device::Type::cuda && to.type == Device::Type::cuda) {
    cudaStream_t s = stream(stream_for(to));
    if (from.index == to.index) {
      check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "copy",
            "cudaMemcpyAsync");
    } else {
      // The source's pending work must land first.
      use_device(from);
      check(cudaDeviceSynchronize(), "copy", "cudaDeviceSynchronize");
      check(cudaMemcpyPeerAsync(dst, to.index, src, from.index, bytes, s), "copy",
            "cudaMemcpyPeerAsync");
    }
    return;
  }
  if (to.type == Device::Type::cuda) return copy_from_host(dst, src, bytes, stream_for(to));
  copy_to_host(dst, src, bytes, stream_for(from));
}

}  // namespace emily::cuda
