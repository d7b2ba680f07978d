#include "emily/nn/module.h"

#include <set>
#include <sstream>

#include "emily/ops.h"
#include "emily/safetensors.h"

namespace emily::nn {

namespace {

constexpr const char* kOp = "nn";

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// "model.layers.0.q_proj.weight" -> "model.layers.0.q_proj"; "" when there is no dot.
std::string prefix_of(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

// ---- Parameter ----------------------------------------------------------------------------

Parameter::Parameter(Tensor dense) : value_(std::move(dense)) {}
Parameter::Parameter(QuantizedTensor weights) : value_(std::move(weights)) {}

const Tensor& Parameter::dense() const {
  if (const auto* t = std::get_if<Tensor>(&value_)) return *t;
  EMILY_THROW(ValueError, kOp, "parameter is ", is_quantized() ? "quantized" : "not loaded",
              ", not a dense tensor");
}

const QuantizedTensor& Parameter::quantized() const {
  if (const auto* q = std::get_if<QuantizedTensor>(&value_)) return *q;
  EMILY_THROW(ValueError, kOp, "parameter is ", defined() ? "dense" : "not loaded",
              ", not quantized");
}

Shape Parameter::shape() const {
  return is_quantized() ? quantized().shape() : dense().shape();
}

DType Parameter::dtype() const {
  return is_quantized() ? quantized().scales.dtype() : dense().dtype();
}

Device Parameter::device() const {
  return is_quantized() ? quantized().packed.device() : dense().device();
}

// ---- Module -------------------------------------------------------------------------------

void Module::register_parameter(std::string name, Parameter& value, Shape shape, bool quantizable) {
  parameters_.push_back({std::move(name), &value, std::move(shape), quantizable});
}

void Module::register_module(std::string name, Module& child) {
  children_.emplace_back(std::move(name), &child);
}

std::vector<ParameterSlot> Module::slots(const std::string& prefix) const {
  std::vector<ParameterSlot> out;
  for (const Own& p : parameters_)
    out.push_back({join(prefix, p.name), p.value, p.shape, p.quantizable});
  for (const auto& [name, child] : children_) {
    auto below = child->slots(join(prefix, name));
    out.insert(out.end(), std::make_move_iterator(below.begin()),
               std::make_move_iterator(below.end()));
  }
  return out;
}

std::vector<ParameterInfo> list_parameters(const Module& module) {
  std::vector<ParameterInfo> out;
  for (const ParameterSlot& s : module.slots()) {
    if (!s.value->defined()) continue;
    if (!s.value->is_quantized()) {
      out.push_back({s.name, s.value->dense().shape(), s.value->dense().dtype()});
      continue;
    }
    const QuantizedTensor& q = s.value->quantized();
    const std::string base = prefix_of(s.name);
    out.push_back({s.name, q.packed.shape(), q.packed.dtype()});
    out.push_back({join(base, "scales"), q.scales.shape(), q.scales.dtype()});
    out.push_back({join(base, "biases"), q.biases.shape(), q.biases.dtype()});
  }
  return out;
}

std::int64_t parameter_count(const Module& module) {
  std::int64_t n = 0;
  for (const ParameterSlot& s : module.slots())
    if (s.value->defined()) n += numel(s.value->shape());
  return n;
}

void cast(Module& module, DType dtype) {
  if (!is_floating(dtype) || is_complex(dtype))
    EMILY_THROW(DTypeError, kOp, "parameters cast to a real floating dtype, not ", name(dtype));
  for (const ParameterSlot& s : module.slots()) {
    if (!s.value->defined() || s.value->is_quantized()) continue;
    const Tensor& t = s.value->dense();
    if (is_floating(t.dtype()) && !is_complex(t.dtype()) && t.dtype() != dtype)
      *s.value = astype(t, dtype);
  }
}

void to_device(Module& module, Device device) {
  for (const ParameterSlot& s : module.slots()) {
    if (!s.value->defined()) continue;
    if (s.value->is_quantized()) {
      QuantizedTensor q = s.value->quantized();
      q.packed = to_device(q.packed, device);
      q.scales = to_device(q.scales, device);
      q.biases = to_device(q.biases, device);
      *s.value = std::move(q);
    } else {
      *s.value = to_device(s.value->dense(), device);
    }
  }
}

// ---- loading ------------------------------------------------------------------------------

namespace {

class SafetensorsWeights final : public WeightSource {
 public:
  SafetensorsWeights(SafetensorsFile file, std::optional<QuantizationSpec> quantization)
      : file_(std::move(file)), quantization_(quantization) {}

  const std::string& file() const override { return file_.path(); }
  std::vector<std::string> names() const override { return file_.names(); }

  std::optional<Parameter> read(const std::string& name) const override {
    if (!file_.contains(name)) return std::nullopt;
    const std::string base = prefix_of(name);
    const std::string scales = join(base, "scales"), biases = join(base, "biases");
    const bool is_weight = name == "weight" || ends_with(name, ".weight");
    const bool packed = is_weight && file_.info(name).dtype == DType::u32 &&
                        file_.contains(scales) && file_.contains(biases);
    if (!packed) return Parameter(file_.tensor(name));
    if (!quantization_)
      EMILY_THROW(FormatError, file().c_str(), "tensor ", name,
                  " is quantized (u32 codes with scales and biases) but the model names no bits "
                  "and group size");
    return Parameter(QuantizedTensor{file_.tensor(name), file_.tensor(scales), file_.tensor(biases),
                                     quantization_->bits, quantization_->group_size});
  }

 private:
  SafetensorsFile file_;
  std::optional<QuantizationSpec> quantization_;
};

// Checks a quantized value's parts against each other and the slot (dequantize's own
// checks would name "dequantize", not the file and tensor).
void check_quantized(const WeightSource& source, const ParameterSlot& slot,
                     const QuantizedTensor& q) {
  const char* file = source.file().c_str();
  const bool bits_ok = q.bits == 2 || q.bits == 4 || q.bits == 8;
  const bool group_ok = q.group_size == 32 || q.group_size == 64 || q.group_size == 128;
  if (!bits_ok || !group_ok)
    EMILY_THROW(FormatError, file, "tensor ", slot.name, ": ", q.bits, "-bit codes in groups of ",
                q.group_size, " are not a supported quantization");
  if (q.packed.dtype() != DType::u32 || !is_floating(q.scales.dtype()) ||
      q.biases.dtype() != q.scales.dtype())
    EMILY_THROW(FormatError, file, "tensor ", slot.name, ": quantized codes must be u32 with ",
                "floating scales and biases of one dtype");
  Shape unpacked = q.packed.shape();
  if (unpacked.empty() || q.scales.shape() != q.biases.shape() ||
      q.scales.ndim() != q.packed.ndim())
    EMILY_THROW(FormatError, file, "tensor ", slot.name, ": codes ", to_string(q.packed.shape()),
                ", scales ", to_string(q.scales.shape()), " and biases ",
                to_string(q.biases.shape()), " do not fit together");
  unpacked.back() *= 32 / q.bits;
  Shape groups = unpacked;
  groups.back() /= q.group_size;
  if (unpacked != slot.shape || q.scales.shape() != groups || unpacked.back() % q.group_size != 0)
    EMILY_THROW(FormatError, file, "tensor ", slot.name, " has shape ", to_string(unpacked),
                " (codes ", to_string(q.packed.shape()), ", scales ", to_string(q.scales.shape()),
                "), expected ", to_string(slot.shape));
}

}  // namespace

std::unique_ptr<WeightSource> safetensors_weights(const std::string& path,
                                                  std::optional<QuantizationSpec> quantization) {
  return std::make_unique<SafetensorsWeights>(SafetensorsFile::open(path), quantization);
}

std::vector<std::string> load_parameters(Module& module, const WeightSource& source,
                                         const LoadParametersOptions& options) {
  const std::vector<ParameterSlot> slots = module.slots();
  std::set<std::string> taken;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const ParameterSlot& slot = slots[i];
    std::optional<Parameter> value = source.read(slot.name);
    if (!value)
      EMILY_THROW(FormatError, source.file().c_str(), "tensor ", slot.name, " is missing");
    taken.insert(slot.name);
    if (value->is_quantized()) {
      if (!slot.quantizable)
        EMILY_THROW(FormatError, source.file().c_str(), "tensor ", slot.name,
                    " is quantized, but this parameter must be dense");
      check_quantized(source, slot, value->quantized());
      taken.insert(join(prefix_of(slot.name), "scales"));
      taken.insert(join(prefix_of(slot.name), "biases"));
    } else if (value->dense().shape() != slot.shape) {
      EMILY_THROW(FormatError, source.file().c_str(), "tensor ", slot.name, " has shape ",
                  to_string(value->dense().shape()), ", expected ", to_string(slot.shape));
    }
    *slot.value = std::move(*value);
    if (options.progress) options.progress(static_cast<double>(i + 1) / slots.size());
  }

  std::vector<std::string> unexpected;
  for (const std::string& name : source.names())
    if (!taken.count(name) && !(options.ignore && options.ignore(name))) unexpected.push_back(name);
  if (!unexpected.empty() && !options.allow_unexpected) {
    std::ostringstream list;
    for (std::size_t i = 0; i < unexpected.size() && i < 5; ++i)
      list << (i ? ", " : "") << unexpected[i];
    if (unexpected.size() > 5) list << ", ...";
    EMILY_THROW(FormatError, source.file().c_str(), unexpected.size(),
                " tensor(s) match no parameter of the model: ", list.str());
  }
  return unexpected;
}

}  // namespace emily::nn
