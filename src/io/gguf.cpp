// GGUF reading: the file is mapped, parsed and validated once in GgufFile::open (tensors
// are made on request, in gguf_tensor.cpp). Every count and length read from the file is checked
// against the bytes that remain before anything is reserved or read, so a lying file costs at most
// its own size in memory.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "io/gguf_contents.h"
#include "io/utf8.h"

namespace emily {

namespace {

using detail::GgmlTypeTraits;
using detail::GgufBytes;

// Block sizes from ggml's type table; each entry's bytes are its block struct's size.
constexpr GgmlTypeTraits kTypes[] = {
    {GgmlType::f32, "F32", 1, 4, true, DType::f32},
    {GgmlType::f16, "F16", 1, 2, true, DType::f16},
    {GgmlType::q4_0, "Q4_0", 32, 18, false, DType::u8},
    {GgmlType::q4_1, "Q4_1", 32, 20, false, DType::u8},
    {GgmlType::q5_0, "Q5_0", 32, 22, false, DType::u8},
    {GgmlType::q5_1, "Q5_1", 32, 24, false, DType::u8},
    {GgmlType::q8_0, "Q8_0", 32, 34, false, DType::u8},
    {GgmlType::q8_1, "Q8_1", 32, 40, false, DType::u8},
    {GgmlType::q2_k, "Q2_K", 256, 84, false, DType::u8},
    {GgmlType::q3_k, "Q3_K", 256, 110, false, DType::u8},
    {GgmlType::q4_k, "Q4_K", 256, 144, false, DType::u8},
    {GgmlType::q5_k, "Q5_K", 256, 176, false, DType::u8},
    {GgmlType::q6_k, "Q6_K", 256, 210, false, DType::u8},
    {GgmlType::q8_k, "Q8_K", 256, 292, false, DType::u8},
    {GgmlType::iq2_xxs, "IQ2_XXS", 256, 66, false, DType::u8},
    {GgmlType::iq2_xs, "IQ2_XS", 256, 74, false, DType::u8},
    {GgmlType::iq3_xxs, "IQ3_XXS", 256, 98, false, DType::u8},
    {GgmlType::iq1_s, "IQ1_S", 256, 50, false, DType::u8},
    {GgmlType::iq4_nl, "IQ4_NL", 32, 18, false, DType::u8},
    {GgmlType::iq3_s, "IQ3_S", 256, 110, false, DType::u8},
    {GgmlType::iq2_s, "IQ2_S", 256, 82, false, DType::u8},
    {GgmlType::iq4_xs, "IQ4_XS", 256, 136, false, DType::u8},
    {GgmlType::i8, "I8", 1, 1, true, DType::s8},
    {GgmlType::i16, "I16", 1, 2, true, DType::s16},
    {GgmlType::i32, "I32", 1, 4, true, DType::s32},
    {GgmlType::i64, "I64", 1, 8, true, DType::s64},
    {GgmlType::f64, "F64", 1, 8, true, DType::f64},
    {GgmlType::iq1_m, "IQ1_M", 256, 56, false, DType::u8},
    {GgmlType::bf16, "BF16", 1, 2, true, DType::bf16},
    {GgmlType::tq1_0, "TQ1_0", 256, 54, false, DType::u8},
    {GgmlType::tq2_0, "TQ2_0", 256, 66, false, DType::u8},
    {GgmlType::mxfp4, "MXFP4", 32, 17, false, DType::u8},
    {GgmlType::nvfp4, "NVFP4", 64, 36, false, DType::u8},
    {GgmlType::q1_0, "Q1_0", 128, 18, false, DType::u8},
};

}  // namespace

const detail::GgmlTypeTraits* detail::find_ggml_type(std::uint32_t id) {
  for (const GgmlTypeTraits& t : kTypes)
    if (static_cast<std::uint32_t>(t.type) == id) return &t;
  return nullptr;
}

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr std::uint32_t kMaxDims = 4;         // ggml's GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 16;            // nesting beyond this is an attack, not a model
constexpr std::uint64_t kMaxElements = std::numeric_limits<std::int64_t>::max() / 8;

// Reads little-endian values from the file, failing with the file's name, the item being
// read and where, rather than reading past the end.
class Cursor {
 public:
  Cursor(const GgufBytes& bytes, const std::string& label) : bytes_(bytes), label_(label) {}

