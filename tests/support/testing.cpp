#include "support/testing.h"

#include <cmath>
#include <cstring>
#include <iomanip>

#include "support/npy.h"

namespace emily::testing {

Tensor fixture(const std::string& relative) {
  return load_npy(std::string(EMILY_FIXTURES_DIR) + "/" + relative);
}

Tensor op_fixture(const std::string& family, const std::string& name) {
  return fixture("ops/" + family + "/" + name + ".npy");
}

Tensor op_fixture_bf16(const std::string& family, const std::string& name) {
  return view(op_fixture(family, name), DType::bf16);
}

std::vector<float> floats(const Tensor& t) {
  return t.to_vector<float>();
}

Tensor iota(const Shape& shape, DType dtype) {
  return reshape(arange(0, static_cast<double>(numel(shape)), 1, dtype), shape);
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol,
                                     double atol) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << to_string(actual.shape()) << " != expected "
                                         << to_string(expected.shape());
  }
  bool cplx = is_complex(actual.dtype()) || is_complex(expected.dtype());
  auto a = cplx ? astype(actual, DType::c64).to_vector<c64>() : std::vector<c64>();
  auto b = cplx ? astype(expected, DType::c64).to_vector<c64>() : std::vector<c64>();
  auto ar = cplx ? std::vector<double>() : actual.to_vector<double>();
  auto br = cplx ? std::vector<double>() : expected.to_vector<double>();
  std::size_t n = cplx ? a.size() : ar.size();
  auto close = [&](double x, double y) {
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    if (std::isinf(x) || std::isinf(y)) return x == y;
    return std::fabs(x - y) <= atol + rtol * std::fabs(y);
  };
  for (std::size_t i = 0; i < n; ++i) {
    bool ok = cplx ? close(a[i].real(), b[i].real()) && close(a[i].imag(), b[i].imag())
                   : close(ar[i], br[i]);
    if (!ok) {
      auto f = ::testing::AssertionFailure() << "element " << i << ": ";
      if (cplx)
        f << a[i] << " vs expected " << b[i];
      else
        f << std::setprecision(10) << ar[i] << " vs expected " << br[i];
      return f << " (rtol " << rtol << ", atol " << atol << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_equal(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype()) {
    return ::testing::AssertionFailure()
           << "dtype " << name(actual.dtype()) << " != expected " << name(expected.dtype());
  }
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << to_string(actual.shape()) << " != expected "
                                         << to_string(expected.shape());
  }
  Tensor a = to_host(actual), b = to_host(expected);
  std::size_t w = a.itemsize();
  const auto* pa = static_cast<const unsigned char*>(a.raw_data());
  const auto* pb = static_cast<const unsigned char*>(b.raw_data());
  for (std::int64_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(pa + i * w, pb + i * w, w) != 0) {
      return ::testing::AssertionFailure() << "element " << i << " differs: " << to_string(actual)
                                           << " vs expected " << to_string(expected);
    }
  }
  return ::testing::AssertionSuccess();
}

namespace {
// f32 bits mapped to integers ordered like the floats: adjacent floats differ by one.
std::int64_t ordered(float f) {
  std::int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i < 0 ? -static_cast<std::int64_t>(i & 0x7fffffff) : i;
}
}  // namespace

::testing::AssertionResult within_ulps(const Tensor& actual, const Tensor& expected, int ulps) {
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape() ||
      (actual.dtype() != DType::f32 && actual.dtype() != DType::c64))
    return all_equal(actual, expected);
  Tensor a = to_host(actual), b = to_host(expected);
  const auto* pa = static_cast<const float*>(a.raw_data());
  const auto* pb = static_cast<const float*>(b.raw_data());
  const std::int64_t n = a.size() * (a.dtype() == DType::c64 ? 2 : 1);
  for (std::int64_t i = 0; i < n; ++i) {
    const bool na = std::isnan(pa[i]), nb = std::isnan(pb[i]);
    const std::int64_t d = std::abs(ordered(pa[i]) - ordered(pb[i]));
    if (na != nb || (!na && d > ulps)) {
      return ::testing::AssertionFailure()
             << "float " << i << ": " << pa[i] << " vs expected " << pb[i] << " (" << d
             << " ulps apart, limit " << ulps << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace emily::testing
