// Group-wise quantization (emily/quantization.h): the packed layout, quantize, and the
// dequantize kernel. Oracles, per test: a bit-by-bit packer written here from the
// documented layout; the documented quantization rule evaluated here in f32; the
// analytical round-trip bound; and dequantize's decomposition (quant::DecomposeGuard),
// which the kernel must equal bitwise.
#include <cmath>
#include <functional>
#include <set>

#include "emily/quantization.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_equal;
using testing::floats;

const std::vector<int> kBits = {2, 3, 4, 6, 8};
const std::vector<int> kGroups = {32, 64, 128};

// Codes packed one bit at a time: bit b of element j's code is bit bits * j + b of the
// row's stream, and bit i of the stream is bit i % 32 of word i / 32.
std::vector<std::uint32_t> pack_by_bits(const std::vector<std::uint32_t>& codes, std::int64_t rows,
                                        std::int64_t cols, int bits) {
  const std::int64_t words = cols * bits / 32;
  std::vector<std::uint32_t> out(static_cast<std::size_t>(rows * words), 0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j)
      for (int b = 0; b < bits; ++b) {
        if (!((codes[r * cols + j] >> b) & 1u)) continue;
        const std::int64_t i = bits * j + b;
        out[r * words + i / 32] |= 1u << (i % 32);
      }
  return out;
}

// The inverse, also bit by bit.
std::vector<std::uint32_t> unpack_by_bits(const std::vector<std::uint32_t>& words,
                                          std::int64_t rows, std::int64_t cols, int bits) {
  const std::int64_t row_words = cols * bits / 32;
  std::vector<std::uint32_t> codes(static_cast<std::size_t>(rows * cols), 0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j)
      for (int b = 0; b < bits; ++b) {
        const std::int64_t i = bits * j + b;
        if ((words[r * row_words + i / 32] >> (i % 32)) & 1u) codes[r * cols + j] |= 1u << b;
      }
  return codes;
}

std::vector<std::uint32_t> lcg_words(std::size_t n, std::uint32_t state) {
  std::vector<std::uint32_t> out(n);
  for (auto& w : out) w = state = state * 1664525u + 1013904223u;
  return out;
}

std::string label(int bits, int group, DType t) {
  return "bits " + std::to_string(bits) + " group " + std::to_string(group) + " " +
         std::string(name(t));
}

// The names of the primitives `fn` dispatches.
std::set<std::string> dispatched(const std::function<void()>& fn) {
  std::set<std::string> seen;
  auto id = telemetry::attach("emily.eval.start", [&](const telemetry::Event& e) {
    if (const std::string* op = e.find("op")) seen.insert(*op);
  });
  fn();
  telemetry::detach(id);
  return seen;
}

// ---- layout ----------------------------------------------------------------------------

// Oracle: codes packed bit by bit here, and w = s * q + b evaluated here in f32 with the
// product rounded before the bias (volatile keeps the two roundings); tolerance 0. Run
// both by the kernel and by the decomposition.
TEST(Quantization, DequantizeReadsTheDocumentedBitStream) {
  for (int bits : kBits) {
    for (int group : kGroups) {
      SCOPED_TRACE(label(bits, group, DType::f32));
      const std::int64_t rows = 3, cols = 256, groups = cols / group;
      std::vector<std::uint32_t> codes = lcg_words(static_cast<std::size_t>(rows * cols), 99);
      for (auto& c : codes) c >>= 32 - bits;
      std::vector<float> scales(static_cast<std::size_t>(rows * groups)), biases(scales.size());
      for (std::size_t g = 0; g < scales.size(); ++g) {
        scales[g] = 0.01f * static_cast<float>(g + 1) * (g % 2 ? -1.0f : 1.0f);
        biases[g] = 0.3f - 0.07f * static_cast<float>(g);
      }
      QuantizedTensor q{tensor(pack_by_bits(codes, rows, cols, bits), {rows, cols * bits / 32}),
                        tensor(scales, {rows, groups}), tensor(biases, {rows, groups}), bits,
                        group};
      EXPECT_EQ(q.shape(), (Shape{rows, cols}));
      std::vector<float> expected(static_cast<std::size_t>(rows * cols));
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < cols; ++j) {
          const std::size_t g = r * groups + j / group;
          volatile float product = scales[g] * static_cast<float>(codes[r * cols + j]);
          expected[r * cols + j] = product + biases[g];
        }
      const Tensor want = tensor(expected, {rows, cols});
      EXPECT_TRUE(all_equal(dequantize(q), want));
      quant::DecomposeGuard guard;
      EXPECT_TRUE(all_equal(dequantize(q), want));
    }
  }
}

