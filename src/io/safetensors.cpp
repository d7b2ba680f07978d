#include "emily/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "emily/error.h"
#include "emily/json.h"
#include "io/utf8.h"

namespace emily {

namespace fs = std::filesystem;

namespace {

// Every dtype the format names; `bits` sizes the ones Emily has no type for, so their
// byte ranges are still checked and listed.
struct FormatDType {
  std::string_view name;
  int bits;
  std::optional<DType> dtype;
};

constexpr std::array<FormatDType, 22> kFormatDTypes{{
    {"BOOL", 8, DType::bool_},    {"U8", 8, DType::u8},         {"I8", 8, DType::s8},
    {"U16", 16, DType::u16},      {"I16", 16, DType::s16},      {"U32", 32, DType::u32},
    {"I32", 32, DType::s32},      {"U64", 64, DType::u64},      {"I64", 64, DType::s64},
    {"F16", 16, DType::f16},      {"BF16", 16, DType::bf16},    {"F32", 32, DType::f32},
    {"F64", 64, DType::f64},      {"C64", 64, DType::c64},      {"F8_E5M2", 8, std::nullopt},
    {"F8_E4M3", 8, std::nullopt}, {"F8_E8M0", 8, std::nullopt}, {"F4", 4, std::nullopt},
    {"F6_E2M3", 6, std::nullopt}, {"F6_E3M2", 6, std::nullopt},
}};

const FormatDType* find_format_dtype(std::string_view name) {
  for (const auto& d : kFormatDTypes) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

// The reference implementation's cap: a header this large is an attack, not a model.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::string tensor_label(std::string_view name) {
  std::string out = "tensor \"";
  out.append(name.substr(0, 200));
  if (name.size() > 200) out += "...";
  out += '"';
  return out;
}

}  // namespace

namespace detail {

// One mapped file. Tensors handed out hold a shared_ptr to it, so the mapping outlives
// the SafetensorsFile when views of it are still in use.
struct SafetensorsShard {
  std::string path;
  char* base = nullptr;
  std::size_t size = 0;
  std::uint64_t data_start = 0;          // 8 + header length
  std::vector<SafetensorsInfo> tensors;  // in data order
  std::map<std::string, std::string> metadata;

