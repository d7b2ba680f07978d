// compile(): the signature cache, tracing, passes and plan replay (include/emily/compile.h).
#include <algorithm>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <span>
#include <sstream>

#include "backend/in_place.h"
#include "backend/recording.h"
#include "core/view_range.h"
#include "emily/backend.h"
#include "emily/compile.h"
#include "emily/config.h"
#include "emily/ops.h"
#include "emily/stream.h"
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

// How the replay reads one operand: the value's own tensor when the operand is all of it
// (no new Tensor needed), else a view built on the value's buffer.
struct Read {
  bool whole = false;
};

// Buffers and tensors a replay reuses from call to call: one buffer per slot, the
// slot-backed node outputs as tensors over them, and every operand that reads a capture
// or a slot, prebuilt (only graph inputs and results change between calls).
struct Workspace {
  std::vector<std::shared_ptr<Buffer>> slots;
  std::vector<std::vector<Tensor>> outputs;   // per node, per output; undefined: fresh
  std::vector<std::vector<Tensor>> operands;  // per node, per operand; undefined: per call
};

// A native plan recorded once (a CUDA graph) and launched per call. The recording reads
// the inputs from plan-owned copies (`staged`, with the inputs' own layouts) and writes
// results into plan-owned buffers (`owned`), so a call copies its inputs in and its
// results out around one launch. A result written into a donated input's buffer is
// written into that input's staged buffer instead and leaves without a copy: a caller
// that passes it back as the input (a decode loop's caches) pays no copy either way.
struct Recorded {
  std::unique_ptr<Recording> recording;
  std::vector<Tensor> staged;              // per input
  std::vector<std::vector<Tensor>> owned;  // per node, per output: escaping nodes only
  int replays = 0;
  bool refused = false;
  bool said = false;  // a call that could not use the recording was reported
};

// Inputs are copied in on every recorded call: past this many bytes the copies would
// cost more than the launches a recording saves, and the plan replays node by node.
constexpr std::size_t kMaxStagedBytes = std::size_t{64} << 20;

struct Plan {
  ir::Graph graph;
  std::vector<Kernel> kernels;           // per node; null: through detail::dispatch
  std::vector<std::vector<Read>> reads;  // per node, per operand
  std::vector<Read> result_reads;
  std::vector<bool> prebuilt;  // per node: every operand prebuilt in the workspace
  std::vector<bool> escapes;   // per node: outputs are results (fresh every call)
  std::vector<bool> nonempty;  // per node: some output has elements (else no kernel runs)
  // Liveness-based buffer reuse: intermediates live in slots, a slot passing to a later
  // value once its last reader ran. Results get fresh buffers every call (they escape).
  std::vector<std::vector<int>> slot_of;  // per node, per output; -1: fresh
  // Per node, per output: the donated input whose buffer a result is written into; -1:
  // a fresh buffer (see plan_donation).
  std::vector<std::vector<int>> donated;
  std::vector<bool> lends;  // per input: some result is written into its buffer
  std::vector<std::size_t> slot_bytes;
  std::vector<Device> slot_device;
  std::optional<std::string> fallback;  // set: this signature runs eagerly
  // Per node: the plans of its subgraphs (cond: then, else; while_loop: cond, body).
  std::vector<std::vector<std::shared_ptr<const Plan>>> subplans;
  mutable std::mutex workspace_mutex;
  mutable std::unique_ptr<Workspace> workspace;  // built by the first replay
  // Set: every node runs a kernel on this device, which records (plan_recording);
  // else `unrecordable` says why not (empty when no device of the plan records).
  std::optional<Device> record_device;
  std::string unrecordable;
  mutable Recorded recorded;  // guarded by workspace_mutex
};

