// The CUDA runtime under Emily's devices, streams and memory: one cudaStream_t per Stream,
// the stream-ordered pool allocator (cudaMallocAsync) with Emily's statistics and
// limits, and copies between host and device. The generic runtime files call these only
// in builds with CUDA (EMILY_HAS_CUDA).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "emily/memory.h"
#include "emily/stream.h"

namespace emily::cuda {

// Raises Error("[op] what: <CUDA's message>") unless `status` is cudaSuccess.
void check(cudaError_t status, const char* op, const char* what);
// After a kernel launch: the launch's own error, if any.
void check_launch(const char* op);

// The CUDA stream behind `s` (a CUDA device's stream), created on first use. Every
// Emily stream, the default one too, is a non-blocking stream of its own.
cudaStream_t stream(Stream s);
void synchronize(Stream s);
// The calling thread's current stream when it is on `device`, else the device's default.
Stream stream_for(Device device);
// Makes `device` current on the calling thread (CUDA's current device is per thread).
void use_device(Device device);

std::shared_ptr<Buffer> allocate(std::size_t bytes, Device device);
// Marks the calling thread as recording a CUDA graph (graph.cpp): its allocations and
// frees then go to the driver, so the graph owns them.
void set_capturing(bool on);
MemoryInfo memory_info(Device device);
void reset_peak_memory(Device device);
void clear_cache(Device device);
std::size_t set_cache_limit(std::size_t bytes, Device device);
std::size_t set_memory_limit(std::size_t bytes, Device device);

// Host <-> device copies go through pinned staging memory: chunks of kStagingBytes,
// taken from a per-device pool (so threads and streams copying at once each hold their
// own) and handed back with an event that says when the DMA reading them has finished.
inline constexpr std::size_t kStagingBytes = std::size_t{4} << 20;

// Host memory `src` to device memory `dst` (on s.device), ordered on `s`. Returns once
// `src` may be reused. Pageable memory is copied into staging chunks, two in turn, each
// chunk's DMA overlapping the next chunk's host copy: the call waits for neither the
// stream's earlier work nor the last DMA. Pinned memory up to one chunk is staged the
// same way; larger pinned memory is copied by DMA directly, and the call waits for it.
void copy_from_host(void* dst, const void* src, std::size_t bytes, Stream s);
// Device memory `src` (on s.device) to host memory `dst`, after the work queued on `s`
// (the stream that wrote `src`): the DMA is queued on `s` and the host waits on an event
// behind it, never for the device. Through staging chunks (the host copy of one chunk
// overlapping the DMA of the next) unless `dst` is pinned.
void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream s);
// Copies `bytes` between buffers on any two devices (at least one a GPU), ordered on
// the calling thread's stream of the GPU side (stream_for); returns once the bytes may
// be read on the destination (host destinations are complete; device destinations are
// ordered on their stream).
void copy(void* dst, Device to, const void* src, Device from, std::size_t bytes);

}  // namespace emily::cuda
