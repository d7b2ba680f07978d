// GGUF model files (llama.cpp's format), versions 2 and 3, little-endian.
//
// A GGUF file is a header, typed metadata key-values, a table of tensor infos and an
// aligned data section. GgufFile::open maps the file (no copy) and checks all of it up
// front: every count, length, offset and size is validated against the file before it
// is used, and anything wrong raises FormatError "[<path>] <what was wrong>".
//
// Shapes: GGUF lists a tensor's dimensions innermost first (ggml's ne[0] is the
// contiguous one); Emily shapes are row-major, so a tensor written with dims
// (4096, 32000) is shape (32000, 4096) here, and the last axis is GGUF's first.
// As in ggml, a tensor has at most 4 dimensions, and a dimension may be 0 (an empty
// tensor); a dimension at or above 2^63, or nonzero dimensions whose product exceeds
// 2^60 (so that strides in bytes fit in 64 bits), is refused.
//
// Tensors of type F32, F16, BF16, F64 and I8..I64 become CPU tensors over the mapping
// itself (they keep it alive). Q4_0, Q4_1 and Q8_0 become QuantizedTensor (affine,
// group size 32, f32 scales and biases; see quantization.h), repacked as follows:
//   Q4_0  block {f16 d; u8 qs[16]}: w = d * (q - 8)    -> scale d, bias -8 d, bits 4
//   Q4_1  block {f16 d, m; u8 qs[16]}: w = d * q + m   -> scale d, bias m,    bits 4
//   Q8_0  block {f16 d; s8 qs[32]}: w = d * q          -> code q + 128, scale d,
//                                                          bias -128 d, bits 8
// In a Q4 block, qs[j]'s low nibble is element j and its high nibble element j + 16;
// in the packed words element j of the row sits at bit 4 * (j % 8) of word j / 8.
// The mapping is exact: d is an f16, so d * q (q < 256) and 8 d, 128 d are exact in f32,
// and d * q + bias then equals ggml's d * (q - 8) (or d * q) exactly; only the sign of
// a zero may differ (+0 where ggml gives -0 for d < 0). Q4_1 computes d * q + m in the
// same order as ggml. Non-finite d (never written by a quantizer) is not preserved.
// Other ggml types (Q5_*, Q8_1, K-quants, IQ*, TQ*, MXFP4) are listed but raise
// Unsupported naming the type when loaded.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emily/quantization.h"
#include "emily/tensor.h"

namespace emily {

// ggml's tensor type ids, as stored in the file.
enum class GgmlType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
  mxfp4 = 39,
  nvfp4 = 40,
  q1_0 = 41,
};
std::string_view name(GgmlType t);  // "Q4_0", "F32", ... as ggml spells them

// Metadata value types, as stored in the file.
enum class GgufValueType : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  bool_ = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};
std::string_view name(GgufValueType t);  // "u32", "string", "array", ...

// One metadata value. Scalars keep their file type; arrays keep their element type and
// hold their elements in the widest C++ type of their kind (integers and bools in 64
// bits, floats in double, which is exact for f32). Strings are the file's bytes; keys
// and tensor names are checked to be UTF-8, values are not (converted vocabularies carry
// byte pieces).
class GgufValue {
 public:
  using Storage =
      std::variant<std::uint64_t, std::int64_t, double, std::string, std::vector<std::uint64_t>,
                   std::vector<std::int64_t>, std::vector<double>, std::vector<std::string>,
                   std::vector<GgufValue>>;
  GgufValue(GgufValueType type, GgufValueType element_type, Storage storage)
      : type_(type), element_type_(element_type), storage_(std::move(storage)) {}

  GgufValueType type() const { return type_; }
  // The element type of an array (array again for nested arrays); type() otherwise.
  GgufValueType element_type() const { return element_type_; }
  bool is_array() const { return type_ == GgufValueType::array; }
  bool is_integer() const;   // u8..i64 (not bool)
  bool is_float() const;     // f32, f64
  std::size_t size() const;  // elements of an array; 1 for a scalar

