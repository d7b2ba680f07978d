// CUDA graphs behind emily::Recording (backend/recording.h): stream capture on the
// Emily stream's cudaStream_t, instantiated once, launched per call.
#pragma once

#include <memory>
#include <string>

#include "backend/recording.h"

namespace emily::cuda {

void begin_capture(Stream s);
std::unique_ptr<Recording> end_capture(Stream s, std::string& why);

}  // namespace emily::cuda
