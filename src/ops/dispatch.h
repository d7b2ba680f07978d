// The op layer's single road to a kernel: device choice, output allocation,
// telemetry, CPU fallback and debug checks all happen here, once, for every primitive.
// (The compiler issue hooks tracing in here too.)
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "emily/backend.h"
#include "emily/tensor.h"

namespace emily::detail {

struct OutSpec {
  Shape shape;
  DType dtype;
};

std::vector<Tensor> dispatch(Primitive p, const std::vector<Tensor>& inputs,
                             const std::vector<OutSpec>& outputs, const Attr& attr = NoAttr{});
Tensor dispatch(Primitive p, const std::vector<Tensor>& inputs, const Shape& shape, DType dtype,
                const Attr& attr = NoAttr{});
// The same for inputs written in braces ({a, b}): they stay on the stack, where a vector
// would cost a heap allocation on every eager op.
Tensor dispatch(Primitive p, std::initializer_list<Tensor> inputs, const Shape& shape, DType dtype,
                const Attr& attr = NoAttr{});

// Whether `p` on `device` may be handed a host scalar (KernelTable::take_host_scalars):
// a GPU whose kernel for `p` says so, outside a trace (a recorded graph holds tensors of
// its device only, and its plans may donate or replay them).
bool host_scalar_ok(Primitive p, Device device);
// dispatch where some inputs are host scalars (0-d CPU tensors) beside tensors on a GPU,
// once host_scalar_ok said yes. The host scalars take no part in choosing the device, and
// the kernel reads their values on the host: nothing is uploaded, so nothing of theirs
// ever sits on the device to be donated or written in place.
Tensor dispatch_with_host_scalar(Primitive p, std::initializer_list<Tensor> inputs,
                                 const Shape& shape, DType dtype);

// The device all inputs live on (the current stream's device when there are none);
// DeviceError naming `op` when they disagree.
Device common_device(const char* op, std::span<const Tensor> inputs);
// Raises Error naming `op` when `t` is undefined.
void require_defined(const char* op, const Tensor& t);

}  // namespace emily::detail
