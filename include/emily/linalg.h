// Linear algebra on stacks of matrices, through LAPACK on the CPU. Every op takes
// (..., M, N) operands and loops over the leading (batch) axes; outputs follow NumPy and
// SciPy (docs/OPS.md, "Linear algebra").
//
// dtypes: f32 and f64 compute natively; f16 and bf16 compute in f32 and round back to
// their own dtype; bool and integers compute in f32 and return f32; c64 raises
// Unsupported. Errors (non-square or rank < 2 operands, mismatched shapes, a singular or
// non-positive-definite matrix, no convergence) raise an emily::Error naming the op.
#pragma once

#include <tuple>
#include <utility>

#include "emily/tensor.h"

namespace emily::linalg {

// L with A = L·Lᵀ, or U with A = Uᵀ·U when `upper`; only that triangle of A is read.
// ValueError when A is not positive definite.
Tensor cholesky(const Tensor& a, bool upper = false);

// Eigenvalues (ascending) and eigenvectors (as columns: A·V = V·diag(w)) of a symmetric
// matrix, of which only the lower (or, when `upper`, the upper) triangle is read.
std::pair<Tensor, Tensor> eigh(const Tensor& a, bool upper = false);

// The inverse of a square matrix; ValueError when it is singular.
Tensor inv(const Tensor& a);

// SciPy's lu: A (M, N) = P·L·U with P (M, M) a permutation matrix, L (M, K) unit lower
// triangular, U (K, N) upper triangular, K = min(M, N). A singular A is no error.
std::tuple<Tensor, Tensor, Tensor> lu(const Tensor& a);

// The Moore-Penrose pseudo-inverse (N, M) via the SVD. Singular values at or below
// max(M, N)·eps·σ_max count as zero (NumPy's pinv with rtol=None).
Tensor pinv(const Tensor& a);

// Reduced QR: Q (M, K) with orthonormal columns and R (K, N) upper triangular.
std::pair<Tensor, Tensor> qr(const Tensor& a);

// x with A·x = b. b is a vector (N,) when 1-d, else a stack of (..., N, K) matrices;
// batch axes broadcast (NumPy 2). ValueError when A is singular.
Tensor solve(const Tensor& a, const Tensor& b);

// solve() for triangular A, reading only its lower (or, when `upper`, upper) triangle.
Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper = false);

// Reduced SVD (NumPy's full_matrices=False): A = U·diag(S)·Vᵀ with U (M, K), S (K,)
// descending, Vᵀ (K, N). Without compute_uv, U and Vᵀ are undefined tensors.
std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& a, bool compute_uv = true);

}  // namespace emily::linalg

namespace emily {

// The inverse of a triangular matrix, reading only its lower (or, when `upper`, upper)
// triangle; the other triangle of the result is zero. ValueError on a zero diagonal.
Tensor tri_inv(const Tensor& a, bool upper = false);

}  // namespace emily
