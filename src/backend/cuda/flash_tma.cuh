// Attention for prefill on Hopper, warp-specialized (FlashAttention-3's structure): one
// producer warpgroup copies Q, K and V tiles with the tensor copy engine while two
// consumer warpgroups of 64 query rows each multiply on wgmma. The math (softmax, masks,
// products, the overlap of S j + 1 with P V j) is flash_wgmma.cuh's; what differs is how
// tiles arrive:
//  - One thread issues every copy: a tile is D / 64 boxes of 64 features, which the engine
//    writes in the 128-byte swizzle the products read, rows past the end as zeros.
//  - K and V have kStages slots each, every slot a "full" barrier (the copy's bytes have
//    landed) and an "empty" one (every consumer warp is done reading it). No block-wide
//    barrier after the start: a consumer waits only for the tile it needs, and the
//    producer runs up to kStages tiles ahead.
//  - The producer keeps 24 registers (setmaxnreg) and gives the rest to the consumers,
//    whose S, P and O need about 240 at head size 128.
// Only strides the engine can describe (16-byte multiples) take this kernel; launch says
// cudaErrorNotSupported otherwise and fast_flash.cu runs flash_wg::attend.
#pragma once

#include "backend/cuda/flash_wgmma.cuh"
#include "backend/cuda/tensor_copy.cuh"

