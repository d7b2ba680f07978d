// safetensors reading and writing. Oracles: files and values written by the Python
// `safetensors` package (scripts/fixtures/safetensors_files.py), compared bitwise (no
// tolerance: the bytes are copied, never converted); Emily's own writer read back bitwise;
// and the format's rules (the reference implementation's checks) for broken files, which
// the tests make from valid ones.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "emily/json.h"
#include "emily/safetensors.h"
#include "support/npy.h"
#include "support/testing.h"

namespace emily {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(EMILY_FIXTURES_DIR) + "/io/safetensors";

// A fresh folder under the test temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::path(::testing::TempDir()) /
            ("emily_st_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text and data bytes (the length prefix computed).
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(header.size() >> (8 * i));
  return out + header + data;
}

// The FormatError message from opening `bytes` as a file (and reading every tensor).
std::string open_error(const TempDir& dir, const std::string& bytes) {
  std::string path = dir.file("broken.safetensors");
  write_bytes(path, bytes);
  try {
    auto f = SafetensorsFile::open(path);
    for (const auto& name : f.names()) f.tensor(name);
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("[" + path + "]", 0), 0u) << msg;  // names the file
    return msg;
  }
  return "";
}

TEST(Safetensors, ReadsEveryDtypeWrittenByThePythonPackage) {
  auto f = SafetensorsFile::open(kDir + "/mixed.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "np");
  EXPECT_EQ(f.metadata().at("note"), "written by scripts/fixtures/safetensors_files.py");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kDir + "/mixed")) {
    std::string name = entry.path().stem().string();
    SCOPED_TRACE(name);
    Tensor expected = testing::load_npy(entry.path().string());
    ASSERT_TRUE(f.contains(name));
    Tensor t = f.tensor(name);
    EXPECT_TRUE(testing::all_equal(t, expected));
    EXPECT_EQ(f.info(name).nbytes, expected.nbytes());
    EXPECT_EQ(f.info(name).dtype_name, safetensors_dtype_name(expected.dtype()));
    ++checked;
  }
  EXPECT_EQ(checked, 16);
  EXPECT_EQ(f.names().size(), 17u);  // and the F8 tensor
}

TEST(Safetensors, DtypesEmilyLacksAreListedButRefusedByName) {
  auto f = SafetensorsFile::open(kDir + "/mixed.safetensors");
  const SafetensorsInfo& info = f.info("f8_e4m3");
  EXPECT_EQ(info.dtype_name, "F8_E4M3");
  EXPECT_FALSE(info.dtype.has_value());
  EXPECT_EQ(info.shape, (Shape{6}));
  EXPECT_EQ(info.nbytes, 6u);
  try {
    f.tensor("f8_e4m3");
    ADD_FAILURE() << "no error for F8_E4M3";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("F8_E4M3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f8_e4m3"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, TensorsAreZeroCopyViewsThatOutliveTheFile) {
  Tensor a, b;
  {
    auto f = SafetensorsFile::open(kDir + "/mixed.safetensors");
    a = f.tensor("f32");
    b = f.tensor("f32");
  }
  // Two reads of one tensor share the mapped bytes instead of copying them.
  EXPECT_EQ(a.raw_data(), b.raw_data());
  EXPECT_TRUE(testing::all_equal(a, testing::load_npy(kDir + "/mixed/f32.npy")));
  // Computing on a view works like on any tensor (oracle: NumPy's values, summed in f64).
  auto values = testing::load_npy(kDir + "/mixed/f32.npy").to_vector<float>();
  double want = 0;
  for (float v : values) want += v;
  EXPECT_NEAR(sum(a).item<float>(), want, 1e-5);  // f32 sum of 12 values of size ~1
}

// On a GPU machine: tensors read onto the device equal the host views, and a device
// tensor saves like a host one (oracle: the Python package's values, bitwise).
TEST(Safetensors, ReadsOntoAndWritesFromTheGpu) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  auto f = SafetensorsFile::open(kDir + "/mixed.safetensors");
  TempDir dir;
  std::map<std::string, Tensor> on_gpu;
  for (const char* name : {"f32", "bf16", "i64", "bool", "empty"}) {
    Tensor t = f.tensor(name, Device::cuda(0));
    EXPECT_EQ(t.device(), Device::cuda(0)) << name;
    EXPECT_TRUE(testing::all_equal(to_host(t), f.tensor(name))) << name;
    on_gpu[name] = t;
  }
  save_safetensors(dir.file("gpu.safetensors"), on_gpu);
  auto back = SafetensorsFile::open(dir.file("gpu.safetensors"));
  for (const auto& [name, t] : on_gpu) {
    EXPECT_TRUE(testing::all_equal(back.tensor(name), f.tensor(name))) << name;
  }
}

TEST(Safetensors, ShardedModelThroughTheIndex) {
  for (std::string path : {kDir + "/sharded", kDir + "/sharded/model.safetensors.index.json"}) {
    SCOPED_TRACE(path);
    auto f = SafetensorsFile::open(path);
    EXPECT_EQ(f.metadata().at("total_size"), "832");
    EXPECT_EQ(f.names().size(), 5u);
    for (const auto& entry : fs::directory_iterator(kDir + "/sharded_expected")) {
      std::string name = entry.path().stem().string();
      EXPECT_TRUE(testing::all_equal(f.tensor(name), testing::load_npy(entry.path().string())))
          << name;
    }
    EXPECT_NE(f.info("embed.weight").file, f.info("norm.scale").file);
  }
  auto all = load_safetensors(kDir + "/sharded");
  EXPECT_EQ(all.size(), 5u);
}

// Bit patterns that are not all valid numbers (NaN payloads, subnormals) must survive.
Tensor random_bits(DType dtype, const Shape& shape, std::mt19937& gen) {
  std::vector<unsigned char> bytes(static_cast<std::size_t>(numel(shape)) * size_of(dtype));
  for (auto& b : bytes) b = static_cast<unsigned char>(dtype == DType::bool_ ? gen() & 1 : gen());
  return from_blob(bytes.data(), shape, dtype);
}

TEST(Safetensors, RoundTripEveryDtypeBitwise) {
  TempDir dir;
  std::mt19937 gen(7);
  std::map<std::string, Tensor> tensors;
  for (DType d : kAllDTypes) {
    tensors[std::string(name(d))] = random_bits(d, {3, 5}, gen);
    tensors[std::string(name(d)) + ".scalar"] = random_bits(d, {}, gen);
    tensors[std::string(name(d)) + ".empty"] = random_bits(d, {0, 4}, gen);
  }
  // A transposed view is written row-major.
  tensors["transposed"] = transpose(testing::iota({2, 3}, DType::s32));
  std::map<std::string, std::string> meta{{"format", "pt"}, {"\xC3\xA9t\xC3\xA9", "\"quoted\"\n"}};
  std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, meta);

  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(f.names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    Tensor back = f.tensor(name);
    EXPECT_TRUE(testing::all_equal(back, name == "transposed" ? contiguous(t) : t)) << name;
    // Largest elements first keeps every tensor aligned to its element size in the file.
    EXPECT_EQ(f.info(name).offset % t.itemsize(), 0u) << name;
  }
  std::string bytes = read_bytes(path);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_TRUE(json::parse(std::string_view(bytes).substr(8, n)).is_object());
}

