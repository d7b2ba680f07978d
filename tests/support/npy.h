// A reader for the NumPy .npy files that scripts/fixtures/ writes (format 1.0/2.0,
// little-endian, C order). Test-only: malformed files raise emily::FormatError.
#pragma once

#include <string>

#include "emily/tensor.h"

namespace emily::testing {

Tensor load_npy(const std::string& path);
Tensor parse_npy(const std::string& bytes, const std::string& what);

}  // namespace emily::testing
