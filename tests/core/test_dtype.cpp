// Oracle: the promotion table printed in docs/DTYPES.md (generated from the written
// rules by scripts/dtype_table.py); every pair of dtypes is checked against it.
#include <fstream>
#include <sstream>

#include "support/testing.h"

namespace emily {
namespace {

std::vector<std::vector<std::string>> read_doc_table() {
  std::ifstream f(std::string(EMILY_SOURCE_DIR) + "/docs/DTYPES.md");
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("| **", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '|')) {
      auto b = cell.find_first_not_of(" *"), e = cell.find_last_not_of(" *");
      if (b != std::string::npos) cells.push_back(cell.substr(b, e - b + 1));
    }
    rows.push_back(cells);
  }
  return rows;
}

TEST(DType, PromotionMatchesDocumentedTable) {
  auto rows = read_doc_table();
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kNumDTypes)) << "docs/DTYPES.md table not found";
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), static_cast<std::size_t>(kNumDTypes + 1));
    DType a = dtype_from_name(row[0]);
    for (int j = 0; j < kNumDTypes; ++j) {
      EXPECT_EQ(name(promote(a, kAllDTypes[j])), row[j + 1])
          << name(a) << " with " << name(kAllDTypes[j]);
    }
  }
}

TEST(DType, PromotionIsSymmetricAndIdempotent) {
  for (DType a : kAllDTypes) {
    EXPECT_EQ(promote(a, a), a);
    for (DType b : kAllDTypes) EXPECT_EQ(promote(a, b), promote(b, a));
  }
}

TEST(DType, NamesRoundTripAndUnknownNameIsDTypeError) {
  for (DType t : kAllDTypes) EXPECT_EQ(dtype_from_name(name(t)), t);
  EXPECT_EMILY_ERROR(dtype_from_name("f128"), DTypeError, "dtype");
}

TEST(DType, SizesMatchCppTypes) {
  visit_dtype(DType::bf16, [&]<class T>() { EXPECT_EQ(sizeof(T), 2u); });
  for (DType t : kAllDTypes) {
    visit_dtype(t, [&]<class T>() { EXPECT_EQ(sizeof(T), size_of(t)) << name(t); });
  }
}

// Oracle: IEEE 754 binary16 / bfloat16 bit patterns computed by hand.
TEST(Half, ConversionsRoundToNearestEven) {
  EXPECT_EQ(f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(f16(-2.0f).bits, 0xc000);
  EXPECT_EQ(f16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(f16(65520.0f).bits, 0x7c00);                 // rounds to inf
  EXPECT_EQ(f16(5.9604644775390625e-08f).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(f16(1.0f + 1.0f / 2048).bits, 0x3c00);       // tie to even (down)
  EXPECT_EQ(f16(1.0f + 3.0f / 2048).bits, 0x3c02);       // tie to even (up)
  EXPECT_TRUE(std::isnan(static_cast<float>(f16(std::nanf("")))));
  EXPECT_EQ(static_cast<float>(f16::from_bits(0x0001)), 5.9604644775390625e-08f);
  EXPECT_EQ(bf16(1.0f).bits, 0x3f80);
  EXPECT_EQ(bf16(1.0f + 1.0f / 256).bits, 0x3f80);  // tie to even
  EXPECT_EQ(bf16(1.0f + 3.0f / 256).bits, 0x3f82);
  EXPECT_TRUE(std::isnan(static_cast<float>(bf16(std::nanf("")))));
  for (int i = -2048; i <= 2048; ++i) EXPECT_EQ(static_cast<float>(f16(static_cast<float>(i))), i);
}

TEST(Half, ConversionsFromDoubleAndIntegersRoundOnce) {
  // Hand-derived: each value lies just above a tie of the 16-bit format, so the correctly
  // rounded result is the upper neighbour; rounding through float first lands on the
  // tie and then rounds to even (down). NumPy agrees: np.float16(1 + 2**-11 + 2**-40).
  const double just_above_f16_tie = 1.0 + 0x1p-11 + 0x1p-40;
  EXPECT_EQ(f16(just_above_f16_tie).bits, 0x3c01);
  EXPECT_EQ(bf16(1.0 + 0x1p-8 + 0x1p-40).bits, 0x3f81);
  EXPECT_EQ(f16(-just_above_f16_tie).bits, 0xbc01);
  // 2^24 + 2^16 + 1: float rounds it to 2^24 + 2^16, a bf16 tie that goes to even.
  EXPECT_EQ(static_cast<float>(bf16(std::int32_t{(1 << 24) + (1 << 16) + 1})), 0x1p24f + 0x1p17f);
  Tensor ints = tensor<std::int32_t>({(1 << 24) + (1 << 16) + 1});
  EXPECT_EQ(static_cast<float>(astype(ints, DType::bf16).item<bf16>()), 0x1p24f + 0x1p17f);
  Tensor doubles = tensor<double>({just_above_f16_tie, 1e300, -1e-300, 65519.999});
  auto h = astype(doubles, DType::f16).to_vector<f16>();
  EXPECT_EQ(h[0].bits, 0x3c01);
  EXPECT_EQ(h[1].bits, 0x7c00);              // overflow to inf
  EXPECT_EQ(h[2].bits, 0x8000);              // underflow to -0
  EXPECT_EQ(h[3].bits, 0x7bff);              // below the rounding boundary 65520
  EXPECT_EQ(f16(0.1).bits, f16(0.1f).bits);  // exact ties aside, both paths agree
}

}  // namespace
}  // namespace emily
