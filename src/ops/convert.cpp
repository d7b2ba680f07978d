#include "emily/ops.h"
#include "ops/dispatch.h"
#include "ops/elementwise.h"

namespace emily {

namespace detail {
std::vector<Tensor> broadcast_all(const char* op, const std::vector<Tensor>& inputs) {
  for (const auto& t : inputs) require_defined(op, t);
  bool same = true;
  for (const auto& t : inputs) same = same && t.shape() == inputs.front().shape();
  if (same) return inputs;
  Shape shape;
  for (const auto& t : inputs) {
    require_defined(op, t);
    shape = broadcast_shapes(op, shape, t.shape());
  }
  std::vector<Tensor> out;
  out.reserve(inputs.size());
  for (const auto& t : inputs) out.push_back(t.shape() == shape ? t : broadcast_to(t, shape));
  return out;
}
}  // namespace detail

Tensor astype(const Tensor& x, DType dtype) {
  detail::require_defined("astype", x);
  if (x.dtype() == dtype) return x;
  return detail::dispatch(Primitive::astype, {x}, x.shape(), dtype);
}

Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y) {
  detail::require_defined("where", condition);
  detail::require_defined("where", x);
  detail::require_defined("where", y);
  DType dtype = promote(x.dtype(), y.dtype());
  auto in = detail::broadcast_all(
      "where", {astype(condition, DType::bool_), astype(x, dtype), astype(y, dtype)});
  return detail::dispatch(Primitive::where, in, in[0].shape(), dtype);
}

}  // namespace emily