// Kernels are looked up once; a node whose device has none keeps the dispatch path
// (CPU fallback and its policy). Debug NaN/Inf builds always take that path, since the
// check lives there.
void plan_kernels(Plan& p) {
  const ir::Graph& g = p.graph;
  p.kernels.assign(g.nodes.size(), nullptr);
  p.reads.assign(g.nodes.size(), {});
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
#ifndef EMILY_DEBUG_NAN_INF
    p.kernels[i] = kernels(n.device.type).get(n.op);
#endif
    for (const auto& o : n.inputs) p.reads[i].push_back({ir::reads_whole(g, o)});
    // Operands from captures and from nodes that do not escape are built once.
    p.prebuilt.push_back(std::all_of(n.inputs.begin(), n.inputs.end(), [&](const ir::Operand& o) {
      return o.source.kind == ir::Source::Kind::capture ||
             (o.source.kind == ir::Source::Kind::node && !p.escapes[o.source.index]);
    }));
  }
  for (const auto& o : g.results) p.result_reads.push_back({ir::reads_whole(g, o)});
}

// A plan records when one device that records runs every node through a kernel (no
// control flow, which reads its predicate on the host, and no dispatch path).
void plan_recording(Plan& p) {
  const ir::Graph& g = p.graph;
  if (g.nodes.empty() || !can_record(g.nodes[0].device)) return;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    std::ostringstream why;
    if (n.device != g.nodes[0].device)
      why << "node " << i << " (" << name(n.op) << ") runs on " << to_string(n.device);
    else if (!n.subgraphs.empty())
      why << "node " << i << " (" << name(n.op) << ") is control flow";
    else if (!p.kernels[i])
      why << "node " << i << " (" << name(n.op) << ") has no kernel on " << to_string(n.device);
    else if (reads_back(n.op))
      why << "node " << i << " (" << name(n.op) << ") reads its results on the host";
    if (why.tellp() > 0) {
      p.unrecordable = why.str();
      return;
    }
  }
  p.record_device = g.nodes[0].device;
}

void plan_slots(Plan& p) {
  const auto& nodes = p.graph.nodes;
  std::vector<int> last(nodes.size(), -1);
  std::vector<bool> escapes(nodes.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].inputs)
      if (o.source.kind == ir::Source::Kind::node) last[o.source.index] = static_cast<int>(i);
  for (const auto& o : p.graph.results)
    if (o.source.kind == ir::Source::Kind::node) escapes[o.source.index] = true;
  // Control nodes hand back their subgraphs' results rather than writing slots.
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (!nodes[i].subgraphs.empty()) escapes[i] = true;
  std::vector<std::vector<int>> release_after(nodes.size());
  std::vector<int> free;  // slots no live value holds
  p.slot_of.assign(nodes.size(), {});
  p.escapes = escapes;
  p.nonempty.assign(nodes.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (const auto& v : nodes[i].outputs) p.nonempty[i] = p.nonempty[i] || numel(v.shape) != 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& v : nodes[i].outputs) {
      if (escapes[i]) {
        p.slot_of[i].push_back(-1);
        continue;
      }
      const std::size_t bytes = static_cast<std::size_t>(numel(v.shape)) * size_of(v.dtype);
      // Best fit among the free slots of this device; a new slot when none is big enough.
      int best = -1;
      for (int sl : free) {
        if (p.slot_device[sl] != nodes[i].device || p.slot_bytes[sl] < bytes) continue;
        if (best < 0 || p.slot_bytes[sl] < p.slot_bytes[best]) best = sl;
      }
      if (best >= 0) {
        free.erase(std::find(free.begin(), free.end(), best));
      } else {
        best = static_cast<int>(p.slot_bytes.size());
        p.slot_bytes.push_back(bytes);
        p.slot_device.push_back(nodes[i].device);
      }
      p.slot_of[i].push_back(best);
      // A value nobody reads frees its slot right after its node.
      release_after[last[i] >= 0 ? last[i] : i].push_back(best);
    }
    for (int sl : release_after[i]) free.push_back(sl);
  }
}

void run_passes(ir::Graph& g, CompileMode mode) {
  using Pass = int (*)(ir::Graph&);
  std::vector<Pass> passes = {ir::eliminate_common_subexpressions, ir::fold_constants,
                              ir::eliminate_dead_code};
  if (mode == CompileMode::fuse) passes.push_back(ir::fuse_elementwise);
  for (Pass pass : passes) {
#ifndef NDEBUG
    ir::verify(g);
#endif
    pass(g);
  }
#ifndef NDEBUG
  ir::verify(g);
#endif
}

