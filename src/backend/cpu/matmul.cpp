// matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N). The op layer broadcasts both
// operands' batch axes to the output's (stride-0 views) and promotes the dtypes.
//
// f32, f64 and c64 go to OpenBLAS. A matrix whose last two axes are row-major or the
// transpose of row-major goes in as is (the trans flag does the transpose); anything
// else is first copied into a compact buffer in which broadcast batch axes stay size 1,
// so a stride-0 batch axis is never materialized. f16/bf16 take the same road through
// an f32 copy: sgemm accumulates in f32 and the result rounds once on store. Integers
// and bool use a blocked loop that wraps in the unsigned type (bool: or of ands).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <type_traits>

#include "backend/cpu/gemm.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/strided.h"
#include "backend/cpu/threads.h"
#include "core/convert.h"

namespace emily::cpu {

namespace {

// OpenBLAS runs a GEMM of at most this many multiply-adds on the calling thread
// (SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD in its interface/gemm.c). Batches of
// such matrices are spread over OpenMP threads instead; larger ones run one at a time
// and let OpenBLAS use its own threads, so the two thread pools never nest.
constexpr double kSmallGemm = 65536.0 * 4.0;

struct Dims {
  std::int64_t M, N, K;
  Shape batch;         // the output's batch shape
  std::int64_t count;  // numel(batch)
};

// The element offset of every batch matrix of an operand (in batch order).
std::vector<std::int64_t> batch_offsets(const Shape& batch, const Strides& strides) {
  std::vector<std::int64_t> offs(static_cast<std::size_t>(numel(batch)));
  const int nb = static_cast<int>(batch.size());
  Shape idx(batch.size(), 0);
  std::int64_t off = 0;
  for (auto& o : offs) {
    o = off;
    for (int d = nb - 1; d >= 0; --d) {  // odometer step
      off += strides[d];
      if (++idx[d] < batch[d]) break;
      off -= strides[d] * batch[d];
      idx[d] = 0;
    }
  }
  return offs;
}

// One GEMM operand as BLAS sees it: a base pointer, per-batch offsets, trans flag and
// leading dimension.
template <class C>
struct BlasOperand {
  const C* base = nullptr;
  std::vector<std::int64_t> offs;
  bool trans = false;
  blasint ld = 1;
  std::unique_ptr<C[]> owned;  // the compact copy, when one was needed
};

// Whether a rows x cols matrix with strides (sr, sc) is row-major (trans = false) or the
// transpose of a row-major matrix (trans = true) with a valid leading dimension.
bool blas_layout(std::int64_t rows, std::int64_t cols, std::int64_t sr, std::int64_t sc,
                 bool& trans, blasint& ld) {
  if ((cols == 1 || sc == 1) &&
      (rows == 1 || (sr >= std::max<std::int64_t>(1, cols) && sr <= INT_MAX))) {
    trans = false;
    ld = static_cast<blasint>(rows == 1 ? std::max<std::int64_t>(1, cols) : sr);
    return true;
  }
  if ((rows == 1 || sr == 1) &&
      (cols == 1 || (sc >= std::max<std::int64_t>(1, rows) && sc <= INT_MAX))) {
    trans = true;
    ld = static_cast<blasint>(cols == 1 ? std::max<std::int64_t>(1, rows) : sc);
    return true;
  }
  return false;
}

// Prepares operand `t` (batch..., rows, cols) of element type T for a GEMM in type C.
template <class C, class T>
BlasOperand<C> prepare(const Tensor& t, const Dims& d) {
  BlasOperand<C> op;
  const int nd = t.ndim();
  const std::int64_t rows = t.shape()[nd - 2], cols = t.shape()[nd - 1];
  Strides bstrides(t.strides().begin(), t.strides().end() - 2);
  if constexpr (std::is_same_v<C, T>) {
    if (blas_layout(rows, cols, t.strides()[nd - 2], t.strides()[nd - 1], op.trans, op.ld)) {
      op.base = t.data<T>();
      op.offs = batch_offsets(d.batch, bstrides);
      return op;
    }
  }
  // Compact row-major copy in which stride-0 (broadcast) batch axes keep size 1.
  Shape compact = t.shape();
  for (std::size_t i = 0; i < bstrides.size(); ++i)
    if (bstrides[i] == 0) compact[i] = 1;
  Strides cstr = row_major_strides(compact);
  op.owned = std::make_unique<C[]>(static_cast<std::size_t>(numel(compact)));
  Strides src = t.strides();
  const T* ps = t.data<T>();
  C* pd = op.owned.get();
  for_each_run<2>(compact, {&cstr, &src}, [&](const auto& off, std::int64_t n, const auto& st) {
    for (std::int64_t i = 0; i < n; ++i)
      pd[off[0] + i * st[0]] = detail::convert<C>(ps[off[1] + i * st[1]]);
  });
  for (std::size_t i = 0; i < bstrides.size(); ++i) cstr[i] = compact[i] == 1 ? 0 : cstr[i];
  cstr.resize(bstrides.size());
  op.base = pd;
  op.trans = false;
  op.ld = static_cast<blasint>(std::max<std::int64_t>(1, cols));
  op.offs = batch_offsets(d.batch, cstr);
  return op;
}

// C is the GEMM type (float, double, c64); T the tensors' element type.
template <class C, class T>
void blas_matmul(const Tensor& a, const Tensor& b, Tensor& y, const Dims& d) {
  BlasOperand<C> A = prepare<C, T>(a, d);
  BlasOperand<C> B = prepare<C, T>(b, d);
  std::unique_ptr<C[]> tmp;  // f32 result of a half-precision matmul
  C* out;
  if constexpr (std::is_same_v<C, T>) {
    out = y.data<T>();
  } else {
    tmp = std::make_unique<C[]>(static_cast<std::size_t>(y.size()));
    out = tmp.get();
  }
  const auto M = static_cast<blasint>(d.M), N = static_cast<blasint>(d.N),
             K = static_cast<blasint>(d.K);
  auto one = [&](std::int64_t i) {
    gemm(A.trans, B.trans, M, N, K, A.base + A.offs[i], A.ld, B.base + B.offs[i], B.ld,
         out + i * d.M * d.N, std::max<blasint>(1, N));
  };
  const bool small =
      static_cast<double>(d.M) * static_cast<double>(d.N) * static_cast<double>(d.K) <= kSmallGemm;
  if (small && d.count > 1) {
#pragma omp parallel for num_threads(::emily::cpu::threads()) schedule(static)
    for (std::int64_t i = 0; i < d.count; ++i) one(i);
  } else {
    for (std::int64_t i = 0; i < d.count; ++i) one(i);
  }
  if constexpr (!std::is_same_v<C, T>) {
    T* py = y.data<T>();
    const std::int64_t n = y.size();
#pragma omp parallel for num_threads(::emily::cpu::threads()) if (n >= 4 * kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] = detail::convert<T>(out[i]);
  }
}

// The accumulator of the loop kernel: integers wrap in an unsigned type at least as
// wide as unsigned int (narrower ones would promote to int and could overflow);
// floating types accumulate in their compute type.
template <class T>
struct LoopAcc {
  using type = detail::compute_t<T>;
};
template <class T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) struct LoopAcc<T> {
  using type =
      std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
};
template <>
struct LoopAcc<bool> {
  using type = unsigned char;
};

// Rows [i0, i1) of one batch matrix by a blocked i-k-j loop. acc holds (i1-i0) x N.
template <class T>
void loop_rows(const T* a, std::int64_t sam, std::int64_t sak, const T* b, std::int64_t sbk,
               std::int64_t sbn, T* y, std::int64_t i0, std::int64_t i1, const Dims& d,
               std::vector<typename LoopAcc<T>::type>& acc) {
  using A = typename LoopAcc<T>::type;
  constexpr std::int64_t kb = 128, jb = 512;
  const std::int64_t N = d.N, K = d.K, rows = i1 - i0;
  acc.assign(static_cast<std::size_t>(rows * N), A{});
  for (std::int64_t j0 = 0; j0 < N; j0 += jb) {
    const std::int64_t j1 = std::min(N, j0 + jb);
    for (std::int64_t k0 = 0; k0 < K; k0 += kb) {
      const std::int64_t k1 = std::min(K, k0 + kb);
      for (std::int64_t i = i0; i < i1; ++i) {
        A* row = acc.data() + (i - i0) * N;
        for (std::int64_t k = k0; k < k1; ++k) {
          const A av = static_cast<A>(a[i * sam + k * sak]);
          const T* brow = b + k * sbk;
          if constexpr (std::is_same_v<T, bool>) {
            if (!av) continue;
            for (std::int64_t j = j0; j < j1; ++j) row[j] |= static_cast<A>(brow[j * sbn]);
          } else if constexpr (std::is_integral_v<T>) {
            if (av == 0) continue;  // exact for integers; floats must keep 0 * inf = nan
            for (std::int64_t j = j0; j < j1; ++j) row[j] += av * static_cast<A>(brow[j * sbn]);
          } else {
            for (std::int64_t j = j0; j < j1; ++j) row[j] += av * static_cast<A>(brow[j * sbn]);
          }
        }
      }
    }
  }
  for (std::int64_t i = i0; i < i1; ++i)
    for (std::int64_t j = 0; j < N; ++j)
      y[i * N + j] = detail::convert<T>(acc[static_cast<std::size_t>((i - i0) * N + j)]);
}

template <class T>
void loop_matmul(const Tensor& a, const Tensor& b, Tensor& y, const Dims& d) {
  const int nd = a.ndim();
  Strides bsa(a.strides().begin(), a.strides().end() - 2);
  Strides bsb(b.strides().begin(), b.strides().end() - 2);
  auto ao = batch_offsets(d.batch, bsa), bo = batch_offsets(d.batch, bsb);
  const std::int64_t sam = a.strides()[nd - 2], sak = a.strides()[nd - 1];
  const std::int64_t sbk = b.strides()[nd - 2], sbn = b.strides()[nd - 1];
  constexpr std::int64_t rb = 64;  // rows per task
  const std::int64_t per = (d.M + rb - 1) / rb, tasks = d.count * per;
  const double work = static_cast<double>(d.M) * d.N * d.K * d.count;
#pragma omp parallel num_threads(::emily::cpu::threads()) if (tasks > 1 && work >= 1e6)
  {
    std::vector<typename LoopAcc<T>::type> acc;
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < tasks; ++t) {
      const std::int64_t bi = t / per, i0 = (t % per) * rb;
      loop_rows<T>(a.data<T>() + ao[bi], sam, sak, b.data<T>() + bo[bi], sbk, sbn,
                   y.data<T>() + bi * d.M * d.N, i0, std::min(d.M, i0 + rb), d, acc);
    }
  }
}

