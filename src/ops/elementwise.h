// Helpers shared by the elementwise op families.
#pragma once

#include <vector>

#include "emily/ops.h"

namespace emily::detail {

// Broadcasts all inputs to their common shape (views, no copies); ShapeError naming op.
std::vector<Tensor> broadcast_all(const char* op, const std::vector<Tensor>& inputs);

}  // namespace emily::detail