std::shared_ptr<Plan> plan_graph(ir::Graph g, CompileMode mode) {
  auto plan = std::make_shared<Plan>();
  plan->graph = std::move(g);
  auto phase = [&](const char* name) {
    return [&plan, name] {
      return std::vector<std::pair<std::string, std::string>>{{"graph", plan->graph.name},
                                                              {"phase", name}};
    };
  };
  {
    telemetry::Span span("compile.passes", phase("passes"));
    run_passes(plan->graph, mode);
  }
  plan->subplans.resize(plan->graph.nodes.size());
  // Subgraphs are planned on their own; the node keeps the planned form, so a dump shows
  // what runs.
  for (std::size_t i = 0; i < plan->graph.nodes.size(); ++i) {
    for (auto& sub : plan->graph.nodes[i].subgraphs) {
      plan->subplans[i].push_back(plan_graph(*sub, mode));
      sub = std::make_shared<ir::Graph>(plan->subplans[i].back()->graph);
    }
  }
  telemetry::Span span("compile.plan", phase("plan"));
  plan_slots(*plan);
  plan_kernels(*plan);
  plan_recording(*plan);
  return plan;
}

// Whether node `i` (the last to read donated input `k`) can write its output `o` over the
// input: an update-in-place op reading the whole input as operand 0, and no other operand.
// The output then lies where the input did, so a loop that passes results back as inputs
// keeps each value in one buffer (a recorded replay relies on that).
bool updates_input_in_place(const Plan& p, std::size_t i, std::size_t o, int k) {
  const ir::Node& n = p.graph.nodes[i];
  auto reads_k = [k](const ir::Operand& x) {
    return x.source.kind == ir::Source::Kind::input && x.source.index == k;
  };
  if (!updates_operand_in_place(n.op) || o != 0 || n.inputs.empty() || !reads_k(n.inputs[0]) ||
      !p.reads[i][0].whole)
    return false;
  const ir::ValueType& v = n.outputs[0];
  if (v.dtype != n.inputs[0].dtype || v.shape != n.inputs[0].shape) return false;
  return std::none_of(n.inputs.begin() + 1, n.inputs.end(), reads_k);
}

// Results that can take a donated input's buffer: the same byte size on the same device,
// computed by a kernel node after every read of the input (or by the last reader when it
// updates the input in place), which no other input shares and no result returns as it
// is. Each donated buffer serves one result.
void plan_donation(Plan& p, const std::vector<Tensor>& inputs, const std::vector<int>& donate) {
  const ir::Graph& g = p.graph;
  p.donated.assign(g.nodes.size(), {});
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    p.donated[i].assign(g.nodes[i].outputs.size(), -1);
  p.lends.assign(inputs.size(), false);
  for (int k : donate) {
    if (k < 0 || static_cast<std::size_t>(k) >= inputs.size()) {
      EMILY_THROW(ValueError, "compile", "donate names input ", k, " of ", inputs.size());
    }
    const Tensor& in = inputs[k];
    bool usable = in.offset() == 0 && in.is_contiguous() && in.nbytes() == in.buffer()->bytes();
    for (std::size_t j = 0; j < g.inputs.size(); ++j)
      if (static_cast<int>(j) != k && inputs[j].buffer() == in.buffer()) usable = false;
    for (const auto& o : g.results)
      if (o.source.kind == ir::Source::Kind::input && o.source.index == k) usable = false;
    if (!usable) continue;
    int last_read = -1;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& o : g.nodes[i].inputs)
        if (o.source.kind == ir::Source::Kind::input && o.source.index == k)
          last_read = static_cast<int>(i);
    for (std::size_t i = std::max(last_read, 0); usable && i < g.nodes.size(); ++i) {
      const ir::Node& n = g.nodes[i];
      if (!p.escapes[i] || !p.kernels[i] || !n.subgraphs.empty() || n.device != in.device())
        continue;
      for (std::size_t o = 0; o < n.outputs.size(); ++o) {
        const auto bytes =
            static_cast<std::size_t>(numel(n.outputs[o].shape)) * size_of(n.outputs[o].dtype);
        const bool after = static_cast<int>(i) > last_read;
        if (p.donated[i][o] < 0 && bytes == in.nbytes() && bytes > 0 &&
            (after || updates_input_in_place(p, i, o, k))) {
          p.donated[i][o] = k;
          p.lends[k] = true;
          usable = false;  // taken
          break;
        }
      }
    }
  }
}