  std::uint64_t position() const { return pos_; }
  std::uint64_t remaining() const { return bytes_.size() - pos_; }

  template <class... Args>
  [[noreturn]] void fail(const Args&... args) const {
    EMILY_THROW(FormatError, label_.c_str(), args...);
  }

  void need(std::uint64_t n, const std::string& what) const {
    if (n > remaining())
      fail("truncated: ", what, " needs ", n, " bytes at offset ", pos_, " but the file has ",
           bytes_.size());
  }

  template <class T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string read_string(const std::string& what) {
    std::uint64_t length = read<std::uint64_t>(what + " length");
    if (length > remaining())
      fail(what, " claims ", length, " bytes at offset ", pos_, " but only ", remaining(),
           " remain");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return s;
  }

  // A count of items of at least `each` bytes must fit in what remains; checking this
  // before reserving keeps allocation proportional to the file.
  void check_count(std::uint64_t count, std::uint64_t each, const std::string& what) const {
    if (count > remaining() / each)
      fail(what, " claims ", count, " entries but only ", remaining(), " bytes remain");
  }

 private:
  const GgufBytes& bytes_;
  const std::string& label_;
  std::uint64_t pos_ = 0;
};

std::uint64_t fixed_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::u8:
    case GgufValueType::i8:
    case GgufValueType::bool_:
      return 1;
    case GgufValueType::u16:
    case GgufValueType::i16:
      return 2;
    case GgufValueType::u32:
    case GgufValueType::i32:
    case GgufValueType::f32:
      return 4;
    case GgufValueType::u64:
    case GgufValueType::i64:
    case GgufValueType::f64:
      return 8;
    case GgufValueType::string:
    case GgufValueType::array:
      return 0;
  }
  return 0;
}

GgufValueType read_value_type(Cursor& in, const std::string& what) {
  std::uint32_t id = in.read<std::uint32_t>(what + " type");
  if (id > static_cast<std::uint32_t>(GgufValueType::f64))
    in.fail(what, " has unknown value type ", id);
  return static_cast<GgufValueType>(id);
}

// One scalar of a fixed-size type, widened to the storage kind of its type.
template <class T>
T read_widened(Cursor& in, GgufValueType t, const std::string& what);

template <>
std::uint64_t read_widened(Cursor& in, GgufValueType t, const std::string& what) {
  switch (t) {
    case GgufValueType::u8:
      return in.read<std::uint8_t>(what);
    case GgufValueType::u16:
      return in.read<std::uint16_t>(what);
    case GgufValueType::u32:
      return in.read<std::uint32_t>(what);
    case GgufValueType::bool_: {
      std::uint8_t b = in.read<std::uint8_t>(what);
      if (b > 1) in.fail(what, " is a bool of value ", int(b), " (must be 0 or 1)");
      return b;
    }
    default:
      return in.read<std::uint64_t>(what);
  }
}

template <>
std::int64_t read_widened(Cursor& in, GgufValueType t, const std::string& what) {
  switch (t) {
    case GgufValueType::i8:
      return in.read<std::int8_t>(what);
    case GgufValueType::i16:
      return in.read<std::int16_t>(what);
    case GgufValueType::i32:
      return in.read<std::int32_t>(what);
    default:
      return in.read<std::int64_t>(what);
  }
}

template <>
double read_widened(Cursor& in, GgufValueType t, const std::string& what) {
  if (t == GgufValueType::f32) return in.read<float>(what);
  return in.read<double>(what);
}

bool unsigned_storage(GgufValueType t) {
  return t == GgufValueType::u8 || t == GgufValueType::u16 || t == GgufValueType::u32 ||
         t == GgufValueType::u64 || t == GgufValueType::bool_;
}

bool float_storage(GgufValueType t) {
  return t == GgufValueType::f32 || t == GgufValueType::f64;
}

