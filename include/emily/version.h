#pragma once

namespace emily {
inline constexpr const char* kVersion = "0.1.0";
}