std::vector<Tensor> replay(const Plan& p, const std::vector<Tensor>& inputs);

bool truth(const Tensor& t) {
  return t.item<double>() != 0.0;
}

// Subgraph results become the node's values: dense whole buffers, as the trace recorded.
std::vector<Tensor> as_values(std::vector<Tensor> xs) {
  for (auto& t : xs) {
    if (t.offset() != 0 || t.strides() != row_major_strides(t.shape()) ||
        t.nbytes() != t.buffer()->bytes())
      t = detail::dispatch(Primitive::copy, {t}, t.shape(), t.dtype());
  }
  return xs;
}

std::vector<Tensor> run_control(const Plan& p, std::size_t i, std::span<const Tensor> ins) {
  const ir::Node& n = p.graph.nodes[i];
  const auto& a = std::get<ControlAttr>(n.attr);
  const auto& sub = p.subplans[i];
  const std::size_t first = n.op == Primitive::cond ? 1 : 0;  // cond's input 0 is pred
  const auto* ops = ins.data() + first;
  std::vector<Tensor> free0(ops + a.operands, ops + a.operands + a.free[0]);
  std::vector<Tensor> free1(ops + a.operands + a.free[0], ops + a.operands + a.free[0] + a.free[1]);
  std::vector<Tensor> state(ops, ops + a.operands);
  auto with = [](std::vector<Tensor> s, const std::vector<Tensor>& f) {
    s.insert(s.end(), f.begin(), f.end());
    return s;
  };
  if (n.op == Primitive::cond)
    return as_values(truth(ins[0]) ? replay(*sub[0], with(state, free0))
                                   : replay(*sub[1], with(state, free1)));
  while (truth(replay(*sub[0], with(state, free0))[0]))
    state = as_values(replay(*sub[1], with(state, free1)));
  return as_values(state);
}

void build_workspace(const Plan& p, Workspace& w) {
  const ir::Graph& g = p.graph;
  for (std::size_t sl = 0; sl < p.slot_bytes.size(); ++sl)
    w.slots.push_back(allocate(p.slot_bytes[sl], p.slot_device[sl]));
  w.outputs.assign(g.nodes.size(), {});
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    for (std::size_t k = 0; k < g.nodes[i].outputs.size(); ++k) {
      const int sl = p.slot_of[i][k];
      const ir::ValueType& v = g.nodes[i].outputs[k];
      w.outputs[i].push_back(
          sl < 0 ? Tensor() : Tensor(w.slots[sl], v.dtype, v.shape, row_major_strides(v.shape), 0));
    }
  }
  w.operands.assign(g.nodes.size(), {});
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& o : g.nodes[i].inputs) {
      const std::shared_ptr<Buffer>* b = nullptr;
      if (o.source.kind == ir::Source::Kind::capture) b = &g.captures[o.source.index];
      if (o.source.kind == ir::Source::Kind::node) {
        const Tensor& t = w.outputs[o.source.index][o.source.output];
        if (t.defined()) b = &t.buffer();
      }
      w.operands[i].push_back(b ? Tensor(*b, o.dtype, o.shape, o.strides, o.offset) : Tensor());
    }
  }
}

Tensor resolve(const ir::Graph& g, const std::vector<Tensor>& inputs,
               const std::vector<std::vector<Tensor>>& values, const ir::Operand& o, Read r) {
  const std::shared_ptr<Buffer>* b;
  switch (o.source.kind) {
    case ir::Source::Kind::input:
      if (r.whole) return inputs[o.source.index];
      b = &inputs[o.source.index].buffer();
      break;
    case ir::Source::Kind::capture:
      b = &g.captures[o.source.index];
      break;
    default:
      if (r.whole) return values[o.source.index][o.source.output];
      b = &values[o.source.index][o.source.output].buffer();
  }
  return Tensor(*b, o.dtype, o.shape, o.strides, o.offset);
}