// 2, 4 and 8 bits keep the word-aligned layout GGUF repacking relies on: element j at
// bit bits * (j % (32 / bits)) of word j / (32 / bits). Oracle: that formula.
TEST(Quantization, AlignedWidthsKeepTheirWordLayout) {
  for (int bits : {2, 4, 8}) {
    const std::int64_t cols = 64;
    std::vector<std::uint32_t> codes(cols);
    for (std::int64_t j = 0; j < cols; ++j)
      codes[j] = static_cast<std::uint32_t>(j * 7 + 3) % (1u << bits);
    std::vector<std::uint32_t> words = pack_by_bits(codes, 1, cols, bits);
    const int per = 32 / bits;
    for (std::int64_t j = 0; j < cols; ++j)
      EXPECT_EQ((words[j / per] >> (bits * (j % per))) & ((1u << bits) - 1), codes[j]) << j;
  }
}

// ---- quantize --------------------------------------------------------------------------

// Oracle: the documented rule evaluated here in f32 (bias = min, scale = (max - min) /
// (2^bits - 1) rounded to f32, code = clamp(nearbyint((w - bias) / scale)), which rounds
// half to even like the op), codes read back bit by bit; tolerance 0 on codes, scales
// and biases.
TEST(Quantization, QuantizeFollowsTheDocumentedRule) {
  for (int bits : kBits) {
    for (int group : kGroups) {
      SCOPED_TRACE(label(bits, group, DType::f32));
      const std::int64_t rows = 4, cols = 256, groups = cols / group;
      Tensor w = random::normal(random::key(static_cast<std::uint64_t>(bits * 1000 + group)),
                                {rows, cols});
      std::vector<float> v = floats(w);
      for (std::int64_t j = 0; j < group; ++j) v[j] = 0.625f;  // a constant group
      w = tensor(v, {rows, cols});
      QuantizedTensor q = quantize(w, group, bits);
      ASSERT_EQ(q.packed.shape(), (Shape{rows, cols * bits / 32}));
      ASSERT_EQ(q.scales.shape(), (Shape{rows, groups}));
      EXPECT_EQ(q.bits, bits);
      EXPECT_EQ(q.group_size, group);
      const std::vector<std::uint32_t> codes =
          unpack_by_bits(q.packed.to_vector<std::uint32_t>(), rows, cols, bits);
      const std::vector<float> scales = floats(q.scales), biases = floats(q.biases);
      const float top = static_cast<float>((1 << bits) - 1);
      int bad_codes = 0, bad_params = 0;
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t g = 0; g < groups; ++g) {
          const float* x = &v[r * cols + g * group];
          const float lo = *std::min_element(x, x + group), hi = *std::max_element(x, x + group);
          const float scale = (hi - lo) / top;
          if (scales[r * groups + g] != scale || biases[r * groups + g] != lo) ++bad_params;
          for (std::int64_t j = 0; j < group; ++j) {
            const float divisor = scale == 0 ? 1.0f : scale;
            const float code = std::clamp(std::nearbyint((x[j] - lo) / divisor), 0.0f, top);
            if (codes[r * cols + g * group + j] != static_cast<std::uint32_t>(code)) ++bad_codes;
          }
        }
      EXPECT_EQ(bad_params, 0);
      EXPECT_EQ(bad_codes, 0);
      EXPECT_EQ(floats(q.scales)[0], 0.0f);  // the constant group
    }
  }
}

