// Internals of the GGUF reader shared by its files (src/io/gguf*.cpp): the file's bytes,
// ggml's type table and the parsed contents a GgufFile handle points to.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "emily/gguf.h"

namespace emily::detail {

// The file's bytes: a private copy-on-write mapping (so a tensor donated to an in-place
// op never writes the file), or bytes handed to GgufFile::parse.
class GgufBytes {
 public:
  explicit GgufBytes(std::string owned) : owned_(std::move(owned)) {
    data_ = reinterpret_cast<const std::uint8_t*>(owned_.data());
    size_ = owned_.size();
  }
  GgufBytes(void* mapped, std::size_t size)
      : data_(static_cast<const std::uint8_t*>(mapped)), size_(size), mapped_(mapped) {}
  ~GgufBytes() {
    if (mapped_) ::munmap(mapped_, size_);
  }
  GgufBytes(const GgufBytes&) = delete;
  GgufBytes& operator=(const GgufBytes&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  std::string owned_;
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  void* mapped_ = nullptr;
};

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;
  std::uint32_t block;       // elements per block
  std::uint32_t block_size;  // bytes per block
  bool plain;                // one element per block, stored as `dtype`
  DType dtype;
};

// A name or key as error messages show it.
inline std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// nullptr for ids ggml does not define (or has removed).
const GgmlTypeTraits* find_ggml_type(std::uint32_t id);
inline const GgmlTypeTraits& ggml_traits(GgmlType type) {
  return *find_ggml_type(static_cast<std::uint32_t>(type));  // every GgmlType has an entry
}

struct GgufContents {
  std::string path;
  std::shared_ptr<const GgufBytes> bytes;
  std::uint32_t version = 0;
  std::uint64_t alignment = 32;  // GGUF's default when general.alignment is absent
  std::uint64_t data_offset = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::unordered_map<std::string, std::size_t> key_index;
  std::vector<GgufTensorInfo> tensors;
  std::unordered_map<std::string, std::size_t> tensor_index;
};

}  // namespace emily::detail
