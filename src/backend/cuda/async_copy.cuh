// What the streaming kernels (fast_flash.cu, fast_sdpa.cu) share: copies from global to
// shared memory that do not pass through registers, so a thread can have many in flight
// while it computes on an earlier tile, and the hardware's exp2.
#pragma once

#include <cstdint>

namespace emily::cuda {

// 16 bytes global -> shared; `bytes` 0 fills zeros (rows past the end). The source must be
// a valid address even then.
__device__ inline void copy_async(void* dst, const void* src, int bytes) {
  const auto d = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(bytes));
}

// Closes a group of copies; every thread commits the same number of groups (empty ones
// too) so a wait's count means the same tile for all.
__device__ inline void copies_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}

// Waits until at most kPending of this thread's groups are still in flight; the memory
// clobber keeps the compiler from hoisting shared-memory reads above it.
template <int kPending>
__device__ void copies_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// 2^x by the hardware's approximation (relative error about 2^-22, below the rounding of
// a 16-bit result); exp2f proper adds range handling to every score. 2^-inf = 0.
__device__ inline float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace emily::cuda
