#include "emily/shape.h"

#include <algorithm>

#include "emily/error.h"

namespace emily {

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Strides row_major_strides(const Shape& s) {
  Strides st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

std::string to_string(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

int normalize_axis(const char* op, int axis, int rank) {
  if (axis < -rank || axis >= rank) {
    EMILY_THROW(ShapeError, op, "axis ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int> normalize_axes(const char* op, const std::vector<int>& axes, int rank) {
  std::vector<int> out;
  out.reserve(axes.size());
  for (int a : axes) {
    int n = normalize_axis(op, a, rank);
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      EMILY_THROW(ShapeError, op, "axis ", a, " is repeated");
    }
    out.push_back(n);
  }
  return out;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      EMILY_THROW(ShapeError, op, "shapes ", to_string(a), " and ", to_string(b),
                  " cannot be broadcast together");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace emily