template <class T>
std::vector<T> read_elements(Cursor& in, GgufValueType t, std::uint64_t count,
                             const std::string& what) {
  std::vector<T> out;
  out.reserve(count);  // count was checked against the bytes that remain
  for (std::uint64_t i = 0; i < count; ++i) out.push_back(read_widened<T>(in, t, what));
  return out;
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& what, int depth);

GgufValue read_array(Cursor& in, const std::string& what, int depth) {
  if (depth >= kMaxArrayDepth) in.fail(what, " nests arrays more than ", kMaxArrayDepth, " deep");
  GgufValueType element = read_value_type(in, what + " element");
  std::uint64_t count = in.read<std::uint64_t>(what + " count");
  // Smallest encoding of one element: its fixed size, a string's length, or a nested
  // array's type and count.
  std::uint64_t each = element == GgufValueType::string  ? 8
                       : element == GgufValueType::array ? 12
                                                         : fixed_size(element);
  in.check_count(count, each, what);
  auto make = [&](GgufValue::Storage storage) {
    return GgufValue(GgufValueType::array, element, std::move(storage));
  };
  if (element == GgufValueType::string) {
    std::vector<std::string> out;
    out.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) out.push_back(in.read_string(what + " element"));
    return make(std::move(out));
  }
  if (element == GgufValueType::array) {
    std::vector<GgufValue> out;
    out.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i)
      out.push_back(read_array(in, what + " element", depth + 1));
    return make(std::move(out));
  }
  if (float_storage(element)) return make(read_elements<double>(in, element, count, what));
  if (unsigned_storage(element))
    return make(read_elements<std::uint64_t>(in, element, count, what));
  return make(read_elements<std::int64_t>(in, element, count, what));
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& what, int depth) {
  if (type == GgufValueType::array) return read_array(in, what, depth);
  if (type == GgufValueType::string) return GgufValue(type, type, in.read_string(what));
  if (float_storage(type)) return GgufValue(type, type, read_widened<double>(in, type, what));
  if (unsigned_storage(type))
    return GgufValue(type, type, read_widened<std::uint64_t>(in, type, what));
  return GgufValue(type, type, read_widened<std::int64_t>(in, type, what));
}

using detail::quoted;

void read_header(Cursor& in, detail::GgufContents& c) {
  std::uint32_t magic = in.read<std::uint32_t>("the magic");
  if (magic != kMagic) in.fail("not a GGUF file (bad magic)");
  std::uint32_t version = in.read<std::uint32_t>("the version");
  std::uint32_t swapped = __builtin_bswap32(version);
  if (version != 2 && version != 3 && (swapped == 2 || swapped == 3))
    in.fail("big-endian GGUF is not supported");
  if (version != 2 && version != 3) in.fail("unsupported GGUF version ", version, " (2 and 3 are)");
  c.version = version;
}

void read_metadata(Cursor& in, detail::GgufContents& c, std::uint64_t count) {
  // The smallest entry: an empty key's length, a value type and a one-byte value.
  in.check_count(count, 8 + 4 + 1, "the metadata count");
  c.metadata.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string entry = "metadata entry " + std::to_string(i);
    std::string key = in.read_string(entry + " key");
    if (!io::is_valid_utf8(key)) in.fail(entry, " has a key that is not valid UTF-8");
    std::string what = "metadata " + quoted(key);
    if (c.key_index.count(key)) in.fail(what, " appears twice");
    GgufValueType type = read_value_type(in, what);
    c.key_index.emplace(key, c.metadata.size());
    c.metadata.emplace_back(key, read_value(in, type, what, 0));
  }
  auto it = c.key_index.find("general.alignment");
  if (it != c.key_index.end()) {
    const GgufValue& v = c.metadata[it->second].second;
    if (v.type() != GgufValueType::u32)
      in.fail("general.alignment is ", name(v.type()), ", not u32");
    std::uint64_t a = v.as_uint();
    if (a == 0 || (a & (a - 1)) != 0) in.fail("general.alignment ", a, " is not a power of two");
    c.alignment = a;
  }
}

