#include "backend/cuda/math_helpers.h"

#include <algorithm>
#include <limits>

#include "backend/cuda/launch.cuh"

namespace emily::cuda {

namespace {

unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 65536));
}

#define EMILY_GRID_LOOP(i, n)                                                                      \
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

template <class W>
struct Move {
  W* y;
  const W* x;
  __device__ void operator()(std::int64_t, const std::int64_t (&o)[2]) const { y[o[0]] = x[o[1]]; }
};

struct ToComplex {
  float2* y;
  const float* x;
  __device__ void operator()(std::int64_t, const std::int64_t (&o)[2]) const {
    y[o[0]] = make_float2(x[o[1]], 0.0f);
  }
};

struct RealPart {
  float* y;
  const float2* x;
  __device__ void operator()(std::int64_t, const std::int64_t (&o)[2]) const {
    y[o[0]] = x[o[1]].x;
  }
};

template <int N>
Layout<N> layout_or_throw(const Tensor& dst, const Tensor& src, const char* op) {
  Layout<N> L;
  if (!make_layout<N>(dst.shape(), {&dst.strides(), &src.strides()}, L))
    EMILY_THROW(Unsupported, op, "a copy over more than ", kMaxDims, " unmergeable axes");
  return L;
}

template <class T>
__global__ void scale_kernel(T* p, std::int64_t n, T f) {
  EMILY_GRID_LOOP(i, n) p[i] *= f;
}

struct PointerStep {
  std::uint64_t* out;
  std::uint64_t base;
  std::int64_t itemsize;
  __device__ void operator()(std::int64_t i, const std::int64_t (&o)[1]) const {
    out[i] = base + static_cast<std::uint64_t>(o[0] * itemsize);
  }
};

template <class T>
__global__ void identity_kernel(T* t, std::int64_t total, std::int64_t n) {
  EMILY_GRID_LOOP(e, total) {
    const std::int64_t r = (e / n) % n, c = e % n;
    t[e] = r == c ? T(1) : T(0);
  }
}

template <class T>
__global__ void triangle_kernel(T* y, const T* w, std::int64_t total, std::int64_t R,
                                std::int64_t C, std::int64_t ws, std::int64_t ld, Part part) {
  EMILY_GRID_LOOP(e, total) {
    const std::int64_t j = e % C, i = (e / C) % R, b = e / (R * C);
    const T v = w[b * ws + i + j * ld];
    switch (part) {
      case Part::upper:
        y[e] = i <= j ? v : T(0);
        break;
      case Part::lower:
        y[e] = i >= j ? v : T(0);
        break;
      case Part::unit_lower:
        y[e] = i == j ? T(1) : (i > j ? v : T(0));
        break;
    }
  }
}

template <class T>
__global__ void keep_kernel(T* t, std::int64_t total, std::int64_t n, bool lower) {
  EMILY_GRID_LOOP(e, total) {
    const std::int64_t c = e % n, r = (e / n) % n;
    if (lower ? r < c : r > c) t[e] = T(0);
  }
}

template <class T>
__global__ void zero_diagonal_kernel(const std::uint64_t* mats, std::int64_t count, std::int64_t n,
                                     std::int64_t diag_stride, int* info) {
  EMILY_GRID_LOOP(b, count) {
    const T* a = reinterpret_cast<const T*>(mats[b]);
    int found = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (a[i * diag_stride] == T(0)) {
        found = static_cast<int>(i + 1);
        break;
      }
    }
    info[b] = found;
  }
}

// One block per matrix: any thread that sees a non-finite value raises the flag.
template <class T>
__global__ void nonfinite_kernel(const T* a, std::int64_t per, int* info, int code) {
  const T* m = a + blockIdx.x * per;
  bool bad = false;
  for (std::int64_t i = threadIdx.x; i < per; i += blockDim.x) bad = bad || !isfinite(m[i]);
  if (__syncthreads_or(bad) && threadIdx.x == 0) info[blockIdx.x] = code;
}

