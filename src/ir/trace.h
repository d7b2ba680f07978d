// Tracing: while a Recorder is active on a thread, every primitive that reaches
// detail::dispatch is appended to its Graph (the function still runs eagerly, so the
// first call's results come from the trace itself). Values are told apart by buffer:
// views share their base's buffer, so an operand is a buffer plus the layout read
// through it, and views need no nodes.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "ir/graph.h"

namespace emily::ir {

class Recorder {
 public:
  explicit Recorder(const std::vector<Tensor>& inputs, std::string name);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // The recorder active on this thread, or null.
  static Recorder* current();

  void record(Primitive p, const std::vector<Tensor>& inputs, std::span<const Tensor> outputs,
              const Attr& attr);
  // A host read of `t` (item, to_host, to_vector, to_blob): if t is traced data, the
  // function's control flow may depend on it and the trace cannot be replayed.
  void note_host_read(const Tensor& t, const char* how);
  // A cond/while_loop node: `inputs` are tensors of this trace (operands, then each
  // subgraph's free variables), `outputs` fresh tensors holding the node's results.
  void record_control(Primitive p, const std::vector<Tensor>& inputs,
                      const std::vector<Tensor>& outputs, ControlAttr attr,
                      std::vector<std::shared_ptr<Graph>> subgraphs);
  // Ends the trace: the graph with `results` as its outputs.
  Graph finish(const std::vector<Tensor>& results);
  // Values of enclosing traces this (nested) trace read; they were appended to its graph's
  // inputs in this order, after the ones the constructor was given.
  const std::vector<Tensor>& free_variables() const { return free_; }
  // Whether `t` is data of this trace or of an enclosing one (not a capture).
  bool traced(const Tensor& t) const;
  const std::optional<std::string>& data_dependency() const { return data_dependency_; }
  void mark_data_dependent(const std::string& reason) {
    if (!data_dependency_) data_dependency_ = reason;
  }

 private:
  Operand operand(const Tensor& t);

  Graph graph_;
  Recorder* previous_;
  std::unordered_map<const Buffer*, Source> sources_;
  // Every buffer the trace has seen stays alive until it ends, so no address is reused
  // for a different value while the map above refers to it.
  std::vector<std::shared_ptr<Buffer>> alive_;
  std::optional<std::string> data_dependency_;
  std::vector<Tensor> free_;
};

// Runs eagerly, unrecorded, while alive (control flow reading its predicates).
class Suspend {
 public:
  Suspend();
  ~Suspend();
  Suspend(const Suspend&) = delete;
  Suspend& operator=(const Suspend&) = delete;

 private:
  Recorder* saved_;
};

}  // namespace emily::ir
