// The tensor-core quantized GEMV's plan (backend/cuda/quant_gemv_plan.h), which needs no
// GPU: for every shape a model may bring, the plan must launch (a block of at most 16
// warps, shared memory under the 48 KB that needs no opt-in, grid.y within CUDA's limit),
// its splits must cover K in whole segments with no split left empty, and the warps per
// tile must follow the documented rule. Oracle: those limits and integer arithmetic
// (exact). The kernel's numbers are tested on the GPU (test_cuda_quant.cpp).
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>

#include "backend/cuda/quant_gemv_plan.h"

namespace emily::cuda::qgemv_tc {
namespace {

template <int Bits>
void check_plans() {
  const std::int64_t ns[] = {1, 15, 16, 17, 1000, 1024, 2048, 3072, 4096, 8192, 14336, 151936};
  const std::int64_t ks[] = {128, 384, 1024, 2048, 3072, 4096, 8192, 14336, 18944, 65536};
  for (int sms : {1, 8, 114, 132})
    for (std::int64_t n : ns)
      for (std::int64_t k : ks)
        for (std::int64_t m = 1; m <= kMaxM; ++m) {
          const std::string what = "int" + std::to_string(Bits) + " n " + std::to_string(n) +
                                   " k " + std::to_string(k) + " m " + std::to_string(m) + " sms " +
                                   std::to_string(sms);
          const Plan p = plan<Bits>(n, k, m, sms);
          const std::int64_t pieces = k / piece_codes<Bits>(), segs = pieces / 4;
          const int warps = p.tiles * p.kwarps;
          ASSERT_TRUE(std::has_single_bit(static_cast<unsigned>(p.kwarps))) << what;
          ASSERT_GE(warps, 1) << what;
          ASSERT_LE(warps, kMaxWarps) << what;
          ASSERT_GT(p.pieces_per_split, 0) << what;
          ASSERT_EQ(p.pieces_per_split % 4, 0) << what << ": splits of whole segments";
          ASSERT_GE(std::int64_t(p.splits) * p.pieces_per_split, pieces) << what;
          ASSERT_LT(std::int64_t(p.splits - 1) * p.pieces_per_split, pieces)
              << what << ": an empty split";
          ASSERT_LE(p.splits, 65535) << what;
          ASSERT_EQ(p.smem_bytes,
                    smem_bytes<Bits>(static_cast<int>(m), p.pieces_per_split, warps, sets_for(m)))
              << what;
          ASSERT_LE(p.smem_bytes, kSmemLimit) << what;
          if (m <= 2 && segs >= 4) {
            // About 8-16 segments per warp, never more than 16 unless the tile has its
            // 16 warps, nor fewer than 2 unless it has only 2.
            EXPECT_TRUE(p.kwarps == 16 || segs / p.kwarps <= 16) << what;
            EXPECT_TRUE(p.kwarps == 2 || segs / p.kwarps >= 2) << what;
          }
          const Args a = args_for<Bits>(p, m, n, k, 64);
          ASSERT_EQ(1 << a.kwarps_log2, p.kwarps) << what;
          ASSERT_EQ(a.pieces, pieces) << what;
          ASSERT_EQ(a.row_words * 32, k * Bits) << what;
          ASSERT_EQ(a.groups * 64, k) << what;
          ASSERT_EQ(1 << a.gshift, 64) << what;
        }
}

TEST(CudaQuantPlan, EveryShapeLaunchesAndCoversK) {
  check_plans<4>();
  check_plans<8>();
}

}  // namespace
}  // namespace emily::cuda::qgemv_tc