// One thread per matrix replays getrf's row swaps; the matrix was zeroed beforehand.
template <class T>
__global__ void permutation_kernel(T* P, const std::int64_t* ipiv, std::int64_t count,
                                   std::int64_t m, std::int64_t k, std::int64_t* perm_all) {
  EMILY_GRID_LOOP(b, count) {
    std::int64_t* perm = perm_all + b * m;
    for (std::int64_t r = 0; r < m; ++r) perm[r] = r;
    for (std::int64_t r = 0; r < k; ++r) {
      const std::int64_t q = ipiv[b * k + r] - 1;
      const std::int64_t t = perm[r];
      perm[r] = perm[q];
      perm[q] = t;
    }
    // Row r of L·U is row perm[r] of A, so P[perm[r], r] = 1.
    for (std::int64_t r = 0; r < m; ++r) P[b * m * m + perm[r] * m + r] = T(1);
  }
}

template <class T>
__global__ void pinv_rows_kernel(T* vt, const T* sv, std::int64_t total, std::int64_t k,
                                 std::int64_t n, T mn) {
  EMILY_GRID_LOOP(e, total) {
    const std::int64_t b = e / (k * n), j = (e / n) % k;
    const T sj = sv[b * k + j];
    const T cut = mn * std::numeric_limits<T>::epsilon() * sv[b * k];
    vt[e] = sj > cut ? vt[e] / sj : T(0);
  }
}

template <class F>
void visit_float(DType d, F&& f) {
  if (d == DType::f64)
    f.template operator()<double>();
  else
    f.template operator()<float>();
}

std::int64_t batch_count(const Tensor& t) {
  std::int64_t c = 1;
  for (int d = 0; d < t.ndim() - 2; ++d) c *= t.shape()[d];
  return c;
}

}  // namespace

void copy_strided(const Tensor& dst, const Tensor& src, Stream s, const char* op) {
  const Layout<2> L = layout_or_throw<2>(dst, src, op);
  visit_word(dst.itemsize(), [&]<std::size_t W>() {
    launch<2>(L, s, op,
              Move<Word<W>>{static_cast<Word<W>*>(dst.raw_data()),
                            static_cast<const Word<W>*>(src.raw_data())});
  });
}

void real_to_complex(const Tensor& dst, const Tensor& src, Stream s, const char* op) {
  launch<2>(layout_or_throw<2>(dst, src, op), s, op,
            ToComplex{static_cast<float2*>(dst.raw_data()), src.data<float>()});
}

void real_part(const Tensor& dst, const Tensor& src, Stream s, const char* op) {
  launch<2>(layout_or_throw<2>(dst, src, op), s, op,
            RealPart{dst.data<float>(), static_cast<const float2*>(src.raw_data())});
}

Tensor col_major(const Tensor& t, Stream s, const char* op, bool fill) {
  const int nd = t.ndim();
  Shape stored = t.shape();
  std::swap(stored[nd - 1], stored[nd - 2]);
  Tensor buf = Tensor::empty(stored, t.dtype(), t.device());
  Strides st = buf.strides();
  std::swap(st[nd - 1], st[nd - 2]);
  Tensor view = buf.with_layout(t.dtype(), t.shape(), st, buf.offset());
  if (fill && t.size() > 0) copy_strided(view, t, s, op);
  return view;
}

void scale(void* p, std::int64_t n, double factor, bool f64, Stream s, const char* op) {
  if (n == 0) return;
  if (f64)
    scale_kernel<<<blocks_for(n), kThreads, 0, stream(s)>>>(static_cast<double*>(p), n, factor);
  else
    scale_kernel<<<blocks_for(n), kThreads, 0, stream(s)>>>(static_cast<float*>(p), n,
                                                            static_cast<float>(factor));
  check_launch(op);
}

Tensor matrix_pointers(const Tensor& t, Stream s, const char* op) {
  const Shape batch(t.shape().begin(), t.shape().end() - 2);
  const Strides bst(t.strides().begin(), t.strides().end() - 2);
  Tensor out = Tensor::empty({numel(batch)}, DType::u64, t.device());
  Layout<1> L;
  if (!make_layout<1>(batch, {&bst}, L))
    EMILY_THROW(Unsupported, op, "more than ", kMaxDims, " unmergeable batch axes");
  launch<1>(L, s, op,
            PointerStep{static_cast<std::uint64_t*>(out.raw_data()),
                        reinterpret_cast<std::uint64_t>(t.raw_data()),
                        static_cast<std::int64_t>(t.itemsize())});
  return out;
}

