#include "ops/dispatch.h"

#include <cmath>
#include <iostream>
#include <mutex>
#include <set>
#include <span>

#include "core/convert.h"
#include "emily/config.h"
#include "emily/stream.h"
#include "emily/telemetry.h"
#include "ir/trace.h"

namespace emily::detail {

void require_defined(const char* op, const Tensor& t) {
  if (!t.defined()) EMILY_THROW(ValueError, op, "input tensor is undefined");
}

namespace {

bool is_host_scalar(const Tensor& t) {
  return t.ndim() == 0 && t.device().type == Device::Type::cpu;
}

// common_device, where `host_scalars` leaves 0-d CPU tensors out of the choice.
Device device_of(const char* op, std::span<const Tensor> inputs, bool host_scalars) {
  if (inputs.empty()) return current_stream().device;
  for (const auto& t : inputs) require_defined(op, t);
  const Tensor* first = &inputs.front();
  if (host_scalars) {
    for (const auto& t : inputs) {
      if (!is_host_scalar(t)) {
        first = &t;
        break;
      }
    }
  }
  const Device d = first->device();
  for (const auto& t : inputs) {
    if (host_scalars && is_host_scalar(t)) continue;
    if (t.device() != d) {
      EMILY_THROW(DeviceError, op, "inputs live on ", to_string(d), " and ", to_string(t.device()),
                  "; move them to one device first");
    }
  }
  return d;
}

}  // namespace

Device common_device(const char* op, std::span<const Tensor> inputs) {
  return device_of(op, inputs, false);
}

bool host_scalar_ok(Primitive p, Device device) {
  return device.type != Device::Type::cpu && kernels(device.type).takes_host_scalars(p) &&
         ir::Recorder::current() == nullptr;
}

namespace {

using Meta = std::vector<std::pair<std::string, std::string>>;

Meta describe(Primitive p, std::span<const Tensor> inputs, Device d) {
  Meta m{{"op", std::string(name(p))}, {"device", to_string(d)}};
  std::string shapes, dtypes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i) {  // (not " " + ...: GCC 12's -Wrestrict false positive)
      shapes += ' ';
      dtypes += ' ';
    }
    shapes += to_string(inputs[i].shape());
    dtypes += name(inputs[i].dtype());
  }
  m.emplace_back("shapes", shapes);
  m.emplace_back("dtypes", dtypes);
  return m;
}

#ifdef EMILY_DEBUG_NAN_INF
// Producing ops whose results are scanned in a NaN/Inf-detecting build.
bool scanned_for_nan(Primitive p) {
  return p == Primitive::matmul;
}

void check_finite(Primitive p, const Tensor& out) {
  bool bad = false;
  visit_dtype(out.dtype(), [&]<class T>() {
    if constexpr (is_float_like_v<T>) {
      const T* v = out.data<T>();
      for (std::int64_t i = 0; i < out.size() && !bad; ++i)
        bad = !std::isfinite(static_cast<compute_t<T>>(v[i]));
    }
  });
  if (bad)
    EMILY_THROW(ValueError, std::string(name(p)).c_str(), "produced NaN or Inf (debug check)");
}
#endif

void warn_once(Primitive p, Device d) {
  static std::mutex m;
  static std::set<std::pair<int, int>> seen;
  std::lock_guard lock(m);
  if (seen.insert({static_cast<int>(p), d.index}).second) {
    std::cerr << "emily: [" << name(p) << "] has no kernel on " << to_string(d)
              << "; running on the CPU (EMILY_FALLBACK=warn)\n";
  }
}

}  // namespace

namespace {

// Outputs described without copying their shapes: the single-output form below is on
// every eager op's path, where each heap allocation shows in the dispatch overhead.
struct OutRef {
  const Shape* shape;
  DType dtype;
};

void run(Primitive p, std::span<const Tensor> inputs, std::span<const OutRef> outputs,
         std::span<Tensor> out, const Attr& attr, bool host_scalars = false) {
  // Primitive names are string literals, so data() is null-terminated.
  Device device = device_of(name(p).data(), inputs, host_scalars);
  Kernel kernel = kernels(device.type).get(p);

  if (!kernel) {
    const std::string op_name(name(p));
    Kernel cpu_kernel = kernels(Device::Type::cpu).get(p);
    if (device.type == Device::Type::cpu || !cpu_kernel) {
      EMILY_THROW(Unsupported, op_name.c_str(), "no kernel on ", to_string(device));
    }
    auto policy = config::settings().fallback;
    if (policy == config::FallbackPolicy::raise) {
      EMILY_THROW(Unsupported, op_name.c_str(), "no kernel on ", to_string(device),
                  " and EMILY_FALLBACK=raise");
    }
    if (policy == config::FallbackPolicy::warn) warn_once(p, device);
    telemetry::Span span("fallback", [&] { return describe(p, inputs, device); });
    std::vector<Tensor> host_inputs;
    for (const auto& t : inputs) host_inputs.push_back(to_host(t));
    {
      StreamGuard guard(default_stream(Device::cpu()));
      run(p, host_inputs, outputs, out, attr);
    }
    for (auto& t : out) t = to_device(t, device);
    return;
  }

  bool any_elements = false;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    out[i] = Tensor::empty(*outputs[i].shape, outputs[i].dtype, device);
    any_elements = any_elements || numel(*outputs[i].shape) != 0;
  }
  if (!any_elements) return;

  telemetry::Span span("eval", [&] { return describe(p, inputs, device); });
  Stream stream = current_stream();
  if (stream.device != device) stream = default_stream(device);
  kernel(inputs, out, attr, stream);
#ifdef EMILY_DEBUG_NAN_INF
  if (scanned_for_nan(p))
    for (const auto& t : out) check_finite(p, t);
#endif
}

}  // namespace

std::vector<Tensor> dispatch(Primitive p, const std::vector<Tensor>& inputs,
                             const std::vector<OutSpec>& outputs, const Attr& attr) {
  std::vector<OutRef> refs;
  refs.reserve(outputs.size());
  for (const auto& o : outputs) refs.push_back({&o.shape, o.dtype});
  std::vector<Tensor> out(outputs.size());
  run(p, inputs, refs, out, attr);
  if (auto* recorder = ir::Recorder::current()) recorder->record(p, inputs, out, attr);
  return out;
}

Tensor dispatch(Primitive p, const std::vector<Tensor>& inputs, const Shape& shape, DType dtype,
                const Attr& attr) {
  const OutRef ref{&shape, dtype};
  Tensor out;
  run(p, inputs, {&ref, 1}, {&out, 1}, attr);
  if (auto* recorder = ir::Recorder::current()) recorder->record(p, inputs, {&out, 1}, attr);
  return out;
}

Tensor dispatch(Primitive p, std::initializer_list<Tensor> inputs, const Shape& shape, DType dtype,
                const Attr& attr) {
  const OutRef ref{&shape, dtype};
  Tensor out;
  run(p, {inputs.begin(), inputs.size()}, {&ref, 1}, {&out, 1}, attr);
  if (auto* recorder = ir::Recorder::current()) [[unlikely]]
    recorder->record(p, std::vector<Tensor>(inputs), {&out, 1}, attr);
  return out;
}

Tensor dispatch_with_host_scalar(Primitive p, std::initializer_list<Tensor> inputs,
                                 const Shape& shape, DType dtype) {
  const OutRef ref{&shape, dtype};
  Tensor out;
  // Never recorded: host_scalar_ok said no trace is running.
  run(p, {inputs.begin(), inputs.size()}, {&ref, 1}, {&out, 1}, NoAttr{}, true);
  return out;
}

}  // namespace emily::detail