// The round-trip guarantee. Oracle: the analytical bound |dequantize(quantize(w)) - w|
// <= scale / 2 + 6 u amax per element, u the unit roundoff of w's dtype (2^-24, 2^-11,
// 2^-8) and amax the group's largest magnitude: codes are chosen for the rounded scale
// and bias, so rounding them costs only at the clamp (<= 3 u amax), and dequantizing in
// the dtype rounds the product and the sum (<= 3 u amax together).
TEST(Quantization, RoundTripIsWithinHalfAStep) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    const double u = dtype == DType::f32   ? std::ldexp(1.0, -24)
                     : dtype == DType::f16 ? std::ldexp(1.0, -11)
                                           : std::ldexp(1.0, -8);
    for (int bits : kBits) {
      for (int group : kGroups) {
        SCOPED_TRACE(label(bits, group, dtype));
        const std::int64_t rows = 3, cols = 384, groups = cols / group;
        Tensor w = random::normal(random::key(static_cast<std::uint64_t>(7 * bits + group)),
                                  {rows, cols}, dtype, 0.5, 2.0);
        QuantizedTensor q = quantize(w, group, bits);
        EXPECT_EQ(q.scales.dtype(), dtype);
        EXPECT_EQ(q.biases.dtype(), dtype);
        const Tensor back = dequantize(q);
        ASSERT_EQ(back.dtype(), dtype);
        const std::vector<float> x = floats(w), y = floats(back), s = floats(q.scales);
        int violations = 0;
        double worst = 0;
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t g = 0; g < groups; ++g) {
            double amax = 0;
            for (std::int64_t j = 0; j < group; ++j)
              amax = std::max(amax, std::fabs(double(x[r * cols + g * group + j])));
            const double bound = s[r * groups + g] / 2.0 + 6 * u * amax;
            for (std::int64_t j = 0; j < group; ++j) {
              const std::int64_t i = r * cols + g * group + j;
              const double err = std::fabs(double(y[i]) - double(x[i]));
              worst = std::max(worst, err / bound);
              if (err > bound) ++violations;
            }
          }
        EXPECT_EQ(violations, 0) << "worst error / bound " << worst;
      }
    }
  }
}

// A constant row (every group of zero range) comes back exactly. Oracle: the input.
TEST(Quantization, ConstantGroupsRoundTripExactly) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    Tensor w = full({2, 128}, -1.375, dtype);
    EXPECT_TRUE(all_equal(dequantize(quantize(w, 64, 4)), w)) << name(dtype);
  }
}

// Oracle: eager quantize; a compiled plan (native replay and fused) returns the same bits.
TEST(Quantization, QuantizeRunsUnderCompile) {
  Tensor w = random::normal(random::key(5), {4, 192});
  QuantizedTensor eager = quantize(w, 64, 6);
  auto fn = [](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    QuantizedTensor q = quantize(in[0], 64, 6);
    return {q.packed, q.scales, q.biases};
  };
  for (CompileMode mode : {CompileMode::native, CompileMode::fuse}) {
    auto f = compile(fn, testing::compile_options(mode, "quantize"));
    for (int call = 0; call < 2; ++call) {
      std::vector<Tensor> got = f({w});
      EXPECT_TRUE(all_equal(got[0], eager.packed));
      if (mode == CompileMode::native) {
        EXPECT_TRUE(all_equal(got[1], eager.scales));
        EXPECT_TRUE(all_equal(got[2], eager.biases));
      }
    }
  }
}

// ---- the dequantize kernel -------------------------------------------------------------

