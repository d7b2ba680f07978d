// Tree: a nested structure of tensors (a model's parameters, a KV cache) passed to and
// returned from compiled functions as one value. A tree is a tensor leaf, a list of
// trees (what a vector or tuple holds) or a map from names to trees.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "emily/tensor.h"

namespace emily {

class Tree {
 public:
  enum class Kind : std::uint8_t { leaf, list, map };

  Tree() : kind_(Kind::list) {}     // the empty list
  Tree(Tensor leaf);                // NOLINT(google-explicit-constructor): a leaf is a tree
  Tree(std::vector<Tree> items);    // NOLINT(google-explicit-constructor)
  Tree(std::vector<Tensor> items);  // NOLINT(google-explicit-constructor)
  Tree(std::map<std::string, Tree> fields);    // NOLINT(google-explicit-constructor)
  Tree(std::map<std::string, Tensor> fields);  // NOLINT(google-explicit-constructor)

  Kind kind() const { return kind_; }
  bool is_leaf() const { return kind_ == Kind::leaf; }
  // The leaf's tensor; ValueError "[tree] ..." on a list or map.
  const Tensor& tensor() const;
  // Children in order: a list's items, a map's values ordered by name; none for a leaf.
  const std::vector<Tree>& children() const { return children_; }
  // A map's names, sorted (parallel to children()); empty otherwise.
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return children_.size(); }
  // A list item or map field; ValueError when out of range, missing, or of another kind.
  const Tree& operator[](std::size_t index) const;
  const Tree& operator[](int index) const;  // so that t[0] is not taken for a name
  const Tree& operator[](const std::string& name) const;
  const Tree& operator[](const char* name) const { return (*this)[std::string(name)]; }

  // The leaves, depth first (map fields by name).
  std::vector<Tensor> leaves() const;
  // The shape of the nesting, leaves as '*': "{cache: [*, *], x: *}".
  std::string structure() const;
  // A tree shaped like `like` holding `leaves` in order; ValueError when the count differs.
  static Tree unflatten(const Tree& like, std::span<const Tensor> leaves);

 private:
  Kind kind_;
  Tensor leaf_;
  std::vector<Tree> children_;
  std::vector<std::string> names_;
};

}  // namespace emily
