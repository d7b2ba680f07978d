#include "emily/tensor.h"

#include <cstring>

#include "core/convert.h"
#include "core/host_read_span.h"
#include "emily/ops.h"
#include "emily/stream.h"
#include "emily/telemetry.h"
#include "ir/trace.h"
#include "ops/dispatch.h"

#ifdef EMILY_HAS_CUDA
#include "backend/cuda/runtime.h"
#endif

namespace emily {

Tensor::Tensor(std::shared_ptr<Buffer> buffer, DType dtype, Shape shape, Strides strides,
               std::int64_t offset) {
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->buffer = std::move(buffer);
  impl->dtype = dtype;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl_ = std::move(impl);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) {
    if (d < 0) EMILY_THROW(ShapeError, "empty", "negative dimension in shape ", to_string(shape));
  }
  std::size_t bytes = static_cast<std::size_t>(numel(shape)) * size_of(dtype);
  return Tensor(allocate(bytes, device), dtype, shape, row_major_strides(shape), 0);
}

void Tensor::undefined() {
  throw Error("[tensor] use of an undefined tensor");
}

std::int64_t Tensor::shape(int axis) const {
  return impl().shape[normalize_axis("shape", axis, ndim())];
}

bool Tensor::is_contiguous() const {
  const auto& s = impl().shape;
  const auto& st = impl().strides;
  std::int64_t expected = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    if (s[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  const auto& i = impl();
  return static_cast<char*>(i.buffer->data()) +
         i.offset * static_cast<std::int64_t>(size_of(i.dtype));
}

Tensor Tensor::with_layout(DType dtype, Shape shape, Strides strides, std::int64_t offset) const {
  return Tensor(impl().buffer, dtype, std::move(shape), std::move(strides), offset);
}

template <class T>
T Tensor::item() const {
  if (size() != 1) {
    EMILY_THROW(ShapeError, "item", "expected one element, got shape ", to_string(shape()));
  }
  Tensor h = to_host(*this);
  return visit_dtype(h.dtype(), [&]<class S>() { return detail::convert<T>(*h.data<S>()); });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor h = to_host(*this);
  std::vector<T> out(static_cast<std::size_t>(h.size()));
  visit_dtype(h.dtype(), [&]<class S>() {
    const S* p = h.data<S>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = detail::convert<T>(p[i]);
  });
  return out;
}

#define EMILY_INSTANTIATE_ACCESSORS(T) \
  template T Tensor::item<T>() const;  \
  template std::vector<T> Tensor::to_vector<T>() const;
EMILY_INSTANTIATE_ACCESSORS(bool)
EMILY_INSTANTIATE_ACCESSORS(std::uint8_t)
EMILY_INSTANTIATE_ACCESSORS(std::uint16_t)
EMILY_INSTANTIATE_ACCESSORS(std::uint32_t)
EMILY_INSTANTIATE_ACCESSORS(std::uint64_t)
EMILY_INSTANTIATE_ACCESSORS(std::int8_t)
EMILY_INSTANTIATE_ACCESSORS(std::int16_t)
EMILY_INSTANTIATE_ACCESSORS(std::int32_t)
EMILY_INSTANTIATE_ACCESSORS(std::int64_t)
EMILY_INSTANTIATE_ACCESSORS(f16)
EMILY_INSTANTIATE_ACCESSORS(bf16)
EMILY_INSTANTIATE_ACCESSORS(float)
EMILY_INSTANTIATE_ACCESSORS(double)
EMILY_INSTANTIATE_ACCESSORS(c64)
#undef EMILY_INSTANTIATE_ACCESSORS

Tensor from_blob(const void* data, const Shape& shape, DType dtype, Device device) {
  if (device.type != Device::Type::cpu && !is_available(device))
    EMILY_THROW(DeviceError, "from_blob", to_string(device), " is not available");
  Tensor t = Tensor::empty(shape, dtype, device);
  if (!t.nbytes()) return t;
  if (!data) EMILY_THROW(ValueError, "from_blob", "null data for ", t.nbytes(), " bytes");
#ifdef EMILY_HAS_CUDA
  // Straight into device memory, ordered on the stream `t` was allocated on (the
  // current one when it is on `device`).
  if (device.type == Device::Type::cuda) {
    cuda::copy_from_host(t.raw_data(), data, t.nbytes(), t.buffer()->stream());
    return t;
  }
#endif
  std::memcpy(t.raw_data(), data, t.nbytes());
  return t;
}

Tensor from_blob_zero_copy(void* data, const Shape& shape, DType dtype, Buffer::Deleter release) {
  for (auto d : shape) {
    if (d < 0)
      EMILY_THROW(ShapeError, "from_blob", "negative dimension in shape ", to_string(shape));
  }
  std::size_t bytes = static_cast<std::size_t>(numel(shape)) * size_of(dtype);
  if (!data && bytes) EMILY_THROW(ValueError, "from_blob", "null data for ", bytes, " bytes");
  auto buffer = std::make_shared<Buffer>(data, bytes, Device::cpu(), std::move(release));
  return Tensor(std::move(buffer), dtype, shape, row_major_strides(shape), 0);
}

using detail::describe_host_read;

Tensor to_host(const Tensor& t) {
  // item, to_vector and to_blob come through here too.
  if (auto* recorder = ir::Recorder::current()) recorder->note_host_read(t, "to_host");
  telemetry::Span span("to_host", [&] { return describe_host_read(t); });
  span.set_bytes(static_cast<std::int64_t>(t.nbytes()));
  Tensor h = t.device().type == Device::Type::cpu ? t : to_device(t, Device::cpu());
  return contiguous(h);
}

Tensor to_device(const Tensor& t, Device device) {
  detail::require_defined("to_device", t);
  if (t.device() == device) return t;
  // A plan cannot replay a copy between devices (it is not a primitive), so moving traced
  // data reads it at trace time like a host read: the function then runs eagerly (or
  // raises), instead of replaying with the trace-time copy baked in.
  if (auto* recorder = ir::Recorder::current()) recorder->note_host_read(t, "to_device");
#ifdef EMILY_HAS_CUDA
  if (!is_available(device))
    EMILY_THROW(DeviceError, "to_device", to_string(device), " is not available");
  // Dense on its own device first (a kernel there), then one copy of the bytes.
  Tensor src = contiguous(t);
  Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
  if (src.device().type == Device::Type::cpu) {
    // Ordered on the stream `out` was allocated on, which is where ops on it run.
    cuda::copy_from_host(out.raw_data(), src.raw_data(), src.nbytes(), out.buffer()->stream());
  } else if (device.type == Device::Type::cpu) {
    // After the stream that wrote the source, not the whole device.
    cuda::copy_to_host(out.raw_data(), src.raw_data(), src.nbytes(), src.buffer()->stream());
  } else {
    cuda::copy(out.raw_data(), device, src.raw_data(), src.device(), src.nbytes());
  }
  return out;
#else
  EMILY_THROW(DeviceError, "to_device", "cannot move a tensor from ", to_string(t.device()), " to ",
              to_string(device), " in this build");
#endif
}

void to_blob(const Tensor& t, void* dst, std::size_t dst_bytes) {
  if (dst_bytes < t.nbytes()) {
    EMILY_THROW(ValueError, "to_blob", "destination holds ", dst_bytes, " bytes, tensor needs ",
                t.nbytes());
  }
  if (!t.nbytes()) return;
  if (!dst) EMILY_THROW(ValueError, "to_blob", "null destination");
#ifdef EMILY_HAS_CUDA
  // A dense GPU tensor goes straight into `dst` (by DMA when `dst` is pinned), not
  // through a host tensor first.
  if (t.device().type == Device::Type::cuda && t.is_contiguous()) {
    if (auto* recorder = ir::Recorder::current()) recorder->note_host_read(t, "to_host");
    telemetry::Span span("to_host", [&] { return describe_host_read(t); });
    span.set_bytes(static_cast<std::int64_t>(t.nbytes()));
    cuda::copy_to_host(dst, t.raw_data(), t.nbytes(), t.buffer()->stream());
    return;
  }
#endif
  Tensor h = to_host(t);
  std::memcpy(dst, h.raw_data(), h.nbytes());
}

void eval(const Tensor& t) {
  // The buffer's stream is the one whose work writes it (memory.h).
  if (t.defined()) synchronize(t.buffer()->stream());
}

}  // namespace emily
