// Hopper's warpgroup matrix multiply (wgmma, sm_90a) as the attention kernels use it:
// shared-memory descriptors of the 128-byte swizzled layout, the fences and waits of the
// asynchronous issue, and the two product shapes (both operands in shared memory; A in
// registers). A wgmma is issued by the four warps of a warpgroup together and runs on
// until a wait: the accumulators must not be touched in between (see hold).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace emily::cuda::wgmma {

template <class T>
constexpr bool is_bf16 = std::is_same_v<T, __nv_bfloat16>;

// The shared-memory matrix descriptor of wgmma: start address, leading and stride byte
// offsets (all in 16-byte units), 128-byte swizzle. Offsetting a descriptor by b bytes
// is adding b >> 4 (addresses stay below 2^18).
__device__ __forceinline__ std::uint64_t descriptor(const void* smem, int leading, int stride) {
  const auto a = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<std::uint64_t>((a & 0x3FFFF) >> 4) |
         static_cast<std::uint64_t>((leading >> 4) & 0x3FFF) << 16 |
         static_cast<std::uint64_t>((stride >> 4) & 0x3FFF) << 32 | 1ull << 62;
}

__device__ __forceinline__ void mma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void mma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void mma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
__device__ __forceinline__ void mma_wait_all() {
  mma_wait<0>();
}
// The async proxy (wgmma) reads what this thread's cp.async wrote to shared memory.
__device__ __forceinline__ void async_proxy_fence() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// The accumulators are written by the tensor cores until the wait: an empty asm that
// "writes" each after the wait keeps the compiler from reading them earlier (and from
// writing them between issue and wait).
template <int N>
__device__ __forceinline__ void hold(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define EMILY_ACC8(i)                                                                         \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define EMILY_ACC32 EMILY_ACC8(0), EMILY_ACC8(8), EMILY_ACC8(16), EMILY_ACC8(24)
#define EMILY_ACC64 EMILY_ACC32, EMILY_ACC8(32), EMILY_ACC8(40), EMILY_ACC8(48), EMILY_ACC8(56)
#define EMILY_REGS32                                                                            \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define EMILY_REGS64                                                                            \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, "  \
  "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, "  \
  "%56, %57, %58, %59, %60, %61, %62, %63}"

// d (+)= A B for A 64 x 16 and B 16 x N (K-major both) in shared memory; `accumulate`
// 0 overwrites d.
template <class T, int N>
__device__ __forceinline__ void mma_ss(float (&d)[N / 2], std::uint64_t a, std::uint64_t b,
                                       int accumulate) {
#define EMILY_SS(TY, SHAPE, REGS, ACC, DESCS, PRED)                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " PRED                                    \
               ", 0;\n"                                                                    \
               "wgmma.mma_async.sync.aligned." SHAPE ".f32." TY "." TY " " REGS ", " DESCS \
               ", p, 1, 1, 0, 0;\n}\n"                                                     \
               : ACC                                                                       \
               : "l"(a), "l"(b), "r"(accumulate))
  if constexpr (N == 64) {
    if constexpr (is_bf16<T>)
      EMILY_SS("bf16", "m64n64k16", EMILY_REGS32, EMILY_ACC32, "%32, %33", "%34");
    else
      EMILY_SS("f16", "m64n64k16", EMILY_REGS32, EMILY_ACC32, "%32, %33", "%34");
  } else {
    static_assert(N == 128);
    if constexpr (is_bf16<T>)
      EMILY_SS("bf16", "m64n128k16", EMILY_REGS64, EMILY_ACC64, "%64, %65", "%66");
    else
      EMILY_SS("f16", "m64n128k16", EMILY_REGS64, EMILY_ACC64, "%64, %65", "%66");
  }
#undef EMILY_SS
}

// d += A B for A 64 x 16 in registers (the accumulator layout, packed pairs) and B
// 16 x N in shared memory, N-major.
template <class T, int N>
__device__ __forceinline__ void mma_rs(float (&d)[N / 2], const std::uint32_t (&a)[4],
                                       std::uint64_t b) {
#define EMILY_RS(TY, SHAPE, REGS, ACC, OPERANDS, PRED)                                        \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " PRED                                       \
               ", 0;\n"                                                                       \
               "wgmma.mma_async.sync.aligned." SHAPE ".f32." TY "." TY " " REGS ", " OPERANDS \
               ", p, 1, 1, 1;\n}\n"                                                           \
               : ACC                                                                          \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1))
  if constexpr (N == 64) {
#define EMILY_RS64(TY) \
  EMILY_RS(TY, "m64n64k16", EMILY_REGS32, EMILY_ACC32, "{%32, %33, %34, %35}, %36", "%37")
    if constexpr (is_bf16<T>)
      EMILY_RS64("bf16");
    else
      EMILY_RS64("f16");
#undef EMILY_RS64
  } else {
    static_assert(N == 128);
#define EMILY_RS128(TY) \
  EMILY_RS(TY, "m64n128k16", EMILY_REGS64, EMILY_ACC64, "{%64, %65, %66, %67}, %68", "%69")
    if constexpr (is_bf16<T>)
      EMILY_RS128("bf16");
    else
      EMILY_RS128("f16");
#undef EMILY_RS128
  }
#undef EMILY_RS
}
#undef EMILY_ACC8
#undef EMILY_ACC32
#undef EMILY_ACC64
#undef EMILY_REGS32
#undef EMILY_REGS64

}  // namespace emily::cuda::wgmma
