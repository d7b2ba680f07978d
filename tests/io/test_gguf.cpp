// GGUF reading against files written by the `gguf` Python package
// (scripts/fixtures/gguf_files.py), and the reader's answers to corrupt files.
//
// Oracles: metadata values are the script's inputs (repeated here) as the package encoded
// them; float tensors are the NumPy arrays the script wrote, compared bitwise; quantized
// tensors are the package's own dequantization, compared value-exact (tolerance 0; +0
// and -0 compare equal, the one difference gguf.h documents).
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "emily/gguf.h"
#include "emily/quantization.h"
#include "support/npy.h"
#include "support/testing.h"

namespace emily {
namespace {

using testing::all_close;
using testing::all_equal;

std::string fixture_path(const std::string& name) {
  return std::string(EMILY_FIXTURES_DIR) + "/gguf/" + name;
}

Tensor expected(const std::string& name) {
  return testing::fixture("gguf/" + name + ".npy");
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

template <class T>
void put(std::string& bytes, std::size_t pos, T value) {
  ASSERT_LE(pos + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + pos, &value, sizeof(T));
}

template <class T>
T get(const std::string& bytes, std::size_t pos) {
  T value;
  std::memcpy(&value, bytes.data() + pos, sizeof(T));
  return value;
}

// Where a length-prefixed string `s` ends in the file (the field after it starts there).
std::size_t after_string(const std::string& bytes, const std::string& s) {
  std::string encoded(8, '\0');
  std::uint64_t n = s.size();
  std::memcpy(encoded.data(), &n, 8);
  encoded += s;
  std::size_t pos = bytes.find(encoded);
  EXPECT_NE(pos, std::string::npos) << s;
  EXPECT_EQ(bytes.find(encoded, pos + 1), std::string::npos) << s << " is not unique";
  return pos + encoded.size();
}

// Field positions of one tensor info: rank, dims, type, offset.
struct InfoFields {
  std::size_t rank, dims, type, offset;
};
InfoFields info_fields(const std::string& bytes, const std::string& name) {
  InfoFields f;
  f.rank = after_string(bytes, name);
  f.dims = f.rank + 4;
  f.type = f.dims + 8 * get<std::uint32_t>(bytes, f.rank);
  f.offset = f.type + 4;
  return f;
}

// Parses `bytes` and expects FormatError "[corrupt] ..." mentioning `needle`.
void expect_corrupt(const std::string& bytes, const std::string& needle) {
  try {
    GgufFile::parse(bytes, "corrupt");
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const FormatError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("[corrupt] ", 0), 0u) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected FormatError mentioning '" << needle << "', got: " << e.what();
  }
}

// A hand-made file for shapes the package will not write.
struct Builder {
  std::string out;
  Builder(std::uint32_t version, std::uint64_t tensors, std::uint64_t kvs) {
    put32(0x46554747);
    put32(version);
    put64(tensors);
    put64(kvs);
  }
  Builder& put32(std::uint32_t v) {
    out.append(reinterpret_cast<const char*>(&v), 4);
    return *this;
  }
  Builder& put64(std::uint64_t v) {
    out.append(reinterpret_cast<const char*>(&v), 8);
    return *this;
  }
  Builder& str(const std::string& s) {
    put64(s.size());
    out += s;
    return *this;
  }
};

TEST(Gguf, HeaderAndMetadataOfEveryType) {
  GgufFile f = GgufFile::open(fixture_path("model_v3.gguf"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);  // general.alignment absent: GGUF's default
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.metadata().front().first, "general.architecture");  // file order
  EXPECT_EQ(f.get_string("general.architecture"), "llama");

  auto type = [&](const char* key) { return f.value(key).type(); };
  EXPECT_EQ(type("test.u8"), GgufValueType::u8);
  EXPECT_EQ(f.get_int("test.u8"), 200);
  EXPECT_EQ(type("test.i8"), GgufValueType::i8);
  EXPECT_EQ(f.get_int("test.i8"), -100);
  EXPECT_EQ(type("test.u16"), GgufValueType::u16);
  EXPECT_EQ(f.get_int("test.u16"), 60000);
  EXPECT_EQ(type("test.i16"), GgufValueType::i16);
  EXPECT_EQ(f.get_int("test.i16"), -30000);
  EXPECT_EQ(type("test.u32"), GgufValueType::u32);
  EXPECT_EQ(f.get_int("test.u32"), 4000000000);
  EXPECT_EQ(type("test.i32"), GgufValueType::i32);
  EXPECT_EQ(f.get_int("test.i32"), -2000000000);
  EXPECT_EQ(type("test.f32"), GgufValueType::f32);
  EXPECT_EQ(f.get_float("test.f32"), 0.15625);
  EXPECT_EQ(type("test.bool"), GgufValueType::bool_);
  EXPECT_TRUE(f.get_bool("test.bool"));
  EXPECT_EQ(f.get_string("test.string"), "h\xc3\xa9llo \xe2\x9c\x93");
  EXPECT_EQ(type("test.u64"), GgufValueType::u64);
  EXPECT_EQ(f.value("test.u64").as_uint(), 18000000000000000000ull);
  EXPECT_EQ(type("test.i64"), GgufValueType::i64);
  EXPECT_EQ(f.get_int("test.i64"), -9000000000000000000ll);
  EXPECT_EQ(type("test.f64"), GgufValueType::f64);
  EXPECT_EQ(f.get_float("test.f64"), -2.718281828459045);

  auto element = [&](const char* key) { return f.value(key).element_type(); };
  EXPECT_EQ(element("test.array.u8"), GgufValueType::u8);
  EXPECT_EQ(f.get_ints("test.array.u8"), (std::vector<std::int64_t>{0, 1, 255}));
  EXPECT_EQ(element("test.array.i8"), GgufValueType::i8);
  EXPECT_EQ(f.get_ints("test.array.i8"), (std::vector<std::int64_t>{-128, 0, 127}));
  EXPECT_EQ(f.get_ints("test.array.u16"), (std::vector<std::int64_t>{0, 65535}));
  EXPECT_EQ(f.get_ints("test.array.i16"), (std::vector<std::int64_t>{-32768, 32767}));
  EXPECT_EQ(f.get_ints("test.array.u32"), (std::vector<std::int64_t>{1, 4294967295}));
  EXPECT_EQ(f.get_ints("test.array.i32"), (std::vector<std::int64_t>{-5, 6, -7}));
  EXPECT_EQ(element("test.array.f32"), GgufValueType::f32);
  EXPECT_EQ(f.get_floats("test.array.f32"), (std::vector<double>{0.5, -1.25, 3.0}));
  EXPECT_EQ(element("test.array.bool"), GgufValueType::bool_);
  EXPECT_EQ(f.get_ints("test.array.bool"), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_EQ(f.get_strings("test.array.string"),
            (std::vector<std::string>{"alpha", "", "\xce\xb3"}));
  EXPECT_EQ(element("test.array.u64"), GgufValueType::u64);
  EXPECT_EQ(std::get<std::vector<std::uint64_t>>(f.value("test.array.u64").storage()),
            (std::vector<std::uint64_t>{0, 18446744073709551615ull}));
  EXPECT_EQ(f.get_ints("test.array.i64"),
            (std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(),
                                       std::numeric_limits<std::int64_t>::max()}));
  EXPECT_EQ(f.get_floats("test.array.f64"), (std::vector<double>{1e-300, -0.1}));

  const auto& nested = f.value("test.array.nested").as_arrays();
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[0].element_type(), GgufValueType::i32);
  EXPECT_EQ(nested[0].as_ints(), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(nested[1].as_ints(), (std::vector<std::int64_t>{4, 5}));
  EXPECT_EQ(to_string(f.value("test.array.nested")),
            "array[2] of array [array[3] of i32 [1, 2, 3], array[2] of i32 [4, 5]]");
}

TEST(Gguf, StringsPrintWithoutControlOrBrokenBytes) {
  // Oracle: the rule in gguf_value.cpp: UTF-8 stays, C0/C1 controls and non-UTF-8 bytes
  // become \xNN, quotes and backslashes are escaped.
  GgufValue v(GgufValueType::string, GgufValueType::string,
              std::string("\xce\xb3\n\xc2\x9b\xff\"\\"));
  EXPECT_EQ(to_string(v), "string \"\xce\xb3\\x0a\\xc2\\x9b\\xff\\\"\\\\\"");
}

TEST(Gguf, TypedReadsNameTheFileAndKey) {
  const std::string path = fixture_path("model_v3.gguf");
  GgufFile f = GgufFile::open(path);
  EXPECT_EMILY_ERROR(f.get_string("test.u32"), FormatError, path);
  EXPECT_EMILY_ERROR(f.get_int("no.such.key"), FormatError, path);
  EXPECT_EMILY_ERROR(f.get_float("test.i32"), FormatError, path);
  EXPECT_EMILY_ERROR(f.get_bool("test.u8"), FormatError, path);
  EXPECT_EMILY_ERROR(f.get_strings("test.array.i32"), FormatError, path);
  EXPECT_EMILY_ERROR(f.get_floats("test.array.i32"), FormatError, path);
  EXPECT_EMILY_ERROR(f.get_ints("test.array.u64"), FormatError, path);  // 2^64 - 1 > int64
  EXPECT_EMILY_ERROR(f.get_int("test.u64"), FormatError, path);         // 1.8e19 > int64
  try {
    f.get_string("test.u32");
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'test.u32': value is u32, not a string"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(f.contains("no.such.key"));
  EXPECT_EQ(f.find("no.such.key"), nullptr);
  EXPECT_EMILY_ERROR(f.tensor("no.such.tensor"), ValueError, path);
}

TEST(Gguf, FloatTensorsAreZeroCopyViewsOfTheMapping) {
  GgufFile f = GgufFile::open(fixture_path("model_v3.gguf"));
  // Shapes are the NumPy shapes the script wrote: GGUF's innermost-first dims reversed.
  Tensor w32 = f.tensor("w.f32");
  EXPECT_EQ(w32.shape(), (Shape{3, 5}));
  EXPECT_TRUE(all_equal(w32, expected("w.f32")));
  Tensor w16 = f.tensor("w.f16");
  EXPECT_EQ(w16.dtype(), DType::f16);
  EXPECT_TRUE(all_equal(astype(w16, DType::f32), expected("w.f16")));
  Tensor wbf = f.tensor("w.bf16");
  EXPECT_EQ(wbf.dtype(), DType::bf16);
  EXPECT_TRUE(all_equal(astype(wbf, DType::f32), expected("w.bf16")));
  EXPECT_TRUE(all_equal(f.tensor("w.f64"), expected("w.f64")));
  EXPECT_TRUE(all_equal(f.tensor("w.i32"), expected("w.i32")));

  // No copy: the tensor's data is the file's bytes at data_offset + offset.
  Tensor again = f.tensor("w.f32");
  EXPECT_EQ(again.raw_data(), w32.raw_data());
  const GgufTensorInfo& info = f.tensor_info("w.f32");
  std::string bytes = read_bytes(fixture_path("model_v3.gguf"));
  EXPECT_EQ(std::memcmp(w32.raw_data(), bytes.data() + f.data_offset() + info.offset, info.bytes),
            0);

  // The mapping outlives the file object while tensors use it.
  Tensor kept = GgufFile::open(fixture_path("model_v3.gguf")).tensor("w.f32");
  EXPECT_TRUE(all_equal(kept, expected("w.f32")));
}

TEST(Gguf, TensorTableAsThePackageReportsIt) {
  GgufFile f = GgufFile::open(fixture_path("model_v3.gguf"));
  // name, type, shape (NumPy order), bytes as gguf.GGUFReader reports them.
  struct Row {
    const char* name;
    GgmlType type;
    Shape shape;
    std::uint64_t bytes;
  };
  std::vector<Row> rows = {
      {"w.f32", GgmlType::f32, {3, 5}, 60},     {"w.f16", GgmlType::f16, {2, 3, 4}, 48},
      {"w.bf16", GgmlType::bf16, {4, 6}, 48},   {"w.f64", GgmlType::f64, {2, 2}, 32},
      {"w.i32", GgmlType::i32, {7}, 28},        {"w.q8_0", GgmlType::q8_0, {4, 64}, 272},
      {"w.q4_0", GgmlType::q4_0, {3, 96}, 162}, {"w.q4_1", GgmlType::q4_1, {2, 2, 64}, 160}};
  ASSERT_EQ(f.tensors().size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, rows[i].name);
    EXPECT_EQ(t.type, rows[i].type) << t.name;
    EXPECT_EQ(t.shape, rows[i].shape) << t.name;
    EXPECT_EQ(t.bytes, rows[i].bytes) << t.name;
  }
  std::string listing = describe(f);
  EXPECT_NE(listing.find("GGUF v3, "), std::string::npos) << listing;
  EXPECT_NE(listing.find("  test.u8: u8 200\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("w.q4_0  Q4_0    (3, 96)"), std::string::npos) << listing;
  EXPECT_NE(listing.find("tokenizer.ggml.tokens: array[7] of string"), std::string::npos);
  EXPECT_NE(listing.find("\"\\xe2\\x96\"]"), std::string::npos) << listing;  // not UTF-8
  EXPECT_NE(listing.find("test.string: string \"h\xc3\xa9llo \xe2\x9c\x93\""), std::string::npos);
}

// Emily's dequantization of the repacked blocks against the package's dequantization.
TEST(Gguf, QuantizedTensorsDequantizeExactlyAsTheGgufPackage) {
  GgufFile f = GgufFile::open(fixture_path("model_v3.gguf"));
  struct Case {
    const char* name;
    int bits;
  };
  for (Case c : {Case{"w.q8_0", 8}, Case{"w.q4_0", 4}, Case{"w.q4_1", 4}}) {
    SCOPED_TRACE(c.name);
    QuantizedTensor q = f.quantized_tensor(c.name);
    EXPECT_EQ(q.bits, c.bits);
    EXPECT_EQ(q.group_size, 32);
    EXPECT_EQ(q.packed.dtype(), DType::u32);
    EXPECT_EQ(q.scales.dtype(), DType::f32);
    EXPECT_EQ(q.shape(), f.tensor_info(c.name).shape);
    Tensor w = dequantize(q);
    Tensor oracle = expected(std::string(c.name) + ".dequant");
    EXPECT_EQ(w.dtype(), DType::f32);
    EXPECT_TRUE(all_close(w, oracle, 0.0, 0.0));  // exact (see gguf.h)
  }
  GgufFile v2 = GgufFile::open(fixture_path("model_v2.gguf"));
  EXPECT_TRUE(
      all_close(dequantize(v2.quantized_tensor("v2.q4_0")), expected("v2.q4_0.dequant"), 0.0, 0.0));
}

// The packed words follow MLX's layout, read here by hand (element j of a row at bit
// bits * (j % per_word) of word j / per_word), independently of dequantize().
TEST(Gguf, RepackedCodesFollowTheMlxLayout) {
  GgufFile f = GgufFile::open(fixture_path("model_v3.gguf"));
  for (const char* tensor_name : {"w.q8_0", "w.q4_0", "w.q4_1"}) {
    SCOPED_TRACE(tensor_name);
    QuantizedTensor q = f.quantized_tensor(tensor_name);
    Tensor oracle = expected(std::string(tensor_name) + ".dequant");
    std::vector<float> want = oracle.to_vector<float>();
    std::vector<std::uint32_t> words = q.packed.to_vector<std::uint32_t>();
    std::vector<float> scales = q.scales.to_vector<float>(), biases = q.biases.to_vector<float>();
    const std::int64_t cols = q.shape().back(), rows = oracle.size() / cols;
    const int per_word = 32 / q.bits;
    const std::uint32_t mask = (1u << q.bits) - 1;
    int mismatches = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t j = 0; j < cols; ++j) {
        std::uint32_t word = words[r * cols / per_word + j / per_word];
        std::uint32_t code = (word >> (q.bits * (j % per_word))) & mask;
        std::int64_t g = r * cols / 32 + j / 32;
        float value = static_cast<float>(scales[g] * static_cast<float>(code)) + biases[g];
        if (value != want[r * cols + j]) ++mismatches;
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(Gguf, VersionTwoAndAGpt2Vocabulary) {
  GgufFile f = GgufFile::open(fixture_path("model_v2.gguf"));
  EXPECT_EQ(f.version(), 2u);
  GgufVocabulary v = vocabulary(f);
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre, "gpt-2");
  EXPECT_EQ(v.tokens,
            (std::vector<std::string>{"<|endoftext|>", "h", "e", "he", "l", "hel", "\xc4\xa0w"}));
  EXPECT_EQ(v.merges, (std::vector<std::string>{"h e", "he l"}));
  ASSERT_EQ(v.token_types.size(), 7u);
  EXPECT_EQ(v.token_types[0], GgufTokenType::control);
  EXPECT_EQ(v.token_types[6], GgufTokenType::normal);
  EXPECT_TRUE(v.scores.empty());
  EXPECT_EQ(v.bos_id, 0);
  EXPECT_EQ(v.eos_id, 0);
  EXPECT_FALSE(v.unknown_id.has_value());
}

TEST(Gguf, LlamaVocabulary) {
  GgufVocabulary v = vocabulary(GgufFile::open(fixture_path("model_v3.gguf")));
  EXPECT_EQ(v.model, "llama");
  ASSERT_EQ(v.tokens.size(), 7u);
  EXPECT_EQ(v.tokens[4], "\xe2\x96\x81the");
  EXPECT_EQ(v.tokens[6], "\xe2\x96");  // not UTF-8: values are kept as bytes
  EXPECT_EQ(v.scores, (std::vector<float>{0, 0, 0, 0, -1.5f, -2.25f, -3.0f}));
  std::vector<GgufTokenType> types = {
      GgufTokenType::unknown, GgufTokenType::control, GgufTokenType::control, GgufTokenType::byte,
      GgufTokenType::normal,  GgufTokenType::normal,  GgufTokenType::normal};
  EXPECT_EQ(v.token_types, types);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unknown_id, 0);
  EXPECT_EQ(v.add_bos, true);
  EXPECT_EQ(v.add_eos, false);
  EXPECT_EQ(v.chat_template, "{% for m in messages %}{{ m['content'] }}{% endfor %}");
  EXPECT_TRUE(v.merges.empty());
}

TEST(Gguf, VocabularyLiesAreFormatErrors) {
  std::string bytes = read_bytes(fixture_path("model_v3.gguf"));
  // bos id 7 of 7 tokens: one past the end.
  std::string bad = bytes;
  put<std::uint32_t>(bad, after_string(bad, "tokenizer.ggml.bos_token_id") + 4, 7);
  EXPECT_EMILY_ERROR(vocabulary(GgufFile::parse(bad, "vocab")), FormatError, "vocab");
  // A token type outside 0..6.
  bad = bytes;
  std::size_t types = after_string(bad, "tokenizer.ggml.token_type");
  put<std::int32_t>(bad, types + 4 + 4 + 8, 9);  // value type, element type, count
  EXPECT_EMILY_ERROR(vocabulary(GgufFile::parse(bad, "vocab")), FormatError, "vocab");
  // No vocabulary at all.
  EXPECT_EMILY_ERROR(vocabulary(GgufFile::open(fixture_path("align1.gguf"))), FormatError,
                     fixture_path("align1.gguf"));
}

TEST(Gguf, UnalignedDataIsCopiedNotReadMisaligned) {
  GgufFile f = GgufFile::open(fixture_path("align1.gguf"));
  EXPECT_EQ(f.alignment(), 1u);
  Tensor a32 = f.tensor("a.f32");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a32.raw_data()) % 4, 0u);
  EXPECT_TRUE(all_equal(a32, expected("a.f32")));
  EXPECT_TRUE(all_equal(astype(f.tensor("a.f16"), DType::f32), expected("a.f16")));
}

TEST(Gguf, OtherTypesAreUnsupportedByName) {
  const std::string path = fixture_path("model_v3.gguf");
  GgufFile f = GgufFile::open(path);
  EXPECT_EMILY_ERROR(f.tensor("w.q4_0"), Unsupported, path);
  EXPECT_EMILY_ERROR(f.quantized_tensor("w.f32"), Unsupported, path);
  std::string bytes = read_bytes(path);
  // Q5_K blocks hold 256 elements: a row of 64 is not a whole block.
  put<std::uint32_t>(bytes, info_fields(bytes, "w.q4_1").type, 13);
  expect_corrupt(bytes, "not a whole number of Q5_K blocks");
  bytes = read_bytes(path);
  put<std::uint32_t>(bytes, info_fields(bytes, "w.q4_0").type, 6);  // Q5_0: 22-byte blocks
  // 9 Q5_0 blocks take 198 bytes where Q4_0 took 162; the next tensor sits 192 bytes on.
  expect_corrupt(bytes, "overlap");
  bytes = read_bytes(path);
  put<std::uint32_t>(bytes, info_fields(bytes, "w.q4_1").type, 20);  // IQ4_NL: Q4_0's size
  GgufFile iq = GgufFile::parse(bytes, "iq");
  EXPECT_EQ(iq.tensor_info("w.q4_1").type, GgmlType::iq4_nl);
  try {
    iq.quantized_tensor("w.q4_1");
    ADD_FAILURE() << "IQ4_NL loaded";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("IQ4_NL"), std::string::npos) << e.what();
  }
}

TEST(Gguf, EveryTruncationIsAFormatError) {
  std::string bytes = read_bytes(fixture_path("model_v3.gguf"));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    try {
      GgufFile::parse(bytes.substr(0, n), "cut");
      ADD_FAILURE() << "a prefix of " << n << " bytes parsed";
    } catch (const FormatError& e) {
      ASSERT_EQ(std::string(e.what()).rfind("[cut] ", 0), 0u) << e.what();
    }
  }
}