TEST(Safetensors, SaveRefusesWhatTheFormatCannotHold) {
  TempDir dir;
  std::string path = dir.file("x.safetensors");
  EXPECT_EMILY_ERROR(save_safetensors(path, {{"a", Tensor()}}), ValueError, "save_safetensors");
  EXPECT_EMILY_ERROR(save_safetensors(path, {{"__metadata__", testing::iota({2})}}), ValueError,
                     "save_safetensors");
  EXPECT_EMILY_ERROR(save_safetensors(path, {{"\xFF", testing::iota({2})}}), ValueError,
                     "save_safetensors");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(Safetensors, MisalignedTensorsFromOtherWritersAreCopied) {
  TempDir dir;
  // Three bytes of u8, then an f32 at data offset 3: valid, but off its alignment.
  std::string header = R"({"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},)"
                       R"("f":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  float values[2] = {1.5f, -2.25f};
  std::string data = "abc" + std::string(reinterpret_cast<char*>(values), 8);
  std::string path = dir.file("odd.safetensors");
  write_bytes(path, make_file(header, data));
  auto f = SafetensorsFile::open(path);
  Tensor t = f.tensor("f");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 4, 0u);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(f.tensor("u").to_vector<std::uint8_t>(), (std::vector<std::uint8_t>{'a', 'b', 'c'}));
}

TEST(Safetensors, TruncatedFiles) {
  TempDir dir;
  std::string good = read_bytes(kDir + "/mixed.safetensors");
  EXPECT_NE(open_error(dir, good.substr(0, 5)).find("shorter than the 8-byte header length"),
            std::string::npos);
  EXPECT_NE(open_error(dir, good.substr(0, 100)).find("runs past the end of the file"),
            std::string::npos);
  std::string e = open_error(dir, good.substr(0, good.size() - 1));
  EXPECT_NE(e.find("tensor \"bool\": data_offsets [262, 268] run past the end of the data"),
            std::string::npos)
      << e;
  EXPECT_NE(open_error(dir, good + "x").find("1 bytes after the last tensor"), std::string::npos);
  // A header length of 2^63: no allocation, no overflow, just an error.
  std::string huge = good;
  huge[7] = '\x80';
  EXPECT_NE(open_error(dir, huge).find("runs past the end"), std::string::npos);
  std::string big = make_file(std::string(8, ' '), "");
  big[3] = '\x10';  // 256 MiB claimed
  EXPECT_NE(open_error(dir, big + std::string(64, ' ')).find("runs past the end"),
            std::string::npos);
}

