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

// Copies `bytes` between buffers on any two devices (at least one a GPU), ordered on
// the stream of the GPU side; returns once the bytes may be read on the destination
// (host destinations are complete; device destinations are ordered on their stream).
void copy(void* dst, Device to, const void* src, Device from, std::size_t bytes);

}  // namespace emily::cuda
