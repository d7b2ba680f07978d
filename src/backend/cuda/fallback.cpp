#include <vector>

#include "backend/cuda/kernels.h"
#include "backend/cuda/runtime.h"
#include "core/view_range.h"
#include "emily/ops.h"
#include "emily/telemetry.h"

namespace emily::cuda {

namespace {

// `t` on the host with its own layout: the bytes its view reaches, copied as they lie.
// Not to_host, which makes the view dense on the GPU first: that is a copy kernel, and a
// layout the copy kernel hands to this fallback would come straight back here.
Tensor host_view(const Tensor& t) {
  if (t.device().type == Device::Type::cpu || t.size() == 0)
    return t.device().type == Device::Type::cpu
               ? t
               : Tensor::empty(t.shape(), t.dtype(), Device::cpu());
  const auto [lo, hi] = detail::view_range(t);
  const std::size_t item = t.itemsize();
  const auto bytes = static_cast<std::size_t>(hi - lo) * item;
  auto buffer = emily::allocate(bytes, Device::cpu());
  // After the stream that wrote t, as to_host does.
  copy_to_host(buffer->data(), static_cast<const char*>(t.buffer()->data()) + lo * item, bytes,
               t.buffer()->stream());
  return Tensor(buffer, t.dtype(), t.shape(), t.strides(), t.offset() - lo);
}

}  // namespace

void run_on_cpu(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr) {
  telemetry::Span span("fallback", [&] {
    return std::vector<std::pair<std::string, std::string>>{
        {"op", std::string(name(p))},
        {"device", out.empty() ? std::string("cuda") : to_string(out[0].device())},
        {"reason", "dtype or layout without a CUDA kernel"}};
  });
  std::vector<Tensor> host_in;
  for (const auto& t : in) host_in.push_back(host_view(t));
  std::vector<Tensor> host_out;
  for (const auto& t : out) host_out.push_back(Tensor::empty(t.shape(), t.dtype(), Device::cpu()));
  {
    StreamGuard guard(default_stream(Device::cpu()));
    kernels(Device::Type::cpu).get(p)(host_in, host_out, attr, default_stream(Device::cpu()));
  }
  for (std::size_t k = 0; k < out.size(); ++k)
    copy(out[k].raw_data(), out[k].device(), host_out[k].raw_data(), Device::cpu(),
         host_out[k].nbytes());
}

}  // namespace emily::cuda
