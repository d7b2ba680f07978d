// Elementwise fusion (compile mode fuse): groups of elementwise nodes of one shape become
// one `fused` node whose program a backend runs block by block (backend/cpu/fused.h).
#include <algorithm>
#include <map>

#include "emily/backend.h"
#include "ir/graph.h"

namespace emily::ir {

namespace {

DType operand_dtype(const Node& n) {
  return n.op == Primitive::where ? n.inputs[1].dtype : n.inputs[0].dtype;
}

bool fusable(const Node& n) {
  const Family f = info(n.op).family;
  if (f != Family::unary && f != Family::binary && f != Family::ternary &&
      n.op != Primitive::astype)
    return false;
  if (n.outputs.size() != 1 || !n.subgraphs.empty() || numel(n.outputs[0].shape) == 0) return false;
  for (const auto& o : n.inputs)
    if (o.shape != n.outputs[0].shape) return false;
  return can_fuse(n.device.type, n.op, operand_dtype(n), n.outputs[0].dtype);
}

struct Fuser {
  Graph& g;
  std::vector<std::vector<int>> consumers;  // per node: the nodes reading it
  std::vector<bool> is_result;
  std::vector<char> in_set;  // scratch membership marks for legal()

  explicit Fuser(Graph& graph)
      : g(graph),
        consumers(graph.nodes.size()),
        is_result(graph.nodes.size(), false),
        in_set(graph.nodes.size(), 0) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& o : g.nodes[i].inputs)
        if (o.source.kind == Source::Kind::node) consumers[o.source.index].push_back(int(i));
    for (const auto& o : g.results)
      if (o.source.kind == Source::Kind::node) is_result[o.source.index] = true;
  }

  // Members run as one node at the position of the last one, `at`. That is sound when
  // every read between members sees the whole value (the block loop hands a step its
  // operand element by element) and nothing outside the group reads a member before `at`.
  bool legal(const std::vector<int>& members, int at) {
    for (int m : members) in_set[m] = 1;
    bool ok = true;
    for (int m : members) {
      for (const auto& o : g.nodes[m].inputs)
        if (o.source.kind == Source::Kind::node && in_set[o.source.index] && !reads_whole(g, o))
          ok = false;
      for (int c : consumers[m])
        if (!in_set[c] && c < at) ok = false;
    }
    for (int m : members) in_set[m] = 0;
    return ok;
  }

  bool is_output(int m, const std::vector<int>& members) {
    if (is_result[m]) return true;
    for (int c : consumers[m])
      if (!std::binary_search(members.begin(), members.end(), c)) return true;
    return false;
  }

  // The fused node of `members` (sorted); out_of[m] receives each output member's slot.
  Node fuse(const std::vector<int>& members, std::map<int, int>& out_of) {
    Node f;
    f.op = Primitive::fused;
    f.device = g.nodes[members.back()].device;
    FusedAttr attr;
    auto member = [&](const Operand& o) {
      return o.source.kind == Source::Kind::node &&
             std::binary_search(members.begin(), members.end(), o.source.index);
    };
    for (int m : members)
      for (const auto& o : g.nodes[m].inputs)
        if (!member(o) && std::find(f.inputs.begin(), f.inputs.end(), o) == f.inputs.end())
          f.inputs.push_back(o);
    attr.inputs = static_cast<int>(f.inputs.size());
    std::map<int, int> step_of;
    std::vector<int> last_use(members.size(), -1);
    for (std::size_t k = 0; k < members.size(); ++k) {
      const Node& n = g.nodes[members[k]];
      FusedStep s{n.op, operand_dtype(n), n.outputs[0].dtype, {}, -1, -1};
      for (const auto& o : n.inputs) {
        if (member(o)) {
          const int from = step_of.at(o.source.index);
          s.args.push_back(attr.inputs + from);
          last_use[from] = static_cast<int>(k);
        } else {
          s.args.push_back(
              static_cast<int>(std::find(f.inputs.begin(), f.inputs.end(), o) - f.inputs.begin()));
        }
      }
      if (is_output(members[k], members)) {
        s.output = static_cast<int>(f.outputs.size());
        out_of[members[k]] = s.output;
        f.outputs.push_back(n.outputs[0]);
      }
      step_of[members[k]] = static_cast<int>(k);
      attr.steps.push_back(std::move(s));
    }
    // Scratch registers by liveness: a step's register is taken before its operands'
    // are given back, so no step writes over what it reads.
    std::vector<int> free;
    for (std::size_t k = 0; k < attr.steps.size(); ++k) {
      FusedStep& s = attr.steps[k];
      if (s.output < 0) {
        if (free.empty()) {
          s.reg = attr.registers++;
        } else {
          s.reg = free.back();
          free.pop_back();
        }
      }
      for (std::size_t j = 0; j < k; ++j)
        if (last_use[j] == static_cast<int>(k) && attr.steps[j].reg >= 0)
          free.push_back(attr.steps[j].reg);
      if (last_use[k] < 0 && s.reg >= 0) free.push_back(s.reg);
    }
    f.attr = std::move(attr);
    return f;
  }
};

}  // namespace