// Runs every node of `p` on `inputs` into `values` (per node, its outputs). `owned`: the
// buffers escaping nodes write (a recording's); null: fresh ones per call.
void run_nodes(const Plan& p, Workspace& w, const std::vector<Tensor>& inputs,
               std::vector<std::vector<Tensor>>& values,
               const std::vector<std::vector<Tensor>>* owned) {
  const ir::Graph& g = p.graph;
  const Stream current = current_stream();
  std::vector<Tensor> in;
  std::vector<detail::OutSpec> specs;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    // Nodes inside the graph read prebuilt operands and write their slots in place: no
    // tensor is made or copied for them (refcount traffic is most of a small op's cost).
    std::span<const Tensor> ins = w.operands[i];
    if (!p.prebuilt[i]) {
      in.clear();
      for (std::size_t k = 0; k < n.inputs.size(); ++k) {
        const Tensor& pre = w.operands[i][k];
        in.push_back(pre.defined() ? pre : resolve(g, inputs, values, n.inputs[k], p.reads[i][k]));
      }
      ins = in;
    }
    if (!n.subgraphs.empty()) {
      values[i] = run_control(p, i, ins);
      continue;
    }
    if (Kernel kernel = p.kernels[i]) {
      std::span<Tensor> outs = w.outputs[i];
      if (p.escapes[i]) {
        std::vector<Tensor>& out = values[i];
        if (owned) {
          out = (*owned)[i];
        } else {
          out.resize(n.outputs.size());
          for (std::size_t k = 0; k < n.outputs.size(); ++k) {
            const ir::ValueType& v = n.outputs[k];
            const int d = p.donated.empty() ? -1 : p.donated[i][k];
            out[k] =
                d < 0 ? Tensor::empty(v.shape, v.dtype, n.device)
                      : Tensor(inputs[d].buffer(), v.dtype, v.shape, row_major_strides(v.shape), 0);
          }
        }
        outs = out;
      }
      if (p.nonempty[i]) {
        telemetry::Span span("eval", [&] {
          return std::vector<std::pair<std::string, std::string>>{
              {"op", std::string(name(n.op))}, {"device", to_string(n.device)}, {"replay", "1"}};
        });
        kernel(ins, outs, n.attr, current.device == n.device ? current : default_stream(n.device));
      }
    } else {
      // The dispatch path allocates its own outputs; copy into slots so later prebuilt
      // operands see the values.
      specs.clear();
      for (const auto& v : n.outputs) specs.push_back({v.shape, v.dtype});
      std::vector<Tensor>& out = values[i];
      out = detail::dispatch(n.op, std::vector<Tensor>(ins.begin(), ins.end()), specs, n.attr);
      for (std::size_t k = 0; k < out.size(); ++k) {
        if (w.outputs[i][k].defined() && out[k].nbytes())
          std::memcpy(w.outputs[i][k].raw_data(), to_host(out[k]).raw_data(), out[k].nbytes());
        if (w.outputs[i][k].defined()) out[k] = w.outputs[i][k];
      }
    }
  }
}

std::vector<Tensor> results_of(const Plan& p, const std::vector<Tensor>& inputs,
                               const std::vector<std::vector<Tensor>>& values) {
  std::vector<Tensor> results;
  results.reserve(p.graph.results.size());
  for (std::size_t k = 0; k < p.graph.results.size(); ++k)
    results.push_back(resolve(p.graph, inputs, values, p.graph.results[k], p.result_reads[k]));
  return results;
}

// Copies each input's reach into its plan-owned twin (same buffer size and layout).
void stage_inputs(const Recorded& r, const std::vector<Tensor>& inputs, Device device) {
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k].buffer() == r.staged[k].buffer()) continue;  // given back: in place
    const auto [lo, hi] = detail::view_range(inputs[k]);
    const std::size_t item = inputs[k].itemsize();
    copy_bytes(static_cast<char*>(r.staged[k].buffer()->data()) + lo * item,
               static_cast<const char*>(inputs[k].buffer()->data()) + lo * item,
               static_cast<std::size_t>(hi - lo) * item, device);
  }
}

