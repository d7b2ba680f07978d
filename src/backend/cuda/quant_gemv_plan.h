// The tensor-core quantized GEMV's geometry (quant_gemv_tc.cuh), worked out on the host:
// how a call is spread over the machine (Plan, plan), what the kernel is told of it
// (Args), and its shared-memory layout. Plain C++, so that the plan's limits are tested
// where no GPU or CUDA compiler is (tests/cuda/test_cuda_quant_plan.cpp); the kernel calls
// the constexpr layout functions from device code (nvcc's --expt-relaxed-constexpr).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

namespace emily::cuda::qgemv_tc {

constexpr int kRows = 16;      // rows of W per warp: the mma's M
constexpr int kMaxM = 8;       // activation rows
constexpr int kMaxWarps = 16;  // per block

// Codes per piece (16 bytes of one row) and permuted activation words per piece (one
// 16-bit pair per code pair).
template <int Bits>
constexpr int piece_codes() {
  return 128 / Bits;
}
template <int Bits>
constexpr int piece_words() {
  return piece_codes<Bits>() / 2;
}

// Floats staged per (piece, activation row): its sum, and with one set of mma (where the
// offsets stay in the products) the offsets' term.
constexpr int sums_per_row(int sets) {
  return sets > 1 ? 1 : 2;
}

// Shared memory of a block, in 32-bit words: permuted activations
// [M][segments][piece_words / 4][4 lanes][4] (a lane's 16-byte read for two mma sits
// beside its quad's: no bank conflicts), per-piece activation sums (and offset terms)
// [segments][4 pieces][2 * sets][sums_per_row] (zero past M), 64 zero words per warp (what a lane
// reads, at every offset it uses, where its B column is zero), and the warps' sums
// [warps][2 * sets][16].
struct Smem {
  int xs, xsum, zeros, red, words;
};
template <int Bits>
constexpr Smem smem_layout(int m, int segs, int warps, int sets) {
  Smem s{};
  s.xs = 0;
  s.xsum = s.xs + m * segs * 4 * piece_words<Bits>();
  s.zeros = s.xsum + segs * 4 * 2 * sets * sums_per_row(sets);
  s.red = s.zeros + 64 * warps;
  s.words = s.red + warps * 2 * sets * kRows;
  return s;
}

// A call's geometry, worked out on the host: the kernel starts its loads after a few
// integer operations instead of the divisions (64-bit among them) that deriving these
// took, which delayed every warp's first DRAM request by some 200 instructions.
struct Args {
  std::int64_t n_out = 0, k = 0;
  std::int64_t row_words = 0;  // 32-bit words of packed codes per row of W
  std::int64_t groups = 0;     // groups per row
  int m_rows = 0, pieces = 0;  // activation rows; 16-byte pieces per row
  int gshift = 0;              // log2(group_size)
  int pieces_per_split = 0, tiles = 1, kwarps_log2 = 3;
};

// How a call is spread over the machine.
struct Plan {
  int tiles = 1;             // tiles of 16 rows per block
  int kwarps = 8;            // warps per tile, splitting K
  int splits = 1;            // blocks along K (> 1: partial sums + qgemv::sum_splits)
  int pieces_per_split = 0;  // 16-byte pieces of a row per split
  int smem_bytes = 0;
};

// The kernel's arguments for a plan (kwarps and group_size powers of two: the plan's
// warps are, and quantize accepts groups of 32, 64 and 128 only).
template <int Bits>
inline Args args_for(const Plan& p, std::int64_t m, std::int64_t n, std::int64_t k,
                     std::int64_t group_size) {
  Args a;
  a.n_out = n, a.k = k;
  a.row_words = k * Bits / 32;
  a.groups = k / group_size;
  a.m_rows = static_cast<int>(m);
  a.pieces = static_cast<int>(k / piece_codes<Bits>());
  a.gshift = std::countr_zero(static_cast<std::uint64_t>(group_size));
  a.pieces_per_split = p.pieces_per_split;
  a.tiles = p.tiles;
  a.kwarps_log2 = std::countr_zero(static_cast<unsigned>(p.kwarps));
  return a;
}

// Shared memory is held under 48 KB (no opt-in): long K with several activation rows
// splits K across blocks.
constexpr int kSmemLimit = 48 * 1024;

template <int Bits>
inline int smem_bytes(int m, int pieces, int warps, int sets) {
  return smem_layout<Bits>(m, (pieces + 3) / 4, warps, sets).words * 4;
}

inline int sets_for(std::int64_t m) {
  return m <= 2 ? 1 : m <= 4 ? 2 : 4;
}

// Fills p.splits, p.pieces_per_split and p.smem_bytes for the given tiles and kwarps:
// enough blocks along K to keep about `target` warps busy as long as each warp keeps at
// least `min_segs` segments, and shared memory under the limit.
template <int Bits>
inline Plan finish(Plan p, std::int64_t n, std::int64_t k, std::int64_t m, int target,
                   int min_segs = 4) {
  const std::int64_t pieces = k / piece_codes<Bits>();
  const std::int64_t blocks = (n + kRows * p.tiles - 1) / (kRows * p.tiles);
  const int warps = p.tiles * p.kwarps, sets = sets_for(m);
  std::int64_t want = (target + blocks * warps - 1) / (blocks * warps);
  want =
      std::min<std::int64_t>(want, std::max<std::int64_t>(1, pieces / (4LL * min_segs * p.kwarps)));
  want = std::clamp<std::int64_t>(want, 1, 32);
  while (true) {
    std::int64_t per = (pieces + want - 1) / want;
    per = (per + 3) / 4 * 4;  // whole segments
    if (smem_bytes<Bits>(static_cast<int>(m), static_cast<int>(per), warps, sets) <= kSmemLimit ||
        per <= 4) {
      p.pieces_per_split = static_cast<int>(per);
      p.splits = static_cast<int>((pieces + per - 1) / per);
      break;
    }
    ++want;
  }
  p.smem_bytes = smem_bytes<Bits>(static_cast<int>(m), p.pieces_per_split, warps, sets);
  return p;
}

// Warps per 16-row tile at M <= 2, splitting K. Measured on an H100 (session 26,
// bench/results/fast-quant.md): a warp does best with about 8 of its row's `segs`
// segments when the grid is short of a wave, 16 when more warps than a wave would be
// resident, and the grid wants a few warps per SM before a warp's share drops below 4.
inline int warps_per_tile(std::int64_t tiles, std::int64_t segs, int sms) {
  int k = 2;
  while (k < 16 && segs / (2 * k) >= 8) k *= 2;
  while (k > 2 && tiles * k > sms * 16LL && segs / (k / 2) <= 16) k /= 2;
  while (k < 16 && tiles * k < sms * 4LL && segs / k >= 4) k *= 2;
  return k;
}

// One tile per block; warps per tile as above at M <= 2, 4 for M > 2 (more registers per
// warp); blocks split K only below about 6 warps per SM (8 for M > 2). With the register
// ring (ring_depth) nothing is asked of L2 ahead: the L2 prefetches of session 17 only
// cost instructions once a lane's loads were already in flight (session 23 dropped them).
template <int Bits>
inline Plan plan(std::int64_t n, std::int64_t k, std::int64_t m, int sms) {
  Plan p;
  const std::int64_t tiles = (n + kRows - 1) / kRows, segs = k / piece_codes<Bits>() / 4;
  p.tiles = 1;
  p.kwarps = m > 2 ? 4 : warps_per_tile(tiles, segs, sms);
  return finish<Bits>(p, n, k, m, m > 2 ? sms * 8 : sms * 6);
}

}  // namespace emily::cuda::qgemv_tc
