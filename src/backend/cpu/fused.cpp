// The `fused` kernel: a FusedAttr program run block by block (see fused.h).
#include "backend/cpu/fused.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <vector>

#include "backend/cpu/bytes.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"

namespace emily::cpu {

namespace {

struct Entry {
  BlockFn fn = nullptr;
  DType result = DType::f32;
};

// Filled once, while the CPU kernel table is built (before any lookup can happen).
std::array<std::array<Entry, kNumDTypes>, kNumPrimitives> g_blocks;
std::array<std::array<BlockFn, kNumDTypes>, kNumDTypes> g_casts;

// Elements per block. A block's registers (8 bytes per element at most) are 8 KiB each,
// so a chain's live values stay in L1/L2 however long the tensors are.
constexpr std::int64_t kBlock = 1024;

// Copies elements [lo, lo + n) of `t` in row-major order into dst (an operand that is
// neither dense nor one repeated value: a transpose, a broadcast row).
void gather(const Tensor& t, std::int64_t lo, std::int64_t n, void* dst) {
  const Shape& shape = t.shape();
  const Strides& st = t.strides();
  const int nd = t.ndim();
  std::array<std::int64_t, 16> small{};
  std::vector<std::int64_t> large(nd > 16 ? nd : 0);
  std::int64_t* idx = nd > 16 ? large.data() : small.data();
  visit_width(t.itemsize(), [&]<std::size_t W>() {
    using E = Bytes<W>;
    const E* src = static_cast<const E*>(t.raw_data());
    E* d = static_cast<E*>(dst);
    std::int64_t rest = lo, off = 0;
    for (int i = nd - 1; i >= 0; --i) {
      idx[i] = rest % shape[i];
      rest /= shape[i];
      off += idx[i] * st[i];
    }
    const std::int64_t inner = shape[nd - 1], step = st[nd - 1];
    for (std::int64_t done = 0; done < n;) {
      const std::int64_t len = std::min(n - done, inner - idx[nd - 1]);
      for (std::int64_t j = 0; j < len; ++j) d[done + j] = src[off + j * step];
      done += len;
      off += len * step;
      idx[nd - 1] += len;
      for (int i = nd - 1; i > 0 && idx[i] == shape[i]; --i) {
        off += st[i - 1] - idx[i] * st[i];
        idx[i] = 0;
        ++idx[i - 1];
      }
    }
  });
}

enum class Access : std::uint8_t { dense, repeated, gathered };

void fused_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr, Stream) {
  const auto& f = std::get<FusedAttr>(attr);
  const std::size_t inputs = in.size(), steps = f.steps.size();
  const std::int64_t n = out[0].size();
  std::vector<BlockFn> fns(steps);
  for (std::size_t k = 0; k < steps; ++k) {
    const FusedStep& s = f.steps[k];
    fns[k] = find_block(s.op, s.dtype, s.result);
    if (!fns[k]) {
      EMILY_THROW(Unsupported, "fused", "no CPU block function for ", name(s.op), " on ",
                  name(s.dtype), " -> ", name(s.result));
    }
  }
  std::vector<Access> access(inputs);
  std::vector<int> gather_reg(inputs, -1);
  int registers = f.registers;
  for (std::size_t k = 0; k < inputs; ++k) {
    const Tensor& t = in[k];
    access[k] = t.is_contiguous() ? Access::dense
                : is_repeated(t)  ? Access::repeated
                                  : Access::gathered;
    if (access[k] == Access::gathered) gather_reg[k] = registers++;
  }
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;

  auto run = [&](std::int64_t first, std::int64_t last) {
    // 8-byte words: every dtype is at most 8 bytes wide.
    std::vector<std::uint64_t> scratch(static_cast<std::size_t>(registers) * kBlock);
    auto reg = [&](int r) { return scratch.data() + static_cast<std::size_t>(r) * kBlock; };
    std::vector<const void*> at(inputs + steps);
    std::vector<std::int64_t> stride(inputs + steps, 1);
    std::array<const void*, 3> args{};
    std::array<std::int64_t, 3> strides{};
    for (std::int64_t b = first; b < last; ++b) {
      const std::int64_t lo = b * kBlock, len = std::min(kBlock, n - lo);
      for (std::size_t k = 0; k < inputs; ++k) {
        const auto* base = static_cast<const char*>(in[k].raw_data());
        switch (access[k]) {
          case Access::dense:
            at[k] = base + lo * static_cast<std::int64_t>(in[k].itemsize());
            stride[k] = 1;
            break;
          case Access::repeated:
            at[k] = base;
            stride[k] = 0;
            break;
          case Access::gathered:
            gather(in[k], lo, len, reg(gather_reg[k]));
            at[k] = reg(gather_reg[k]);
            stride[k] = 1;
            break;
        }
      }
      for (std::size_t k = 0; k < steps; ++k) {
        const FusedStep& s = f.steps[k];
        void* dst = s.output >= 0 ? static_cast<char*>(out[s.output].raw_data()) +
                                        lo * static_cast<std::int64_t>(size_of(s.result))
                                  : static_cast<void*>(reg(s.reg));
        for (std::size_t j = 0; j < s.args.size(); ++j) {
          args[j] = at[s.args[j]];
          strides[j] = stride[s.args[j]];
        }
        fns[k](args.data(), strides.data(), dst, len);
        at[inputs + k] = dst;
      }
    }
  };
  if (blocks < 2 || n < 2 * kParallelGrain) {
    run(0, blocks);
    return;
  }
#pragma omp parallel num_threads(::emily::cpu::threads())
  {
    const std::int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const std::int64_t per = (blocks + nt - 1) / nt;
    const std::int64_t lo = std::min(blocks, t * per), hi = std::min(blocks, lo + per);
    if (lo < hi) run(lo, hi);
  }
}

}  // namespace

void set_block(Primitive op, DType dtype, DType result, BlockFn fn) {
  if (op == Primitive::astype) {
    g_casts[static_cast<std::size_t>(dtype)][static_cast<std::size_t>(result)] = fn;
    return;
  }
  g_blocks[static_cast<std::size_t>(op)][static_cast<std::size_t>(dtype)] = {fn, result};
}

BlockFn find_block(Primitive op, DType dtype, DType result) {
  if (op == Primitive::astype)
    return g_casts[static_cast<std::size_t>(dtype)][static_cast<std::size_t>(result)];
  const Entry& e = g_blocks[static_cast<std::size_t>(op)][static_cast<std::size_t>(dtype)];
  return e.result == result ? e.fn : nullptr;
}

void register_fused(KernelTable& t) {
  t.set(Primitive::fused, fused_kernel);
}

}  // namespace emily::cpu
