// GGUF tensors: float tensors as views of the file, quantized ones repacked into
// QuantizedTensor (the layouts are described in emily/gguf.h), and the listing.
#include <cstring>
#include <sstream>

#include "backend/cpu/threads.h"
#include "io/gguf_contents.h"

namespace emily {

namespace {

using detail::ggml_traits;
using detail::GgmlTypeTraits;
using detail::quoted;

// The unsigned 4-bit codes of one Q4 block, MLX order: element j at bit 4 (j % 8) of
// word j / 8. GGUF stores element j in qs[j]'s low nibble and j + 16 in its high one.
void repack_q4(const std::uint8_t* qs, std::uint32_t* words) {
  for (int w = 0; w < 4; ++w) {
    std::uint32_t word = 0;
    for (int k = 0; k < 8; ++k) {
      int j = w * 8 + k;
      std::uint32_t code = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
      word |= code << (4 * k);
    }
    words[w] = word;
  }
}

// Q8_0's signed codes, offset by 128 into unsigned ones, four to a word, first lowest.
void repack_q8(const std::uint8_t* qs, std::uint32_t* words) {
  for (int w = 0; w < 8; ++w) {
    std::uint32_t word = 0;
    for (int k = 0; k < 4; ++k) word |= std::uint32_t(qs[w * 4 + k] ^ 0x80u) << (8 * k);
    words[w] = word;
  }
}

float read_f16(const std::uint8_t* p) {
  std::uint16_t bits;
  std::memcpy(&bits, p, 2);
  return f16::to_float(bits);
}

}  // namespace

const std::vector<GgufTensorInfo>& GgufFile::tensors() const {
  return contents_->tensors;
}

bool GgufFile::has_tensor(const std::string& name) const {
  return contents_->tensor_index.count(name) != 0;
}

const GgufTensorInfo& GgufFile::tensor_info(const std::string& name) const {
  auto it = contents_->tensor_index.find(name);
  if (it == contents_->tensor_index.end())
    EMILY_THROW(ValueError, path().c_str(), "no tensor named ", quoted(name));
  return contents_->tensors[it->second];
}

bool GgufFile::is_quantized(GgmlType type) {
  return type == GgmlType::q4_0 || type == GgmlType::q4_1 || type == GgmlType::q8_0;
}

Tensor GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo& info = tensor_info(name);
  const GgmlTypeTraits& type = ggml_traits(info.type);
  if (!type.plain)
    EMILY_THROW(Unsupported, path().c_str(), "tensor ", quoted(name), " is ", type.name,
                is_quantized(info.type) ? "; read it with quantized_tensor"
                                        : ", a type Emily does not read");
  if (info.bytes == 0) return Tensor::empty(info.shape, type.dtype, Device::cpu());
  const std::uint8_t* p = contents_->bytes->data() + contents_->data_offset + info.offset;
  // A file aligned to less than the element size (general.alignment 1 or 2) is legal;
  // its tensors are copied rather than read through misaligned pointers.
  if (reinterpret_cast<std::uintptr_t>(p) % size_of(type.dtype) != 0)
    return from_blob(p, info.shape, type.dtype);
  std::shared_ptr<const detail::GgufBytes> keep = contents_->bytes;
  return from_blob_zero_copy(const_cast<std::uint8_t*>(p), info.shape, type.dtype,
                             [keep](void*) {});
}

QuantizedTensor GgufFile::quantized_tensor(const std::string& name) const {
  const GgufTensorInfo& info = tensor_info(name);
  const GgmlTypeTraits& type = ggml_traits(info.type);
  if (!is_quantized(info.type))
    EMILY_THROW(Unsupported, path().c_str(), "tensor ", quoted(name), " is ", type.name,
                type.plain ? "; read it with tensor" : ", a type Emily does not read");
  const int bits = info.type == GgmlType::q8_0 ? 8 : 4;
  const std::int64_t words_per_block = 32 * bits / 32;
  // Quantized tensors have rank >= 1: a rank-0 one would hold one element, not a block.
  const Shape& shape = info.shape;
  std::int64_t blocks = numel(shape) / 32;
  Shape packed_shape = shape, group_shape = shape;
  packed_shape.back() = shape.back() / 32 * words_per_block;
  group_shape.back() = shape.back() / 32;

  QuantizedTensor q;
  q.bits = bits;
  q.group_size = 32;
  q.packed = Tensor::empty(packed_shape, DType::u32, Device::cpu());
  q.scales = Tensor::empty(group_shape, DType::f32, Device::cpu());
  q.biases = Tensor::empty(group_shape, DType::f32, Device::cpu());
  auto* words = q.packed.data<std::uint32_t>();
  auto* scales = q.scales.data<float>();
  auto* biases = q.biases.data<float>();
  const std::uint8_t* data = contents_->bytes->data() + contents_->data_offset + info.offset;
  const GgmlType kind = info.type;
  const std::uint32_t stride = type.block_size;
  // Blocks are independent; a large model's weights repack on every core.
#pragma omp parallel for schedule(static) num_threads(cpu::threads()) if (blocks > 4096)
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::uint8_t* block = data + b * stride;
    std::uint32_t* out = words + b * words_per_block;
    float d = read_f16(block);
    scales[b] = d;
    if (kind == GgmlType::q4_0) {
      biases[b] = -8.0f * d;
      repack_q4(block + 2, out);
    } else if (kind == GgmlType::q4_1) {
      biases[b] = read_f16(block + 2);
      repack_q4(block + 4, out);
    } else {  // Q8_0
      biases[b] = -128.0f * d;
      repack_q8(block + 2, out);
    }
  }
  return q;
}

std::string describe(const GgufFile& file) {
  std::ostringstream os;
  os << "GGUF v" << file.version() << ", " << file.metadata().size() << " metadata keys, "
     << file.tensors().size() << " tensors, alignment " << file.alignment() << ", data at byte "
     << file.data_offset() << " of " << file.file_size() << "\n";
  os << "metadata:\n";
  for (const auto& [key, value] : file.metadata())
    os << "  " << key << ": " << to_string(value) << "\n";
  std::size_t width = 4;
  for (const GgufTensorInfo& t : file.tensors()) width = std::max(width, t.name.size());
  os << "tensors:\n";
  auto row = [&](std::string_view n, std::string_view type, const std::string& shape,
                 const std::string& bytes) {
    os << "  " << n << std::string(width - n.size() + 2, ' ') << type
       << std::string(type.size() < 8 ? 8 - type.size() : 1, ' ') << shape
       << std::string(shape.size() < 24 ? 24 - shape.size() : 1, ' ') << bytes << "\n";
  };
  row("name", "type", "shape", "bytes");
  for (const GgufTensorInfo& t : file.tensors())
    row(t.name, name(t.type), to_string(t.shape), std::to_string(t.bytes));
  return os.str();
}

}  // namespace emily