namespace emily::cuda::flash_tma {

using namespace flash_wg;
using namespace tensor_copy;

// A block's shape: kConsumers warpgroups of 64 query rows over tiles of kKeys keys,
// kBlocks blocks per SM; `kPingpong`: the consumer warpgroups take turns to issue their
// products (two only), so that one's softmax runs under the other's.
template <int D, int kConsumers_, int kKeys_, int kBlocks_, bool kPingpong_>
struct Config {
  static_assert(D % kSlab == 0 && (!kPingpong_ || kConsumers_ == 2));
  static constexpr int kHead = D;
  static constexpr int kConsumers = kConsumers_;
  static constexpr int kThreads = 128 * (kConsumers + 1);
  static constexpr int kRows = 64 * kConsumers;
  static constexpr int kKeys = kKeys_;
  static constexpr int kBlocks = kBlocks_;
  static constexpr bool kPingpong = kPingpong_;
  static constexpr int kStages = 2;
  static constexpr int kQ = kRows * D * 2;
  static constexpr int kTile = kKeys * D * 2;
  static constexpr int kTiles = kQ + 2 * kStages * kTile;
  static constexpr int kBarriers = 1 + 4 * kStages;  // Q; K and V full and empty
  static constexpr int kShared = kTiles + kBarriers * 8 + 1024;
  // The producer keeps the least setmaxnreg allows; the consumers share the rest of what
  // the block was launched with (the cap of __launch_bounds__, a multiple of 8): a raise
  // beyond the block's own registers would wait forever.
  static constexpr int kProducerRegisters = 24;
  static constexpr int kLaunchRegisters = std::min(255, 65536 / (kThreads * kBlocks)) / 8 * 8;
  static constexpr int kConsumerRegisters = std::min(
      240, (kLaunchRegisters * kThreads - 128 * kProducerRegisters) / (128 * kConsumers) / 8 * 8);
};

// Two consumers over 128-key tiles. Head size 64 takes three consumers from 1024 query
// rows on: its products are half as long against the same softmax, and a third
// warpgroup keeps the tensor cores busier (H100: 397 against 354 TFLOP/s at seq 2048,
// 536 against 453 at 8192); on short sequences the larger blocks leave SMs idle.
// Turns between the consumers (kPingpong) measured slower at head size 128 and below
// three consumers at 64 (bench/results/fast-quant.md, session 20).
template <int D>
using Layout = Config<D, 2, 128, 1, false>;
using LongLayout64 = Config<64, 3, 128, 1, false>;

template <class T, class L>
__global__ void __launch_bounds__(L::kThreads, L::kBlocks)
    attend(const __grid_constant__ CUtensorMap qmap, const __grid_constant__ CUtensorMap kmap,
           const __grid_constant__ CUtensorMap vmap, const FlashArgs a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int D = L::kHead;
  constexpr int kKeys = L::kKeys, kStages = L::kStages;
  extern __shared__ std::uint8_t shared_raw[];
  const auto raw_at = static_cast<std::uint32_t>(__cvta_generic_to_shared(shared_raw));
  std::uint8_t* const base = shared_raw + ((1024 - (raw_at & 1023)) & 1023);
  std::uint8_t* const qs = base;
  auto k_tile = [&](int slot) { return base + L::kQ + slot * L::kTile; };
  auto v_tile = [&](int slot) { return base + L::kQ + (kStages + slot) * L::kTile; };
  auto* const bars = reinterpret_cast<std::uint64_t*>(base + L::kTiles);
  std::uint64_t* const q_full = bars;
  auto k_full = [&](int slot) { return bars + 1 + slot; };
  auto k_empty = [&](int slot) { return bars + 1 + kStages + slot; };
  auto v_full = [&](int slot) { return bars + 1 + 2 * kStages + slot; };
  auto v_empty = [&](int slot) { return bars + 1 + 3 * kStages + slot; };

  const int tid = threadIdx.x, role = tid / 128;
  const BlockWork work = block_work(a, L::kRows);
  const std::int64_t i0 = work.i0, h = work.h, b = work.b, kvh = h / a.groups;
  std::int64_t last = a.tkv;  // keys [0, last) are all this block's rows may see
  if (a.mask.causal) last = clamp_keys(i0 + L::kRows + a.mask.causal_offset, a.tkv);
  const int tiles = static_cast<int>((last + kKeys - 1) / kKeys);

  if (tid == 0) {
    barrier_init(q_full, 1);
    for (int slot = 0; slot < kStages; ++slot) {
      barrier_init(k_full(slot), 1);
      barrier_init(v_full(slot), 1);
      barrier_init(k_empty(slot), 4 * L::kConsumers);  // lane 0 of each consumer warp
      barrier_init(v_empty(slot), 4 * L::kConsumers);
    }
    barrier_init_fence();
  }
  __syncthreads();

  if (role == 0) {
    registers_lower<L::kProducerRegisters>();
    if (tid != 0) return;
    // Tile j's slot is j % kStages, in its (j / kStages)-th use: the slot's previous
    // tile must have been released (its empty barrier's phase of that use - 1).
    auto load = [&](const CUtensorMap& map, std::uint8_t* dst, std::uint64_t* full,
                    std::uint64_t* empty, int j) {
      barrier_wait(empty, ((j / kStages) & 1) ^ 1);
      barrier_expect(full, L::kTile);
#pragma unroll
      for (int slab = 0; slab < D / kSlab; ++slab)
        load_box(dst + slab * kKeys * 128, map, full, slab * kSlab, j * kKeys, int(kvh), int(b));
    };
    barrier_expect(q_full, L::kQ);
#pragma unroll
    for (int slab = 0; slab < D / kSlab; ++slab)
      load_box(qs + slab * L::kRows * 128, qmap, q_full, slab * kSlab, int(i0), int(h), int(b));
    // K runs a tile ahead of V, in the order the consumers need them.
    if (tiles > 0) load(kmap, k_tile(0), k_full(0), k_empty(0), 0);
    for (int j = 0; j < tiles; ++j) {
      if (j + 1 < tiles) {
        const int slot = (j + 1) % kStages;
        load(kmap, k_tile(slot), k_full(slot), k_empty(slot), j + 1);
      }
      const int slot = j % kStages;
      load(vmap, v_tile(slot), v_full(slot), v_empty(slot), j);
    }
    return;
  }

  registers_raise<L::kConsumerRegisters>();
  const int wg = role - 1, warp = (tid / 32) % 4, lane = tid % 32;
  // Pingpong: named barrier 1 + w is warpgroup w's turn to issue; the other warpgroup
  // opens it after issuing its own. Warpgroup 0 goes first.
  auto wait_turn = [&] {
    if constexpr (L::kPingpong) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + wg) : "memory");
  };
  auto pass_turn = [&] {
    if constexpr (L::kPingpong) asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - wg) : "memory");
  };
  if (wg == 1) pass_turn();
  Rows<T, D, kKeys> rows(a, b, h, i0 + wg * 64 + warp * 16, lane);
  auto release = [&](std::uint64_t* empty) {
    if (lane == 0) barrier_arrive(empty);
  };
  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  const std::uint64_t qdesc = descriptor(qs + wg * 64 * 128, 16, 1024);
  float s[kKeys / 2];
  if (tiles > 0) {
    barrier_wait(q_full, 0);
    barrier_wait(k_full(0), 0);
    mma_fence();
    issue_scores<T, D, kKeys, L::kRows>(s, qdesc, k_tile(0));
    mma_commit();
    mma_wait_all();
    hold(s);
    release(k_empty(0));
  }
  // As flash_wg::attend's tile, with waits on the slots' barriers in place of the
  // block-wide one.
  auto tile = [&](int j, auto next) {
    const std::int64_t j0 = std::int64_t(j) * kKeys;
    rows.softmax(s, j0);
    mma_wait_all();  // P V j - 1: V's slot is free, and P's registers
    hold(o);
    if (j > 0) release(v_empty((j - 1) % kStages));
    std::uint32_t p[kKeys / 16][4];
    rows.pack_weights(s, p);
    rows.rescale(o);
    wait_turn();
    if constexpr (next) {
      const int slot = (j + 1) % kStages;
      barrier_wait(k_full(slot), ((j + 1) / kStages) & 1);
      mma_fence();
      issue_scores<T, D, kKeys, L::kRows>(s, qdesc, k_tile(slot));
      mma_commit();
    }
    barrier_wait(v_full(j % kStages), (j / kStages) & 1);
    mma_fence();
    issue_values<T, D, kKeys>(o, p, v_tile(j % kStages));
    mma_commit();
    pass_turn();
    if constexpr (next) {
      mma_wait<1>();  // S j + 1; P V j runs on under the next softmax
      hold(s);
      release(k_empty((j + 1) % kStages));
    }
  };
  for (int j = 0; j + 1 < tiles; ++j) tile(j, std::true_type{});
  if (tiles > 0) tile(tiles - 1, std::false_type{});
  if (wg == 0) wait_turn();  // takes warpgroup 1's last opening: the counts match
  mma_wait_all();
  hold(o);
  rows.store(o);