  SafetensorsShard() = default;
  SafetensorsShard(const SafetensorsShard&) = delete;
  SafetensorsShard& operator=(const SafetensorsShard&) = delete;
  ~SafetensorsShard() {
    if (base) munmap(base, size);
  }
};

}  // namespace detail

namespace {

using detail::SafetensorsShard;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  EMILY_THROW(FormatError, path.c_str(), what);
}

void map_file(SafetensorsShard& shard) {
  const std::string& path = shard.path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open the file: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  shard.size = static_cast<std::size_t>(st.st_size);
  if (shard.size < 8) {
    ::close(fd);
    fail(path, "the file is " + std::to_string(shard.size) +
                   " bytes, shorter than the 8-byte header length");
  }
  // Private and writable: pages are shared with the page cache until written, and a write
  // (a compiled function donating a weight's buffer) lands in a private copy, never in the
  // file and never as a fault on a read-only page.
  void* p = mmap(nullptr, shard.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) fail(path, std::string("cannot map the file: ") + std::strerror(errno));
  shard.base = static_cast<char*>(p);
}

// Non-negative integers of a JSON array; nullopt when it is anything else.
std::optional<std::vector<std::uint64_t>> non_negative_ints(const json::Value& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<std::uint64_t> out;
  for (const json::Value& e : v.as_array()) {
    if (!e.is_integer() || e.as_int() < 0) return std::nullopt;
    out.push_back(static_cast<std::uint64_t>(e.as_int()));
  }
  return out;
}

SafetensorsInfo read_entry(const SafetensorsShard& shard, const json::Member& m,
                           std::uint64_t data_size) {
  const std::string& path = shard.path;
  std::string who = tensor_label(m.key);
  const json::Value& v = m.value;
  if (!v.is_object())
    fail(path, who + ": expected an object, found " + std::string(name(v.kind())));
  SafetensorsInfo info;
  info.name = m.key;
  info.file = path;

  const json::Value* dtype = v.find("dtype");
  if (!dtype || !dtype->is_string()) fail(path, who + ": \"dtype\" missing or not a string");
  info.dtype_name = dtype->as_string();
  const FormatDType* fd = find_format_dtype(info.dtype_name);
  if (!fd) fail(path, who + ": unknown dtype \"" + info.dtype_name.substr(0, 32) + "\"");
  info.dtype = fd->dtype;

  const json::Value* shape = v.find("shape");
  if (!shape) fail(path, who + ": \"shape\" missing");
  auto dims = non_negative_ints(*shape);
  if (!dims) fail(path, who + ": \"shape\" must be an array of non-negative integers");
  // numel * bits, refusing anything that overflows 64 bits on the way.
  // Strides multiply every dimension but zeros, so that product must fit in int64 as well.
  std::uint64_t bits = static_cast<std::uint64_t>(fd->bits);
  std::int64_t extent = 1;
  for (std::uint64_t d : *dims) {
    info.shape.push_back(static_cast<std::int64_t>(d));
    if (__builtin_mul_overflow(bits, d, &bits) ||
        __builtin_mul_overflow(extent, static_cast<std::int64_t>(std::max<std::uint64_t>(d, 1)),
                               &extent)) {
      fail(path, who + ": shape too large");
    }
  }
  if (bits % 8 != 0) {
    fail(path, who + ": " + std::to_string(bits) + " bits of " + info.dtype_name +
                   " do not fill whole bytes");
  }
  info.nbytes = bits / 8;

  const json::Value* offsets = v.find("data_offsets");
  if (!offsets) fail(path, who + ": \"data_offsets\" missing");
  auto range = non_negative_ints(*offsets);
  if (!range || range->size() != 2) {
    fail(path, who + ": \"data_offsets\" must be two non-negative integers");
  }
  auto [begin, end] = std::pair((*range)[0], (*range)[1]);
  if (end < begin) fail(path, who + ": data_offsets end before they begin");
  if (end > data_size) {
    fail(path, who + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] run past the end of the data (" + std::to_string(data_size) + " bytes)");
  }
  if (end - begin != info.nbytes) {
    fail(path, who + ": shape " + to_string(info.shape) + " of " + info.dtype_name + " is " +
                   std::to_string(info.nbytes) + " bytes but data_offsets span " +
                   std::to_string(end - begin));
  }
  info.offset = shard.data_start + begin;
  return info;
}

// Maps `path` and reads its header; throws FormatError on anything the format forbids.
std::shared_ptr<SafetensorsShard> open_shard(const std::string& path) {
  auto shard = std::make_shared<SafetensorsShard>();
  shard->path = path;
  map_file(*shard);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(shard->base[i]);
  std::uint64_t available = shard->size - 8;
  if (n > available) {
    fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(shard->size) + " bytes)");
  }
  if (n > kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(n) + " is over the 100 MB limit");
  }
  shard->data_start = 8 + n;
  std::uint64_t data_size = available - n;

  std::string_view text(shard->base + 8, n);
  if (text.empty() || text[0] != '{') fail(path, "the header does not start with '{'");
  json::Value header = json::parse(text, path);
  if (!header.is_object()) fail(path, "the header is not a JSON object");

  for (const json::Member& m : header.as_object()) {
    if (m.key == "__metadata__") {
      if (!m.value.is_object()) fail(path, "__metadata__ must be an object of strings");
      for (const json::Member& kv : m.value.as_object()) {
        if (!kv.value.is_string()) {
          fail(path, "__metadata__ \"" + kv.key.substr(0, 200) + "\" is not a string");
        }
        shard->metadata[kv.key] = kv.value.as_string();
      }
      continue;
    }
    shard->tensors.push_back(read_entry(*shard, m, data_size));
  }

  // The data section is the tensors back to back: sorted by offset, each begins where the
  // previous one ends, and the last ends at the end of the file.
  auto& ts = shard->tensors;
  std::stable_sort(ts.begin(), ts.end(), [](const auto& a, const auto& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
  });
  std::uint64_t expected = shard->data_start;
  const SafetensorsInfo* previous = nullptr;
  for (const SafetensorsInfo& t : ts) {
    if (t.offset < expected) {
      fail(path, tensor_label(t.name) + " overlaps " + tensor_label(previous->name));
    }
    if (t.offset > expected) {
      fail(path, "a gap of " + std::to_string(t.offset - expected) + " bytes before " +
                     tensor_label(t.name) + " (the format has the tensors back to back)");
    }
    expected = t.offset + t.nbytes;
    previous = &t;
  }
  if (expected != shard->size) {
    fail(path, std::to_string(shard->size - expected) +
                   " bytes after the last tensor's data (the format allows none)");
  }
  return shard;
}