void fill_identity(const Tensor& t, Stream s, const char* op) {
  const std::int64_t n = t.shape(-1), total = t.size();
  if (total == 0) return;
  visit_float(t.dtype(), [&]<class T>() {
    identity_kernel<<<blocks_for(total), kThreads, 0, stream(s)>>>(t.data<T>(), total, n);
  });
  check_launch(op);
}

void extract_triangle(const Tensor& y, const Tensor& w, std::int64_t ws, std::int64_t ld, Part part,
                      Stream s, const char* op) {
  const std::int64_t total = y.size();
  if (total == 0) return;
  visit_float(y.dtype(), [&]<class T>() {
    triangle_kernel<<<blocks_for(total), kThreads, 0, stream(s)>>>(
        y.data<T>(), w.data<T>(), total, y.shape(-2), y.shape(-1), ws, ld, part);
  });
  check_launch(op);
}

void keep_triangle(const Tensor& t, Part keep, Stream s, const char* op) {
  const std::int64_t total = t.size();
  if (total == 0) return;
  visit_float(t.dtype(), [&]<class T>() {
    keep_kernel<<<blocks_for(total), kThreads, 0, stream(s)>>>(t.data<T>(), total, t.shape(-1),
                                                               keep != Part::upper);
  });
  check_launch(op);
}

void zero_diagonal_info(const Tensor& a, int* info, Stream s, const char* op) {
  const std::int64_t count = batch_count(a);
  if (count == 0) return;
  Tensor mats = matrix_pointers(a, s, op);
  const std::int64_t diag = a.strides()[a.ndim() - 1] + a.strides()[a.ndim() - 2];
  visit_float(a.dtype(), [&]<class T>() {
    zero_diagonal_kernel<T><<<blocks_for(count), kThreads, 0, stream(s)>>>(
        static_cast<const std::uint64_t*>(mats.raw_data()), count, a.shape(-1), diag, info);
  });
  check_launch(op);
}

void nonfinite_info(const Tensor& a, int* info, int code, Stream s, const char* op) {
  const std::int64_t count = batch_count(a), per = a.shape(-1) * a.shape(-2);
  if (count == 0 || per == 0) return;
  // One block per matrix: batches beyond the grid limit go in slices.
  constexpr std::int64_t kMaxBlocks = 65535;
  visit_float(a.dtype(), [&]<class T>() {
    for (std::int64_t b0 = 0; b0 < count; b0 += kMaxBlocks) {
      const auto nb = static_cast<unsigned>(std::min(kMaxBlocks, count - b0));
      nonfinite_kernel<<<nb, kThreads, 0, stream(s)>>>(a.data<T>() + b0 * per, per, info + b0,
                                                       code);
    }
  });
  check_launch(op);
}

void lu_permutation(const Tensor& P, const std::int64_t* ipiv, std::int64_t k, Stream s,
                    const char* op) {
  const std::int64_t count = batch_count(P), m = P.shape(-1);
  if (count == 0 || m == 0) return;
  cudaStream_t cs = stream(s);
  check(cudaMemsetAsync(P.raw_data(), 0, P.nbytes(), cs), op, "cudaMemsetAsync");
  Tensor perm = Tensor::empty({count, m}, DType::s64, P.device());
  visit_float(P.dtype(), [&]<class T>() {
    permutation_kernel<<<blocks_for(count), kThreads, 0, cs>>>(
        P.data<T>(), ipiv, count, m, k, static_cast<std::int64_t*>(perm.raw_data()));
  });
  check_launch(op);
}

void pinv_scale_rows(const Tensor& vt, const Tensor& sv, std::int64_t mn, Stream s,
                     const char* op) {
  const std::int64_t total = vt.size();
  if (total == 0) return;
  visit_float(vt.dtype(), [&]<class T>() {
    pinv_rows_kernel<<<blocks_for(total), kThreads, 0, stream(s)>>>(
        vt.data<T>(), sv.data<T>(), total, vt.shape(-2), vt.shape(-1), static_cast<T>(mn));
  });
  check_launch(op);
}

}  // namespace emily::cuda
