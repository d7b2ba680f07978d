// Modules: named parameters and submodules in a tree whose dotted names are the ones a
// Hugging Face checkpoint uses (model.layers.0.self_attn.q_proj.weight), so loading a
// checkpoint is matching names and checking shapes. There is no autograd here:
// parameters are plain values that a module's forward function reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "emily/device.h"
#include "emily/dtype.h"
#include "emily/quantization.h"
#include "emily/tensor.h"

namespace emily::nn {

// A parameter's value: a dense tensor, or a quantized weight. A checkpoint stores a
// quantized weight under three names, as MLX does: <prefix>.weight (the packed u32
// codes), <prefix>.scales and <prefix>.biases.
class Parameter {
 public:
  Parameter() = default;               // not loaded yet
  Parameter(Tensor dense);             // NOLINT(google-explicit-constructor)
  Parameter(QuantizedTensor weights);  // NOLINT(google-explicit-constructor)

  bool defined() const { return !std::holds_alternative<std::monostate>(value_); }
  bool is_quantized() const { return std::holds_alternative<QuantizedTensor>(value_); }
  // ValueError "[nn] ..." when the parameter is of the other kind or not loaded.
  const Tensor& dense() const;
  const QuantizedTensor& quantized() const;
  // The shape of the weights it stands for (a quantized one's unpacked shape).
  Shape shape() const;
  // A dense parameter's dtype; a quantized one's scales' dtype.
  DType dtype() const;
  Device device() const;

 private:
  std::variant<std::monostate, Tensor, QuantizedTensor> value_;
};

// What a module declares about one parameter: where it lives and what loading must find.
struct ParameterSlot {
  std::string name;  // dotted, from the root module
  Parameter* value;
  Shape shape;       // the (unpacked) shape a loaded value must have
  bool quantizable;  // may hold a QuantizedTensor (Linear and Embedding weights)
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // A module registers pointers to its own members, so it stays where it was built.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its children, depth first in registration order
  // (a module's own parameters before its children's), named from `prefix`.
  std::vector<ParameterSlot> slots(const std::string& prefix = "") const;

 protected:
  void register_parameter(std::string name, Parameter& value, Shape shape,
                          bool quantizable = false);
  // `name` may contain dots ("layers.3"): it is joined into the children's names as is.
  void register_module(std::string name, Module& child);

 private:
  struct Own {
    std::string name;
    Parameter* value;
    Shape shape;
    bool quantizable;
  };
  std::vector<Own> parameters_;
  std::vector<std::pair<std::string, Module*>> children_;
};

// One row of a listing: a quantized parameter lists its packed codes under its own name
// and its scales and biases under <prefix>.scales and <prefix>.biases.
struct ParameterInfo {
  std::string name;
  Shape shape;
  DType dtype;
};
std::vector<ParameterInfo> list_parameters(const Module& module);

// The number of weights the loaded parameters stand for: a quantized weight counts its
// unpacked elements (its scales and biases are bookkeeping, not weights).
std::int64_t parameter_count(const Module& module);

// Converts every dense floating parameter to `dtype`. Quantized weights keep their
// scales and biases as they are: GGUF's are f16 values held exactly in f32, which a
// narrower type would round, and quantized_matmul already answers in the input's dtype.
void cast(Module& module, DType dtype);

// Moves every loaded parameter to `device`.
void to_device(Module& module, Device device);

// ---- loading ----------------------------------------------------------------------------

// Where load_parameters finds tensors: the names a checkpoint holds and a way to read one.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Names the checkpoint in errors.
  virtual const std::string& file() const = 0;
  // Every tensor name the checkpoint holds.
  virtual std::vector<std::string> names() const = 0;
  // The value stored under `name`, quantized when the checkpoint stores it so (then
  // <prefix>.scales and <prefix>.biases belong to it); nullopt when absent.
  virtual std::optional<Parameter> read(const std::string& name) const = 0;
};

// Bits and group size of MLX-quantized safetensors weights (config.json's
// "quantization"); a checkpoint without quantized weights needs none.
struct QuantizationSpec {
  int bits = 4;
  int group_size = 64;
};

// A .safetensors file, a sharded model's index, or a folder holding either. A weight
// <prefix>.weight stored as u32 beside <prefix>.scales and <prefix>.biases reads as a
// QuantizedTensor with `quantization`'s bits and group size (FormatError when it is
// missing).
std::unique_ptr<WeightSource> safetensors_weights(
    const std::string& path, std::optional<QuantizationSpec> quantization = std::nullopt);

struct LoadParametersOptions {
  // Tensors no parameter takes: a FormatError naming them (false), or returned (true).
  bool allow_unexpected = false;
  // Names that are never unexpected (transformers' rotary_emb.inv_freq buffers, an
  // lm_head.weight beside tied embeddings).
  std::function<bool(const std::string&)> ignore;
  // Fraction (0..1) of the parameters loaded, after each one.
  std::function<void(double)> progress;
};

// Fills every parameter of `module` from `source` by name. FormatError naming the file
// and the tensor when one is missing, has another shape, or is quantized where the
// parameter cannot be; returns the unexpected names (when they are allowed).
std::vector<std::string> load_parameters(Module& module, const WeightSource& source,
                                         const LoadParametersOptions& options = {});

}  // namespace emily::nn
