// Small device kernels that the library-driven kernel files (fft.cpp, linalg.cpp) need
// around their cuFFT and cuSOLVER calls: layout changes, scaling, identity and
// triangle fills, batch pointer arrays and the checks that turn a bad matrix into an
// error code. Host-callable, so that those files stay plain C++; everything is queued on
// the given stream and nothing synchronises.
#pragma once

#include <cstdint>

#include "emily/stream.h"
#include "emily/tensor.h"

namespace emily::cuda {

// dst[i] = src[i] for every index of their (equal) shape; either may be a strided view.
void copy_strided(const Tensor& dst, const Tensor& src, Stream s, const char* op);

// dst (c64) = src (f32) with zero imaginary parts, or dst (f32) = the real parts of src
// (c64); same shapes, either may be strided.
void real_to_complex(const Tensor& dst, const Tensor& src, Stream s, const char* op);
void real_part(const Tensor& dst, const Tensor& src, Stream s, const char* op);

// A fresh tensor with `t`'s shape and dtype whose matrices (last two axes) are stored
// column-major, the batch row-major; its values are `t`'s when `fill`.
Tensor col_major(const Tensor& t, Stream s, const char* op, bool fill = true);

// Multiplies the `n` floats (or doubles when `f64`) at `p` by `factor`.
void scale(void* p, std::int64_t n, double factor, bool f64, Stream s, const char* op);

// Device array (u64) holding the address of every matrix of `t` in batch order, for
// the libraries' pointer-array batched routines.
Tensor matrix_pointers(const Tensor& t, Stream s, const char* op);

// Row-major identity in every (n, n) matrix of the contiguous f32/f64 tensor `t`.
void fill_identity(const Tensor& t, Stream s, const char* op);

// y (batch, R, C) row-major from the column-major matrices of w (matrix stride `ws`,
// leading dimension `ld`): y[i, j] = w[i + j * ld] on the kept side of the diagonal,
// 0 elsewhere; `unit_diagonal` writes 1 there (L of an LU factorization).
enum class Part { upper, lower, unit_lower };
void extract_triangle(const Tensor& y, const Tensor& w, std::int64_t ws, std::int64_t ld, Part part,
                      Stream s, const char* op);

// Zeroes the strict upper part (keep = Part::lower) or strict lower part (Part::upper)
// of the contiguous row-major (batch, n, n) tensor `t`, in place.
void keep_triangle(const Tensor& t, Part keep, Stream s, const char* op);

// info[b] = 1 + the first i with a[b, i, i] == 0 (0 when none), as LAPACK's trtri/trtrs
// report; `a` (batch..., n, n) may be strided.
void zero_diagonal_info(const Tensor& a, int* info, Stream s, const char* op);

// info[b] = `code` when matrix b of the contiguous (batch, m, n) tensor `a` holds a NaN
// or Inf (left alone otherwise).
void nonfinite_info(const Tensor& a, int* info, int code, Stream s, const char* op);

// The permutation matrices of LU factorizations: P (batch, m, m) row-major with
// A = P L U, from getrf's 1-based pivots ipiv (batch, k) as int64.
void lu_permutation(const Tensor& P, const std::int64_t* ipiv, std::int64_t k, Stream s,
                    const char* op);

// vt (batch, k, n) contiguous, s (batch, k) descending: row j of each vt is multiplied by
// 1/s[j] where s[j] > max(m, n) * eps * s[0] and zeroed elsewhere (pinv's cutoff).
void pinv_scale_rows(const Tensor& vt, const Tensor& sv, std::int64_t mn, Stream s, const char* op);

}  // namespace emily::cuda
