// Hopper's tensor copy engine (TMA, sm_90): a tile of a strided tensor copied to shared
// memory by one instruction, described by a tensor map built on the host, its
// completion counted in bytes on a shared-memory barrier (mbarrier). The barrier also
// carries the consumers' "slot free" signals back to the thread that issues the copies.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace emily::cuda::tensor_copy {

// A barrier in shared memory, 8 bytes; its phase completes when `count` arrivals and the
// expected bytes have come.
__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void barrier_init(std::uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(bar)), "r"(count)
               : "memory");
}

// Barriers written by ordinary stores become visible to the copy engine (the async
// proxy); the caller's block-wide barrier follows.
__device__ __forceinline__ void barrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// One arrival that also expects `bytes` more to be copied before the phase completes.
__device__ __forceinline__ void barrier_expect(std::uint64_t* bar, std::uint32_t bytes) {
  asm volatile(
      "mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(bar)),
      "r"(bytes)
      : "memory");
}

__device__ __forceinline__ void barrier_arrive(std::uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(shared_address(bar)) : "memory");
}

// Waits until the phase of parity `parity` has completed. A fresh barrier is in phase 0,
// so waiting on parity 1 returns at once: a producer's first wait on a free slot.
__device__ __forceinline__ void barrier_wait(std::uint64_t* bar, std::uint32_t parity) {
  std::uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(shared_address(bar)), "r"(parity)
        : "memory");
  } while (!done);
}

// The box of `map` at coordinates (c0 innermost .. c3) to dst (1024-byte aligned for the
// 128-byte swizzle), counted on bar. Elements outside the tensor arrive as zeros.
__device__ __forceinline__ void load_box(void* dst, const CUtensorMap& map, std::uint64_t* bar,
                                         int c0, int c1, int c2, int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(shared_address(dst)),
      "l"(reinterpret_cast<std::uint64_t>(&map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3),
      "r"(shared_address(bar))
      : "memory");
}

// The register budget of the calling warpgroup, raised or lowered (sm_90a; the kernel
// needs a register cap at entry, from __launch_bounds__ with a minimum of blocks).
template <int kRegisters>
__device__ __forceinline__ void registers_raise() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <int kRegisters>
__device__ __forceinline__ void registers_lower() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

// A 4-d tensor of 16-bit elements, dims innermost first with strides in elements (the
// innermost 1), read in boxes of `box` elements per dim, 128-byte swizzle. False where
// the engine cannot describe it (base or strides not multiples of 16 bytes, a box row
// over 128 bytes) or the driver lacks the entry point: the caller copies otherwise.
inline bool encode_map(CUtensorMap& map, const void* base, const std::int64_t (&dims)[4],
                       const std::int64_t (&strides)[4], const int (&box)[4]) {
  using Encode =
      CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const Encode encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      fn = nullptr;
    return reinterpret_cast<Encode>(fn);
  }();
  if (encode == nullptr || reinterpret_cast<std::uintptr_t>(base) % 16 != 0 || box[0] * 2 > 128)
    return false;
  cuuint64_t global_dims[4], global_strides[3];
  cuuint32_t box_dims[4], element_strides[4] = {1, 1, 1, 1};
  for (int i = 0; i < 4; ++i) {
    if (dims[i] < 1 || dims[i] > (std::int64_t(1) << 32)) return false;
    global_dims[i] = static_cast<cuuint64_t>(dims[i]);
    box_dims[i] = static_cast<cuuint32_t>(box[i]);
  }
  for (int i = 1; i < 4; ++i) {
    // A dim of one element is never stepped over: any valid stride describes it.
    const std::int64_t bytes = dims[i] == 1 ? 16 : strides[i] * 2;
    if (bytes <= 0 || bytes % 16 != 0 || bytes >= (std::int64_t(1) << 40)) return false;
    global_strides[i - 1] = static_cast<cuuint64_t>(bytes);
  }
  if (strides[0] != 1) return false;
  return encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT16, 4, const_cast<void*>(base), global_dims,
                global_strides, box_dims, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace emily::cuda::tensor_copy