GgufTensorInfo read_tensor_info(Cursor& in, const detail::GgufContents& c, std::uint64_t index) {
  std::string entry = "tensor info " + std::to_string(index);
  GgufTensorInfo info;
  info.name = in.read_string(entry + " name");
  if (!io::is_valid_utf8(info.name)) in.fail(entry, " has a name that is not valid UTF-8");
  std::string what = "tensor " + quoted(info.name);
  if (c.tensor_index.count(info.name)) in.fail(what, " appears twice");
  std::uint32_t n_dims = in.read<std::uint32_t>(what + " rank");
  if (n_dims > kMaxDims) in.fail(what, " has ", n_dims, " dimensions (at most ", kMaxDims, ")");
  std::uint64_t dims[kMaxDims];
  std::uint64_t elements = 1;
  bool empty = false;
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    dims[d] = in.read<std::uint64_t>(what + " dimension");
    if (dims[d] > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      in.fail(what, " has a negative dimension ", static_cast<std::int64_t>(dims[d]));
    // Nonzero dims must multiply without overflow even when another dim is zero, since
    // strides are computed from them, and stay so in bytes of the widest element.
    if (dims[d] == 0) {
      empty = true;
    } else {
      if (elements > kMaxElements / dims[d])
        in.fail(what, " has dimensions whose product overflows");
      elements *= dims[d];
    }
  }
  if (empty) elements = 0;
  for (std::uint32_t d = n_dims; d-- > 0;) info.shape.push_back(static_cast<std::int64_t>(dims[d]));

  std::uint32_t type_id = in.read<std::uint32_t>(what + " type");
  const GgmlTypeTraits* type = detail::find_ggml_type(type_id);
  if (!type) in.fail(what, " has unknown ggml type id ", type_id);
  info.type = type->type;
  std::uint64_t row = n_dims ? dims[0] : 1;
  if (row % type->block != 0)
    in.fail(what, " has rows of ", row, " elements, not a whole number of ", type->name,
            " blocks of ", type->block);
  std::uint64_t blocks = elements / type->block;
  if (blocks > std::numeric_limits<std::uint64_t>::max() / type->block_size)
    in.fail(what, " is too large");
  info.bytes = blocks * type->block_size;
  info.offset = in.read<std::uint64_t>(what + " offset");
  if (info.offset % c.alignment != 0)
    in.fail(what, " starts at data offset ", info.offset, ", not a multiple of the alignment ",
            c.alignment);
  return info;
}

// Every tensor's bytes lie inside the data section and no two tensors share a byte.
void check_tensor_data(Cursor& in, const detail::GgufContents& c) {
  std::uint64_t size = c.bytes->size();
  std::uint64_t available = c.data_offset <= size ? size - c.data_offset : 0;
  std::vector<const GgufTensorInfo*> order;
  order.reserve(c.tensors.size());
  for (const GgufTensorInfo& t : c.tensors) {
    if (t.offset > available || t.bytes > available - t.offset)
      in.fail("data of tensor ", quoted(t.name), " (", t.bytes, " bytes at data offset ", t.offset,
              ") runs past the end of the file (the data section holds ", available,
              " bytes from offset ", c.data_offset, ")");
    if (t.bytes) order.push_back(&t);
  }
  std::sort(order.begin(), order.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const GgufTensorInfo& prev = *order[i - 1];
    if (prev.offset + prev.bytes > order[i]->offset)
      in.fail("tensors ", quoted(prev.name), " and ", quoted(order[i]->name), " overlap");
  }
}

