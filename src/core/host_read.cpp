#include "emily/host_read.h"

#include "core/host_read_span.h"
#include "emily/ops.h"
#include "emily/telemetry.h"
#include "ir/trace.h"
#include "ops/dispatch.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/download.h"
#include "backend/cuda/runtime.h"
#endif

namespace emily {

struct HostRead::Pending {
#ifdef EMILY_HAS_CUDA
  Pending(Tensor src)
      : source(std::move(src)),
        download(source.raw_data(), source.nbytes(), source.buffer()->stream()) {}
  Tensor source;  // kept until the copy is read: its buffer is the DMA's source
  cuda::Download download;
#endif
};

HostRead begin_host_read(const Tensor& t) {
  detail::require_defined("begin_host_read", t);
  HostRead r;
#ifdef EMILY_HAS_CUDA
  if (t.device().type == Device::Type::cuda && ir::Recorder::current() == nullptr &&
      t.nbytes() <= cuda::kStagingBytes) {
    r.pending_ = std::make_shared<HostRead::Pending>(contiguous(t));
    return r;
  }
#endif
  r.value_ = to_host(t);
  return r;
}

Tensor HostRead::get() {
#ifdef EMILY_HAS_CUDA
  if (pending_) {
    const Tensor& src = pending_->source;
    telemetry::Span span("to_host", [&] { return detail::describe_host_read(src); });
    span.set_bytes(static_cast<std::int64_t>(src.nbytes()));
    Tensor out = Tensor::empty(src.shape(), src.dtype(), Device::cpu());
    pending_->download.finish(out.raw_data());
    value_ = std::move(out);
    pending_.reset();
  }
#endif
  detail::require_defined("HostRead::get", value_);
  return value_;
}

}  // namespace emily