TEST(Gguf, HeaderLies) {
  const std::string good = read_bytes(fixture_path("model_v3.gguf"));
  std::string b = good;
  b[0] = 'X';
  expect_corrupt(b, "bad magic");
  for (std::uint32_t version : {1u, 4u, 0xffffffffu}) {
    b = good;
    put<std::uint32_t>(b, 4, version);
    expect_corrupt(b, "unsupported GGUF version " + std::to_string(version));
  }
  b = good;
  put<std::uint32_t>(b, 4, 0x03000000u);
  expect_corrupt(b, "big-endian");
  b = good;
  put<std::uint64_t>(b, 8, 1ull << 62);  // tensor count
  expect_corrupt(b, "tensor count claims");
  b = good;
  put<std::uint64_t>(b, 16, ~0ull);  // metadata count
  expect_corrupt(b, "metadata count claims");
  b = good;
  put<std::uint64_t>(b, 24, 1ull << 40);  // the first key's length
  expect_corrupt(b, "metadata entry 0 key claims");
}

TEST(Gguf, MetadataLies) {
  const std::string good = read_bytes(fixture_path("model_v3.gguf"));
  std::string b = good;
  put<std::uint32_t>(b, after_string(b, "test.u8"), 13);  // value type 13
  expect_corrupt(b, "unknown value type 13");
  b = good;
  b[after_string(b, "test.i8") - 2] = '\xff';  // "test.i8" -> "test.\xff8"
  expect_corrupt(b, "not valid UTF-8");
  b = good;
  std::size_t i8 = after_string(b, "test.i8");
  std::memcpy(b.data() + i8 - 7, "test.u8", 7);  // a second "test.u8"
  expect_corrupt(b, "'test.u8' appears twice");
  b = good;
  put<std::uint8_t>(b, after_string(b, "test.bool") + 4, 2);
  expect_corrupt(b, "bool of value 2");
  b = good;
  std::size_t s = after_string(b, "test.string");
  put<std::uint64_t>(b, s + 4, b.size());  // a string longer than the file
  expect_corrupt(b, "metadata 'test.string' claims");
  b = good;
  std::size_t arr = after_string(b, "test.array.u64");
  put<std::uint64_t>(b, arr + 8, 1ull << 61);  // 2^61 u64 elements: 2^64 bytes
  expect_corrupt(b, "metadata 'test.array.u64' claims");
  b = good;
  std::size_t strings = after_string(b, "test.array.string");
  put<std::uint64_t>(b, strings + 8, ~0ull >> 1);
  expect_corrupt(b, "metadata 'test.array.string' claims");
  b = good;
  std::size_t nested = after_string(b, "test.array.nested");
  put<std::uint64_t>(b, nested + 8, 1ull << 60);
  expect_corrupt(b, "metadata 'test.array.nested' claims");
}

