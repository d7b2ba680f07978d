// The current device's multiprocessor count (read once; 132, an H100's, if the query
// fails): kernels size their grids to fill the GPU with it.
#pragma once

namespace emily::cuda {

int sm_count();

}  // namespace emily::cuda
