// Tensor: a cheap handle (one shared pointer) to immutable data on a device, described
// by dtype, shape, strides (in elements) and an offset into a shared Buffer. Views
// (reshape, transpose, slice, broadcast_to, as_strided) share the buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "emily/dtype.h"
#include "emily/error.h"
#include "emily/memory.h"
#include "emily/shape.h"
#include "emily/stream.h"

namespace emily {

namespace detail {
struct TensorImpl {
  std::shared_ptr<Buffer> buffer;
  DType dtype = DType::f32;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;  // in elements
};
}  // namespace detail

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor; any op on it raises Error
  Tensor(std::shared_ptr<Buffer> buffer, DType dtype, Shape shape, Strides strides,
         std::int64_t offset);
  // A fresh, uninitialized, row-major tensor on `device`.
  static Tensor empty(const Shape& shape, DType dtype, Device device);

  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl().dtype; }
  const Shape& shape() const { return impl().shape; }
  std::int64_t shape(int axis) const;  // negative axes count from the end
  const Strides& strides() const { return impl().strides; }
  std::int64_t offset() const { return impl().offset; }
  int ndim() const { return static_cast<int>(impl().shape.size()); }
  std::int64_t size() const { return numel(impl().shape); }
  std::size_t itemsize() const { return size_of(dtype()); }
  std::size_t nbytes() const { return static_cast<std::size_t>(size()) * itemsize(); }
  Device device() const { return impl().buffer->device(); }
  const std::shared_ptr<Buffer>& buffer() const { return impl().buffer; }
  bool is_contiguous() const;  // row-major and dense (size-1 axes may have any stride)

  // Pointer to the element at the tensor's offset. Host-accessible only on the CPU.
  void* raw_data() const;
  template <class T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }

  // The single value of a one-element tensor, converted to T; syncs the device.
  template <class T>
  T item() const;
  // All values, row-major, converted to T; syncs the device.
  template <class T>
  std::vector<T> to_vector() const;

  // Same data, new metadata (no checks: ops validate before calling).
  Tensor with_layout(DType dtype, Shape shape, Strides strides, std::int64_t offset) const;

 private:
  // Inline: every accessor goes through it, on the hot path of every kernel call.
  const detail::TensorImpl& impl() const {
    if (!impl_) [[unlikely]]
      undefined();
    return *impl_;
  }
  [[noreturn]] static void undefined();
  std::shared_ptr<const detail::TensorImpl> impl_;
};

// Copies `data` (row-major, shape and dtype as given) into a new tensor on `device`.
// `data` may be reused once this returns. Onto a GPU the copy is ordered on the current
// stream when it is on that device (else the device's default stream) and staged through
// pinned memory, so the call does not wait for the stream's earlier work.
Tensor from_blob(const void* data, const Shape& shape, DType dtype, Device device = Device::cpu());
// Wraps host memory without copying; `release` runs when the last view goes away.
// The memory must stay valid and unchanged until then.
Tensor from_blob_zero_copy(void* data, const Shape& shape, DType dtype, Buffer::Deleter release);
// Copies the tensor row-major into `dst`, which must hold at least nbytes().
void to_blob(const Tensor& t, void* dst, std::size_t dst_bytes);
// A contiguous copy on the CPU (the tensor itself when it already is one).
Tensor to_host(const Tensor& t);
// Moves a tensor to another device (a copy unless it is already there). Host to GPU is
// asynchronous (ordered on the GPU's current stream); GPU to host waits for the stream
// that produced `t` (its buffer's stream), not for the whole device.
Tensor to_device(const Tensor& t, Device device);
// Waits for the work that produces `t`.
void eval(const Tensor& t);

// A tensor holding `values`, made on the current stream's device (as the other
// creation functions in ops.h).
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape) {
  if (numel(shape) != static_cast<std::int64_t>(values.size())) {
    EMILY_THROW(ShapeError, "tensor", values.size(), " values do not fill shape ",
                to_string(shape));
  }
  if constexpr (std::is_same_v<T, bool>) {
    std::vector<std::uint8_t> bytes(values.begin(), values.end());
    return from_blob(bytes.data(), shape, DType::bool_, current_stream().device);
  } else {
    return from_blob(values.data(), shape, dtype_v<T>, current_stream().device);
  }
}
template <class T>
Tensor tensor(const std::vector<T>& values) {
  return tensor(values, Shape{static_cast<std::int64_t>(values.size())});
}

// Runtime accessors named as in the seed's API.
inline const Shape& shape(const Tensor& t) {
  return t.shape();
}
inline const Strides& strides(const Tensor& t) {
  return t.strides();
}
inline void* tensor_data_ptr(const Tensor& t) {
  return t.raw_data();
}

// NumPy-like text: "tensor([[1, 2],\n        [3, 4]], dtype=s32)". Long tensors are
// summarised with "..." (more than 1000 elements: three at each edge of every axis).
std::string to_string(const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace emily
