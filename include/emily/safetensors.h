// safetensors files (Hugging Face's weight format): an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the data.
//
// Reading maps the file: open() parses and validates the header only, and tensor(name) on
// the CPU is a zero-copy view of the mapping (the mapping lives while any view does).
// Sharded models are read through model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emily/device.h"
#include "emily/dtype.h"
#include "emily/shape.h"
#include "emily/tensor.h"

namespace emily {

struct SafetensorsInfo {
  std::string name;
  std::string dtype_name;      // as the file writes it: "BF16", "F8_E4M3", ...
  std::optional<DType> dtype;  // empty for format dtypes Emily has no type for (F8_*, F4, F6_*)
  Shape shape;
  std::uint64_t nbytes = 0;
  std::string file;          // the file holding the data (one shard of a sharded model)
  std::uint64_t offset = 0;  // of the first byte in that file
};

namespace detail {
struct SafetensorsShard;
}

class SafetensorsFile {
 public:
  // A .safetensors file, a model.safetensors.index.json, or a folder holding either
  // (the index first, then model.safetensors, then a lone *.safetensors). FormatError
  // naming the file and the tensor on anything the format forbids.
  static SafetensorsFile open(const std::string& path);

  // Tensor names in data order (shard by shard for a sharded model).
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // ValueError naming the tensor when absent.
  const SafetensorsInfo& info(const std::string& name) const;
  // The tensor; on the CPU a view of the mapped file, elsewhere a copy. Unsupported for
  // dtypes Emily lacks; FormatError for a bool tensor holding bytes other than 0 and 1.
  Tensor tensor(const std::string& name, Device device = Device::cpu()) const;

  // The header's __metadata__ (string to string). For a sharded model, the index's
  // "metadata" object, non-string values as their JSON text ("total_size": "1234").
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The file opened: the .safetensors file or the index.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> names_;
  std::map<std::string, SafetensorsInfo> index_;
  std::map<std::string, std::string> metadata_;
  // Shards by file path; each owns its mapping, shared with the tensors it hands out.
  std::map<std::string, std::shared_ptr<detail::SafetensorsShard>> shards_;
};

// Every tensor of a file (or sharded model), as views of the mapping on the CPU.
std::map<std::string, Tensor> load_safetensors(const std::string& path);

// Writes `tensors` (any device: copied to the host row-major) and `metadata` to `path`.
// Tensors are laid out by falling element size, then name, so every tensor's data is
// aligned to its element size (the header is padded with spaces to 8 bytes). The file is
// written beside `path` and renamed into place, so a reader never sees half a file.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The format's name for an Emily dtype: "BF16", "F32", "BOOL", ...
std::string_view safetensors_dtype_name(DType dtype);

}  // namespace emily
