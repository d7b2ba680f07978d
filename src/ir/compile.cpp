// compile(): the signature cache, tracing, passes and plan replay (include/emily/compile.h).
#include <map>
#include <mutex>
#include <sstream>

#include "emily/compile.h"
#include "emily/config.h"
#include "emily/telemetry.h"
#include "ir/graph.h"
#include "ir/trace.h"
#include "ops/dispatch.h"

namespace emily {

CompileMode parse_compile_mode(const std::string& text, const char* what) {
  if (text == "eager") return CompileMode::eager;
  if (text == "native") return CompileMode::native;
  if (text == "fuse") return CompileMode::fuse;
  EMILY_THROW(ValueError, what, "expected eager, native or fuse, got '", text, "'");
}

namespace {

// What a plan depends on besides the function: per input its dtype, layout, buffer
// size, device and which earlier input (if any) shares its buffer.
std::string signature(const std::vector<Tensor>& inputs) {
  std::ostringstream os;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    detail::require_defined("compile", t);
    std::size_t alias = i;
    for (std::size_t k = 0; k < i; ++k)
      if (inputs[k].buffer() == t.buffer()) {
        alias = k;
        break;
      }
    os << name(t.dtype()) << to_string(t.shape()) << to_string(t.strides()) << '+' << t.offset()
       << '/' << t.buffer()->bytes() << '@' << to_string(t.device()) << '~' << alias << ';';
  }
  return os.str();
}

void emit(const char* event, const std::string& fn, const std::string& reason = {}) {
  if (!telemetry::active()) return;
  telemetry::Event e{event, 0, 0, {{"function", fn}}};
  if (!reason.empty()) e.metadata.emplace_back("reason", reason);
  telemetry::emit(e);
}

struct Plan {
  ir::Graph graph;
  // free_after[i]: nodes whose outputs are last read by node i (released right after it,
  // so the caching allocator hands their blocks to later nodes).
  std::vector<std::vector<int>> free_after;
  std::optional<std::string> fallback;  // set: this signature runs eagerly
};

void plan_lifetimes(Plan& p) {
  const auto& nodes = p.graph.nodes;
  std::vector<int> last(nodes.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].inputs)
      if (o.source.kind == ir::Source::Kind::node) last[o.source.index] = static_cast<int>(i);
  for (const auto& o : p.graph.results)
    if (o.source.kind == ir::Source::Kind::node) last[o.source.index] = -2;  // kept
  p.free_after.assign(nodes.size(), {});
  for (std::size_t j = 0; j < nodes.size(); ++j)
    if (last[j] >= 0) p.free_after[last[j]].push_back(static_cast<int>(j));
}

void run_passes(ir::Graph& g) {
#ifndef NDEBUG
  ir::verify(g);
#endif
  ir::eliminate_common_subexpressions(g);
#ifndef NDEBUG
  ir::verify(g);
#endif
  ir::eliminate_dead_code(g);
#ifndef NDEBUG
  ir::verify(g);
#endif
}

std::vector<Tensor> replay(const Plan& p, const std::vector<Tensor>& inputs) {
  const ir::Graph& g = p.graph;
  std::vector<std::vector<Tensor>> values(g.nodes.size());
  auto resolve = [&](const ir::Operand& o) {
    const std::shared_ptr<Buffer>* b;
    switch (o.source.kind) {
      case ir::Source::Kind::input:
        b = &inputs[o.source.index].buffer();
        break;
      case ir::Source::Kind::capture:
        b = &g.captures[o.source.index];
        break;
      default:
        b = &values[o.source.index][o.source.output].buffer();
    }
    return Tensor(*b, o.dtype, o.shape, o.strides, o.offset);
  };
  std::vector<Tensor> in;
  std::vector<detail::OutSpec> specs;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    in.clear();
    for (const auto& o : n.inputs) in.push_back(resolve(o));
    specs.clear();
    for (const auto& v : n.outputs) specs.push_back({v.shape, v.dtype});
    values[i] = detail::dispatch(n.op, in, specs, n.attr);
    for (int j : p.free_after[i]) values[j].clear();
  }
  std::vector<Tensor> out;
  out.reserve(g.results.size());
  for (const auto& o : g.results) out.push_back(resolve(o));
  return out;
}

}  // namespace