// Why `inputs` cannot go through a recording of `p` on `s`; empty when they can.
std::string unrecordable(const Plan& p, const std::vector<Tensor>& inputs, Stream s) {
  std::size_t staged = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k].device() != *p.record_device) return "an input is on another device";
    for (std::size_t j = 0; j < k; ++j)
      if (inputs[j].buffer() == inputs[k].buffer()) return "two inputs share a buffer";
    // A lending input is copied only when the caller does not give back what the last
    // launch returned, once in a loop.
    if (p.lends.empty() || !p.lends[k]) staged += inputs[k].buffer()->bytes();
  }
  if (staged > kMaxStagedBytes) return "the inputs' buffers exceed the staging limit";
  return {};
}

// Whether copying `inputs` into the staged buffers would overwrite data a caller still
// holds: a lending input's staged buffer is the result the last launch returned, which
// the plan (its staged and owned tensors) holds twice.
bool staging_overwrites(const Plan& p, const std::vector<Tensor>& inputs) {
  const Recorded& r = p.recorded;
  for (std::size_t k = 0; k < inputs.size(); ++k)
    if (!p.lends.empty() && p.lends[k] && inputs[k].buffer() != r.staged[k].buffer() &&
        r.staged[k].buffer().use_count() > 2)
      return true;
  return false;
}

// Records the plan's replay on `s` (the inputs already staged). False when the work
// could not be recorded (`why` says what); nothing has run then.
bool record(const Plan& p, Workspace& w, Stream s, std::string& why) {
  Recorded& r = p.recorded;
  std::vector<std::vector<Tensor>> values(p.graph.nodes.size());
  begin_recording(s);
  try {
    run_nodes(p, w, r.staged, values, &r.owned);
  } catch (const std::exception& e) {
    std::string ignored;
    end_recording(s, ignored);
    why = e.what();
    return false;
  }
  r.recording = end_recording(s, why);
  return r.recording != nullptr;
}

// A replay through the plan's recording: stage inputs, one launch, copy results out.
// Returns false (nothing run) when this call replays node by node instead.
bool replay_recorded(const Plan& p, Workspace& w, const std::vector<Tensor>& inputs,
                     std::vector<Tensor>& results) {
  Recorded& r = p.recorded;
  // The first replay runs node by node: it warms what kernels set up lazily (library
  // handles, plans, heuristics), which must not happen while recording.
  if (r.refused || ++r.replays < 2) return false;
  const Device device = *p.record_device;
  // The stream the nodes' kernels run on (run_nodes): the current one when it is on the
  // plan's device, else that device's default stream.
  const Stream current = current_stream();
  const Stream s = current.device == device ? current : default_stream(device);
  if (std::string why = unrecordable(p, inputs, s); !why.empty()) {
    if (!r.said) emit("emily.compile.unrecorded", p.graph.name, why);
    r.said = true;
    return false;
  }
  const ir::Graph& g = p.graph;
  if (!r.recording) {
    telemetry::Span span("compile.record", [&] {
      return std::vector<std::pair<std::string, std::string>>{{"graph", g.name},
                                                              {"device", to_string(device)}};
    });
    r.staged.clear();
    for (const Tensor& t : inputs)
      r.staged.emplace_back(allocate(t.buffer()->bytes(), device), t.dtype(), t.shape(),
                            t.strides(), t.offset());
    r.owned.assign(g.nodes.size(), {});
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      if (!p.escapes[i]) continue;
      for (std::size_t o = 0; o < g.nodes[i].outputs.size(); ++o) {
        const ir::ValueType& v = g.nodes[i].outputs[o];
        const int d = p.donated.empty() ? -1 : p.donated[i][o];
        r.owned[i].push_back(
            d < 0 ? Tensor::empty(v.shape, v.dtype, device)
                  : Tensor(r.staged[d].buffer(), v.dtype, v.shape, row_major_strides(v.shape), 0));
      }
    }
    std::string why;
    if (!record(p, w, s, why)) {
      r.refused = true;
      r.staged.clear();
      r.owned.clear();
      emit("emily.compile.unrecorded", g.name, why);
      return false;
    }
  }
  if (staging_overwrites(p, inputs)) {
    if (!r.said)
      emit("emily.compile.unrecorded", g.name,
           "a donated result of an earlier call is still held and was not given back");
    r.said = true;
    return false;
  }
  r.recording->wait_for_previous(s);
  stage_inputs(r, inputs, device);
  r.recording->launch(s);
  // Results leave in buffers of their own: the next launch overwrites the owned ones.
  // Those in donated buffers leave as they are (the caller gave the input up).
  std::vector<std::vector<Tensor>> values(g.nodes.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    for (std::size_t o = 0; o < r.owned[i].size(); ++o) {
      const Tensor& owned = r.owned[i][o];
      if (!p.donated.empty() && p.donated[i][o] >= 0) {
        // A tensor of its own over the buffer: the buffer's use count then tells whether
        // the caller still holds it (staging_overwrites).
        values[i].emplace_back(owned.buffer(), owned.dtype(), owned.shape(), owned.strides(),
                               owned.offset());
        continue;
      }
      Tensor fresh = Tensor::empty(owned.shape(), owned.dtype(), device);
      copy_bytes(fresh.raw_data(), owned.raw_data(), owned.nbytes(), device);
      values[i].push_back(std::move(fresh));
    }
  }
  r.recording->finish(s);
  results = results_of(p, inputs, values);
  return true;
}

