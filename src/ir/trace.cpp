#include "ir/trace.h"

#include "emily/stream.h"

namespace emily::ir {

namespace {
thread_local Recorder* tls_recorder = nullptr;
}

Recorder::Recorder(const std::vector<Tensor>& inputs, std::string name) : previous_(tls_recorder) {
  graph_.name = std::move(name);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    const Buffer* b = t.buffer().get();
    // An input sharing a buffer with an earlier one is read through the earlier one;
    // the signature records the aliasing so replays see the same pattern.
    auto it = sources_.find(b);
    Source s =
        it != sources_.end() ? it->second : Source{Source::Kind::input, static_cast<int>(i), 0};
    if (it == sources_.end()) {
      sources_.emplace(b, s);
      alive_.push_back(t.buffer());
    }
    graph_.inputs.push_back(Operand{s, t.dtype(), t.shape(), t.strides(), t.offset()});
  }
  tls_recorder = this;
}

Recorder::~Recorder() {
  tls_recorder = previous_;
}

Recorder* Recorder::current() {
  return tls_recorder;
}

Suspend::Suspend() : saved_(tls_recorder) {
  tls_recorder = nullptr;
}
Suspend::~Suspend() {
  tls_recorder = saved_;
}

bool Recorder::traced(const Tensor& t) const {
  auto it = sources_.find(t.buffer().get());
  if (it != sources_.end()) return it->second.kind != Source::Kind::capture;
  return previous_ && previous_->traced(t);
}

Operand Recorder::operand(const Tensor& t) {
  const Buffer* b = t.buffer().get();
  auto it = sources_.find(b);
  Source s;
  if (it != sources_.end()) {
    s = it->second;
  } else if (previous_ && previous_->traced(t)) {
    // A value of an enclosing trace: a free variable, passed in as an extra input.
    s = Source{Source::Kind::input, static_cast<int>(graph_.inputs.size()), 0};
    graph_.inputs.push_back(Operand{s, t.dtype(), t.shape(), t.strides(), t.offset()});
    free_.push_back(t);
    sources_.emplace(b, s);
    alive_.push_back(t.buffer());
  } else {
    s = Source{Source::Kind::capture, static_cast<int>(graph_.captures.size()), 0};
    graph_.captures.push_back(t.buffer());
    const bool whole = t.offset() == 0 && t.strides() == row_major_strides(t.shape()) &&
                       t.nbytes() == t.buffer()->bytes();
    graph_.capture_types.push_back(whole ? std::optional<ValueType>(ValueType{t.dtype(), t.shape()})
                                         : std::nullopt);
    sources_.emplace(b, s);
    alive_.push_back(t.buffer());
  }
  return Operand{s, t.dtype(), t.shape(), t.strides(), t.offset()};
}

void Recorder::record(Primitive p, const std::vector<Tensor>& inputs,
                      std::span<const Tensor> outputs, const Attr& attr) {
  Node n{p, attr, {}, {}, outputs.empty() ? current_stream().device : outputs[0].device(), {}};
  n.inputs.reserve(inputs.size());
  for (const auto& t : inputs) n.inputs.push_back(operand(t));
  const int index = static_cast<int>(graph_.nodes.size());
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& t = outputs[k];
    n.outputs.push_back(ValueType{t.dtype(), t.shape()});
    sources_[t.buffer().get()] = Source{Source::Kind::node, index, static_cast<int>(k)};
    alive_.push_back(t.buffer());
  }
  graph_.nodes.push_back(std::move(n));
}

void Recorder::record_control(Primitive p, const std::vector<Tensor>& inputs,
                              const std::vector<Tensor>& outputs, ControlAttr attr,
                              std::vector<std::shared_ptr<Graph>> subgraphs) {
  Node n{p, std::move(attr), {}, {}, current_stream().device, std::move(subgraphs)};
  for (const auto& t : inputs) n.inputs.push_back(operand(t));
  const int index = static_cast<int>(graph_.nodes.size());
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    n.outputs.push_back(ValueType{outputs[k].dtype(), outputs[k].shape()});
    sources_[outputs[k].buffer().get()] = Source{Source::Kind::node, index, static_cast<int>(k)};
    alive_.push_back(outputs[k].buffer());
  }
  graph_.nodes.push_back(std::move(n));
}

void Recorder::note_host_read(const Tensor& t, const char* how) {
  if (data_dependency_ || !t.defined() || !traced(t)) return;
  data_dependency_ = std::string(how) + " reads a traced value of shape " + to_string(t.shape()) +
                     " on the host (data-dependent)";
}

Graph Recorder::finish(const std::vector<Tensor>& results) {
  for (const auto& t : results) graph_.results.push_back(operand(t));
  return std::move(graph_);
}

}  // namespace emily::ir
