#include "ir/graph.h"

#include <algorithm>

#include "emily/stream.h"
#include "ops/dispatch.h"

#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace emily::ir {

namespace {

std::string source_name(const Source& s) {
  std::ostringstream os;
  os << (s.kind == Source::Kind::input     ? "in"
         : s.kind == Source::Kind::capture ? "c"
                                           : "%")
     << s.index;
  if (s.kind == Source::Kind::node && s.output) os << '.' << s.output;
  return os.str();
}

std::string type_name(DType dtype, const Shape& shape) {
  return std::string(name(dtype)) + to_string(shape);
}

bool is_dense(const Operand& o) {
  return o.offset == 0 && o.strides == row_major_strides(o.shape);
}

// An operand prints as its value, plus the view when it is not the value itself.
std::string operand_text(const Operand& o, const ValueType* whole) {
  std::string s = source_name(o.source);
  if (whole && whole->dtype == o.dtype && whole->shape == o.shape && is_dense(o)) return s;
  std::ostringstream os;
  os << s << "[" << name(o.dtype) << to_string(o.shape) << " strides" << to_string(o.strides);
  if (o.offset) os << " +" << o.offset;
  os << "]";
  return os.str();
}

const ValueType* value_type(const Graph& g, const Source& s, std::vector<ValueType>& scratch) {
  if (s.kind == Source::Kind::node) return &g.nodes[s.index].outputs[s.output];
  if (s.kind == Source::Kind::input) {
    const Operand& in = g.inputs[s.index];
    if (!is_dense(in)) return nullptr;
    scratch.assign(1, ValueType{in.dtype, in.shape});
    return &scratch[0];
  }
  if (s.index < static_cast<int>(g.capture_types.size()) && g.capture_types[s.index])
    return &*g.capture_types[s.index];
  return nullptr;
}

// [lowest, highest] byte reached by the operand, relative to its buffer's start.
std::pair<std::int64_t, std::int64_t> byte_extent(const Operand& o) {
  const auto item = static_cast<std::int64_t>(size_of(o.dtype));
  std::int64_t lo = o.offset, hi = o.offset;
  for (std::size_t d = 0; d < o.shape.size(); ++d) {
    if (o.shape[d] == 0) return {0, -1};
    const std::int64_t reach = (o.shape[d] - 1) * o.strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  return {lo * item, hi * item + item - 1};
}

// Rebuilds g keeping the nodes marked in `keep`; `replace[i]` (for dropped nodes that
// duplicate another) names the kept node whose outputs stand in for node i's.
void rebuild(Graph& g, const std::vector<bool>& keep, const std::vector<int>& replace) {
  std::vector<int> renumber(g.nodes.size(), -1);
  int next = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (keep[i]) renumber[i] = next++;
  auto remap = [&](Operand& o) {
    if (o.source.kind != Source::Kind::node) return;
    int i = o.source.index;
    while (!keep[i]) i = replace[i];
    o.source.index = renumber[i];
  };
  std::vector<Node> nodes;
  nodes.reserve(static_cast<std::size_t>(next));
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (!keep[i]) continue;
    for (auto& o : g.nodes[i].inputs) remap(o);
    nodes.push_back(std::move(g.nodes[i]));
  }
  for (auto& o : g.results) remap(o);
  g.nodes = std::move(nodes);
}

}  // namespace

namespace {
void dump_into(std::ostringstream& os, const Graph& g, const std::string& indent);
}

std::string dump(const Graph& g) {
  std::ostringstream os;
  dump_into(os, g, "");
  return os.str();
}

namespace {
void dump_into(std::ostringstream& os, const Graph& g, const std::string& pad) {
  std::vector<ValueType> scratch;
  os << pad << "graph " << g.name << "(";
  for (std::size_t i = 0; i < g.inputs.size(); ++i) {
    const Operand& in = g.inputs[i];
    os << (i ? ", " : "") << "in" << i << ": " << type_name(in.dtype, in.shape);
    if (!is_dense(in)) os << " strides" << to_string(in.strides) << " +" << in.offset;
  }
  os << ")\n";
  for (std::size_t i = 0; i < g.captures.size(); ++i) {
    os << pad << "  c" << i << ": capture, ";
    if (i < g.capture_types.size() && g.capture_types[i])
      os << type_name(g.capture_types[i]->dtype, g.capture_types[i]->shape) << "\n";
    else
      os << g.captures[i]->bytes() << " bytes\n";
  }
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    os << pad << "  %" << i << " = " << name(n.op) << "(";
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      os << (k ? ", " : "")
         << operand_text(n.inputs[k], value_type(g, n.inputs[k].source, scratch));
    os << ")";
    if (std::string a = to_string(n.attr); !a.empty()) os << " {" << a << "}";
    os << " : ";
    for (std::size_t k = 0; k < n.outputs.size(); ++k)
      os << (k ? ", " : "") << type_name(n.outputs[k].dtype, n.outputs[k].shape);
    os << "\n";
    for (const auto& sub : n.subgraphs) dump_into(os, *sub, pad + "    ");
  }
  os << pad << "  return ";
  for (std::size_t k = 0; k < g.results.size(); ++k)
    os << (k ? ", " : "")
       << operand_text(g.results[k], value_type(g, g.results[k].source, scratch));
  os << "\n";
}
}  // namespace