TEST(Gguf, NestingBombsAndAlignmentLies) {
  Builder deep(3, 0, 1);
  deep.str("k").put32(9);  // array
  for (int i = 0; i < 100; ++i) deep.put32(9).put64(1);
  deep.put32(0).put64(0);
  expect_corrupt(deep.out, "nests arrays more than 16 deep");

  Builder shallow(3, 0, 1);  // 15 levels parse
  shallow.str("k").put32(9);
  for (int i = 0; i < 15; ++i) shallow.put32(9).put64(1);
  shallow.put32(0).put64(1).out += '\x07';
  GgufFile ok = GgufFile::parse(shallow.out, "shallow");
  EXPECT_EQ(ok.value("k").as_arrays().size(), 1u);

  Builder align3(3, 0, 1);
  align3.str("general.alignment").put32(4).put32(3);
  expect_corrupt(align3.out, "general.alignment 3 is not a power of two");
  Builder align64(3, 0, 1);
  align64.str("general.alignment").put32(10).put64(64);
  expect_corrupt(align64.out, "general.alignment is u64, not u32");

  Builder empty(3, 0, 0);  // no metadata, no tensors: a valid, empty file
  GgufFile e = GgufFile::parse(empty.out, "empty");
  EXPECT_TRUE(e.metadata().empty());
  EXPECT_TRUE(e.tensors().empty());
}