std::vector<Tensor> replay(const Plan& p, const std::vector<Tensor>& inputs) {
  // One call at a time uses the plan's workspace; a concurrent call builds its own.
  std::unique_lock lock(p.workspace_mutex, std::try_to_lock);
  Workspace local;
  Workspace* w = &local;
  if (lock.owns_lock()) {
    if (!p.workspace) {
      p.workspace = std::make_unique<Workspace>();
      build_workspace(p, *p.workspace);
    }
    w = p.workspace.get();
    std::vector<Tensor> results;
    if (p.record_device && config::settings().cuda_graphs &&
        replay_recorded(p, *w, inputs, results))
      return results;
    if (!p.unrecordable.empty() && !p.recorded.refused) {
      p.recorded.refused = true;  // said once per plan
      emit("emily.compile.unrecorded", p.graph.name, p.unrecordable);
    }
  } else {
    build_workspace(p, local);
  }
  std::vector<std::vector<Tensor>> values(p.graph.nodes.size());
  run_nodes(p, *w, inputs, values, nullptr);
  return results_of(p, inputs, values);
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
      {
        telemetry::Span trace_span("compile.trace", [&] {
          return std::vector<std::pair<std::string, std::string>>{{"function", options.name}};
        });
        out = fn(inputs);
      }
      for (std::size_t k = 0; k < out.size(); ++k) {
        if (!out[k].defined()) {
          EMILY_THROW(ValueError, "compile", options.name,
                      " returned an undefined tensor as result ", k);
        }
      }
      plan->fallback = recorder.data_dependency();
      if (!plan->fallback) {
        auto planned = plan_graph(recorder.finish(out), mode);
        plan_donation(*planned, inputs, options.donate);
        if (!options.cuda_graphs) planned->record_device.reset();
        plan = planned;
      }
    }
    if (plan->fallback) {
      emit("emily.compiler.fallback", options.name, *plan->fallback);
      if (options.native_fallback == NativeFallback::raise) {
        EMILY_THROW(Unsupported, "compile", options.name, " cannot be compiled: ", *plan->fallback,
                    " (native_fallback = raise)");
      }
      return plan;
    }
    if (config::settings().dump_ir) std::cerr << ir::dump(plan->graph) << std::flush;
    return plan;
  }

  // `known_key`: the plan's key when the caller has it (a tree's includes its nesting).
  std::vector<Tensor> call(const std::vector<Tensor>& inputs,
                           const std::string* known_key = nullptr) {
    // Inside another trace the function is inlined: its primitives join that graph.
    if (mode == CompileMode::eager || ir::Recorder::current()) return fn(inputs);
    const std::string key = known_key ? *known_key : signature(inputs);
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

  std::string dump(const std::vector<Tensor>& inputs, const std::string* known_key = nullptr) {
    if (mode == CompileMode::eager) return {};
    const std::string key = known_key ? *known_key : signature(inputs);
    std::lock_guard lock(mutex);
    if (!plans.count(key)) {
      std::vector<Tensor> out;
      plans.emplace(key, trace(inputs, out));
    }
    const auto& plan = plans.at(key);
    return plan->fallback ? std::string() : ir::dump(plan->graph);
  }
};

