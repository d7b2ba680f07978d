// Forcing decompositions. The primitives of the `fast` and `quant` families
// (emily/primitive.h) are each defined by a decomposition into catalogue ops, which runs
// wherever a backend has no kernel for them or its kernel declines the operands. A
// DecomposeGuard makes the decomposition run on the calling thread even where a kernel
// exists: the kernels' oracle in the tests, and a way to compare a backend's kernel with
// its definition.
#pragma once

#include "emily/primitive.h"

namespace emily {

// Whether a family's primitives have decompositions a guard can force (fast, quant).
bool has_decompositions(Family family);

// Whether the calling thread runs the family's decompositions in place of its kernels.
bool decomposition_forced(Family family);

// While alive, the family's ops run their decompositions on this thread. Guards nest:
// each restores what it found. A family without decompositions is a ValueError, since
// nothing would honour the guard.
class DecomposeGuard {
 public:
  explicit DecomposeGuard(Family family);
  ~DecomposeGuard();
  DecomposeGuard(const DecomposeGuard&) = delete;
  DecomposeGuard& operator=(const DecomposeGuard&) = delete;

 private:
  Family family_;
  bool previous_;
};

}  // namespace emily