TEST(Gguf, TensorInfoLies) {
  const std::string good = read_bytes(fixture_path("model_v3.gguf"));
  InfoFields f32 = info_fields(good, "w.f32");
  InfoFields f16 = info_fields(good, "w.f16");
  std::string b = good;
  put<std::uint64_t>(b, f32.offset, get<std::uint64_t>(b, f32.offset) + 1);
  expect_corrupt(b, "not a multiple of the alignment 32");
  b = good;
  put<std::uint64_t>(b, f32.offset, 1ull << 40);
  expect_corrupt(b, "runs past the end of the file");
  b = good;
  put<std::uint64_t>(b, f16.offset, get<std::uint64_t>(b, f32.offset));
  expect_corrupt(b, "tensors 'w.f32' and 'w.f16' overlap");
  b = good;
  put<std::uint32_t>(b, f32.type, 99);
  expect_corrupt(b, "unknown ggml type id 99");
  b = good;
  put<std::uint32_t>(b, f32.type, 4);  // Q4_2: removed from ggml
  expect_corrupt(b, "unknown ggml type id 4");
  b = good;
  put<std::uint64_t>(b, f32.dims, 1ull << 63);
  expect_corrupt(b, "negative dimension");
  b = good;
  put<std::uint64_t>(b, f32.dims, 1ull << 40);
  put<std::uint64_t>(b, f32.dims + 8, 1ull << 40);
  expect_corrupt(b, "product overflows");
  b = good;
  put<std::uint64_t>(b, f32.dims, 1ull << 62);  // (0, 2^62): empty, but its strides overflow
  put<std::uint64_t>(b, f32.dims + 8, 0);
  expect_corrupt(b, "product overflows");
  b = good;
  put<std::uint32_t>(b, f32.rank, 5);
  expect_corrupt(b, "5 dimensions");
  b = good;
  b[f32.rank - 1] = '\xc0';  // "w.f32" -> "w.f3\xc0": an overlong lead byte
  expect_corrupt(b, "tensor info 0 has a name that is not valid UTF-8");
  b = good;
  std::memcpy(b.data() + f16.rank - 5, "w.f32", 5);  // "w.f16" -> "w.f32"
  expect_corrupt(b, "tensor 'w.f32' appears twice");
}

