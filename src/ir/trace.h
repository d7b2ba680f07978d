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
  // Ends the trace: the graph with `results` as its outputs.
  Graph finish(const std::vector<Tensor>& results);
  const std::optional<std::string>& data_dependency() const { return data_dependency_; }

 private:
  Operand operand(const Tensor& t);

  Graph graph_;
  Recorder* previous_;
  std::unordered_map<const Buffer*, Source> sources_;
  // Every buffer the trace has seen stays alive until it ends, so no address is reused
  // for a different value while the map above refers to it.
  std::vector<std::shared_ptr<Buffer>> alive_;
  std::optional<std::string> data_dependency_;
};

}  // namespace emily::ir
