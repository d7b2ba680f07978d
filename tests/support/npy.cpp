#include "support/npy.h"

#include <fstream>
#include <sstream>

namespace emily::testing {

namespace {
DType dtype_from_descr(const std::string& d, const std::string& what) {
  static const std::pair<const char*, DType> table[] = {
      {"|b1", DType::bool_}, {"|u1", DType::u8},   {"<u2", DType::u16}, {"<u4", DType::u32},
      {"<u8", DType::u64},   {"|i1", DType::s8},   {"<i2", DType::s16}, {"<i4", DType::s32},
      {"<i8", DType::s64},   {"<f2", DType::f16},  {"<f4", DType::f32}, {"<f8", DType::f64},
      {"<c8", DType::c64},   {"<V2", DType::bf16}, {"|V2", DType::bf16}};  // bf16 fixtures are
                                                                           // stored as raw 2-byte
  for (const auto& [k, v] : table)
    if (d == k) return v;
  EMILY_THROW(FormatError, what.c_str(), "unsupported dtype descr '", d, "'");
}

std::string field(const std::string& header, const std::string& key, const std::string& what) {
  auto k = header.find("'" + key + "'");
  if (k == std::string::npos) EMILY_THROW(FormatError, what.c_str(), "header lacks '", key, "'");
  auto colon = header.find(':', k);
  if (colon == std::string::npos) EMILY_THROW(FormatError, what.c_str(), "bad header");
  return header.substr(colon + 1);
}
}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    EMILY_THROW(FormatError, what.c_str(), "not a .npy file");
  }
  int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len, start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) EMILY_THROW(FormatError, what.c_str(), "truncated header");
    header_len = 0;
    for (int i = 3; i >= 0; --i)
      header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    start = 12;
  } else {
    EMILY_THROW(FormatError, what.c_str(), "unsupported .npy version ", major);
  }
  if (start + header_len > bytes.size()) EMILY_THROW(FormatError, what.c_str(), "truncated header");
  std::string header = bytes.substr(start, header_len);
  std::string descr = field(header, "descr", what);
  auto q1 = descr.find('\'');
  auto q2 = descr.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos)
    EMILY_THROW(FormatError, what.c_str(), "bad descr");
  DType dtype = dtype_from_descr(descr.substr(q1 + 1, q2 - q1 - 1), what);
  if (field(header, "fortran_order", what).find("False") != 0 &&
      field(header, "fortran_order", what).find(" False") != 0) {
    EMILY_THROW(FormatError, what.c_str(), "Fortran order is not supported");
  }
  std::string shape_text = field(header, "shape", what);
  auto open = shape_text.find('('), close = shape_text.find(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    EMILY_THROW(FormatError, what.c_str(), "bad shape");
  }
  Shape shape;
  std::stringstream ss(shape_text.substr(open + 1, close - open - 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    shape.push_back(std::stoll(item));
  }
  std::size_t need = static_cast<std::size_t>(numel(shape)) * size_of(dtype);
  if (start + header_len + need != bytes.size()) {
    EMILY_THROW(FormatError, what.c_str(), "data holds ", bytes.size() - start - header_len,
                " bytes, shape needs ", need);
  }
  return from_blob(bytes.data() + start + header_len, shape, dtype);
}

Tensor load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) EMILY_THROW(FormatError, path.c_str(), "cannot open fixture (run scripts/fixtures/)");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_npy(ss.str(), path);
}

}  // namespace emily::testing