TEST(Gguf, ZeroSizedTensorsAreEmpty) {
  std::string b = read_bytes(fixture_path("model_v3.gguf"));
  InfoFields f32 = info_fields(b, "w.f32");
  put<std::uint64_t>(b, f32.dims + 8, 0);  // (0, 5)
  GgufFile f = GgufFile::parse(b, "zero");
  EXPECT_EQ(f.tensor_info("w.f32").bytes, 0u);
  Tensor t = f.tensor("w.f32");
  EXPECT_EQ(t.shape(), (Shape{0, 5}));
}

TEST(Gguf, OpeningFilesNamesThePath) {
  EXPECT_EMILY_ERROR(GgufFile::open("/nonexistent/model.gguf"), FormatError,
                     "/nonexistent/model.gguf");
  char path[] = "/tmp/emily_gguf_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string bytes = read_bytes(fixture_path("model_v3.gguf"));
  ASSERT_EQ(::write(fd, bytes.data(), 100), 100);
  ::close(fd);
  EXPECT_EMILY_ERROR(GgufFile::open(path), FormatError, path);
  ::truncate(path, 0);
  EXPECT_EMILY_ERROR(GgufFile::open(path), FormatError, path);
  ::unlink(path);
}

// ---- dequantize on its own ---------------------------------------------------------