struct LyingHeader {
  const char* header;
  std::size_t data_bytes;
  const char* error;  // a part of the expected message
};

TEST(Safetensors, LyingHeadersAreRefusedNamingTheTensor) {
  TempDir dir;
  const LyingHeader cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, "tensor \"b\" overlaps tensor \"a\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
       16, "a gap of 4 bytes before tensor \"b\""},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
       "a gap of 4 bytes before tensor \"a\""},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8,
       "tensor \"a\": shape (3,) of F32 is 12 bytes but data_offsets span 8"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8,
       "tensor \"a\": \"shape\" must be an array of non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8,
       "\"shape\" must be an array of non-negative integers"},
      {R"({"a":{"dtype":"Q4_0","shape":[2],"data_offsets":[0,8]}})", 8,
       "tensor \"a\": unknown dtype \"Q4_0\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8,
       "tensor \"a\": data_offsets end before they begin"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8,
       "\"data_offsets\" must be two non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8,
       "\"data_offsets\" must be two non-negative integers"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, "\"dtype\" missing"},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, "\"shape\" missing"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", 8, "\"data_offsets\" missing"},
      {R"({"a":[1,2]})", 0, "tensor \"a\": expected an object, found array"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8,
       "shape too large"},
      {R"({"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", 0,
       "shape too large"},
      {R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2, "12 bits of F4"},
      {R"({"__metadata__":{"k":1}})", 0, "__metadata__ \"k\" is not a string"},
      {R"({"__metadata__":[]})", 0, "__metadata__ must be an object"},
      {R"([1])", 0, "the header does not start with '{'"},
      {R"(  {})", 0, "the header does not start with '{'"},
      {R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", 2,
       "tensor \"a\": BOOL holds bytes other than 0 and 1"},
      {R"({"a":1,"a":2})", 0, "duplicate key \"a\""},
      {"{\"\xC3\x28\":1}", 0, "invalid UTF-8"},
      {R"({"a":)", 0, "unexpected end of input"},
  };
  for (const LyingHeader& c : cases) {
    std::string data(c.data_bytes, '\x02');
    std::string e = open_error(dir, make_file(c.header, data));
    EXPECT_NE(e.find(c.error), std::string::npos) << c.header << "\n  gave: " << e;
  }
  // A nesting bomb inside the header.
  std::string bomb = "{\"a\":" + std::string(100000, '[');
  EXPECT_NE(open_error(dir, make_file(bomb, "")).find("nesting deeper"), std::string::npos);
}

TEST(Safetensors, BrokenIndexes) {
  TempDir dir;
  std::string shard = kDir + "/sharded/model-00001-of-00002.safetensors";
  fs::copy_file(shard, dir.file("a.safetensors"));
  auto index_error = [&](const std::string& text) {
    std::string path = dir.file("model.safetensors.index.json");
    write_bytes(path, text);
    try {
      SafetensorsFile::open(path);
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(index_error(R"({"weight_map":{"embed.weight":"../a.safetensors"}})")
                .find("outside the index's folder"),
            std::string::npos);
  EXPECT_NE(index_error(R"({"weight_map":{"embed.weight":"/etc/passwd"}})")
                .find("outside the index's folder"),
            std::string::npos);
  EXPECT_NE(index_error(R"({"weight_map":{"missing":"a.safetensors"}})")
                .find("tensor \"missing\" is mapped to"),
            std::string::npos);
  EXPECT_NE(index_error(R"({"weight_map":{"x":"nothere.safetensors"}})").find("cannot open"),
            std::string::npos);
  EXPECT_NE(index_error(R"({"metadata":{}})").find("\"weight_map\" missing"), std::string::npos);
  EXPECT_NE(index_error(R"({"weight_map":{"x":1}})").find("not a string"), std::string::npos);
  EXPECT_NE(index_error("{").find("model.safetensors.index.json] line 1, column 2"),
            std::string::npos);
  // The valid index reads.
  EXPECT_EQ(index_error(R"({"weight_map":{"embed.weight":"a.safetensors"}})"), "");
}

TEST(Safetensors, OpeningFoldersAndMissingThings) {
  TempDir dir;
  EXPECT_EMILY_ERROR(SafetensorsFile::open(dir.file("")), FormatError, dir.file(""));
  EXPECT_EMILY_ERROR(SafetensorsFile::open(dir.file("none.safetensors")), FormatError,
                     dir.file("none.safetensors"));
  fs::copy_file(kDir + "/mixed.safetensors", dir.file("weights.safetensors"));
  auto f = SafetensorsFile::open(dir.file(""));  // the lone .safetensors file
  EXPECT_EQ(f.path(), dir.file("weights.safetensors"));
  EXPECT_EMILY_ERROR(f.tensor("nope"), ValueError, f.path());
  EXPECT_EMILY_ERROR(f.info("nope"), ValueError, f.path());
}

}  // namespace
}  // namespace emily