std::vector<Tensor> CompiledFunction::operator()(const std::vector<Tensor>& inputs) const {
  return state_->call(inputs);
}

std::string CompiledFunction::dump(const std::vector<Tensor>& inputs) const {
  return state_->dump(inputs);
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

// Trees: the flat function over the leaves rebuilds the argument from the structure the
// calling thread is compiling for and reports the structure it returned, which the
// wrapper keeps per signature (a replay does not run the function to learn it).
namespace {
thread_local const Tree* t_args = nullptr;
thread_local std::optional<Tree> t_result;

// A tree shaped like `t` whose leaves hold no data worth keeping.
Tree skeleton(const Tree& t) {
  static const Tensor placeholder = scalar_tensor(0.0, DType::bool_, Device::cpu());
  return Tree::unflatten(t, std::vector<Tensor>(t.leaves().size(), placeholder));
}
}  // namespace

struct CompiledTreeFunction::State {
  TreeFunction fn;
  std::mutex mutex;
  std::map<std::string, Tree> results;  // per signature: the result's structure
};

namespace {
// Points the flat function at `args` for the duration of a call (calls may nest).
class ArgsScope {
 public:
  explicit ArgsScope(const Tree& args) : saved_(t_args) {
    t_args = &args;
    t_result.reset();
  }
  ~ArgsScope() { t_args = saved_; }
  ArgsScope(const ArgsScope&) = delete;
  ArgsScope& operator=(const ArgsScope&) = delete;

 private:
  const Tree* saved_;
};

// A plan's key for a tree: its nesting, then its leaves' signature.
std::string tree_key(const Tree& args, const std::vector<Tensor>& leaves) {
  return args.structure() + "|" + signature(leaves);
}
}  // namespace

Tree CompiledTreeFunction::operator()(const Tree& args) const {
  const std::vector<Tensor> leaves = args.leaves();
  const std::string key = tree_key(args, leaves);
  std::vector<Tensor> out;
  {
    ArgsScope scope(args);
    out = flat_.state_->call(leaves, &key);
  }
  std::lock_guard lock(state_->mutex);
  if (t_result) {  // the function ran (traced, eager or fallback): its structure is fresh
    Tree& like = state_->results.insert_or_assign(key, skeleton(*t_result)).first->second;
    t_result.reset();
    return Tree::unflatten(like, out);
  }
  return Tree::unflatten(state_->results.at(key), out);
}

std::string CompiledTreeFunction::dump(const Tree& args) const {
  const std::vector<Tensor> leaves = args.leaves();
  const std::string key = tree_key(args, leaves);
  std::string text;
  {
    ArgsScope scope(args);
    text = flat_.state_->dump(leaves, &key);
  }
  if (t_result) {
    std::lock_guard lock(state_->mutex);
    state_->results.insert_or_assign(key, skeleton(*t_result));
    t_result.reset();
  }
  return text;
}

CompiledTreeFunction compile(TreeFunction fn, CompileOptions options) {
  if (!fn) EMILY_THROW(ValueError, "compile", "the function is empty");
  CompiledTreeFunction f;
  f.state_ = std::make_shared<CompiledTreeFunction::State>();
  f.state_->fn = std::move(fn);
  std::weak_ptr<CompiledTreeFunction::State> state = f.state_;
  f.flat_ = compile(
      [state](const std::vector<Tensor>& leaves) {
        auto s = state.lock();
        if (!s || !t_args) EMILY_THROW(Error, "compile", "a tree function called without its tree");
        Tree args = Tree::unflatten(*t_args, leaves);
        Tree result = s->fn(args);
        std::vector<Tensor> out = result.leaves();
        t_result = std::move(result);
        return out;
      },
      std::move(options));
  return f;
}

}  // namespace emily
