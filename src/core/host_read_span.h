// The metadata of a `to_host` telemetry span, which every host read of a tensor emits
// (to_host, to_blob, HostRead::get).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "emily/tensor.h"

namespace emily::detail {

inline std::vector<std::pair<std::string, std::string>> describe_host_read(const Tensor& t) {
  return {{"shape", to_string(t.shape())},
          {"dtype", std::string(name(t.dtype()))},
          {"device", to_string(t.device())}};
}

}  // namespace emily::detail