void verify(const Graph& g) {
  auto check = [&](const Operand& o, std::size_t node, const char* where) {
    const Source& s = o.source;
    std::int64_t bytes = -1;
    if (o.shape.size() != o.strides.size()) {
      EMILY_THROW(Error, "compile", where, " operand of node ", node, " has rank ", o.shape.size(),
                  " but ", o.strides.size(), " strides");
    }
    switch (s.kind) {
      case Source::Kind::input:
        if (s.index < 0 || s.index >= static_cast<int>(g.inputs.size()))
          EMILY_THROW(Error, "compile", where, " operand of node ", node, " names input ", s.index);
        break;
      case Source::Kind::capture:
        if (s.index < 0 || s.index >= static_cast<int>(g.captures.size()))
          EMILY_THROW(Error, "compile", where, " operand of node ", node, " names capture ",
                      s.index);
        bytes = static_cast<std::int64_t>(g.captures[s.index]->bytes());
        break;
      case Source::Kind::node: {
        if (s.index < 0 || static_cast<std::size_t>(s.index) >= node)
          EMILY_THROW(Error, "compile", where, " operand of node ", node, " names node ", s.index,
                      ", which does not come before it");
        const auto& outs = g.nodes[s.index].outputs;
        if (s.output < 0 || s.output >= static_cast<int>(outs.size()))
          EMILY_THROW(Error, "compile", "node ", s.index, " has no output ", s.output);
        const ValueType& v = outs[s.output];
        bytes = numel(v.shape) * static_cast<std::int64_t>(size_of(v.dtype));
        break;
      }
    }
    auto [lo, hi] = byte_extent(o);
    if (bytes >= 0 && hi >= lo && (lo < 0 || hi >= bytes)) {
      EMILY_THROW(Error, "compile", where, " operand of node ", node, " reads bytes [", lo, ", ",
                  hi, "] of a ", bytes, "-byte buffer");
    }
  };
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const int arity = info(n.op).arity;
    if (arity >= 0 && arity != static_cast<int>(n.inputs.size())) {
      EMILY_THROW(Error, "compile", "node ", i, " (", name(n.op), ") has ", n.inputs.size(),
                  " operands, the primitive takes ", arity);
    }
    if (n.attr.index() != info(n.op).attr_index) {
      EMILY_THROW(Error, "compile", "node ", i, " (", name(n.op), ") carries the wrong attribute");
    }
    for (const auto& o : n.inputs) check(o, i, "an");
    for (const auto& sub : n.subgraphs) verify(*sub);
  }
  for (const auto& o : g.results) check(o, g.nodes.size(), "a result");
}

int eliminate_dead_code(Graph& g) {
  std::vector<bool> live(g.nodes.size(), false);
  for (const auto& o : g.results)
    if (o.source.kind == Source::Kind::node) live[o.source.index] = true;
  for (std::size_t i = g.nodes.size(); i-- > 0;) {
    if (!live[i]) continue;
    for (const auto& o : g.nodes[i].inputs)
      if (o.source.kind == Source::Kind::node) live[o.source.index] = true;
  }
  const auto removed = std::count(live.begin(), live.end(), false);
  if (removed) rebuild(g, live, std::vector<int>(g.nodes.size(), -1));
  // Captures nothing reads any more (their readers were folded or dead) are let go.
  std::vector<int> renumber(g.captures.size(), -1);
  auto visit = [&](auto&& fn) {
    for (auto& n : g.nodes)
      for (auto& o : n.inputs) fn(o);
    for (auto& o : g.results) fn(o);
  };
  visit([&](Operand& o) {
    if (o.source.kind == Source::Kind::capture) renumber[o.source.index] = 0;
  });
  std::vector<std::shared_ptr<Buffer>> captures;
  std::vector<std::optional<ValueType>> types;
  for (std::size_t c = 0; c < g.captures.size(); ++c) {
    if (renumber[c] < 0) continue;
    renumber[c] = static_cast<int>(captures.size());
    captures.push_back(g.captures[c]);
    types.push_back(c < g.capture_types.size() ? g.capture_types[c] : std::nullopt);
  }
  visit([&](Operand& o) {
    if (o.source.kind == Source::Kind::capture) o.source.index = renumber[o.source.index];
  });
  g.captures = std::move(captures);
  g.capture_types = std::move(types);
  return static_cast<int>(removed);
}

