// Discrete Fourier transforms with NumPy's semantics (numpy.fft), on the CPU through
// FFTW in single precision.
//
// Conventions (docs/OPS.md, "FFT"):
// - `n` (or an entry of `s`) is the transform length: the input is cropped or padded with
//   zeros to it along the axis first; -1 means the axis's own length. Any other n <= 0
//   raises ValueError.
// - Normalization is NumPy's default ("backward"): forward transforms are unscaled,
//   inverse transforms are scaled by 1/n (by 1/(n1 n2 ...) for ifft2).
// - Results are c64 (irfft: f32). Emily has no c128, so f64 inputs are transformed in
//   single precision as well: they are converted to c64 (rfft: to f32) first.
#pragma once

#include <vector>

#include "emily/tensor.h"

namespace emily {

// Complex transforms along one axis. Real, integer and bool inputs are converted to c64.
Tensor fft(const Tensor& x, std::int64_t n = -1, int axis = -1);
Tensor ifft(const Tensor& x, std::int64_t n = -1, int axis = -1);

// Complex transforms over several axes (NumPy's fft2/ifft2, which also take more or fewer
// than two axes). `s` gives one length per axis (empty: the axes' own lengths); repeated
// axes raise ShapeError. With no axes at all the input comes back converted to c64.
Tensor fft2(const Tensor& x, const Shape& s = {}, const std::vector<int>& axes = {-2, -1});
Tensor ifft2(const Tensor& x, const Shape& s = {}, const std::vector<int>& axes = {-2, -1});

// Transform of a real signal: n/2 + 1 non-negative frequency bins, c64. The input is
// converted to f32 (bool, integers, f16, bf16, f64); complex inputs raise DTypeError, as
// NumPy 2 does.
Tensor rfft(const Tensor& x, std::int64_t n = -1, int axis = -1);
// Inverse of rfft: a real signal of length n (default 2 (m - 1) for m input bins), f32.
// The input is cropped or zero-padded to n/2 + 1 bins first; the imaginary parts of the
// zero-frequency bin (and, for even n, of the last bin) are ignored, as in NumPy. Real
// inputs are taken as complex with a zero imaginary part.
Tensor irfft(const Tensor& x, std::int64_t n = -1, int axis = -1);

}  // namespace emily