#endif
}

// Launches the kernel for a.d <= D on `stream`: the launch's error, or
// cudaErrorNotSupported (nothing launched) where the tensor maps cannot describe Q, K or V.
template <class T, int D, class L = Layout<D>>
cudaError_t launch(const FlashArgs& a, std::int64_t batch, cudaStream_t stream) {
  static_assert(L::kHead == D);
  const std::int64_t nkv = a.nq / a.groups;
  CUtensorMap qmap, kmap, vmap;
  if (!encode_map(qmap, a.q, {a.d, a.tq, a.nq, batch}, {1, a.qs[2], a.qs[1], a.qs[0]},
                  {kSlab, L::kRows, 1, 1}) ||
      !encode_map(kmap, a.k, {a.d, a.tkv, nkv, batch}, {1, a.ks[2], a.ks[1], a.ks[0]},
                  {kSlab, L::kKeys, 1, 1}) ||
      !encode_map(vmap, a.v, {a.d, a.tkv, nkv, batch}, {1, a.vs[2], a.vs[1], a.vs[0]},
                  {kSlab, L::kKeys, 1, 1}))
    return cudaErrorNotSupported;
  FlashArgs ordered = a;
  order_blocks(ordered, L::kRows, batch);
  static const cudaError_t raised =
      cudaFuncSetAttribute(attend<T, L>, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kShared);
  if (raised != cudaSuccess) return raised;
  attend<T, L>
      <<<grid_blocks(ordered), L::kThreads, L::kShared, stream>>>(qmap, kmap, vmap, ordered);
  return cudaGetLastError();
}

}  // namespace emily::cuda::flash_tma

namespace emily::cuda::flash_tma {

// The library's choice of head size (64 or 128, d <= 128) and block shape.
template <class T>
cudaError_t prefill(const FlashArgs& a, std::int64_t batch, cudaStream_t stream) {
  if (a.d > 64) return launch<T, 128>(a, batch, stream);
  if (a.tq >= 1024) return launch<T, 64, LongLayout64>(a, batch, stream);
  return launch<T, 64>(a, batch, stream);
}

}  // namespace emily::cuda::flash_tma