// Oracle: the documented formula evaluated here per element in the same f32 order
// (product rounded, then the bias added), unpacking by hand; tolerance 0.
TEST(Dequantize, MatchesTheFormulaForEachBitWidth) {
  for (int bits : {2, 4, 8}) {
    for (int group : {32, 64, 128}) {
      SCOPED_TRACE("bits " + std::to_string(bits) + " group " + std::to_string(group));
      const std::int64_t rows = 3, cols = 256, words = cols * bits / 32;
      std::vector<std::uint32_t> packed(rows * words);
      std::uint32_t state = 12345;
      for (auto& w : packed) w = state = state * 1664525u + 1013904223u;
      std::vector<float> scales(rows * cols / group), biases(scales.size());
      for (std::size_t g = 0; g < scales.size(); ++g) {
        scales[g] = 0.01f * static_cast<float>(g + 1) * (g % 2 ? -1.0f : 1.0f);
        biases[g] = 0.3f - 0.07f * static_cast<float>(g);
      }
      QuantizedTensor q{tensor(packed, {rows, words}), tensor(scales, {rows, cols / group}),
                        tensor(biases, {rows, cols / group}), bits, group};
      EXPECT_EQ(q.shape(), (Shape{rows, cols}));
      std::vector<float> got = dequantize(q).to_vector<float>();
      const int per = 32 / bits;
      int mismatches = 0;
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < cols; ++j) {
          std::uint32_t code =
              (packed[r * words + j / per] >> (bits * (j % per))) & ((1u << bits) - 1);
          std::size_t g = r * (cols / group) + j / group;
          volatile float product = scales[g] * static_cast<float>(code);
          if (got[r * cols + j] != product + biases[g]) ++mismatches;
        }
      EXPECT_EQ(mismatches, 0);
    }
  }
}