struct CompiledFunction::State {
  TensorFunction fn;
  CompileOptions options;
  CompileMode mode = CompileMode::native;
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const Plan>> plans;

  // Traces fn on `inputs`; returns the plan and the traced call's results.
  std::shared_ptr<const Plan> trace(const std::vector<Tensor>& inputs, std::vector<Tensor>& out) {
    auto plan = std::make_shared<Plan>();
    telemetry::Span span("compile", [&] {
      return std::vector<std::pair<std::string, std::string>>{{"function", options.name}};
    });
    {
      ir::Recorder recorder(inputs, options.name);
      out = fn(inputs);
      for (std::size_t k = 0; k < out.size(); ++k) {
        if (!out[k].defined()) {
          EMILY_THROW(ValueError, "compile", options.name,
                      " returned an undefined tensor as result ", k);
        }
      }
      plan->fallback = recorder.data_dependency();
      if (!plan->fallback) plan->graph = recorder.finish(out);
    }
    if (plan->fallback) {
      emit("emily.compiler.fallback", options.name, *plan->fallback);
      if (options.native_fallback == NativeFallback::raise) {
        EMILY_THROW(Unsupported, "compile", options.name, " cannot be compiled: ", *plan->fallback,
                    " (native_fallback = raise)");
      }
      return plan;
    }
    run_passes(plan->graph);
    plan_lifetimes(*plan);
    return plan;
  }

  std::vector<Tensor> call(const std::vector<Tensor>& inputs) {
    // Inside another trace the function is inlined: its primitives join that graph.
    if (mode == CompileMode::eager || ir::Recorder::current()) return fn(inputs);
    const std::string key = signature(inputs);
    std::shared_ptr<const Plan> plan;
    {
      std::lock_guard lock(mutex);
      auto it = plans.find(key);
      if (it == plans.end()) {
        emit("emily.compile.miss", options.name);
        std::vector<Tensor> out;
        plans.emplace(key, trace(inputs, out));
        return out;
      }
      plan = it->second;
    }
    emit("emily.compile.hit", options.name);
    if (plan->fallback) return fn(inputs);
    return replay(*plan, inputs);
  }
};

std::vector<Tensor> CompiledFunction::operator()(const std::vector<Tensor>& inputs) const {
  return state_->call(inputs);
}

std::string CompiledFunction::dump(const std::vector<Tensor>& inputs) const {
  if (state_->mode == CompileMode::eager) return {};
  const std::string key = signature(inputs);
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->plans.count(key)) {
      std::vector<Tensor> out;
      state_->plans.emplace(key, state_->trace(inputs, out));
    }
    const auto& plan = state_->plans.at(key);
    return plan->fallback ? std::string() : ir::dump(plan->graph);
  }
}

CompileMode CompiledFunction::mode() const {
  return state_->mode;
}

std::size_t CompiledFunction::cached_signatures() const {
  std::lock_guard lock(state_->mutex);
  return state_->plans.size();
}

CompiledFunction compile(TensorFunction fn, CompileOptions options) {
  if (!fn) EMILY_THROW(ValueError, "compile", "the function is empty");
  CompiledFunction f;
  f.state_ = std::make_shared<CompiledFunction::State>();
  f.state_->mode = options.mode ? *options.mode
                   : config::settings().compile.empty()
                       ? CompileMode::native
                       : parse_compile_mode(config::settings().compile, "EMILY_COMPILE");
  f.state_->fn = std::move(fn);
  f.state_->options = std::move(options);
  return f;
}

}  // namespace emily