int eliminate_common_subexpressions(Graph& g) {
  std::vector<bool> keep(g.nodes.size(), true);
  std::vector<int> replace(g.nodes.size(), -1);
  // Operands are compared after earlier replacements, so chains of duplicates collapse.
  auto canonical = [&](Operand o) {
    while (o.source.kind == Source::Kind::node && !keep[o.source.index])
      o.source.index = replace[o.source.index];
    return o;
  };
  std::multimap<std::pair<int, std::size_t>, int> seen;  // (op, #inputs) -> node
  int removed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    for (auto& o : n.inputs) o = canonical(o);
    if (!n.subgraphs.empty()) continue;  // equal operands, but different subgraphs
    const auto key = std::make_pair(static_cast<int>(n.op), n.inputs.size());
    auto [lo, hi] = seen.equal_range(key);
    for (auto it = lo; it != hi; ++it) {
      const Node& m = g.nodes[it->second];
      if (m.attr == n.attr && m.inputs == n.inputs && m.outputs.size() == n.outputs.size() &&
          std::equal(m.outputs.begin(), m.outputs.end(), n.outputs.begin())) {
        keep[i] = false;
        replace[i] = it->second;
        ++removed;
        break;
      }
    }
    if (keep[i]) seen.emplace(key, static_cast<int>(i));
  }
  if (removed) rebuild(g, keep, replace);
  return removed;
}

int fold_constants(Graph& g) {
  std::vector<bool> keep(g.nodes.size(), true);
  // folded[i][k]: the capture now holding output k of folded node i.
  std::vector<std::vector<int>> folded(g.nodes.size());
  int removed = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    for (auto& o : n.inputs) {
      if (o.source.kind == Source::Kind::node && !keep[o.source.index])
        o.source = {Source::Kind::capture, folded[o.source.index][o.source.output], 0};
    }
    const bool constant = std::all_of(n.inputs.begin(), n.inputs.end(), [](const Operand& o) {
      return o.source.kind == Source::Kind::capture;
    });
    if (!constant || !n.subgraphs.empty()) continue;
    std::vector<Tensor> in;
    for (const auto& o : n.inputs)
      in.emplace_back(g.captures[o.source.index], o.dtype, o.shape, o.strides, o.offset);
    std::vector<detail::OutSpec> specs;
    for (const auto& v : n.outputs) specs.push_back({v.shape, v.dtype});
    // A node without inputs (arange, full) runs on the current stream's device, which at
    // compile time may be another than the one it was traced on: fold it there, or a GPU
    // plan replays a CPU constant into a CUDA kernel.
    std::optional<StreamGuard> on_device;
    if (current_stream().device != n.device) on_device.emplace(default_stream(n.device));
    std::vector<Tensor> out = detail::dispatch(n.op, in, specs, n.attr);
    on_device.reset();
    for (std::size_t k = 0; k < out.size(); ++k) {
      folded[i].push_back(static_cast<int>(g.captures.size()));
      g.captures.push_back(out[k].buffer());
      g.capture_types.push_back(ValueType{out[k].dtype(), out[k].shape()});
    }
    keep[i] = false;
    ++removed;
  }
  for (auto& o : g.results) {
    if (o.source.kind == Source::Kind::node && !keep[o.source.index])
      o.source = {Source::Kind::capture, folded[o.source.index][o.source.output], 0};
  }
  if (removed) rebuild(g, keep, std::vector<int>(g.nodes.size(), -1));
  return removed;
}

bool reads_whole(const Graph& g, const Operand& o) {
  if (o.offset != 0 || o.strides != row_major_strides(o.shape)) return false;
  if (o.source.kind == Source::Kind::node) {
    const ValueType& v = g.nodes[o.source.index].outputs[o.source.output];
    return v.dtype == o.dtype && v.shape == o.shape;
  }
  if (o.source.kind == Source::Kind::input) {
    const Operand& in = g.inputs[o.source.index];
    return in.source.index == o.source.index && in.dtype == o.dtype && in.shape == o.shape &&
           in.strides == o.strides && in.offset == o.offset;
  }
  return false;
}

}  // namespace emily::ir
