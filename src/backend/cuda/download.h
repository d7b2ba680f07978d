// A copy of device memory to the host in two halves (begin_host_read's GPU side).
#pragma once

#include <cstddef>

#include "emily/stream.h"

namespace emily::cuda {

// A copy of device memory to the host in two halves: the constructor queues the DMA of
// `bytes` (at most kStagingBytes) from `src` into a staging chunk behind the work queued
// on `s` and returns; finish() waits for that DMA alone and copies the bytes to `dst`.
// Work queued on `s` between the two does not delay finish(), which is how a decode loop
// queues its next step before reading the current token. The chunk is held until
// destruction, and `src` must stay allocated until the DMA has run (a buffer freed on
// `s` is: its free is ordered after the DMA).
class Download {
 public:
  Download(const void* src, std::size_t bytes, Stream s);
  ~Download();
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;
  void finish(void* dst);

 private:
  void* chunk_;  // copy.cpp's staging chunk
  Device device_;
  std::size_t bytes_;
};

}  // namespace emily::cuda
