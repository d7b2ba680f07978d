// libFuzzer target for the GGUF reader: any bytes either parse or raise emily::Error;
// whatever parses must list, load and dequantize without a crash or a sanitizer report.
// seeds: tests/fixtures/gguf/*.gguf
// dict: fuzz/gguf.dict
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "emily/gguf.h"
#include "emily/ops.h"
#include "emily/quantization.h"

namespace {

using namespace emily;

void exercise(const GgufFile& file) {
  (void)describe(file);
  try {
    (void)vocabulary(file);
  } catch (const Error&) {
  }
  for (const GgufTensorInfo& info : file.tensors()) {
    try {
      if (GgufFile::is_quantized(info.type)) {
        QuantizedTensor q = file.quantized_tensor(info.name);
        // Dequantizing costs eight bytes per weight; the reader bounds the weights by the
        // input size, which keeps this small.
        (void)dequantize(q).to_vector<float>();
      } else {
        Tensor t = file.tensor(info.name);
        if (t.size()) (void)astype(t, DType::f32).to_vector<float>();
      }
    } catch (const Unsupported&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<GgufFile> file;
  try {
    file = GgufFile::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const Error&) {
    return 0;
  }
  exercise(*file);
  return 0;
}