int fuse_elementwise(Graph& g) {
  const int count = static_cast<int>(g.nodes.size());
  Fuser fuser(g);
  std::vector<int> group(count, -1);
  std::vector<std::vector<int>> groups;
  for (int i = 0; i < count; ++i) {
    const Node& n = g.nodes[i];
    if (!fusable(n)) continue;
    std::vector<int> members{i};
    std::vector<int> joined;
    for (const auto& o : n.inputs) {
      if (o.source.kind != Source::Kind::node) continue;
      const int gid = group[o.source.index];
      if (gid < 0 || std::find(joined.begin(), joined.end(), gid) != joined.end()) continue;
      const Node& p = g.nodes[o.source.index];
      if (p.device != n.device || p.outputs[0].shape != n.outputs[0].shape) continue;
      std::vector<int> grown = members;
      grown.insert(grown.end(), groups[gid].begin(), groups[gid].end());
      if (!fuser.legal(grown, i)) continue;
      members = std::move(grown);
      joined.push_back(gid);
    }
    std::sort(members.begin(), members.end());
    for (int gid : joined) groups[gid].clear();
    for (int m : members) group[m] = static_cast<int>(groups.size());
    groups.push_back(std::move(members));
  }

  // Rebuild the node list: each group of two or more becomes one node at its last
  // member's position; everything else is renumbered.
  std::vector<std::vector<Source>> remap(count);
  std::vector<Node> nodes;
  auto renumber = [&](Operand& o) {
    if (o.source.kind == Source::Kind::node) o.source = remap[o.source.index][o.source.output];
  };
  const std::vector<int> alone;
  for (int i = 0; i < count; ++i) {
    const std::vector<int>& members = group[i] >= 0 ? groups[group[i]] : alone;
    if (members.size() < 2) {
      Node n = std::move(g.nodes[i]);
      for (auto& o : n.inputs) renumber(o);
      for (std::size_t k = 0; k < n.outputs.size(); ++k)
        remap[i].push_back({Source::Kind::node, static_cast<int>(nodes.size()), int(k)});
      nodes.push_back(std::move(n));
      continue;
    }
    if (i != members.back()) continue;
    std::map<int, int> out_of;
    Node f = fuser.fuse(members, out_of);
    for (auto& o : f.inputs) renumber(o);
    for (auto [m, k] : out_of)
      remap[m] = {Source{Source::Kind::node, static_cast<int>(nodes.size()), k}};
    nodes.push_back(std::move(f));
  }
  for (auto& o : g.results) renumber(o);
  g.nodes = std::move(nodes);
  return count - static_cast<int>(g.nodes.size());
}

}  // namespace emily::ir