// Oracle: the decomposition (catalogue ops) on the same operands; tolerance 0 (bitwise),
// for every width, group size and scales dtype, including views as operands.
TEST(Quantization, DequantizeKernelEqualsTheDecomposition) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::f64}) {
    for (int bits : kBits) {
      for (int group : kGroups) {
        SCOPED_TRACE(label(bits, group, dtype));
        const std::int64_t rows = 6, cols = 384, groups = cols / group;
        Tensor packed = tensor(lcg_words(static_cast<std::size_t>(rows * cols * bits / 32), 7),
                               {2, 3, cols * bits / 32});
        Tensor key = random::key(static_cast<std::uint64_t>(bits + group));
        Tensor scales = astype(random::normal(key, {2, 3, groups}, DType::f32, 0.0, 0.1), dtype);
        Tensor biases = astype(random::normal(random::key(99), {2, 3, groups}, DType::f32), dtype);
        Tensor kernel;
        std::set<std::string> ops =
            dispatched([&] { kernel = dequantize(packed, scales, biases, group, bits); });
        EXPECT_TRUE(ops.count("dequantize"));
        Tensor reference;
        {
          quant::DecomposeGuard guard;
          ops = dispatched([&] { reference = dequantize(packed, scales, biases, group, bits); });
        }
        EXPECT_FALSE(ops.count("dequantize"));
        EXPECT_TRUE(all_equal(kernel, reference));
        // Views: the second row block, and transposed-then-back scales.
        Tensor p1 = slice(packed, {1, 0, 0}, {2, 3, cols * bits / 32});
        Tensor s1 = swapaxes(swapaxes(slice(scales, {1, 0, 0}, {2, 3, groups}), 1, 2), 1, 2);
        Tensor b1 = slice(biases, {1, 0, 0}, {2, 3, groups});
        EXPECT_TRUE(all_equal(dequantize(p1, s1, b1, group, bits),
                              slice(reference, {1, 0, 0}, {2, 3, cols})));
      }
    }
  }
}

// ---- errors ----------------------------------------------------------------------------

TEST(Quantization, BadArgumentsNameTheOp) {
  Tensor w = zeros({2, 64});
  EXPECT_EMILY_ERROR(quantize(w, 64, 5), ValueError, "quantize");
  EXPECT_EMILY_ERROR(quantize(w, 64, 1), ValueError, "quantize");
  EXPECT_EMILY_ERROR(quantize(w, 16, 4), ValueError, "quantize");
  EXPECT_EMILY_ERROR(quantize(w, 48, 4), ValueError, "quantize");
  EXPECT_EMILY_ERROR(quantize(zeros({2, 96}), 64, 4), ShapeError, "quantize");
  EXPECT_EMILY_ERROR(quantize(zeros({}), 32, 4), ShapeError, "quantize");
  EXPECT_EMILY_ERROR(quantize(zeros({2, 64}, DType::f64), 64, 4), DTypeError, "quantize");
  EXPECT_EMILY_ERROR(quantize(zeros({2, 64}, DType::s32), 64, 4), DTypeError, "quantize");
  EXPECT_EMILY_ERROR(quantize(Tensor(), 64, 4), Error, "quantize");

  // 3-bit rows of 64: 6 words per row.
  Tensor packed = zeros({2, 6}, DType::u32), s = zeros({2, 2}), b = zeros({2, 2});
  EXPECT_EQ(dequantize(packed, s, b, 32, 3).shape(), (Shape{2, 64}));
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 32, 4), ShapeError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 32, 5), ValueError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 32, 7), ValueError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 256, 3), ValueError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(astype(packed, DType::s32), s, b, 32, 3), DTypeError, "dequantize");
  EXPECT_EMILY_ERROR(
      dequantize(packed, zeros({2, 2}, DType::s32), zeros({2, 2}, DType::s32), 32, 3), DTypeError,
      "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, zeros({2, 3}), 32, 3), ShapeError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, zeros({3, 2}), zeros({3, 2}), 32, 3), ShapeError,
                     "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, zeros({2}), zeros({2}), 32, 3), ShapeError, "dequantize");
}

}  // namespace
}  // namespace emily
