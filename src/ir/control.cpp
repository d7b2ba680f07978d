// cond and while_loop. Run eagerly they are the host branch and loop; inside a trace each
// becomes one node whose subgraphs are traced on the (dense) state or operands, reading
// values of the enclosing trace as free variables. Tracing runs both branches of a cond
// and the body of a loop once even when the loop does not iterate; a replay runs only
// what the predicates select.
#include "emily/compile.h"
#include "ir/trace.h"
#include "ops/dispatch.h"

namespace emily {

namespace {

bool truth(const char* op, const std::vector<Tensor>& c) {
  if (c.size() != 1 || !c[0].defined() || c[0].ndim() != 0) {
    EMILY_THROW(ValueError, op, "the predicate must be a single 0-d tensor");
  }
  ir::Suspend unrecorded;  // reading the predicate is what control flow is for
  return c[0].item<double>() != 0.0;
}

void check_types(const char* op, const std::vector<Tensor>& want, const std::vector<Tensor>& got,
                 const char* what) {
  if (want.size() != got.size()) {
    EMILY_THROW(ShapeError, op, what, " returned ", got.size(), " tensors, expected ", want.size());
  }
  for (std::size_t k = 0; k < want.size(); ++k) {
    detail::require_defined(op, got[k]);
    if (got[k].shape() != want[k].shape() || got[k].dtype() != want[k].dtype()) {
      EMILY_THROW(ShapeError, op, what, " result ", k, " is ", name(got[k].dtype()),
                  to_string(got[k].shape()), ", expected ", name(want[k].dtype()),
                  to_string(want[k].shape()));
    }
  }
}

bool dense(const Tensor& t) {
  return t.offset() == 0 && t.strides() == row_major_strides(t.shape()) &&
         t.nbytes() == t.buffer()->bytes();
}

// Subgraphs read their inputs as dense whole buffers: a state that is a view is copied
// first (recorded in the enclosing trace, so replays copy too).
std::vector<Tensor> densify(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const auto& t : xs) {
    detail::require_defined("while_loop", t);
    out.push_back(dense(t) ? t : detail::dispatch(Primitive::copy, {t}, t.shape(), t.dtype()));
  }
  return out;
}

// Fresh buffers for a node's results, so that no other value of the trace shares them.
std::vector<Tensor> fresh(const std::vector<Tensor>& xs) {
  ir::Suspend unrecorded;
  std::vector<Tensor> out;
  for (const auto& t : xs)
    out.push_back(detail::dispatch(Primitive::copy, {t}, t.shape(), t.dtype()));
  return out;
}

struct Traced {
  std::shared_ptr<ir::Graph> graph;
  std::vector<Tensor> free, results;
};

Traced trace_sub(ir::Recorder& outer, const TensorFunction& fn, const std::vector<Tensor>& in,
                 const char* name) {
  Traced t;
  ir::Recorder sub(in, name);
  t.results = fn(in);
  for (const auto& r : t.results) detail::require_defined(name, r);
  if (sub.data_dependency()) outer.mark_data_dependent(*sub.data_dependency());
  t.free = sub.free_variables();
  t.graph = std::make_shared<ir::Graph>(sub.finish(t.results));
  return t;
}

std::vector<Tensor> concat(std::vector<Tensor> a, const std::vector<Tensor>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

std::vector<Tensor> while_loop(const TensorFunction& cond_fn, const TensorFunction& body,
                               std::vector<Tensor> state) {
  if (!cond_fn || !body) EMILY_THROW(ValueError, "while_loop", "cond and body must be functions");
  ir::Recorder* outer = ir::Recorder::current();
  if (!outer) {
    for (const auto& t : state) detail::require_defined("while_loop", t);
    while (truth("while_loop", cond_fn(state))) {
      auto next = body(state);
      check_types("while_loop", state, next, "the body");
      state = std::move(next);
    }
    return state;
  }
  state = densify(state);
  Traced c = trace_sub(*outer, cond_fn, state, "while_loop.cond");
  const bool go = truth("while_loop", c.results);
  Traced b = trace_sub(*outer, body, state, "while_loop.body");
  check_types("while_loop", state, b.results, "the body");
  std::vector<Tensor> result = state;
  if (go) {
    ir::Suspend unrecorded;  // the remaining iterations run eagerly, unrecorded
    result = b.results;
    while (truth("while_loop", cond_fn(result))) {
      auto next = body(result);
      check_types("while_loop", result, next, "the body");
      result = std::move(next);
    }
  }
  result = fresh(result);
  ControlAttr attr{static_cast<int>(state.size()),
                   {static_cast<int>(c.free.size()), static_cast<int>(b.free.size())}};
  outer->record_control(Primitive::while_loop, concat(concat(state, c.free), b.free), result, attr,
                        {c.graph, b.graph});
  return result;
}

std::vector<Tensor> cond(const Tensor& pred, const TensorFunction& then_fn,
                         const TensorFunction& else_fn, const std::vector<Tensor>& operands) {
  if (!then_fn || !else_fn) EMILY_THROW(ValueError, "cond", "both branches must be functions");
  detail::require_defined("cond", pred);
  ir::Recorder* outer = ir::Recorder::current();
  if (!outer) return truth("cond", {pred}) ? then_fn(operands) : else_fn(operands);
  std::vector<Tensor> ops = densify(operands);
  Traced t = trace_sub(*outer, then_fn, ops, "cond.then");
  Traced e = trace_sub(*outer, else_fn, ops, "cond.else");
  check_types("cond", t.results, e.results, "the else branch");
  std::vector<Tensor> result = fresh(truth("cond", {pred}) ? t.results : e.results);
  ControlAttr attr{static_cast<int>(ops.size()),
                   {static_cast<int>(t.free.size()), static_cast<int>(e.free.size())}};
  outer->record_control(Primitive::cond, concat(concat(concat({pred}, ops), t.free), e.free),
                        result, attr, {t.graph, e.graph});
  return result;
}

}  // namespace emily
