// Configuration from environment variables, read once at first use. The full list,
// with defaults, is in docs/CONFIGURATION.md; this header is the only reader.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace emily::config {

enum class FallbackPolicy { silent, warn, raise };

struct Settings {
  std::string device;                                // EMILY_DEVICE: "", "cpu", "cuda", "cuda:N"
  FallbackPolicy fallback = FallbackPolicy::silent;  // EMILY_FALLBACK
  int num_threads = 0;                               // EMILY_NUM_THREADS: 0 = OpenMP's default
  // EMILY_CACHE_LIMIT bytes (suffix K/M/G/T); unset = a quarter of physical memory,
  // 0 = keep no freed blocks.
  std::optional<std::size_t> cache_limit;
  std::size_t memory_limit = 0;  // EMILY_MEMORY_LIMIT bytes; 0 = unlimited
  std::string compile;           // EMILY_COMPILE: "", "eager", "native" or "fuse"
  bool dump_ir = false;          // EMILY_DUMP_IR=1: print each traced graph to stderr
  bool cuda_graphs = true;       // EMILY_CUDA_GRAPHS=0: replay GPU plans node by node
  bool matmul_tf32 = false;      // EMILY_MATMUL_TF32=1: f32 matmuls on GPUs may use TF32
  std::string kernel_cache;      // EMILY_KERNEL_CACHE: NVRTC kernels' directory; "" = none
};

const Settings& settings();
// Parses "512", "64K", "1.5G" into bytes; Error naming `variable` on bad input.
std::size_t parse_bytes(const std::string& variable, const std::string& text);
FallbackPolicy parse_fallback(const std::string& text);

}  // namespace emily::config