  // Typed reads; the wrong type raises FormatError "[gguf] ...", and an integer that
  // does not fit the result raises FormatError too.
  std::int64_t as_int() const;
  std::uint64_t as_uint() const;
  double as_float() const;
  bool as_bool() const;
  const std::string& as_string() const;
  std::vector<std::int64_t> as_ints() const;  // arrays of integers or bools
  std::vector<double> as_floats() const;      // arrays of f32/f64
  const std::vector<std::string>& as_strings() const;
  const std::vector<GgufValue>& as_arrays() const;  // arrays of arrays

  const Storage& storage() const { return storage_; }

 private:
  GgufValueType type_;
  GgufValueType element_type_;
  Storage storage_;
};

// "u32 7", "string \"llama\"", "array[3] of f32 [1, 2, 3]"; arrays longer than
// max_elements show that many elements and "...".
std::string to_string(const GgufValue& v, std::size_t max_elements = 8);

struct GgufTensorInfo {
  std::string name;
  GgmlType type;
  Shape shape;           // row-major: the file's dims reversed
  std::uint64_t offset;  // bytes from the start of the data section
  std::uint64_t bytes;
};

namespace detail {
struct GgufContents;
}

class GgufFile {
 public:
  // Maps and validates the file; FormatError on anything malformed.
  static GgufFile open(const std::string& path);
  // The same from bytes in memory (kept by the result); `label` names it in errors.
  static GgufFile parse(std::string bytes, const std::string& label = "gguf");

  const std::string& path() const;
  std::uint32_t version() const;
  std::uint64_t alignment() const;    // general.alignment, 32 when absent
  std::uint64_t data_offset() const;  // where the data section starts in the file
  std::uint64_t file_size() const;

  // Metadata, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const;
  bool contains(const std::string& key) const;
  const GgufValue* find(const std::string& key) const;   // nullptr when absent
  const GgufValue& value(const std::string& key) const;  // FormatError when absent
  // Typed reads: FormatError naming the file and key when absent or of another type.
  std::string get_string(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  std::vector<std::int64_t> get_ints(const std::string& key) const;
  std::vector<double> get_floats(const std::string& key) const;

  // Tensor infos, in file order.
  const std::vector<GgufTensorInfo>& tensors() const;
  bool has_tensor(const std::string& name) const;
  const GgufTensorInfo& tensor_info(const std::string& name) const;  // ValueError if absent
  // F32/F16/BF16/F64/I8/I16/I32/I64 as a CPU tensor over the mapping (copied only if
  // the data is not aligned to its element size); Unsupported for other types.
  Tensor tensor(const std::string& name) const;
  // Q4_0/Q4_1/Q8_0 repacked (a copy); Unsupported for other types.
  QuantizedTensor quantized_tensor(const std::string& name) const;
  static bool is_quantized(GgmlType type);  // Q4_0, Q4_1, Q8_0

 private:
  explicit GgufFile(std::shared_ptr<const detail::GgufContents> contents)
      : contents_(std::move(contents)) {}
  std::shared_ptr<const detail::GgufContents> contents_;
};

// A listing for `emily inspect`: version, alignment, every key with its type and value
// (long arrays shortened), and a table of tensors (name, type, shape, bytes).
std::string describe(const GgufFile& file);

// ---- tokenizer vocabularies (tokenizer.ggml.*) -------------------------------------
enum class GgufTokenType : std::int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

struct GgufVocabulary {
  std::string model;  // tokenizer.ggml.model: "gpt2", "llama", ...
  std::string pre;    // tokenizer.ggml.pre (pre-tokenizer name), empty when absent
  std::vector<std::string> tokens;
  std::vector<float> scores;               // empty when absent, else one per token
  std::vector<GgufTokenType> token_types;  // empty when absent, else one per token
  std::vector<std::string> merges;         // "a b" pairs; empty when absent
  std::optional<std::int64_t> bos_id, eos_id, eot_id, unknown_id, separator_id, padding_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::optional<std::string> chat_template;  // tokenizer.chat_template
};

// Reads tokenizer.ggml.* (and tokenizer.chat_template). FormatError naming the file
// when the model or tokens are missing, when a per-token array's length differs from
// the token count, or when a special id is outside the vocabulary.
GgufVocabulary vocabulary(const GgufFile& file);

}  // namespace emily