// A shard named in an index: a plain relative path inside the index's folder.
std::string shard_path(const std::string& index_path, const std::string& file) {
  fs::path rel(file);
  bool escapes = rel.empty() || rel.is_absolute();
  for (const auto& part : rel) {
    if (part == "..") escapes = true;
  }
  if (escapes) fail(index_path, "weight_map names \"" + file + "\", outside the index's folder");
  return (fs::path(index_path).parent_path() / rel).string();
}

std::string pick_in_folder(const std::string& dir) {
  for (const char* name : {"model.safetensors.index.json", "model.safetensors"}) {
    if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  }
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".safetensors") found.push_back(e.path().string());
  }
  if (found.size() == 1) return found[0];
  fail(dir, found.empty() ? "no .safetensors file or model.safetensors.index.json"
                          : "several .safetensors files and no model.safetensors.index.json");
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path_in) {
  std::error_code ec;
  std::string path = fs::is_directory(path_in, ec) ? pick_in_folder(path_in) : path_in;
  SafetensorsFile f;
  f.path_ = path;
  if (!ends_with(path, ".json")) {
    auto shard = open_shard(path);
    for (const SafetensorsInfo& t : shard->tensors) {
      f.names_.push_back(t.name);
      f.index_.emplace(t.name, t);
    }
    f.metadata_ = shard->metadata;
    f.shards_.emplace(path, std::move(shard));
    return f;
  }

  json::Value index = json::parse_file(path);
  const json::Value* weight_map = index.find("weight_map");
  if (!weight_map || !weight_map->is_object())
    fail(path, "\"weight_map\" missing or not an object");
  if (const json::Value* meta = index.find("metadata"); meta && !meta->is_null()) {
    if (!meta->is_object()) fail(path, "\"metadata\" is not an object");
    for (const json::Member& m : meta->as_object()) {
      f.metadata_[m.key] = m.value.is_string() ? m.value.as_string() : json::dump(m.value);
    }
  }
  // Shards in the order the index first names them; tensors in each shard's data order.
  std::vector<std::string> order;
  std::map<std::string, std::string> wanted;  // tensor -> shard path
  for (const json::Member& m : weight_map->as_object()) {
    if (!m.value.is_string())
      fail(path, tensor_label(m.key) + ": weight_map value is not a string");
    std::string shard = shard_path(path, m.value.as_string());
    if (!f.shards_.count(shard)) {
      f.shards_.emplace(shard, open_shard(shard));
      order.push_back(shard);
    }
    wanted.emplace(m.key, shard);
  }
  for (const std::string& shard : order) {
    for (const SafetensorsInfo& t : f.shards_.at(shard)->tensors) {
      auto it = wanted.find(t.name);
      if (it == wanted.end() || it->second != shard) continue;
      f.names_.push_back(t.name);
      f.index_.emplace(t.name, t);
    }
  }
  for (const auto& [name, shard] : wanted) {
    if (!f.index_.count(name)) {
      fail(path, tensor_label(name) + " is mapped to " + shard + ", which does not hold it");
    }
  }
  return f;
}

const SafetensorsInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) EMILY_THROW(ValueError, path_.c_str(), "no ", tensor_label(name));
  return it->second;
}

