// Helpers shared by the elementwise op families.
#pragma once

#include <vector>

#include "emily/ops.h"

namespace emily::detail {

// Broadcasts all inputs to their common shape (views, no copies); ShapeError naming op.
std::vector<Tensor> broadcast_all(const char* op, const std::vector<Tensor>& inputs);

// The dtype of a C++ scalar `value` beside a tensor of dtype `like` (scalar_like's rule,
// in ops.h); ValueError when a whole number does not fit `like`'s integer type.
DType scalar_dtype(DType like, double value);

// `a op value`, or `value op a` with `scalar_first`, for op one of add, subtract,
// multiply and divide: the operators with a C++ number (select.cpp). Same dtypes and
// values as op(a, scalar_like(a, value)); on a GPU whose kernel takes host scalars the
// value travels as a kernel argument instead of an upload per call.
Tensor binary_scalar(Primitive p, const Tensor& a, double value, bool scalar_first);

}  // namespace emily::detail