std::shared_ptr<const detail::GgufContents> parse_contents(std::shared_ptr<const GgufBytes> bytes,
                                                           const std::string& label) {
  auto c = std::make_shared<detail::GgufContents>();
  c->path = label;
  c->bytes = std::move(bytes);
  Cursor in(*c->bytes, c->path);
  read_header(in, *c);
  std::uint64_t n_tensors = in.read<std::uint64_t>("the tensor count");
  std::uint64_t n_metadata = in.read<std::uint64_t>("the metadata count");
  read_metadata(in, *c, n_metadata);
  // The smallest tensor info: name length, rank, type and offset.
  in.check_count(n_tensors, 8 + 4 + 4 + 8, "the tensor count");
  c->tensors.reserve(n_tensors);
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo info = read_tensor_info(in, *c, i);
    c->tensor_index.emplace(info.name, c->tensors.size());
    c->tensors.push_back(std::move(info));
  }
  // Alignment is at most 2^31 (a u32 power of two) and the position at most the file
  // size, so this cannot overflow.
  c->data_offset = (in.position() + c->alignment - 1) / c->alignment * c->alignment;
  check_tensor_data(in, *c);
  return c;
}

}  // namespace

GgufFile GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) EMILY_THROW(FormatError, path.c_str(), "cannot open: ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    EMILY_THROW(FormatError, path.c_str(), "cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    EMILY_THROW(FormatError, path.c_str(), "not a regular file");
  }
  std::shared_ptr<const GgufBytes> bytes;
  if (st.st_size == 0) {
    bytes = std::make_shared<GgufBytes>(std::string());  // mmap refuses empty lengths
  } else {
    std::size_t size = static_cast<std::size_t>(st.st_size);
    // Writable and private, so a write never reaches the file; MAP_NORESERVE because a
    // private writable mapping is otherwise charged in full against the commit limit,
    // which refuses model files larger than RAM + swap. Where the kernel still refuses
    // (strict overcommit), a read-only mapping serves every read.
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    if (p == MAP_FAILED) {
      ::close(fd);
      EMILY_THROW(FormatError, path.c_str(), "cannot map ", size, " bytes: ", std::strerror(err));
    }
    bytes = std::make_shared<GgufBytes>(p, size);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return GgufFile(parse_contents(std::move(bytes), path));
}

GgufFile GgufFile::parse(std::string bytes, const std::string& label) {
  return GgufFile(parse_contents(std::make_shared<GgufBytes>(std::move(bytes)), label));
}

const std::string& GgufFile::path() const {
  return contents_->path;
}
std::uint32_t GgufFile::version() const {
  return contents_->version;
}
std::uint64_t GgufFile::alignment() const {
  return contents_->alignment;
}
std::uint64_t GgufFile::data_offset() const {
  return contents_->data_offset;
}
std::uint64_t GgufFile::file_size() const {
  return contents_->bytes->size();
}

const std::vector<std::pair<std::string, GgufValue>>& GgufFile::metadata() const {
  return contents_->metadata;
}

bool GgufFile::contains(const std::string& key) const {
  return contents_->key_index.count(key) != 0;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = contents_->key_index.find(key);
  return it == contents_->key_index.end() ? nullptr : &contents_->metadata[it->second].second;
}

const GgufValue& GgufFile::value(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) EMILY_THROW(FormatError, path().c_str(), "missing metadata key ", quoted(key));
  return *v;
}

namespace {
// Runs a typed read of `key`, restating a type error with the file and key.
template <class Read>
auto typed(const GgufFile& file, const std::string& key, Read read) {
  const GgufValue& v = file.value(key);
  try {
    return read(v);
  } catch (const FormatError& e) {
    std::string detail = e.what();
    detail.erase(0, detail.find("] ") + 2);  // drop the "[gguf] " of the value's message
    EMILY_THROW(FormatError, file.path().c_str(), "metadata ", quoted(key), ": ", detail);
  }
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_string(); });
}
std::int64_t GgufFile::get_int(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_int(); });
}
double GgufFile::get_float(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_float(); });
}
bool GgufFile::get_bool(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_bool(); });
}
std::vector<std::string> GgufFile::get_strings(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_strings(); });
}
std::vector<std::int64_t> GgufFile::get_ints(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_ints(); });
}
std::vector<double> GgufFile::get_floats(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_floats(); });
}

std::string_view name(GgmlType t) {
  const GgmlTypeTraits* traits = detail::find_ggml_type(static_cast<std::uint32_t>(t));
  return traits ? traits->name : "unknown";
}

}  // namespace emily