Tensor SafetensorsFile::tensor(const std::string& name, Device device) const {
  const SafetensorsInfo& t = info(name);
  if (!t.dtype) {
    EMILY_THROW(Unsupported, t.file.c_str(), tensor_label(name), ": dtype ", t.dtype_name,
                " has no Emily type");
  }
  DType dtype = *t.dtype;
  const std::shared_ptr<detail::SafetensorsShard>& shard = shards_.at(t.file);
  char* data = shard->base + t.offset;
  if (dtype == DType::bool_) {
    // A bool byte other than 0 or 1 is undefined behaviour in every kernel that reads it.
    auto* bytes = reinterpret_cast<const unsigned char*>(data);
    if (std::any_of(bytes, bytes + t.nbytes, [](unsigned char b) { return b > 1; })) {
      EMILY_THROW(FormatError, t.file.c_str(), tensor_label(name),
                  ": BOOL holds bytes other than 0 and 1");
    }
  }
  Tensor out;
  if (t.nbytes == 0) {
    out = Tensor::empty(t.shape, dtype, Device::cpu());
  } else if (reinterpret_cast<std::uintptr_t>(data) % size_of(dtype) != 0) {
    // Files from other writers may place a tensor off its element alignment; kernels
    // load whole elements, so such a tensor is copied rather than viewed.
    out = from_blob(data, t.shape, dtype);
  } else {
    out = from_blob_zero_copy(data, t.shape, dtype, [keep = shard](void*) {});
  }
  return device == Device::cpu() ? out : to_device(out, device);
}

std::map<std::string, Tensor> load_safetensors(const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  std::map<std::string, Tensor> out;
  for (const std::string& name : f.names()) out.emplace(name, f.tensor(name));
  return out;
}

std::string_view safetensors_dtype_name(DType dtype) {
  for (const auto& d : kFormatDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  EMILY_THROW(DTypeError, "safetensors", "no format name for ", name(dtype));
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const char* op = "save_safetensors";
  struct Entry {
    const std::string* name;
    Tensor host;
  };
  std::vector<Entry> entries;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) EMILY_THROW(ValueError, op, tensor_label(name), " is undefined");
    if (name == "__metadata__")
      EMILY_THROW(ValueError, op, "\"__metadata__\" is not a tensor name");
    if (!io::is_valid_utf8(name)) EMILY_THROW(ValueError, op, "a tensor name is not valid UTF-8");
    entries.push_back({&name, to_host(t)});
  }
  // Larger elements first: with every size a power of two and the header padded to 8,
  // each tensor then starts on a multiple of its own element size.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.host.itemsize() > b.host.itemsize();
  });

  json::Value header = json::Object{};
  if (!metadata.empty()) {
    json::Value meta = json::Object{};
    for (const auto& [k, v] : metadata) {
      if (!io::is_valid_utf8(k) || !io::is_valid_utf8(v)) {
        EMILY_THROW(ValueError, op, "metadata is not valid UTF-8");
      }
      meta.set(k, v);
    }
    header.set("__metadata__", std::move(meta));
  }
  std::uint64_t offset = 0;
  for (const Entry& e : entries) {
    json::Array shape(e.host.shape().begin(), e.host.shape().end());
    std::uint64_t end = offset + e.host.nbytes();
    header.set(*e.name, json::Object{{"dtype", safetensors_dtype_name(e.host.dtype())},
                                     {"shape", std::move(shape)},
                                     {"data_offsets", json::Array{offset, end}}});
    offset = end;
  }
  std::string text = json::dump(header);
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string tmp = path + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (!out) EMILY_THROW(Error, op, "cannot create ", tmp, ": ", std::strerror(errno));
  bool ok = true;
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  ok = ok && std::fwrite(len, 1, 8, out) == 8;
  ok = ok && std::fwrite(text.data(), 1, text.size(), out) == text.size();
  for (const Entry& e : entries) {
    std::size_t n = e.host.nbytes();
    if (n) ok = ok && std::fwrite(e.host.raw_data(), 1, n, out) == n;
  }
  ok = (std::fclose(out) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    EMILY_THROW(Error, op, "cannot write ", path, ": ", std::strerror(err));
  }
}

}  // namespace emily