void matmul_kernel(std::span<const Tensor> in, std::span<Tensor> out, const Attr&, Stream) {
  const Tensor &a = in[0], &b = in[1];
  Tensor& y = out[0];
  (void)threads();  // hands EMILY_NUM_THREADS to OpenBLAS before its first call
  const int nd = y.ndim();
  Dims d{y.shape()[nd - 2], y.shape()[nd - 1], a.shape()[nd - 1],
         Shape(y.shape().begin(), y.shape().end() - 2), 0};
  d.count = numel(d.batch);
  if (d.K == 0) {  // an empty sum: zeros (all-zero bytes are 0 in every dtype)
    std::memset(y.raw_data(), 0, y.nbytes());
    return;
  }
  const bool fits = d.M <= INT_MAX && d.N <= INT_MAX && d.K <= INT_MAX;
  visit_dtype(y.dtype(), [&]<class T>() {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, c64>) {
      if (fits) return blas_matmul<T, T>(a, b, y, d);
    } else if constexpr (detail::is_half_v<T>) {
      if (fits) return blas_matmul<float, T>(a, b, y, d);
    }
    loop_matmul<T>(a, b, y, d);
  });
}

}  // namespace

void register_matmul(KernelTable& t) {
  t.set(Primitive::matmul, matmul_kernel);
}

}  // namespace emily::cpu
