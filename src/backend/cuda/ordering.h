// The ordering family's kernel files register through register_ordering (ordering.cu);
// these are its other two files' parts.
#pragma once

#include "emily/backend.h"

namespace emily::cuda {

void register_scans(KernelTable& t);  // scan.cu: cumulative_sum/product/max/min
void register_sorts(KernelTable& t);  // sort.cu: sort argsort top_k

}  // namespace emily::cuda
