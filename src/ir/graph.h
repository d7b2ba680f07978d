// The Graph IR: SSA over primitives of the single table. A value is an input of the
// graph, a capture (a buffer the function closed over, held by reference) or an output
// of an earlier node; operands name a value plus the layout (dtype, shape, strides,
// element offset) through which the node reads it, so views cost no node.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emily/memory.h"
#include "emily/primitive.h"
#include "emily/tensor.h"

namespace emily::ir {

struct Source {
  enum class Kind : std::uint8_t { input, capture, node };
  Kind kind = Kind::input;
  int index = 0;   // input, capture or node number
  int output = 0;  // which output of a node
  bool operator==(const Source&) const = default;
};

struct Operand {
  Source source;
  DType dtype = DType::f32;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;  // in elements, from the start of the source's buffer
  bool operator==(const Operand&) const = default;
};

struct ValueType {
  DType dtype = DType::f32;
  Shape shape;
  bool operator==(const ValueType&) const = default;
};

struct Graph;

struct Node {
  Primitive op{};
  Attr attr;
  std::vector<Operand> inputs;
  std::vector<ValueType> outputs;  // fresh row-major buffers
  Device device = Device::cpu();   // where the node runs
  // cond: {then, else}; while_loop: {cond, body}. Each takes the node's loop state (or
  // branch operands) followed by its own free variables (ControlAttr).
  std::vector<std::shared_ptr<Graph>> subgraphs;
};

struct Graph {
  std::string name;
  std::vector<Operand> inputs;  // each input's own layout over its buffer
  std::vector<std::shared_ptr<Buffer>> captures;
  // Each capture's type when it was first read as the whole of its buffer (for dumps).
  std::vector<std::optional<ValueType>> capture_types;
  std::vector<Node> nodes;  // topologically ordered
  std::vector<Operand> results;
};

// Readable text, one line per node: "%2 = add(%0, in0[(2, 3) s(0, 1)]) : f32(2, 3)".
std::string dump(const Graph& g);
// Raises Error("[compile] ...") when an operand names a later node, a missing output, or
// reads outside its buffer; run after every pass in debug builds and by the tests.
void verify(const Graph& g);

// True when `o` reads the whole of its value as it is: a dense, row-major view of the same
// dtype and shape (a replay can hand over the value's own tensor).
bool reads_whole(const Graph& g, const Operand& o);

// Passes. Each returns how many nodes it removed.
int eliminate_dead_code(Graph& g);
int eliminate_common_subexpressions(Graph& g);
// Runs every node whose operands are all captures once, now, and makes its outputs
// captures: work on weights alone (a transposed copy, a scaled table) leaves the replay.
int fold_constants(Graph& g);
// fuse mode: groups of elementwise nodes of one shape become `fused` nodes.
int fuse_elementwise(Graph& g);

}  // namespace emily::ir
