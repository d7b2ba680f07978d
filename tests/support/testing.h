// Test helpers: fixtures, tolerance checks and error-path assertions.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "emily/emily.h"

namespace emily::testing {

// Loads tests/fixtures/<relative> (a .npy file written by scripts/fixtures/).
Tensor fixture(const std::string& relative);
// tests/fixtures/ops/<family>/<name>.npy, the goldens of one op family's script.
Tensor op_fixture(const std::string& family, const std::string& name);
// The same for bf16 goldens, which the scripts store as raw 16-bit words.
Tensor op_fixture_bf16(const std::string& family, const std::string& name);
// Values converted to float, to compare with hand-computed lists.
std::vector<float> floats(const Tensor& t);
// 0, 1, 2, ... laid out row-major in `shape`.
Tensor iota(const Shape& shape, DType dtype = DType::f32);

// Options for compile() in `mode`, naming the function `name` (telemetry and dumps).
inline CompileOptions compile_options(CompileMode mode, const std::string& name = "fn") {
  CompileOptions o;
  o.mode = mode;
  o.name = name;
  return o;
}
inline CompileOptions native(const std::string& name = "fn") {
  return compile_options(CompileMode::native, name);
}
inline CompileOptions fuse(const std::string& name = "fn") {
  return compile_options(CompileMode::fuse, name);
}

// Elementwise |a - b| <= atol + rtol |b| (NaNs must match, infinities must be equal);
// shapes must match. Reports the first mismatch with its flat index.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol,
                                     double atol);
// f32 (and c64 parts): every element within `ulps` units in the last place of the expected
// one (NaNs must match; +0 and -0 are 0 apart). Other dtypes must be bitwise equal.
::testing::AssertionResult within_ulps(const Tensor& actual, const Tensor& expected, int ulps);
// Bitwise-equal values, shapes and dtypes.
::testing::AssertionResult all_equal(const Tensor& actual, const Tensor& expected);

}  // namespace emily::testing

// Asserts that `stmt` throws `Kind` and that its message starts with "[op]".
#define EXPECT_EMILY_ERROR(stmt, Kind, op)                                         \
  do {                                                                             \
    try {                                                                          \
      (void)(stmt);                                                                \
      ADD_FAILURE() << "expected " #Kind " from " #stmt;                           \
    } catch (const ::emily::Kind& e) {                                             \
      EXPECT_EQ(std::string(e.what()).rfind(std::string("[") + (op) + "]", 0), 0u) \
          << "message: " << e.what();                                              \
    } catch (const std::exception& e) {                                            \
      ADD_FAILURE() << "expected " #Kind " from " #stmt ", got: " << e.what();     \
    }                                                                              \
  } while (0)
