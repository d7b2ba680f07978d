// NumPy-like printing: aligned columns, "..." summaries for large tensors.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/convert.h"
#include "emily/tensor.h"

namespace emily {

namespace {

constexpr std::int64_t kSummaryThreshold = 1000;
constexpr std::int64_t kEdgeItems = 3;

std::string format_real(double v, bool all_integral) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  if (all_integral && std::fabs(v) < 1e16) {
    os << std::fixed << std::setprecision(0) << v;
  } else {
    os << std::setprecision(6) << v;
  }
  std::string s = os.str();
  if (s.find_first_of(".e") == std::string::npos) s += '.';
  return s;
}

struct Printer {
  const Tensor& t;  // host, contiguous
  bool summarize;
  std::vector<std::string> cells;  // formatted, row-major over printed positions
  std::size_t width = 0;

  std::string format(std::int64_t flat) const {
    return visit_dtype(t.dtype(), [&]<class T>() -> std::string {
      T v = t.data<T>()[flat];
      if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
      } else if constexpr (std::is_integral_v<T>) {
        return std::to_string(v);
      } else if constexpr (detail::is_complex_v<T>) {
        std::ostringstream os;
        os << std::setprecision(6) << v.real()
           << (v.imag() < 0 || std::signbit(v.imag()) ? "-" : "+") << std::fabs(v.imag()) << "j";
        return os.str();
      } else {
        return format_real(static_cast<double>(static_cast<detail::compute_t<T>>(v)), integral_);
      }
    });
  }
  bool integral_ = true;

  void scan_integral() {
    visit_dtype(t.dtype(), [&]<class T>() {
      if constexpr (detail::is_float_like_v<T>) {
        const T* p = t.data<T>();
        for (std::int64_t i = 0; i < t.size(); ++i) {
          double v = static_cast<double>(static_cast<detail::compute_t<T>>(p[i]));
          if (std::isfinite(v) && v != std::floor(v)) {
            integral_ = false;
            return;
          }
        }
      }
    });
  }

  void measure(int axis, std::int64_t base) {
    if (axis == t.ndim()) {
      width = std::max(width, format(base).size());
      return;
    }
    std::int64_t n = t.shape()[axis];
    std::int64_t stride = t.strides()[axis];
    for (std::int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
      measure(axis + 1, base + i * stride);
    }
  }

  void emit(std::ostream& os, int axis, std::int64_t base, int indent) {
    if (axis == t.ndim()) {
      std::string s = format(base);
      os << std::string(width - s.size(), ' ') << s;
      return;
    }
    std::int64_t n = t.shape()[axis];
    std::int64_t stride = t.strides()[axis];
    os << "[";
    bool last_axis = axis + 1 == t.ndim();
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on
    // "," + std::string(...).
    std::string sep = ",";
    if (last_axis) {
      sep += ' ';
    } else {
      sep.append(static_cast<std::size_t>(t.ndim() - axis - 1), '\n');
      sep.append(static_cast<std::size_t>(indent + 1), ' ');
    }
    for (std::int64_t i = 0; i < n; ++i) {
      if (i) os << sep;
      if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
        os << "..." << sep;
        i = n - kEdgeItems;
      }
      emit(os, axis + 1, base + i * stride, indent + 1);
    }
    os << "]";
  }
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  Tensor h = to_host(t);
  std::ostringstream os;
  os << "tensor(";
  Printer p{h, h.size() > kSummaryThreshold, {}};
  p.scan_integral();
  if (h.size() == 0) {
    os << std::string(static_cast<std::size_t>(std::max(h.ndim(), 1)), '[')
       << std::string(static_cast<std::size_t>(std::max(h.ndim(), 1)), ']');
  } else {
    p.measure(0, 0);
    p.emit(os, 0, 0, 7);
  }
  os << ", dtype=" << name(h.dtype());
  if (h.size() == 0) os << ", shape=" << to_string(h.shape());
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << to_string(t);
}

}  // namespace emily
