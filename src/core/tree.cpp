#include "emily/tree.h"

#include <algorithm>

namespace emily {

Tree::Tree(Tensor leaf) : kind_(Kind::leaf), leaf_(std::move(leaf)) {
  if (!leaf_.defined()) EMILY_THROW(ValueError, "tree", "a leaf must be a defined tensor");
}

Tree::Tree(std::vector<Tree> items) : kind_(Kind::list), children_(std::move(items)) {}

Tree::Tree(std::vector<Tensor> items) : kind_(Kind::list) {
  children_.reserve(items.size());
  for (auto& t : items) children_.emplace_back(std::move(t));
}

Tree::Tree(std::map<std::string, Tree> fields) : kind_(Kind::map) {
  for (auto& [name, child] : fields) {
    names_.push_back(name);
    children_.push_back(std::move(child));
  }
}

Tree::Tree(std::map<std::string, Tensor> fields) : kind_(Kind::map) {
  for (auto& [name, t] : fields) {
    names_.push_back(name);
    children_.emplace_back(std::move(t));
  }
}

const Tensor& Tree::tensor() const {
  if (kind_ != Kind::leaf)
    EMILY_THROW(ValueError, "tree", "expected a tensor leaf, got ", structure());
  return leaf_;
}

const Tree& Tree::operator[](std::size_t index) const {
  if (kind_ != Kind::list) EMILY_THROW(ValueError, "tree", "indexing ", structure(), " by number");
  if (index >= children_.size())
    EMILY_THROW(ValueError, "tree", "item ", index, " of a list of ", children_.size());
  return children_[index];
}

const Tree& Tree::operator[](int index) const {
  if (index < 0) EMILY_THROW(ValueError, "tree", "item ", index, " of a list");
  return (*this)[static_cast<std::size_t>(index)];
}

const Tree& Tree::operator[](const std::string& name) const {
  if (kind_ != Kind::map) EMILY_THROW(ValueError, "tree", "field '", name, "' of ", structure());
  auto it = std::lower_bound(names_.begin(), names_.end(), name);
  if (it == names_.end() || *it != name)
    EMILY_THROW(ValueError, "tree", "no field '", name, "' in ", structure());
  return children_[static_cast<std::size_t>(it - names_.begin())];
}

namespace {

void collect(const Tree& t, std::vector<Tensor>& out) {
  if (t.is_leaf()) {
    out.push_back(t.tensor());
    return;
  }
  for (const auto& c : t.children()) collect(c, out);
}

void describe(const Tree& t, std::string& out) {
  if (t.is_leaf()) {
    out += '*';
    return;
  }
  const bool map = t.kind() == Tree::Kind::map;
  out += map ? '{' : '[';
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i) out += ", ";
    if (map) out += t.names()[i] + ": ";
    describe(t.children()[i], out);
  }
  out += map ? '}' : ']';
}

Tree rebuild(const Tree& like, std::span<const Tensor> leaves, std::size_t& next) {
  if (like.is_leaf()) return Tree(leaves[next++]);
  std::vector<Tree> children;
  children.reserve(like.size());
  for (const auto& c : like.children()) children.push_back(rebuild(c, leaves, next));
  if (like.kind() == Tree::Kind::list) return Tree(std::move(children));
  std::map<std::string, Tree> fields;
  for (std::size_t i = 0; i < children.size(); ++i)
    fields.emplace(like.names()[i], std::move(children[i]));
  return Tree(std::move(fields));
}

std::size_t count_leaves(const Tree& t) {
  if (t.is_leaf()) return 1;
  std::size_t n = 0;
  for (const auto& c : t.children()) n += count_leaves(c);
  return n;
}

}  // namespace

std::vector<Tensor> Tree::leaves() const {
  std::vector<Tensor> out;
  collect(*this, out);
  return out;
}

std::string Tree::structure() const {
  std::string out;
  describe(*this, out);
  return out;
}

Tree Tree::unflatten(const Tree& like, std::span<const Tensor> leaves) {
  const std::size_t want = count_leaves(like);
  if (want != leaves.size()) {
    EMILY_THROW(ValueError, "tree", like.structure(), " holds ", want, " leaves, got ",
                leaves.size());
  }
  std::size_t next = 0;
  return rebuild(like, leaves, next);
}

}  // namespace emily