// Oracle: eager dequantize of the same GGUF weights; compiled plans (native replay and
// fused) must be bit-identical, since the same kernels see the same values.
TEST(Dequantize, ReplaysInsideCompiledPlans) {
  QuantizedTensor q = GgufFile::open(fixture_path("model_v3.gguf")).quantized_tensor("w.q4_1");
  auto fn = [&](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    return {dequantize(in[0], in[1], in[2], q.group_size, q.bits)};
  };
  Tensor eager = dequantize(q);
  for (CompileMode mode : {CompileMode::native, CompileMode::fuse}) {
    auto f = compile(fn, testing::compile_options(mode, "dequantize"));
    for (int call = 0; call < 2; ++call)
      EXPECT_TRUE(all_equal(f({q.packed, q.scales, q.biases})[0], eager));
  }
}

TEST(Dequantize, BadArgumentsNameTheOp) {
  Tensor packed = zeros({2, 8}, DType::u32), s = zeros({2, 2}), b = zeros({2, 2});
  EXPECT_EQ(dequantize(packed, s, b, 32, 4).shape(), (Shape{2, 64}));
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 32, 3), ShapeError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 32, 5), ValueError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, b, 16, 4), ValueError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(astype(packed, DType::s32), s, b, 32, 4), DTypeError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, astype(b, DType::f16), 32, 4), DTypeError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, zeros({2, 3}), zeros({2, 3}), 32, 4), ShapeError,
                     "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, zeros({3, 2}), zeros({3, 2}), 32, 4), ShapeError,
                     "dequantize");
  EXPECT_EMILY_ERROR(dequantize(packed, s, zeros({2, 1}), 32, 4), ShapeError, "dequantize");
  EXPECT_EMILY_ERROR(dequantize(Tensor(), s, b, 32, 4), Error, "dequantize");
}

}  // namespace
}  // namespace emily
