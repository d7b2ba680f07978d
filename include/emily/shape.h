// Shapes and strides. Strides are in elements, not bytes, and may be 0 (broadcast) or
// negative only where an op documents it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace emily {

using Shape = std::vector<std::int64_t>;
using Strides = std::vector<std::int64_t>;

std::int64_t numel(const Shape& s);
Strides row_major_strides(const Shape& s);
std::string to_string(const Shape& s);  // "(2, 3)"

// Maps a possibly negative axis into [0, rank); ShapeError naming `op` otherwise.
int normalize_axis(const char* op, int axis, int rank);
std::vector<int> normalize_axes(const char* op, const std::vector<int>& axes, int rank);

// NumPy broadcasting of two or more shapes; ShapeError naming `op` on mismatch.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

}  // namespace emily
