#include <vector>

#include "backend/cuda/kernels.h"
#include "backend/cuda/runtime.h"
#include "emily/ops.h"
#include "emily/telemetry.h"

namespace emily::cuda {

void run_on_cpu(Primitive p, std::span<const Tensor> in, std::span<Tensor> out, const Attr& attr) {
  telemetry::Span span("fallback", [&] {
    return std::vector<std::pair<std::string, std::string>>{
        {"op", std::string(name(p))},
        {"device", out.empty() ? std::string("cuda") : to_string(out[0].device())},
        {"reason", "dtype or layout without a CUDA kernel"}};
  });
  std::vector<Tensor> host_in;
  for (const auto& t : in) host_in.push_back(to_host(t));
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
